"""Corrective EQ: a few wide shelf/bell filters that move the tonal balance part of the way to the profile.

1. The measured 1/3-octave levels and the profile's curve are both taken relative to their mean over
   100 Hz - 5 kHz (loudness-normalised), so only the shape is compared.
2. The difference (target - measured) is smoothed over about 1 1/3 octaves. Bands far below the curve (more
   than `ABSENT_DB`) are left out: they hold no content (a band-limited source, a recording without sub-bass),
   and boosting them would only raise noise.
3. A dead band ignores small differences, and only the fraction `eq_strength` of the rest is corrected, so
   material that is already close is left untouched and nothing moves abruptly.
4. The gains of five fixed wide filters (low shelf, three bells, high shelf; RBJ cookbook designs) are
   fitted to that correction by regularised weighted least squares on their dB responses, refined once
   with the exact responses, and clamped to +-eq_max_db.
"""

from __future__ import annotations

import numpy as np

from mastertape.dsp.filters import high_shelf_sos, identity_sos, low_shelf_sos, peaking_sos, sos_response_db
from mastertape.mastering.profiles import Profile
from mastertape.mastering.report import EqMove

#: (kind, freq_hz, q) of the corrective filters.
EQ_FILTERS: tuple[tuple[str, float, float], ...] = (
    ("low_shelf", 90.0, 0.7),
    ("peak", 300.0, 0.8),
    ("peak", 1200.0, 0.8),
    ("peak", 3500.0, 0.8),
    ("high_shelf", 9000.0, 0.7),
)
NORMALISE_BAND_HZ = (100.0, 5000.0)
FIT_BAND_HZ = (40.0, 16000.0)
ABSENT_DB = 15.0
SMOOTHING_KERNEL = np.array([1.0, 2.0, 3.0, 2.0, 1.0])
REGULARISATION = 0.05


def _filter_sos(kind: str, freq_hz: float, gain_db: float, q: float, sample_rate: int) -> np.ndarray:
    if kind == "low_shelf":
        return low_shelf_sos(freq_hz, gain_db, sample_rate, q)
    if kind == "high_shelf":
        return high_shelf_sos(freq_hz, gain_db, sample_rate, q)
    return peaking_sos(freq_hz, gain_db, q, sample_rate)


def target_levels_db(profile: Profile, centres_hz: np.ndarray) -> np.ndarray:
    """The profile's curve at `centres_hz`, interpolated linearly in log frequency (flat beyond the ends)."""
    f, level = np.array(profile.target_curve).T
    return np.interp(np.log10(centres_hz), np.log10(f), level)


def desired_correction_db(
    centres_hz: np.ndarray, measured_db: np.ndarray, profile: Profile, sample_rate: int
) -> tuple[np.ndarray, np.ndarray]:
    """(correction_db, weights) per band: steps 1-3 of the module doc. Weight 0 marks bands left out."""
    target = target_levels_db(profile, centres_hz)
    finite = np.isfinite(measured_db)
    norm = finite & (centres_hz >= NORMALISE_BAND_HZ[0]) & (centres_hz <= NORMALISE_BAND_HZ[1])
    weights = np.zeros(centres_hz.size)
    if not np.any(norm):
        return np.zeros(centres_hz.size), weights
    measured = np.where(finite, measured_db, -300.0)
    offset = float(np.mean(measured[norm] - target[norm]))
    diff = target - (measured - offset)
    top = min(FIT_BAND_HZ[1], 0.45 * sample_rate)
    weights = (
        (centres_hz >= max(FIT_BAND_HZ[0], 1.5 * profile.highpass_hz))
        & (centres_hz <= top)
        & finite
        & (diff < ABSENT_DB)
    ).astype(float)
    diff = np.where(weights > 0, diff, 0.0)
    smooth = np.convolve(diff * weights, SMOOTHING_KERNEL, "same")
    norm_w = np.convolve(weights, SMOOTHING_KERNEL, "same")
    smooth = np.divide(smooth, norm_w, out=np.zeros_like(smooth), where=norm_w > 0)
    excess = np.maximum(np.abs(smooth) - profile.eq_deadband_db, 0.0)
    return np.sign(smooth) * excess * profile.eq_strength, weights


def design_corrective_eq(
    centres_hz: np.ndarray, measured_db: np.ndarray, profile: Profile, sample_rate: int
) -> tuple[np.ndarray, tuple[EqMove, ...], np.ndarray]:
    """(sos, moves, response_db_at_centres) of the corrective EQ for material measured as `measured_db`."""
    centres = np.asarray(centres_hz, dtype=np.float64)
    want, weights = desired_correction_db(
        centres, np.asarray(measured_db, dtype=np.float64), profile, sample_rate
    )
    usable = [(k, f, q) for k, f, q in EQ_FILTERS if f < 0.4 * sample_rate]
    gains = np.zeros(len(usable))
    if np.any(np.abs(want) > 0.0) and np.any(weights > 0):
        for step_db in (1.0, None):
            # columns: dB response per dB of gain (linearised at step_db, then at the first solution)
            cols = []
            for j, (kind, f, q) in enumerate(usable):
                g = step_db if step_db is not None else (gains[j] if abs(gains[j]) > 0.05 else 1.0)
                cols.append(
                    sos_response_db(_filter_sos(kind, f, g, q, sample_rate), centres, sample_rate) / g
                )
            a = np.stack(cols, axis=1)
            lhs = a.T @ (a * weights[:, None]) + REGULARISATION * np.eye(len(usable))
            rhs = a.T @ (want * weights)
            gains = np.linalg.solve(lhs, rhs)
        gains = np.clip(gains, -profile.eq_max_db, profile.eq_max_db)
    gains = np.round(gains, 2)
    moves = tuple(
        EqMove(kind, f, float(g), q) for (kind, f, q), g in zip(usable, gains, strict=True) if abs(g) >= 0.05
    )
    if moves:
        sos = np.vstack([_filter_sos(m.kind, m.freq_hz, m.gain_db, m.q, sample_rate) for m in moves])
    else:
        sos = identity_sos()
    return sos, moves, sos_response_db(sos, centres, sample_rate)
