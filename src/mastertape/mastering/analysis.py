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
    LRA_RELATIVE_GATE_LU,
    RELATIVE_GATE_LU,
    k_weighting_sos,
    power_to_lufs,
)

MAX_SEGMENTS = 192
SEGMENT_S = 0.37
#: Percentile of the per-segment band level taken as a band's "loud level" (compressor reference).
LOUD_PERCENTILE = 90.0
_SEGMENT_BATCH = 32


@dataclass(frozen=True)
class SegmentSpectra:
    """Power spectral densities of sampled segments, summed over channels: psd (segments, bins), mean square
    per Hz, so ``psd[s].sum() * df`` is segment s's mean square summed over channels. `mid_side_psd`
    (2, segments, bins) holds the mid and side densities of a stereo signal (mid = (L + R) / 2, side =
    (L - R) / 2, so psd = 2 (mid + side)); for mono it holds the one channel, and no side."""

    freqs_hz: np.ndarray
    psd: np.ndarray
    channels: int
    sample_rate: int
    segment_frames: int
    mid_side_psd: np.ndarray | None = None

    @property
    def df(self) -> float:
        return (
            float(self.freqs_hz[1] - self.freqs_hz[0]) if self.freqs_hz.size > 1 else float(self.sample_rate)
        )


def segment_spectra(
    samples: np.ndarray, sample_rate: int, max_segments: int = MAX_SEGMENTS
) -> SegmentSpectra:
    """Welch periodograms of up to `max_segments` non-overlapping Hann segments spread over `samples`,
    of the mid and side of a stereo signal (or the one channel of a mono one), see `SegmentSpectra`."""
    x = np.asarray(samples)
    channels, frames = x.shape
    n = 1 << int(math.ceil(math.log2(SEGMENT_S * sample_rate)))
    while n > frames and n > 256:
        n //= 2
    n = min(n, frames)
    total = frames // n if n else 0
    freqs = scipy.fft.rfftfreq(max(n, 1), 1.0 / sample_rate)
    if total == 0:
        empty = np.zeros((0, freqs.size))
        return SegmentSpectra(freqs, empty, channels, sample_rate, n, np.zeros((min(channels, 2), 0, freqs.size)))
    picks = np.unique(np.linspace(0, total - 1, min(total, max_segments)).round().astype(int))
    starts = picks * n
    window = np.hanning(n + 2)[1:-1].astype(np.float32) if n > 2 else np.ones(n, dtype=np.float32)
    stereo = channels == 2
    power = np.empty((channels, starts.size, n // 2 + 1))
    for k in range(0, starts.size, _SEGMENT_BATCH):  # a few segments at a time: small temporaries
        batch = starts[k : k + _SEGMENT_BATCH]
        segs = np.stack([x[:, s : s + n] for s in batch], axis=1).astype(np.float32)  # (ch, seg, n)
        if stereo:  # mid and side
            segs = np.stack([segs[0] + segs[1], segs[0] - segs[1]]) * np.float32(0.5)
        segs *= window
        spec = scipy.fft.rfft(segs, axis=-1)
        power[:, k : k + batch.size] = np.square(spec.real, dtype=np.float64)
        power[:, k : k + batch.size] += np.square(spec.imag, dtype=np.float64)
    power /= sample_rate * float(np.sum(window.astype(np.float64) ** 2))
    if n > 1:
        power[..., 1 : (n + 1) // 2] *= 2.0
    summed = power.sum(axis=0) * (2.0 if stereo else 1.0)  # L^2 + R^2 = 2 (M^2 + S^2)
    return SegmentSpectra(freqs, summed, channels, sample_rate, n, power)


def _kweighted_powers(spectra: SegmentSpectra) -> np.ndarray:
    """K-weighted mean square of each segment (summed over channels), as BS.1770-4 weighs it."""
    k2 = np.abs(sos_response(k_weighting_sos(spectra.sample_rate), spectra.freqs_hz, spectra.sample_rate)) ** 2
    return spectra.psd @ k2 * spectra.df


def estimate_loudness_lufs(spectra: SegmentSpectra) -> float:
    """Rough integrated loudness (LUFS) from the segments: K-weighted power per segment, gated like
    BS.1770-4 (absolute -70 LUFS, relative -10 LU). Within about 1 LU of the meter on music; -inf if silent.
    """
    if spectra.psd.shape[0] == 0:
        return float("-inf")
    powers = _kweighted_powers(spectra)
    lufs = np.asarray(power_to_lufs(powers))
    above = powers[lufs > ABSOLUTE_GATE_LUFS]
    if above.size == 0:
        return float("-inf")
    rel = float(power_to_lufs(above.mean())) + RELATIVE_GATE_LU
    gated = above[np.asarray(power_to_lufs(above)) > rel]
    return float(power_to_lufs(gated.mean()))


def segment_loudness_spread_lu(spectra: SegmentSpectra) -> float:
    """Spread of the segments' K-weighted loudness (LU): the 95th minus the 10th percentile of the segments
    above -70 LUFS and above -20 LU under their power mean, as EBU Tech 3342 gates the LRA. On segments
    of 0.37 s instead of 3 s windows it reads higher than the LRA; 0.0 when fewer than two pass."""
    if spectra.psd.shape[0] == 0:
        return 0.0
    powers = _kweighted_powers(spectra)
    with np.errstate(divide="ignore"):
        lufs = np.asarray(power_to_lufs(np.maximum(powers, 1e-30)))
    above = powers[lufs > ABSOLUTE_GATE_LUFS]
    if above.size < 2:
        return 0.0
    gated = lufs[(lufs > ABSOLUTE_GATE_LUFS) & (lufs > float(power_to_lufs(above.mean())) + LRA_RELATIVE_GATE_LU)]
    if gated.size < 2:
        return 0.0
    return float(np.percentile(gated, 95.0) - np.percentile(gated, 10.0))


def band_loud_levels_db(
    spectra: SegmentSpectra, band_power_gain: np.ndarray, percentile: float = LOUD_PERCENTILE
) -> np.ndarray:
    """Per band, the `percentile` of its per-segment mean-square level (dB, L^2 + R^2 summed) among segments
    within 40 dB of the loudest, where `band_power_gain` (bands, channels, bins) is each band's power
    response |H|^2 at `spectra.freqs_hz` for the mid and side (or the one channel) of `mid_side_psd`.
    Matches the compressor's detection energy; -inf for a band with no energy."""
    gains = np.asarray(band_power_gain, dtype=np.float64)
    out = np.full(gains.shape[0], -np.inf)
    ms = spectra.mid_side_psd
    if ms is None or ms.shape[1] == 0:
        return out
    scale = 2.0 if spectra.channels == 2 else 1.0
    for b in range(gains.shape[0]):
        p = np.einsum("csf,cf->s", ms, gains[b]) * (spectra.df * scale)
        if not np.any(p > 0):
            continue
        with np.errstate(divide="ignore"):
            levels = 10.0 * np.log10(p)
        levels = levels[levels > levels.max() - 40.0]
        out[b] = float(np.percentile(levels, percentile))
    return out
