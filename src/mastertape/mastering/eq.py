"""The chain's EQ: long-term tonal balance, the blind correction towards a profile, reference matching.

Both EQs are gain curves over the 1/3-octave centres, for mid and side apart, which the chain turns into one
minimum-phase filter per channel (`dsp.fir`). All comparisons are of shape only: a curve is taken relative
to its own mean over the fit band (40 Hz - 16 kHz), so the loudness of the two never matters.

Blind (towards the profile's target curve): the difference is smoothed over about an octave, a dead band
ignores small differences, and the fraction corrected grows with the size of the error, from nothing at
the dead band to `profile.eq_strength` at `FULL_CORRECTION_DB` (and beyond), and no band moves more than
the profile's `eq_max_db` (times the intensity): a finished master that sits a couple of dB from the
genre's average is left nearly alone. Bands far
below the target (more than `ABSENT_DB`) hold no content (a band-limited source, a recording without
sub-bass) and are left out; boosting them would only raise noise.

Reference: the mid curve moves onto the reference's mid curve and the side curve onto the reference's side
curve relative to the same offset, which matches the stereo width per band as well. The difference is
smoothed lightly (2/3 octave), bounded (`MAX_BOOST_DB`, `MAX_CUT_DB`), bands the input lacks are left
out as above, and below `MONO_BELOW_HZ` the side is never raised more than the mid, so the low end stays
mono-compatible (it can get narrower, never wider).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mastertape.dsp.spectrum import band_power, third_octave_centers
from mastertape.mastering.analysis import SegmentSpectra
from mastertape.mastering.profiles import Profile

FIT_BAND_HZ = (40.0, 16000.0)
ABSENT_DB = 15.0
#: Error (dB, after smoothing) from which the blind EQ corrects the profile's full `eq_strength`.
FULL_CORRECTION_DB = 12.0
#: Largest boost and cut of any EQ curve (dB).
MAX_BOOST_DB = 10.0
MAX_CUT_DB = 12.0
#: The side may be raised at most this much more than the mid (reference width matching).
MAX_WIDEN_DB = 6.0
MONO_BELOW_HZ = 150.0
#: Smoothing over neighbouring 1/3-octave bands: 5 bands flat (blind), 2/3 octave (reference).
BLIND_KERNEL = np.ones(5)
REFERENCE_KERNEL = np.array([1.0, 2.0, 1.0])


@dataclass(frozen=True)
class TonalBalance:
    """Long-term level (dB, mean square per band) of each 1/3-octave band at the nominal `centres_hz`
    (IEC 61260-1, bands below Nyquist): of the mid, of the side (None for mono), and of the channels'
    mean (L^2 + R^2) / 2, the curve the blind EQ compares with its profile."""

    centres_hz: np.ndarray
    mid_db: np.ndarray
    side_db: np.ndarray | None
    total_db: np.ndarray


def tonal_balance(spectra: SegmentSpectra, fmin_hz: float = 20.0, fmax_hz: float = 20000.0) -> TonalBalance:
    """The `TonalBalance` of the sampled segments (Welch average of their mid/side densities)."""
    nominal, exact = third_octave_centers(fmin_hz, fmax_hz)
    low, high = exact * 10.0 ** (-1.0 / 20.0), exact * 10.0 ** (1.0 / 20.0)
    keep = high < spectra.sample_rate / 2.0
    nominal, low, high = nominal[keep], low[keep], high[keep]
    ms = spectra.mid_side_psd
    if ms is None or ms.shape[1] == 0:
        empty = np.full(nominal.size, -np.inf)
        return TonalBalance(nominal, empty, empty if spectra.channels == 2 else None, empty)
    mean_psd = ms.mean(axis=1)
    power = np.atleast_2d(band_power(spectra.freqs_hz, mean_psd, spectra.sample_rate, low, high))
    with np.errstate(divide="ignore"):
        levels = 10.0 * np.log10(np.maximum(power, 0.0))
        total = 10.0 * np.log10(np.maximum(power.sum(axis=0), 0.0))
    if spectra.channels == 2:
        return TonalBalance(nominal, levels[0], levels[1], total)
    return TonalBalance(nominal, levels[0], None, levels[0])


def target_levels_db(profile: Profile, centres_hz: np.ndarray) -> np.ndarray:
    """The profile's curve at `centres_hz`, interpolated linearly in log frequency (flat beyond the ends)."""
    f, level = np.array(profile.target_curve).T
    return np.interp(np.log10(centres_hz), np.log10(f), level)


def _fit_mask(centres_hz: np.ndarray, sample_rate: int, lowest_hz: float) -> np.ndarray:
    top = min(FIT_BAND_HZ[1], 0.45 * sample_rate)
    return (centres_hz >= max(FIT_BAND_HZ[0], lowest_hz)) & (centres_hz <= top)


def _smooth(values: np.ndarray, weights: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Weighted moving average over neighbouring bands; bands of weight 0 take their neighbours' value
    (and keep 0 where there are none)."""
    num = np.convolve(np.where(weights > 0, values, 0.0) * weights, kernel, "same")
    den = np.convolve(weights, kernel, "same")
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _aligned_difference(
    target_db: np.ndarray, measured_db: np.ndarray, fit: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """(target - measured less its mean over the present bands, present, that mean): the shape difference
    of two curves. Bands of `fit` where both are finite count, except those far below the target even after
    aligning on the median (`ABSENT_DB`: their content is missing)."""
    finite = np.isfinite(target_db) & np.isfinite(measured_db)
    fit = fit & finite
    with np.errstate(invalid="ignore"):
        diff = np.where(finite, target_db - np.where(finite, measured_db, 0.0), 0.0)
    if not np.any(fit):
        return diff, fit, 0.0
    present = fit & (diff - np.median(diff[fit]) < ABSENT_DB)
    offset = float(np.mean(diff[present]))
    return diff - offset, present, offset


def _on_centres(centres_hz: np.ndarray, other_hz: np.ndarray, values: np.ndarray | None) -> np.ndarray | None:
    """`values` given at `other_hz` (another sample rate's bands) placed at `centres_hz`; -inf where absent."""
    if values is None:
        return None
    out = np.full(centres_hz.size, -np.inf)
    out[np.isin(centres_hz, other_hz)] = values[np.isin(other_hz, centres_hz)]
    return out


def blind_correction_db(
    balance: TonalBalance, profile: Profile, sample_rate: int, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """(correction_db, weights) per band towards `profile`'s target (module doc); weight 0 marks the bands
    left out of the fit (outside it, silent, or absent content). `scale` (the intensity) multiplies the
    fraction corrected, which never exceeds 1 (the target itself)."""
    centres = balance.centres_hz
    fit = _fit_mask(centres, sample_rate, 1.5 * profile.highpass_hz)
    diff, present, _ = _aligned_difference(target_levels_db(profile, centres), balance.total_db, fit)
    weights = present.astype(float)
    if not np.any(present) or scale <= 0.0:
        return np.zeros(centres.size), weights
    smooth = _smooth(diff, weights, BLIND_KERNEL)
    size = np.abs(smooth)
    growth = np.clip((size - profile.eq_deadband_db) / (FULL_CORRECTION_DB - profile.eq_deadband_db), 0.0, 1.0)
    fraction = np.minimum(growth * profile.eq_strength * scale, 1.0)
    limit = min(profile.eq_max_db * scale, MAX_BOOST_DB)
    return np.clip(smooth * fraction, -limit, limit), weights


def reference_correction_db(
    balance: TonalBalance, reference: TonalBalance, sample_rate: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(mid_db, side_db or None, weights) that move `balance` onto `reference` (module doc); computed at the
    centres both share, zero elsewhere."""
    centres = balance.centres_hz
    ref_mid = _on_centres(centres, reference.centres_hz, reference.mid_db)
    diff, present, offset = _aligned_difference(ref_mid, balance.mid_db, _fit_mask(centres, sample_rate, 0.0))
    weights = present.astype(float)
    if not np.any(present):
        return np.zeros(centres.size), None, weights
    mid_corr = np.clip(_smooth(diff, weights, REFERENCE_KERNEL), -MAX_CUT_DB, MAX_BOOST_DB)
    ref_side = _on_centres(centres, reference.centres_hz, reference.side_db)
    if balance.side_db is None or ref_side is None:
        return mid_corr, None, weights
    side_ok = present & np.isfinite(balance.side_db) & np.isfinite(ref_side)
    if not np.any(side_ok):
        return mid_corr, None, weights
    side_diff = np.where(side_ok, ref_side - np.where(side_ok, balance.side_db, 0.0), 0.0) - offset
    side_corr = _smooth(side_diff, side_ok.astype(float), REFERENCE_KERNEL)
    side_corr = np.clip(side_corr, mid_corr - MAX_CUT_DB, mid_corr + MAX_WIDEN_DB)
    low = centres < MONO_BELOW_HZ
    side_corr[low] = np.minimum(side_corr[low], mid_corr[low])
    return mid_corr, np.clip(side_corr, -MAX_CUT_DB - 6.0, MAX_BOOST_DB), weights


@dataclass(frozen=True)
class EqCurves:
    """The EQ of one run: gains (dB) at `centres_hz` for the mid (or mono) and the side channel."""

    centres_hz: np.ndarray
    mid_db: np.ndarray
    side_db: np.ndarray

    @property
    def is_flat(self) -> bool:
        return not (np.any(np.abs(self.mid_db) >= 0.01) or np.any(np.abs(self.side_db) >= 0.01))


def combine_curves(
    centres_hz: np.ndarray,
    blind: np.ndarray,
    reference_mid_db: np.ndarray | None,
    reference_side_db: np.ndarray | None,
    tone: float,
    width: float,
    match_scale: float,
) -> EqCurves:
    """Blend the blind correction with the reference match (scaled by `match_scale`, from the intensity):
    `tone` moves the curve from the blind one to the reference's mid, `width` adds the reference's
    side-versus-mid difference. tone = width = 0 (or no reference) gives the blind EQ on both channels."""
    mid = blind.copy()
    side = blind.copy()
    if reference_mid_db is not None:
        t = tone * match_scale
        mid = (1.0 - t) * blind + t * reference_mid_db
        side = mid.copy()
        if reference_side_db is not None:
            side = side + width * match_scale * (reference_side_db - reference_mid_db)
    low = np.asarray(centres_hz) < MONO_BELOW_HZ
    if np.any(low):  # no band of the low end gets more side gain than the least the mid gets there
        side[low] = np.minimum(side[low], float(mid[low].min()))
    return EqCurves(np.asarray(centres_hz, dtype=np.float64), np.round(mid, 3), np.round(side, 3))
