"""Helpers for the audio I/O tests: quantised signals, the ffmpeg CLI as an independent encoder, alignment."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mastertape.audio import Audio, encode
from tests.signals import music_like

FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"


def need_ffmpeg() -> str:
    if not Path(FFMPEG).exists():
        pytest.skip("ffmpeg CLI not installed (scripts/test.sh installs it)")
    return FFMPEG


def ffmpeg(*args: str | Path) -> None:
    """Run the ffmpeg CLI quietly; fail the test with its message if it fails."""
    cmd = [need_ffmpeg(), "-v", "error", "-nostdin", "-y", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"ffmpeg failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")


def quantised(audio: Audio, bits: int) -> Audio:
    """Samples moved onto the integer grid of `bits` (what the mastering chain hands the encoder)."""
    scale = float(2 ** (bits - 1))
    q = np.clip(np.rint(audio.samples.astype(np.float64) * scale), -scale, scale - 1) / scale
    return Audio(q.astype(np.float32), audio.sample_rate)


def test_track(seconds: float = 1.0, sample_rate: int = 44100, bits: int = 16, channels: int = 2) -> Audio:
    """A short stereo 'mix' on the `bits` grid (16-bit grid values are exact at 24/32 bit and in float)."""
    mix = quantised(music_like(seconds=seconds, sample_rate=sample_rate, level_db=-16.0), bits)
    return Audio(np.ascontiguousarray(mix.samples[:channels]), sample_rate)


test_track.__test__ = False  # a signal factory, not a test


def write_float_wav(audio: Audio, path: Path) -> Path:
    """Our 32-bit float WAV: the lossless hand-over to ffmpeg for making the other formats."""
    encode(audio, path, "wav", bit_depth=32)
    return path


def best_alignment(ref: np.ndarray, out: np.ndarray, max_lag: int = 4096) -> tuple[float, int]:
    """Highest normalised correlation of two mono signals over lags in [-max_lag, max_lag], and that lag.

    Compares ref[max_lag : max_lag + n] with out[lag + max_lag : ...], all lags at once via the FFT.
    """
    ref, out = ref.astype(np.float64), out.astype(np.float64)
    n = min(len(ref), len(out)) - 2 * max_lag
    a = ref[max_lag : max_lag + n]
    size = 1 << int(np.ceil(np.log2(len(out) + n)))
    xc = np.fft.irfft(np.fft.rfft(out, size) * np.conj(np.fft.rfft(a, size)), size)[: 2 * max_lag + 1]
    cs = np.concatenate([[0.0], np.cumsum(out**2)])
    lags = np.arange(2 * max_lag + 1)
    energy = cs[lags + n] - cs[lags]
    corr = xc / (np.sqrt(energy * np.sum(a**2)) + 1e-20)
    i = int(np.argmax(corr))
    return float(corr[i]), i - max_lag


def rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-20))
