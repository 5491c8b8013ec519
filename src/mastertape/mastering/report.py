"""What a mastering run measured and did: a frozen dataclass, JSON-able through `to_dict()`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class ReferenceReport:
    """What a run took from its reference: the amounts asked for (0..1) and what they did. `tone_distance_db`
    is the mean |dB| distance of the mix's mid balance from the reference's before the EQ (40 Hz - 16 kHz,
    shapes only); `width_change_db` the side/mid energy change per compressor band; the leveller's spread
    ratio and gain range (None when it did nothing)."""

    tone: float
    width: float
    dynamics: float
    reference_lufs: float
    reference_lra_lu: float
    tone_distance_db: float
    width_matched: bool
    width_change_db: tuple[float, ...]
    leveller_ratio: float | None
    leveller_min_gain_db: float | None
    leveller_max_gain_db: float | None


@dataclass(frozen=True)
class BandDynamics:
    """One band of the multiband compressor: its range, the largest gain reduction and its stereo width."""

    low_hz: float
    high_hz: float
    max_gain_reduction_db: float
    width: float


@dataclass(frozen=True)
class MasteringReport:
    """Input and output loudness figures (BS.1770-4 / EBU R128 / Tech 3342), what each stage did, and how
    long each stage took (seconds, keyed by the progress stage names).

    Input figures are the meter's (true peak at 4x, BS.1770-4 Annex 2). Output figures are measured on the
    limited and trimmed signal just before dither (rounding moves them by less than 0.001 dB, a bound the
    chain checks); the output true peak is read at 8x oversampling, finer than the meter's 4x, so it also
    holds for meters that interpolate more finely (FFmpeg's ebur128 resamples to 192 kHz).
    `eq_response_db` / `eq_side_response_db` are the EQ's gains for the mid (mono) and side at the
    1/3-octave centres `eq_response_freqs_hz`; `genre_reason` says why "auto" chose its profile;
    `gain_db` is the gain into the limiter plus the final trim; `targeting_iterations` counts loudness
    estimates, `limiter_passes` full-rate limiter runs (1 unless the exact check asked for another).
    """

    genre: str
    bit_depth: int
    sample_rate: int
    channels: int
    duration_s: float
    selection: tuple[float, float] | None
    target_lufs: float
    ceiling_dbtp: float
    input_lufs: float
    input_true_peak_dbtp: float
    input_lra_lu: float
    input_plr_db: float
    input_stereo_correlation: float
    input_crest_factor_db: float
    output_lufs: float
    output_true_peak_dbtp: float
    output_lra_lu: float
    output_plr_db: float
    gain_db: float
    limiter_max_gain_reduction_db: float
    eq_response_freqs_hz: tuple[float, ...]
    eq_response_db: tuple[float, ...]
    eq_side_response_db: tuple[float, ...]
    bands: tuple[BandDynamics, ...]
    saturation_mix: float
    targeting_iterations: int
    limiter_passes: int
    intensity: float = 0.5
    genre_reason: str | None = None
    reference: ReferenceReport | None = None
    stage_times_s: dict[str, float] = field(default_factory=dict)

    @property
    def max_gain_reduction_db(self) -> float:
        """Alias of `limiter_max_gain_reduction_db`."""
        return self.limiter_max_gain_reduction_db

    def to_dict(self) -> dict:
        """Plain JSON-able dict (tuples as lists, non-finite numbers as None)."""
        return _clean(asdict(self))


def _clean(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value
