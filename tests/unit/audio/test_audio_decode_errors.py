"""Every way an upload can be unusable ends in its typed error with a message a musician can act on."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from mastertape.audio import Audio, decode, encode, probe
from mastertape.errors import (
    AudioTooLong,
    EmptyAudio,
    InvalidAudioValues,
    TooManyChannels,
    TruncatedAudio,
    UnsupportedAudio,
    UnsupportedSampleRate,
)
from tests.unit.audio.audio_helpers import ffmpeg, test_track, write_float_wav

RATE = 44100


@pytest.fixture(scope="module")
def track() -> Audio:
    return test_track(seconds=2.0, sample_rate=RATE, bits=16)


def _peak_traced_mib(fn) -> float:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / 2**20


def test_zero_bytes_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "nothing.wav"
    path.write_bytes(b"")
    for source in (path, b""):
        with pytest.raises(EmptyAudio, match="empty"):
            decode(source)
    with pytest.raises(EmptyAudio):
        probe(path)


def test_random_bytes_named_wav_are_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "song.wav"
    path.write_bytes(np.random.default_rng(0).bytes(50_000))
    with pytest.raises(UnsupportedAudio, match="not an audio file"):
        decode(path)
    with pytest.raises(UnsupportedAudio):
        probe(path)


def test_text_file_is_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp3"
    path.write_text("verse, chorus, verse, chorus, bridge, chorus\n" * 50)
    with pytest.raises(UnsupportedAudio):
        decode(path)


def test_playlist_pointing_at_a_local_file_is_refused(tmp_path: Path, track: Audio) -> None:
    """Only audio/video demuxers open uploads: an HLS playlist or ffconcat script must not read server files."""
    encode(track, tmp_path / "secret.wav", "wav", bit_depth=16)
    playlist = tmp_path / "upload.m3u8"
    playlist.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:2.0,\nsecret.wav\n#EXT-X-ENDLIST\n")
    concat = tmp_path / "upload.txt"
    concat.write_text(f"ffconcat version 1.0\nfile '{tmp_path / 'secret.wav'}'\n")
    for path in (playlist, concat):
        with pytest.raises(UnsupportedAudio):
            decode(path)


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_truncated_lossless_file(tmp_path: Path, track: Audio, fmt: str) -> None:
    path = tmp_path / f"full.{fmt}"
    encode(track, path, fmt, bit_depth=24)
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(TruncatedAudio, match="cut short"):
        decode(cut)


def test_truncated_mp3(tmp_path: Path, track: Audio) -> None:
    src = write_float_wav(track, tmp_path / "src.wav")
    path = tmp_path / "full.mp3"
    ffmpeg("-i", src, "-c:a", "libmp3lame", "-b:a", "192k", path)
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(TruncatedAudio):
        decode(cut)


def test_mp4_cut_before_its_index(tmp_path: Path, track: Audio) -> None:
    path = tmp_path / "full.m4a"
    encode(track, tmp_path / "tmp.m4a", "aac")
    src = write_float_wav(track, tmp_path / "src.wav")
    ffmpeg("-i", src, "-c:a", "aac", path)  # no faststart: the index ("moov") is written last
    cut = tmp_path / "cut.m4a"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(TruncatedAudio, match="incomplete"):
        decode(cut)


def test_wav_header_claiming_gigabytes_fails_fast_with_little_memory(tmp_path: Path) -> None:
    """A 1-second WAV whose header claims 3 GB of data: truncated, found before reading a sample."""
    pcm = (np.sin(np.arange(RATE) / 10) * 10000).astype("<i2").tobytes()
    claimed = 3 * 10**9
    header = (b"RIFF" + struct.pack("<I", claimed + 36) + b"WAVE" + b"fmt "
              + struct.pack("<IHHIIHH", 16, 1, 1, RATE, 2 * RATE, 2, 16) + b"data" + struct.pack("<I", claimed))
    path = tmp_path / "liar.wav"
    path.write_bytes(header + pcm)

    def attempt() -> None:
        with pytest.raises(TruncatedAudio, match="declares 9 h"):
            decode(path)

    assert _peak_traced_mib(attempt) < 2.0
    assert probe(path).duration_s == pytest.approx(1.0)  # what is really there


def test_flac_header_claiming_hours_allocates_in_proportion_to_the_file(tmp_path: Path, track: Audio) -> None:
    path = tmp_path / "liar.flac"
    encode(track, path, "flac", bit_depth=16)
    raw = bytearray(path.read_bytes())
    total = int.from_bytes(raw[18:26], "big")  # STREAMINFO bytes 10..17: rate, channels, bits, 36-bit total
    assert total & ((1 << 36) - 1) == track.frames
    raw[18:26] = ((total & ~((1 << 36) - 1)) | (10 * 3600 * RATE)).to_bytes(8, "big")
    path.write_bytes(bytes(raw))

    def attempt() -> None:
        with pytest.raises(TruncatedAudio, match="declares 10 h 00 min"):
            decode(path)

    # a 10-hour float32 buffer would be 12 GiB; what is allocated scales with the file's few hundred kB
    assert _peak_traced_mib(attempt) < 8 * 64 * path.stat().st_size / 2**20 + 4


def test_file_decoding_to_an_hour_stops_at_the_limit(tmp_path: Path) -> None:
    """An hour of digital silence in a ~15 kB FLAC: decoding stops once past max_duration_s."""
    path = tmp_path / "hour.flac"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "3600", "-c:a", "flac",
           "-sample_fmt", "s16", "-frame_size", "65535", path)
    assert path.stat().st_size < 100_000

    def attempt() -> None:
        with pytest.raises(AudioTooLong, match="limit of 10.0 s"):
            decode(path, max_duration_s=10.0)

    assert _peak_traced_mib(attempt) < 4.0  # the whole hour as float32 would be 110 MiB


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_too_long(tmp_path: Path, track: Audio, fmt: str) -> None:
    path = tmp_path / f"two_seconds.{fmt}"
    encode(track, path, fmt, bit_depth=16)
    with pytest.raises(AudioTooLong, match="split it"):
        decode(path, max_duration_s=1.5)
    assert decode(path, max_duration_s=2.5).frames == track.frames


def test_eight_channels(tmp_path: Path) -> None:
    path = tmp_path / "surround.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=48000:cl=7.1", "-t", "0.2", "-c:a", "pcm_s16le", path)
    with pytest.raises(TooManyChannels, match="the file has 8 channels; mastertape takes mono or stereo"):
        decode(path)
    assert probe(path).channels == 8  # probe reports, it does not judge


@pytest.mark.parametrize(("rate", "hint"), [(384000, "192000 Hz"), (4000, "8000")])
def test_sample_rate_out_of_range(tmp_path: Path, rate: int, hint: str) -> None:
    path = tmp_path / f"r{rate}.wav"
    encode(Audio(np.zeros((2, 1000), dtype=np.float32), rate), path, "wav", bit_depth=16)
    with pytest.raises(UnsupportedSampleRate, match=hint) as info:
        decode(path)
    assert "resample" in info.value.message or "export" in info.value.message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_float_wav(tmp_path: Path, bad: float) -> None:
    samples = np.zeros((2, 5000), dtype=np.float32)
    path = tmp_path / "float.wav"
    encode(Audio(samples, RATE), path, "wav", bit_depth=32)
    raw = bytearray(path.read_bytes())
    data_at = raw.index(b"data") + 8
    pos = data_at + 4 * 2 * 4000  # frame 4000, left channel
    raw[pos : pos + 4] = np.array([bad], dtype="<f4").tobytes()
    path.write_bytes(bytes(raw))
    with pytest.raises(InvalidAudioValues, match="NaN or infinity"):
        decode(path)


def test_video_without_audio(tmp_path: Path) -> None:
    path = tmp_path / "silent_film.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1", "-c:v", "mpeg4", path)
    with pytest.raises(UnsupportedAudio, match="no audio track"):
        decode(path)
    with pytest.raises(UnsupportedAudio, match="no audio track"):
        probe(path)


def test_wav_with_no_samples_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "header_only.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", 36) + b"WAVE" + b"fmt "
                     + struct.pack("<IHHIIHH", 16, 1, 2, RATE, 4 * RATE, 4, 16) + b"data" + struct.pack("<I", 0))
    with pytest.raises((EmptyAudio, UnsupportedAudio)):
        decode(path)


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        decode(tmp_path / "nope.wav")
