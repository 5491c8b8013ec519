"""Spectral and stereo analysis for the mastering chain: 1/3-octave band levels, stereo correlation,
crest factor and the low-frequency side/mid balance.

Power spectra are Welch estimates (P. D. Welch, IEEE Trans. Audio Electroacoust. 15(2), 1967): Hann
segments of about one second, 50 % overlap, periodograms averaged. The segments are transformed a few at
a time, so memory stays bounded on long files. Band powers integrate that density with fractional bins
(each bin's power is spread evenly over its width), so narrow low bands are not quantised to whole bins.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from mastertape.dsp.arrays import as_channels

#: IEC 61260-1:2014 preferred (nominal) mid-band frequencies of one decade of 1/3-octave bands.
_NOMINAL_MANTISSAS = (10.0, 12.5, 16.0, 20.0, 25.0, 31.5, 40.0, 50.0, 63.0, 80.0)
_SEGMENTS_PER_BATCH = 8


def welch_segment_length(sample_rate: int, frames: int) -> int:
    """Welch segment length: the power of two at or above one second of audio, at most `frames`."""
    n = 1 << int(np.ceil(np.log2(max(sample_rate, 2))))
    return int(max(1, min(n, frames)))


def welch_power_spectrum(samples: np.ndarray, sample_rate: int, segment_frames: int | None = None,
                         mix: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One-sided power spectral density per channel, (freqs_hz, psd) with psd of shape (channels, bins).

    Units: mean square per Hz, so ``psd.sum(axis=-1) * df`` is the (windowed) mean square of a channel.
    Hann window, 50 % overlap, no detrending; the frames after the last whole segment are not used.
    `mix` (outputs, channels), if given, is applied to each batch of segments first (e.g. mid/side),
    and the psd then has one row per output.
    """
    x = as_channels(samples)
    channels, frames = x.shape
    n = segment_frames or welch_segment_length(sample_rate, frames)
    freqs = scipy.fft.rfftfreq(max(n, 1), 1.0 / sample_rate)
    acc = np.zeros((channels if mix is None else mix.shape[0], freqs.size))
    if frames == 0:
        return freqs, acc
    # periodic Hann (what scipy.signal.get_window("hann", n) gives), without importing scipy.signal
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n) if n > 1 else np.ones(1)
    hop = max(n // 2, 1)
    segments = np.lib.stride_tricks.sliding_window_view(x, n, axis=-1)[:, ::hop]
    count = segments.shape[1]
    for s0 in range(0, count, _SEGMENTS_PER_BATCH):
        batch = segments[:, s0:s0 + _SEGMENTS_PER_BATCH] * window
        if mix is not None:
            batch = np.einsum("oc,csn->osn", mix, batch)
        spec = scipy.fft.rfft(batch, axis=-1)
        acc += (spec.real**2 + spec.imag**2).sum(axis=1)
    psd = acc / (count * sample_rate * float(np.sum(window**2)))
    if n > 1:
        psd[:, 1:(n + 1) // 2] *= 2.0  # one-sided: fold negative frequencies (not DC, not Nyquist)
    return freqs, psd


def band_power(freqs: np.ndarray, psd: np.ndarray, sample_rate: int, low_hz: np.ndarray | float,
               high_hz: np.ndarray | float) -> np.ndarray:
    """Mean square between `low_hz` and `high_hz` (clipped to Nyquist); psd (bins,) or (rows, bins).

    Bin k holds the power psd[k] * df spread evenly over [f_k - df/2, f_k + df/2] (clipped to
    [0, Nyquist]); a band takes the part of each bin it overlaps. Summed per band (not as a difference of
    a running total), so a quiet band next to a loud one keeps its precision.
    """
    rows = np.atleast_2d(psd)
    df = freqs[1] - freqs[0] if freqs.size > 1 else float(sample_rate)
    nyquist = sample_rate / 2.0
    edges = np.clip((np.arange(freqs.size + 1) - 0.5) * df, 0.0, nyquist)
    edges[-1] = nyquist
    widths = np.diff(edges)
    power = rows * df
    lows = np.atleast_1d(np.asarray(low_hz, dtype=np.float64))
    highs = np.atleast_1d(np.asarray(high_hz, dtype=np.float64))
    out = np.zeros((rows.shape[0], lows.size))
    for i, (lo, hi) in enumerate(zip(lows, highs, strict=True)):
        lo, hi = max(lo, 0.0), min(hi, nyquist)
        if hi <= lo:
            continue
        k0 = int(np.clip(np.searchsorted(edges, lo, side="right") - 1, 0, widths.size - 1))
        k1 = int(np.clip(np.searchsorted(edges, hi, side="left") - 1, 0, widths.size - 1))
        overlap = np.minimum(edges[k0 + 1:k1 + 2], hi) - np.maximum(edges[k0:k1 + 1], lo)
        fraction = np.clip(overlap, 0.0, None) / np.where(widths[k0:k1 + 1] > 0, widths[k0:k1 + 1], 1.0)
        out[:, i] = power[:, k0:k1 + 1] @ fraction
    if np.ndim(psd) == 1:
        out = out[0]
    return out[..., 0] if np.ndim(low_hz) == 0 and np.ndim(high_hz) == 0 else out


def third_octave_centers(fmin_hz: float = 20.0, fmax_hz: float = 20000.0) -> tuple[np.ndarray, np.ndarray]:
    """(nominal_hz, exact_hz) of the base-10 1/3-octave bands (IEC 61260-1:2014, G = 10^(3/10)) whose
    nominal mid-band frequency lies in [fmin_hz, fmax_hz]. Exact mid-bands are 1000 * 10^(x/10) Hz.
    """
    x = np.arange(-30, 24)
    exact = 1000.0 * 10.0 ** (x / 10.0)
    nominal = np.array([_NOMINAL_MANTISSAS[i % 10] * 10.0 ** (i // 10 + 2) for i in x])
    keep = (nominal >= fmin_hz * (1 - 1e-9)) & (nominal <= fmax_hz * (1 + 1e-9))
    return nominal[keep], exact[keep]


def third_octave_levels(samples: np.ndarray, sample_rate: int, fmin_hz: float = 20.0,
                        fmax_hz: float = 20000.0) -> tuple[np.ndarray, np.ndarray]:
    """Power in each 1/3-octave band, (nominal_centers_hz, levels_db).

    Bands are IEC 61260-1 base-10 bands, edges exact_mid * 10^(+-1/20); a band is kept if its nominal
    centre is in [fmin_hz, fmax_hz] and its lower edge is below Nyquist (a band that straddles Nyquist
    only gets the power below it). The spectrum is the Welch PSD of each channel, averaged over the
    channels (so anti-phase content counts, unlike a mono sum). Levels are 10 log10 of the band's mean
    square: a full-scale sine reads -3.01 dB in its band; -inf for a band without energy.
    """
    x = as_channels(samples)
    nominal, exact = third_octave_centers(fmin_hz, fmax_hz)
    low, high = exact * 10.0 ** (-1.0 / 20.0), exact * 10.0 ** (1.0 / 20.0)
    keep = low < sample_rate / 2.0
    nominal, low, high = nominal[keep], low[keep], high[keep]
    freqs, psd = welch_power_spectrum(x, sample_rate)
    power = band_power(freqs, psd.mean(axis=0), sample_rate, low, high)
    with np.errstate(divide="ignore"):
        levels = 10.0 * np.log10(np.maximum(power, 0.0))
    return nominal, levels


def _dot64(a: np.ndarray, b: np.ndarray) -> float:
    """Sum of a * b accumulated in float64 (einsum casts in buffered chunks: no full float64 copies)."""
    return float(np.einsum("i,i->", a, b, dtype=np.float64))


def _peak(x: np.ndarray) -> float:
    return float(max(x.max(), -x.min())) if x.size else 0.0


def stereo_correlation(samples: np.ndarray) -> float:
    """Phase correlation of left and right, sum(L R) / sqrt(sum(L^2) sum(R^2)), in [-1, 1].

    The zero-lag normalised cross-correlation a phase-correlation meter shows (no mean removal).
    1.0 for mono, identical channels, or when a channel is silent (nothing can
    cancel); -1.0 for inverted channels; about 0 for unrelated channels.
    """
    x = as_channels(samples)
    if x.shape[0] == 1:
        return 1.0
    left, right = x[0], x[1]
    ll, rr = _dot64(left, left), _dot64(right, right)
    if ll <= 0.0 or rr <= 0.0:
        return 1.0
    return float(np.clip(_dot64(left, right) / np.sqrt(ll * rr), -1.0, 1.0))


def crest_factor_db(samples: np.ndarray) -> float:
    """Sample peak over RMS of all channels together, in dB (a sine reads 3.01 dB); 0.0 for silence."""
    x = as_channels(samples)
    if x.size == 0:
        return 0.0
    peak = _peak(x)
    mean_square = sum(_dot64(ch, ch) for ch in x) / x.size
    if peak == 0.0 or mean_square <= 0.0:
        return 0.0
    return float(20.0 * np.log10(peak) - 10.0 * np.log10(mean_square))


def side_to_mid_ratio_db(samples: np.ndarray, sample_rate: int, below_hz: float) -> float:
    """Energy of the side signal (L - R) / 2 relative to the mid (L + R) / 2 below `below_hz`, in dB.

    Low-end mono compatibility check: a mix whose bass is mono reads very low (-inf for mono input or
    identical channels); anti-phase bass reads high (+inf if the mid is empty there). -inf for silence.
    Computed from Welch spectra of mid and side.
    """
    x = as_channels(samples)
    if x.shape[0] == 1:
        return float("-inf")
    mid_side = np.array([[0.5, 0.5], [0.5, -0.5]])
    freqs, psd = welch_power_spectrum(x[:2], sample_rate, mix=mid_side)
    mid, side = band_power(freqs, psd, sample_rate, 0.0, below_hz)
    if side <= 0.0:
        return float("-inf")
    if mid <= 0.0:
        return float("inf")
    return float(10.0 * np.log10(side / mid))
