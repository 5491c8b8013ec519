"""Input analysis for the chain's decisions: segment spectra, 1/3-octave balance, per-band loud levels.

The decisions (EQ moves, compressor thresholds, saturation level) need the long-term spectrum and how loud
each band gets in the loud passages, not sample accuracy, so they are estimated from up to
`MAX_SEGMENTS` Hann-windowed segments of about 0.37 s spread evenly over the file (Welch's method without
overlap, P. D. Welch, IEEE Trans. Audio Electroacoust. 15(2), 1967). That costs a small fixed fraction of
the file whatever its length. The exact loudness figures of the report come from the meter (`dsp.loudness`),
not from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft

from mastertape.dsp.filters import sos_response
from mastertape.dsp.loudness import (
    ABSOLUTE_GATE_LUFS,
    RELATIVE_GATE_LU,
    k_weighting_sos,
    power_to_lufs,
)
from mastertape.dsp.spectrum import band_power, third_octave_centers

MAX_SEGMENTS = 192
SEGMENT_S = 0.37
#: Percentile of the per-segment band level taken as a band's "loud level" (compressor reference).
LOUD_PERCENTILE = 90.0
_SEGMENT_BATCH = 32


@dataclass(frozen=True)
class SegmentSpectra:
    """Power spectral densities of sampled segments, summed over channels: psd (segments, bins), mean square
    per Hz, so ``psd[s].sum() * df`` is segment s's mean square summed over channels."""

    freqs_hz: np.ndarray
    psd: np.ndarray
    channels: int
    sample_rate: int
    segment_frames: int

    @property
    def df(self) -> float:
        return (
            float(self.freqs_hz[1] - self.freqs_hz[0]) if self.freqs_hz.size > 1 else float(self.sample_rate)
        )


def segment_spectra(
    samples: np.ndarray, sample_rate: int, max_segments: int = MAX_SEGMENTS
) -> SegmentSpectra:
    """Welch periodograms of up to `max_segments` non-overlapping Hann segments spread over `samples`."""
    x = np.asarray(samples)
    channels, frames = x.shape
    n = 1 << int(math.ceil(math.log2(SEGMENT_S * sample_rate)))
    while n > frames and n > 256:
        n //= 2
    n = min(n, frames)
    total = frames // n if n else 0
    freqs = scipy.fft.rfftfreq(max(n, 1), 1.0 / sample_rate)
    if total == 0:
        return SegmentSpectra(freqs, np.zeros((0, freqs.size)), channels, sample_rate, n)
    picks = np.unique(np.linspace(0, total - 1, min(total, max_segments)).round().astype(int))
    starts = picks * n
    window = np.hanning(n + 2)[1:-1].astype(np.float32) if n > 2 else np.ones(n, dtype=np.float32)
    power = np.empty((starts.size, n // 2 + 1))
    for k in range(0, starts.size, _SEGMENT_BATCH):  # a few segments at a time: small temporaries
        batch = starts[k : k + _SEGMENT_BATCH]
        segs = np.stack([x[:, s : s + n] for s in batch], axis=1).astype(np.float32) * window  # (ch, seg, n)
        spec = scipy.fft.rfft(segs, axis=-1)
        power[k : k + batch.size] = np.einsum("csf,csf->sf", spec.real, spec.real, dtype=np.float64)
        power[k : k + batch.size] += np.einsum("csf,csf->sf", spec.imag, spec.imag, dtype=np.float64)
    power /= sample_rate * float(np.sum(window.astype(np.float64) ** 2))
    if n > 1:
        power[:, 1 : (n + 1) // 2] *= 2.0
    return SegmentSpectra(freqs, power, channels, sample_rate, n)


def estimate_loudness_lufs(spectra: SegmentSpectra) -> float:
    """Rough integrated loudness (LUFS) from the segments: K-weighted power per segment, gated like
    BS.1770-4 (absolute -70 LUFS, relative -10 LU). Within about 1 LU of the meter on music; -inf if silent.
    """
    if spectra.psd.shape[0] == 0:
        return float("-inf")
    k2 = (
        np.abs(sos_response(k_weighting_sos(spectra.sample_rate), spectra.freqs_hz, spectra.sample_rate)) ** 2
    )
    powers = spectra.psd @ k2 * spectra.df
    lufs = np.asarray(power_to_lufs(powers))
    above = powers[lufs > ABSOLUTE_GATE_LUFS]
    if above.size == 0:
        return float("-inf")
    rel = float(power_to_lufs(above.mean())) + RELATIVE_GATE_LU
    gated = above[np.asarray(power_to_lufs(above)) > rel]
    return float(power_to_lufs(gated.mean()))


def third_octave_balance(
    spectra: SegmentSpectra, fmin_hz: float = 20.0, fmax_hz: float = 20000.0
) -> tuple[np.ndarray, np.ndarray]:
    """(nominal_centres_hz, levels_db) of the average spectrum per 1/3-octave band (IEC 61260-1 base-10
    bands, channel mean, as `dsp.spectrum.third_octave_levels`); bands above Nyquist are dropped."""
    nominal, exact = third_octave_centers(fmin_hz, fmax_hz)
    low, high = exact * 10.0 ** (-1.0 / 20.0), exact * 10.0 ** (1.0 / 20.0)
    keep = high < spectra.sample_rate / 2.0
    nominal, low, high = nominal[keep], low[keep], high[keep]
    if spectra.psd.shape[0] == 0:
        return nominal, np.full(nominal.size, -np.inf)
    mean_psd = spectra.psd.mean(axis=0) / spectra.channels
    power = np.atleast_1d(band_power(spectra.freqs_hz, mean_psd, spectra.sample_rate, low, high))
    with np.errstate(divide="ignore"):
        return nominal, 10.0 * np.log10(np.maximum(power, 0.0))


def band_loud_levels_db(
    spectra: SegmentSpectra, band_sos: list[np.ndarray], percentile: float = LOUD_PERCENTILE
) -> np.ndarray:
    """Per band (given as the cascade each band signal goes through), the `percentile` of its per-segment
    mean-square level (dB, summed over channels) among segments within 40 dB of the loudest. Matches the
    compressor's detection energy; -inf for a band with no energy."""
    out = np.full(len(band_sos), -np.inf)
    if spectra.psd.shape[0] == 0:
        return out
    for b, sos in enumerate(band_sos):
        h2 = np.abs(sos_response(sos, spectra.freqs_hz, spectra.sample_rate)) ** 2
        p = spectra.psd @ h2 * spectra.df
        if not np.any(p > 0):
            continue
        with np.errstate(divide="ignore"):
            levels = 10.0 * np.log10(p)
        levels = levels[levels > levels.max() - 40.0]
        out[b] = float(np.percentile(levels, percentile))
    return out
