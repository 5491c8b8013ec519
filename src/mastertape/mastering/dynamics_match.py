"""Matching a reference's macro-dynamics with a slow leveller.

The loudness range (EBU Tech 3342) measures the spread of the short-term loudness. The leveller scales
each moment's deviation from the track's median short-term loudness by the ratio of the two ranges,
``d_out = r * d_in`` with ``r = LRA_reference / LRA_input``: r < 1 compresses the spread (an over-dynamic
mix towards a denser reference), r > 1 expands it (bounded, `MAX_EXPANSION`). Its gain follows the
short-term loudness (3 s windows, 100 ms apart), is smoothed forwards and backwards (zero phase, about
`SMOOTHING_S`), held at its bounds in passages below the LRA's relative gate (silence and fades are not
pumped up), and is at most `MAX_GAIN_DB` either way. Slow and smooth by design: the transient shape and
the density are left to the compressor and limiter, the leveller only rides the level as an engineer
rides a fader.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mastertape.dsp.dynamics import one_pole, time_constant_coeff
from mastertape.dsp.loudness import LRA_RELATIVE_GATE_LU, SHORT_TERM_HOPS, KWeightedEnergy, power_to_lufs

MAX_EXPANSION = 1.5
MIN_RATIO = 0.3
MAX_GAIN_DB = 9.0
SMOOTHING_S = 0.7


@dataclass(frozen=True)
class LevellerPlan:
    """Gain (dB) per 100 ms hop and what it does: the spread ratio applied and the gain range."""

    gain_db: np.ndarray
    ratio: float
    input_lra_lu: float
    reference_lra_lu: float

    @property
    def min_gain_db(self) -> float:
        return float(self.gain_db.min()) if self.gain_db.size else 0.0

    @property
    def max_gain_db(self) -> float:
        return float(self.gain_db.max()) if self.gain_db.size else 0.0


def leveller_gain(
    energy: KWeightedEnergy, input_lra_lu: float, reference_lra_lu: float, amount: float
) -> LevellerPlan | None:
    """The leveller for a signal of hop energies `energy` (module doc), `amount` 0..1 of the way to the
    reference's spread; None when it would do nothing (no amount, too short, no measurable spread)."""
    n_hops = energy.hop_sums.shape[1]
    if amount <= 0.0 or n_hops < SHORT_TERM_HOPS + 1 or input_lra_lu <= 0.5 or reference_lra_lu <= 0.0:
        return None
    ratio = min(max(reference_lra_lu / input_lra_lu, MIN_RATIO), MAX_EXPANSION)
    ratio = 1.0 + amount * (ratio - 1.0)
    if abs(ratio - 1.0) < 0.02:
        return None
    powers = energy.block_powers(SHORT_TERM_HOPS)  # window k covers hops k .. k + 29
    with np.errstate(divide="ignore"):
        st = np.asarray(power_to_lufs(np.maximum(powers, 1e-30)), dtype=np.float64)
    gate = float(power_to_lufs(float(np.mean(powers)))) + LRA_RELATIVE_GATE_LU
    gated = st[st > gate]
    if gated.size < 2:
        return None
    median = float(np.median(gated))
    low, high = float(np.percentile(gated, 10.0)), float(np.percentile(gated, 95.0))
    deviation = np.clip(st, low, high) - median
    per_window = np.clip((ratio - 1.0) * deviation, -MAX_GAIN_DB, MAX_GAIN_DB)
    # the window's gain belongs to its centre hop; the first and last half-windows hold the end values
    half = SHORT_TERM_HOPS // 2
    gain = np.empty(n_hops)
    gain[half : half + per_window.size] = per_window
    gain[:half] = per_window[0]
    gain[half + per_window.size :] = per_window[-1]
    c = time_constant_coeff(SMOOTHING_S, 10.0)
    fwd, _ = one_pole(gain, c, float(gain[0]))
    back, _ = one_pole(fwd[::-1], c, float(fwd[-1]))
    return LevellerPlan(back[::-1].copy(), ratio, input_lra_lu, reference_lra_lu)


def per_frame_gain(plan: LevellerPlan, hop: int, frames: int) -> np.ndarray:
    """Linear gain per frame (float32): the hop gains placed at the hop centres, interpolated linearly."""
    centres = (np.arange(plan.gain_db.size) + 0.5) * hop
    db = np.interp(np.arange(frames, dtype=np.float64), centres, plan.gain_db)
    return np.power(10.0, db / 20.0).astype(np.float32)

