"""Objective quality metrics for restoration: SDR, SI-SDR and log-spectral distance.

All functions take arrays of any matching shape, e.g. `(channels, frames)` or `(frames,)`; a
multichannel signal is scored as one signal (all channels together), which is what the
restoration benchmarks quote.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import stft

_TINY = 1e-20


def _pair(reference: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    if ref.shape != est.shape:
        raise ValueError(f"reference and estimate differ in shape: {ref.shape} vs {est.shape}")
    if ref.size == 0:
        raise ValueError("empty signals")
    return ref.ravel(), est.ravel()


def sdr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Signal-to-distortion ratio `10 log10(|s|^2 / |s - s_hat|^2)` in dB, no rescaling.

    This is the SDR of the declipping literature (Zaviska et al. 2019, "A survey and an experimental
    evaluation of sparsity-based declipping", eq. 17): errors of gain count as distortion.
    """
    ref, est = _pair(reference, estimate)
    return float(10.0 * np.log10((np.sum(ref**2) + _TINY) / (np.sum((ref - est) ** 2) + _TINY)))


def si_sdr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019, "SDR - half-baked or well done?", eqs. 4-5).

    Both signals are made zero-mean, the reference is scaled by the optimal `alpha = <s_hat, s> / |s|^2`,
    and the ratio of the scaled target's energy to the residual's energy is returned.
    """
    ref, est = _pair(reference, estimate)
    ref = ref - ref.mean()
    est = est - est.mean()
    alpha = np.dot(est, ref) / (np.dot(ref, ref) + _TINY)
    target = alpha * ref
    residual = est - target
    return float(10.0 * np.log10((np.sum(target**2) + _TINY) / (np.sum(residual**2) + _TINY)))


def log_spectral_distance(reference: np.ndarray, estimate: np.ndarray, sample_rate: int,
                          low_hz: float = 0.0, high_hz: float | None = None, n_fft: int = 2048,
                          power_floor: float = 1e-10) -> float:
    """Log-spectral distance in a band, as issue 7 defines it (no dB factor).

    STFT with `n_fft` (Hann window, hop n_fft/4); per frame, the RMS over the bins in
    [low_hz, high_hz] of `log10(P_ref) - log10(P_est)` with both powers floored at `power_floor`;
    then the mean over frames (and over channels for multichannel input).
    """
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    if ref.shape != est.shape:
        raise ValueError(f"reference and estimate differ in shape: {ref.shape} vs {est.shape}")
    if high_hz is None:
        high_hz = sample_rate / 2.0
    ref2 = ref.reshape(-1, ref.shape[-1])
    est2 = est.reshape(-1, est.shape[-1])
    freqs, _, z_ref = stft(ref2, fs=sample_rate, window="hann", nperseg=n_fft, noverlap=n_fft - n_fft // 4)
    _, _, z_est = stft(est2, fs=sample_rate, window="hann", nperseg=n_fft, noverlap=n_fft - n_fft // 4)
    band = (freqs >= low_hz) & (freqs <= high_hz)
    if not np.any(band):
        raise ValueError(f"no STFT bin between {low_hz} and {high_hz} Hz")
    p_ref = np.maximum(np.abs(z_ref[:, band, :]) ** 2, power_floor)
    p_est = np.maximum(np.abs(z_est[:, band, :]) ** 2, power_floor)
    diff = np.log10(p_ref) - np.log10(p_est)
    per_frame = np.sqrt(np.mean(diff**2, axis=1))  # (channels, frames)
    return float(np.mean(per_frame))
