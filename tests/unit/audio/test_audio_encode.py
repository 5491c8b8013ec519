"""encode: exact lossless conversion, valid files other readers agree with, lossy previews, atomic writes."""

from __future__ import annotations

import importlib
import io
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mastertape.audio import SUPPORTED_OUTPUT_FORMATS, Audio, decode, encode, probe
from mastertape.errors import EncodeError, InvalidAudioValues, InvalidSetting, UnknownFormat
from tests.unit.audio.audio_helpers import best_alignment, need_ffmpeg, rms_db, test_track

encode_mod = importlib.import_module("mastertape.audio.encode")
RATE = 44100


def _grid_signal(bits: int, channels: int, frames: int, seed: int = 0) -> tuple[Audio, np.ndarray]:
    """Random integer codes over the whole range (extremes included) as float32 k / 2^(bits-1)."""
    full = 2 ** (bits - 1)
    codes = np.random.default_rng(seed).integers(-full, full, size=(channels, frames), dtype=np.int64)
    codes[0, :4] = [-full, full - 1, 0, -1]
    return Audio((codes / full).astype(np.float32), RATE), codes


@pytest.mark.parametrize("fmt", ["wav", "flac"])
@pytest.mark.parametrize("bits", [16, 24])
@pytest.mark.parametrize("channels", [1, 2])
def test_quantised_input_round_trips_bit_exact(tmp_path: Path, fmt: str, bits: int, channels: int) -> None:
    audio, codes = _grid_signal(bits, channels, 30_001)  # odd length: 24-bit mono WAV needs its pad byte
    path = tmp_path / f"x.{fmt}"
    encode(audio, path, fmt, bit_depth=bits)
    back = decode(path)
    assert back.sample_rate == RATE
    assert np.array_equal(back.samples, audio.samples)
    assert np.array_equal(np.rint(back.samples.astype(np.float64) * 2 ** (bits - 1)).astype(np.int64), codes)


def test_float_wav_is_exact_including_overs(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 10_000)).astype(np.float32)  # peaks well above full scale
    x[0, :3] = [1.5, -3.0, 1e-30]
    audio = Audio(x, RATE)
    path = tmp_path / "f.wav"
    encode(audio, path, "wav", bit_depth=32)
    assert np.array_equal(decode(path).samples, x)
    assert probe(path).codec == "pcm_f32le"


def test_rounds_to_nearest_and_clips_without_dither() -> None:
    lsb = 1.0 / 32768
    x = np.array([[1.0, -1.0, 1.5, -2.0, 0.49 * lsb, 0.51 * lsb, -0.51 * lsb, 0.25 * lsb, 100 * lsb + 0.4 * lsb]],
                 dtype=np.float32)
    codes = encode_mod._int_codes(x, 16)[:, 0]
    assert codes.tolist() == [32767, -32768, 32767, -32768, 0, 1, -1, 0, 100]
    # no dither: a constant below half an LSB stays digital silence, every time
    tiny = np.full((2, 5000), 0.3 * lsb, dtype=np.float32)
    assert not encode_mod._int_codes(tiny, 16).any()
    x24 = np.array([[0.5 / 2**23, 1.49 / 2**23, 1.0]], dtype=np.float32)
    assert encode_mod._int_codes(x24, 24)[:, 0].tolist() == [0, 1, 2**23 - 1]


def test_same_input_same_bytes(tmp_path: Path) -> None:
    audio = test_track(seconds=0.5, bits=24)
    for fmt in ("wav", "flac"):
        a, b = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
        encode(audio, a, fmt)
        encode(audio, b, fmt)
        assert a.read_bytes() == b.read_bytes()
    assert b"Lavf" not in (tmp_path / "a.flac").read_bytes()  # no library version strings


@pytest.mark.parametrize(("bits", "ffmpeg_fmt", "tag"), [(16, "s16le", 1), (24, "s32le", 1), (32, "f32le", 3)])
def test_wav_is_read_identically_by_ffmpeg(tmp_path: Path, bits: int, ffmpeg_fmt: str, tag: int) -> None:
    """An independent reader sees the same samples: header, packing and byte order are right."""
    audio, codes = _grid_signal(min(bits, 24), 2, 5_001, seed=2)
    path = tmp_path / "x.wav"
    encode(audio, path, "wav", bit_depth=bits)
    raw = path.read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:16] == b"WAVEfmt "
    assert int.from_bytes(raw[20:22], "little") == tag
    assert int.from_bytes(raw[4:8], "little") == len(raw) - 8
    out = subprocess.run([need_ffmpeg(), "-v", "error", "-i", str(path), "-f", ffmpeg_fmt, "-"],
                         capture_output=True, check=True).stdout
    dtype = {"s16le": "<i2", "s32le": "<i4", "f32le": "<f4"}[ffmpeg_fmt]
    got = np.frombuffer(out, dtype=dtype).reshape(-1, 2).T
    if bits == 32:
        assert np.array_equal(got, audio.samples)
    else:
        assert np.array_equal(got.astype(np.int64) >> (8 if bits == 24 else 0), codes)


def test_flac_24_bit_is_24_bit(tmp_path: Path) -> None:
    audio, _ = _grid_signal(24, 2, 4_000)
    path = tmp_path / "x.flac"
    encode(audio, path, "flac", bit_depth=24)
    out = subprocess.run([need_ffmpeg().replace("ffmpeg", "ffprobe"), "-v", "error", "-show_entries",
                          "stream=bits_per_raw_sample", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=False).stdout.strip()
    if out:  # ffprobe ships with ffmpeg; tolerate its absence
        assert out == "24"


# --- lossy ----------------------------------------------------------------------------------------
LOSSY = [
    # fmt, file name, codec, container (probe), output rate, frame size
    ("mp3", "p.mp3", "mp3", "mp3", 44100, 1152),
    ("aac", "p.m4a", "aac", "mov,mp4,m4a,3gp,3g2,mj2", 44100, 1024),
    ("aac", "p.aac", "aac", "aac", 44100, 1024),
    ("opus", "p.opus", "opus", "ogg", 48000, 960),
    ("opus", "p.ogg", "opus", "ogg", 48000, 960),
]


@pytest.mark.parametrize(("fmt", "name", "codec", "container", "rate", "frame"), LOSSY,
                         ids=[c[1] for c in LOSSY])
def test_lossy_preview(tmp_path: Path, fmt: str, name: str, codec: str, container: str, rate: int,
                       frame: int) -> None:
    ref = test_track(seconds=2.0, sample_rate=44100, bits=24)
    path = tmp_path / name
    encode(ref, path, fmt)
    info = probe(path)
    assert (info.codec, info.format_name, info.sample_rate, info.channels) == (codec, container, rate, 2)
    out = decode(path)
    assert out.sample_rate == rate
    assert abs(out.duration_s - 2.0) <= 2 * frame / rate
    ref_at_rate = ref if rate == 44100 else importlib.import_module("mastertape.audio").resample(ref, rate)
    for ch in range(2):
        corr, lag = best_alignment(ref_at_rate.samples[ch], out.samples[ch])
        assert corr > 0.97 and abs(lag) <= frame
    assert abs(rms_db(out.samples) - rms_db(ref.samples)) < 0.5


def test_default_bitrates(tmp_path: Path) -> None:
    noise = Audio(np.random.default_rng(0).uniform(-0.5, 0.5, (2, 4 * RATE)).astype(np.float32), RATE)
    for fmt, ext, kbps in (("mp3", ".mp3", 320), ("aac", ".m4a", 256), ("opus", ".opus", 160)):
        path = tmp_path / f"n{ext}"
        encode(noise, path, fmt)
        measured_kbps = path.stat().st_size * 8 / 4.0 / 1000
        assert 0.8 * kbps < measured_kbps < 1.15 * kbps, (fmt, measured_kbps)
    encode(noise, tmp_path / "low.mp3", "mp3", bitrate_kbps=128)
    assert (tmp_path / "low.mp3").stat().st_size * 8 / 4.0 / 1000 == pytest.approx(128, rel=0.1)


@pytest.mark.parametrize(("rate", "mp3_rate", "aac_rate"),
                         [(96000, 48000, 48000), (88200, 44100, 44100), (8000, 8000, 8000), (22050, 22050, 22050)])
def test_lossy_sample_rates(tmp_path: Path, rate: int, mp3_rate: int, aac_rate: int) -> None:
    audio = test_track(seconds=0.5, sample_rate=rate, bits=24)
    encode(audio, tmp_path / "a.mp3", "mp3")  # 8 kHz mp3 cannot carry 320 kbit/s: clamped, not an error
    encode(audio, tmp_path / "a.m4a", "aac")
    encode(audio, tmp_path / "a.opus", "opus")
    assert probe(tmp_path / "a.mp3").sample_rate == mp3_rate
    assert probe(tmp_path / "a.m4a").sample_rate == aac_rate
    assert probe(tmp_path / "a.opus").sample_rate == 48000


@pytest.mark.parametrize("fmt", SUPPORTED_OUTPUT_FORMATS)
def test_every_format_writes_to_a_file_object(fmt: str) -> None:
    audio = Audio(np.ascontiguousarray(test_track(seconds=0.5, bits=16).samples[:1]), RATE)  # mono
    buf = io.BytesIO()
    encode(audio, buf, fmt, bit_depth=16)
    out = decode(buf.getvalue())
    assert out.channels == 1
    assert abs(out.duration_s - 0.5) < 0.05
    if fmt in ("wav", "flac"):
        assert np.array_equal(out.samples, audio.samples)


# --- refusals -------------------------------------------------------------------------------------
def test_bad_requests_are_typed(tmp_path: Path) -> None:
    audio = test_track(seconds=0.1, bits=16)
    with pytest.raises(UnknownFormat, match="choose one of wav, flac, mp3, aac, opus") as info:
        encode(audio, tmp_path / "x.wma", "wma")
    assert info.value.field == "format"
    for fmt, depth in (("wav", 8), ("flac", 32), ("wav", 20)):
        with pytest.raises(InvalidSetting) as info:
            encode(audio, tmp_path / "x", fmt, bit_depth=depth)
        assert info.value.field == "bit_depth"
    with pytest.raises(InvalidSetting) as info:
        encode(audio, tmp_path / "x.mp3", "mp3", bitrate_kbps=1000)
    assert info.value.field == "bitrate_kbps"
    bad = audio.samples.copy()
    bad[1, 100] = np.nan
    with pytest.raises(InvalidAudioValues):
        encode(Audio(bad, RATE), tmp_path / "x.wav", "wav")
    with pytest.raises(EncodeError, match="mono or stereo"):
        encode(Audio(np.zeros((3, 10), np.float32), RATE), tmp_path / "x.wav", "wav")
    assert sorted(os.listdir(tmp_path)) == []  # nothing written by any refusal
    assert encode(audio, tmp_path / "x.FLAC", " FLAC ") is None  # case and spaces do not matter


def test_wav_above_4_gib_is_refused_before_writing(tmp_path: Path) -> None:
    huge = np.broadcast_to(np.float32(0.0), (2, 2**29))  # 4 GiB as 32-bit float, no memory behind it
    with pytest.raises(EncodeError, match="4 GiB"):
        encode(Audio(huge, RATE), tmp_path / "big.wav", "wav", bit_depth=32)
    assert not any(tmp_path.iterdir())


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch) -> None:
    dest = tmp_path / "master.wav"
    dest.write_bytes(b"previous master")
    audio = test_track(seconds=3.0, bits=24)

    calls = {"n": 0}
    real_pack = encode_mod._pack24

    def failing_pack(codes: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 2:  # part of the data already written
            raise OSError(28, "No space left on device")
        return real_pack(codes)

    monkeypatch.setattr(encode_mod, "_pack24", failing_pack)
    with pytest.raises(EncodeError, match="No space left"):
        encode(audio, dest, "wav", bit_depth=24)
    assert dest.read_bytes() == b"previous master"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["master.wav"]


def test_successful_write_replaces_and_respects_umask(tmp_path: Path) -> None:
    dest = tmp_path / "master.flac"
    dest.write_bytes(b"old")
    old_mask = os.umask(0o022)
    try:
        encode(test_track(seconds=0.2, bits=16), dest, "flac", bit_depth=16)
    finally:
        os.umask(old_mask)
    assert probe(dest).codec == "flac"
    assert (dest.stat().st_mode & 0o777) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["master.flac"]


def test_unwritable_destination_is_an_encode_error(tmp_path: Path) -> None:
    with pytest.raises(EncodeError, match="cannot write"):
        encode(test_track(seconds=0.1, bits=16), tmp_path / "missing_dir" / "x.wav", "wav")
