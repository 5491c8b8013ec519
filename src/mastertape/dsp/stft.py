"""The short-time Fourier transform the restoration presets share: Hann window, 75 % overlap (hop of a
quarter frame), scipy.signal's scaling; the synthesis is cut or zero-padded back to the input's length."""

from __future__ import annotations

import numpy as np
from scipy.signal import istft, stft


def stft_size(sample_rate: int, seconds: float = 0.0464) -> int:
    """Power-of-two STFT length of about `seconds` (default ~46 ms: 2048 at 44.1 and 48 kHz)."""
    return int(2 ** np.round(np.log2(seconds * sample_rate)))


def hann_stft(x: np.ndarray, n_fft: int, boundary: str = "zeros") -> np.ndarray:
    """STFT of (..., frames) samples: (..., bins, stft frames). `boundary`: scipy's edge extension
    ("zeros", or "even" to mirror the signal at its ends)."""
    _, _, z = stft(x, window="hann", nperseg=n_fft, noverlap=n_fft - n_fft // 4, boundary=boundary, padded=True)
    return z


def hann_istft(z: np.ndarray, n_fft: int, n: int) -> np.ndarray:
    """Inverse of `hann_stft` (weighted overlap-add), `n` samples long."""
    _, y = istft(z, window="hann", nperseg=n_fft, noverlap=n_fft - n_fft // 4, boundary=True)
    return fit_length(y, n)


def fit_length(y: np.ndarray, n: int) -> np.ndarray:
    """`y` cut to `n` samples on its last axis, or zero-padded to it."""
    y = y[..., :n]
    if y.shape[-1] < n:
        y = np.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, n - y.shape[-1])])
    return y
