"""decode/probe of every input format, made by the ffmpeg CLI (an independent encoder) from our own signals."""

from __future__ import annotations

import importlib
import io
import struct
from pathlib import Path

import numpy as np
import pytest

from mastertape.audio import Audio, AudioInfo, decode, encode, probe
from tests.unit.audio.audio_helpers import best_alignment, ffmpeg, rms_db, test_track, write_float_wav

RATE = 44100
# the package exports the function `decode`, which hides the submodule of the same name
decode_mod = importlib.import_module("mastertape.audio.decode")


@pytest.fixture(scope="module")
def track() -> Audio:
    return test_track(seconds=1.0, sample_rate=RATE, bits=16)


@pytest.fixture(scope="module")
def source_wav(tmp_path_factory: pytest.TempPathFactory, track: Audio) -> Path:
    return write_float_wav(track, tmp_path_factory.mktemp("src") / "track_f32.wav")


# --- lossless: every sample comes back -----------------------------------------------------------
LOSSLESS = [
    ("pcm_s16le.wav", ["-c:a", "pcm_s16le"], "pcm_s16le", "wav"),
    ("pcm_s24le.wav", ["-c:a", "pcm_s24le"], "pcm_s24le", "wav"),
    ("pcm_s32le.wav", ["-c:a", "pcm_s32le"], "pcm_s32le", "wav"),
    ("pcm_f32le.wav", ["-c:a", "pcm_f32le"], "pcm_f32le", "wav"),
    ("pcm_f64le.wav", ["-c:a", "pcm_f64le"], "pcm_f64le", "wav"),
    ("s16.flac", ["-c:a", "flac", "-sample_fmt", "s16"], "flac", "flac"),
    ("s24.flac", ["-c:a", "flac", "-sample_fmt", "s32"], "flac", "flac"),
    ("s16.aiff", ["-c:a", "pcm_s16be"], "pcm_s16be", "aiff"),
    ("s24.aiff", ["-c:a", "pcm_s24be"], "pcm_s24be", "aiff"),
]


@pytest.mark.parametrize(("name", "args", "codec", "format_name"), LOSSLESS, ids=[c[0] for c in LOSSLESS])
def test_lossless_formats_decode_every_sample(tmp_path: Path, source_wav: Path, track: Audio, name: str,
                                              args: list[str], codec: str, format_name: str) -> None:
    path = tmp_path / name
    ffmpeg("-i", source_wav, *args, path)
    audio = decode(path)
    assert audio.sample_rate == RATE
    assert audio.samples.dtype == np.float32
    assert audio.samples.flags["C_CONTIGUOUS"]
    assert audio.samples.shape == track.samples.shape
    # the track is on the 16-bit grid: exact in every one of these formats
    assert np.array_equal(audio.samples, track.samples)
    info = probe(path)
    assert info == AudioInfo(duration_s=1.0, sample_rate=RATE, channels=2, codec=codec, format_name=format_name)


def test_8_bit_wav_decodes_to_the_8_bit_grid(tmp_path: Path, source_wav: Path, track: Audio) -> None:
    path = tmp_path / "u8.wav"
    ffmpeg("-i", source_wav, "-c:a", "pcm_u8", path)
    audio = decode(path)
    assert audio.samples.shape == track.samples.shape
    codes = audio.samples * 128.0
    assert np.array_equal(codes, np.rint(codes))  # every value k / 128
    assert np.max(np.abs(audio.samples - track.samples)) <= 1.0 / 128 + 1e-7


def test_mono_and_every_source_kind_give_the_same_samples(tmp_path: Path, track: Audio) -> None:
    mono = Audio(np.ascontiguousarray(track.samples[:1]), RATE)
    path = tmp_path / "mono.flac"
    encode(mono, path, "flac", bit_depth=16)
    data = path.read_bytes()

    class PipeLike:  # a non-seekable stream (no seek/tell), like a socket or an upload body
        def __init__(self, raw: bytes) -> None:
            self._bio = io.BytesIO(raw)

        def read(self, n: int = -1) -> bytes:
            return self._bio.read(n)

    with path.open("rb") as fh:
        from_file = decode(fh)
    for audio in (decode(str(path)), decode(path), decode(data), decode(bytearray(data)),
                  decode(io.BytesIO(data)), from_file, decode(PipeLike(data))):
        assert audio.channels == 1
        assert np.array_equal(audio.samples, mono.samples)


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000])
def test_sample_rates_decode_natively(tmp_path: Path, rate: int) -> None:
    audio = test_track(seconds=0.25, sample_rate=rate, bits=24)
    path = tmp_path / f"r{rate}.wav"
    encode(audio, path, "wav", bit_depth=24)
    back = decode(path)
    assert back.sample_rate == rate
    assert np.array_equal(back.samples, audio.samples)
    assert probe(path).sample_rate == rate


def test_flac_at_192k_decodes_natively(tmp_path: Path) -> None:
    audio = test_track(seconds=0.25, sample_rate=192000, bits=24)
    path = tmp_path / "hi.flac"
    encode(audio, path, "flac", bit_depth=24)
    back = decode(path)
    assert back.sample_rate == 192000 and np.array_equal(back.samples, audio.samples)


# --- lossy: right length, same signal -------------------------------------------------------------
LOSSY = [
    # name, ffmpeg args, codec, frame size, sample rate
    ("a.mp3", ["-c:a", "libmp3lame", "-b:a", "256k"], "mp3", 1152, 44100),
    ("a.m4a", ["-c:a", "aac", "-b:a", "256k"], "aac", 1024, 44100),
    ("a.ogg", ["-c:a", "libvorbis", "-q:a", "6"], "vorbis", 2048, 44100),
    ("a.opus", ["-c:a", "libopus", "-b:a", "160k"], "opus", 960, 48000),
]


@pytest.mark.parametrize(("name", "args", "codec", "frame", "rate"), LOSSY, ids=[c[0] for c in LOSSY])
def test_lossy_formats_keep_length_and_signal(tmp_path: Path, name: str, args: list[str], codec: str,
                                              frame: int, rate: int) -> None:
    ref = test_track(seconds=2.0, sample_rate=rate, bits=16)
    src = write_float_wav(ref, tmp_path / "src.wav")
    path = tmp_path / name
    ffmpeg("-i", src, *args, path)
    audio = decode(path)
    assert audio.sample_rate == rate and audio.channels == 2
    assert abs(audio.frames - ref.frames) <= 2 * frame
    for ch in range(2):
        corr, lag = best_alignment(ref.samples[ch], audio.samples[ch])
        assert corr > 0.95, (ch, corr, lag)
        assert abs(lag) <= frame
    assert abs(rms_db(audio.samples) - rms_db(ref.samples)) < 1.0
    info = probe(path)
    assert info.codec == codec and info.sample_rate == rate and info.channels == 2
    assert abs(info.duration_s - 2.0) <= 2 * frame / rate


def test_vbr_mp3_without_length_header_is_not_called_truncated(tmp_path: Path) -> None:
    """Without a Xing header FFmpeg estimates the length from the bit rate (for this VBR file: far off)."""
    quiet = test_track(seconds=3.0, sample_rate=RATE, bits=16).samples * 0.01
    loud = np.random.default_rng(3).uniform(-0.5, 0.5, size=(2, 3 * RATE)).astype(np.float32)
    ref = Audio(np.concatenate([quiet, loud], axis=1), RATE)
    src = write_float_wav(ref, tmp_path / "src.wav")
    path = tmp_path / "vbr.mp3"
    ffmpeg("-i", src, "-c:a", "libmp3lame", "-q:a", "2", "-write_xing", "0", path)
    audio = decode(path)
    assert abs(audio.duration_s - 6.0) < 0.1
    assert abs(probe(path).duration_s - 6.0) < 0.1  # counted from packets, not the estimate


def test_video_with_audio_gives_its_audio(tmp_path: Path) -> None:
    ref = test_track(seconds=2.0, sample_rate=48000, bits=16)
    src = write_float_wav(ref, tmp_path / "src.wav")
    path = tmp_path / "clip.mp4"
    # video stream first, so the audio is not stream 0
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=2", "-i", src,
           "-map", "0:v", "-map", "1:a", "-c:v", "mpeg4", "-c:a", "aac", "-b:a", "192k", path)
    audio = decode(path)
    assert audio.sample_rate == 48000 and audio.channels == 2
    assert abs(audio.frames - ref.frames) <= 2048
    corr, _ = best_alignment(ref.samples[0], audio.samples[0])
    assert corr > 0.95
    info = probe(path)
    assert info.codec == "aac" and "mp4" in info.format_name


# --- lengths, limits and memory -------------------------------------------------------------------
def test_streamed_wav_with_unknown_length_decodes_whole(tmp_path: Path, track: Audio) -> None:
    """Writers that cannot seek back leave 0xFFFFFFFF as the data size: read to the end, not 'truncated'."""
    path = tmp_path / "streamed.wav"
    encode(track, path, "wav", bit_depth=16)
    raw = bytearray(path.read_bytes())
    raw[4:8] = struct.pack("<I", 0xFFFFFFFF)
    raw[40:44] = struct.pack("<I", 0xFFFFFFFF)
    assert raw[36:40] == b"data"
    path.write_bytes(bytes(raw))
    assert np.array_equal(decode(path).samples, track.samples)
    assert probe(path).duration_s == pytest.approx(1.0)


def test_growing_blocks_give_the_same_samples(tmp_path: Path, track: Audio, monkeypatch) -> None:
    """Length unknown (streamed WAV, non-seekable source): samples collected over many small blocks."""
    path = tmp_path / "streamed.wav"
    encode(track, path, "wav", bit_depth=16)
    raw = bytearray(path.read_bytes())
    raw[40:44] = struct.pack("<I", 0xFFFFFFFF)
    monkeypatch.setattr(decode_mod, "_GROW_MIN_FRAMES", 3000)
    monkeypatch.setattr(decode_mod, "_PREALLOC_UNKNOWN_SIZE_FRAMES", 3000)

    class PipeLike:
        def __init__(self, data: bytes) -> None:
            self._bio = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self._bio.read(n)

    audio = decode(PipeLike(bytes(raw)))
    assert np.array_equal(audio.samples, track.samples)
    assert audio.samples.flags["C_CONTIGUOUS"]


def test_limit_exactly_met_is_accepted(tmp_path: Path, track: Audio) -> None:
    path = tmp_path / "one_second.flac"
    encode(track, path, "flac", bit_depth=16)
    assert decode(path, max_duration_s=1.0).frames == track.frames
