"""Generated material for the bandwidth presets: broadband music-like signals and known low-passes."""

from __future__ import annotations

import numpy as np
from scipy.signal import ellip, sosfiltfilt

from tests.signals import music_like, pink_noise


def bright_music(seconds: float = 6.0, sample_rate: int = 44100, seed: int = 1) -> np.ndarray:
    """music_like (bass, chords, kicks, hi-hats) over a quiet pink-noise bed: content up to Nyquist, stereo."""
    x = music_like(seconds, sample_rate, seed=seed).samples.astype(np.float64)
    bed = pink_noise(seconds, sample_rate, channels=2, rms_dbfs=-36.0, seed=seed + 10).samples
    return (x + bed).astype(np.float32)


def lowpass_fft(x: np.ndarray, sr: int, cutoff_hz: float) -> np.ndarray:
    """Brick-wall low-pass (every FFT bin above the cutoff zeroed)."""
    spec = np.fft.rfft(np.asarray(x, dtype=np.float64), axis=-1)
    spec[..., np.fft.rfftfreq(x.shape[-1], 1 / sr) > cutoff_hz] = 0.0
    return np.fft.irfft(spec, n=x.shape[-1], axis=-1).astype(np.float32)


def lowpass_elliptic(x: np.ndarray, sr: int, cutoff_hz: float) -> np.ndarray:
    """Steep IIR low-pass: 8th-order elliptic (0.5 dB ripple, 80 dB stop band), forwards and backwards."""
    sos = ellip(8, 0.5, 80, cutoff_hz, fs=sr, output="sos")
    return sosfiltfilt(sos, np.asarray(x, dtype=np.float64), axis=-1).astype(np.float32)


def band_energy_db(x: np.ndarray, sr: int, low_hz: float, high_hz: float) -> float:
    """Energy of `x` between two frequencies (whole-signal FFT), dB."""
    spec = np.fft.rfft(np.asarray(x, dtype=np.float64), axis=-1)
    f = np.fft.rfftfreq(x.shape[-1], 1 / sr)
    band = (f >= low_hz) & (f < high_hz)
    return float(10 * np.log10(np.sum(np.abs(spec[..., band]) ** 2) + 1e-30))
