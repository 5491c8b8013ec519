"""The mastering chain: analysis, then DC/subsonic high-pass -> corrective EQ -> multiband compression ->
stereo width per band -> optional saturation -> gain -> look-ahead true-peak limiter -> dither/quantise,
with the gain found so that the final file measures `target_lufs` with its true peak under the ceiling.

How it runs (memory: the input, one float32 working copy and one float32 detector level, never more):

* `analysis`: sampled segment spectra give the 1/3-octave balance (-> EQ moves), each band's loud level
  (-> compressor thresholds) and a loudness estimate (-> saturation level); the input true peak is measured
  exactly, interpolating only the blocks that can hold it.
* `eq`, `dynamics`, `stereo`: one pass over the input in chunks. A single FFT filter bank (mid/side in,
  one forward FFT per block) yields the K-weighted input (-> exact input loudness, BS.1770-4) and every band
  already high-passed and equalised; the compressor gains and band widths are applied as the bands are
  summed, saturation (of the mid) follows, and the pre-limiter signal goes to the working copy.
* `limiting`: a second pass (one more FFT bank) gives the true-peak detector level of the pre-limiter
  signal (BS.1770-4 Annex 2 envelope, 4x) and its K-weighted energy per sub-block of about 0.7 ms. Later
  the full-rate limiter scales the working copy in place, acting a margin under the ceiling: the waveform
  between 4x points can rise higher, so the margin is the 8x-over-4x excess found on the loudest stretches.
* `targeting`: the loudness after gain + limiter is estimated from those energies with a copy of the
  limiter running at the sub-block rate (milliseconds per try), and the gain solved by the secant method,
  aiming a hair above the target. After the full-rate limiter has run, the output is measured exactly
  (integrated loudness, and true peak at 8x so that finer meters agree): where the limiter did nothing the
  output is the pre-limiter signal times the gain, whose K-weighted energy and peak are known; only the
  stretches around gain reduction (and any peaking near the ceiling) are filtered and interpolated again.
  A pure gain decrease then trims the loudness onto the target (it can only lower the true peak). Should
  the estimate have been short or the ceiling been touched, the estimate is corrected by the measured error
  and the limiter pass repeated (the previous gain is divided out, so no second copy is kept).
* `dither`: TPDF dither and rounding onto the 16/24-bit grid (none for 32-bit float).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mastertape.audio.types import Audio
from mastertape.dsp.dither import lsb, quantize
from mastertape.dsp.dynamics import MultibandCompressor
from mastertape.dsp.filters import (
    FFTFilterBank,
    cascade,
    crossover_bands_sos,
    highpass_sos,
    identity_sos,
    response_grid_size,
    sos_response,
)
from mastertape.dsp.fir import curve_on_grid, grid_freqs, minimum_phase_response
from mastertape.dsp.limiter import LimiterSettings, LookaheadLimiter
from mastertape.dsp.loudness import (
    KWeightedEnergy,
    hop_length,
    integrated_loudness_from_energy,
    k_weighting_sos,
    loudness_range_from_energy,
)
from mastertape.dsp.saturation import soft_saturate
from mastertape.dsp.stereo import left_right, mid_side
from mastertape.dsp.truepeak import oversampling_factor, to_db
from mastertape.errors import EmptyAudio, InvalidAudioValues, InvalidSetting, SilentAudio, TooManyChannels
from mastertape.mastering.analysis import (
    band_loud_levels_db,
    estimate_loudness_lufs,
    segment_spectra,
)
from mastertape.mastering.auto_genre import choose_genre
from mastertape.mastering.dynamics_match import LevellerPlan, leveller_gain, per_frame_gain
from mastertape.mastering.eq import (
    FIT_BAND_HZ,
    EqCurves,
    TonalBalance,
    blind_correction_db,
    combine_curves,
    reference_correction_db,
    tonal_balance,
)
from mastertape.mastering.measure import (
    ScanBank,
    envelope_blocks,
    interpolation_gain,
    true_and_sample_peak,
)
from mastertape.mastering.profiles import Profile, get_profile, scaled_profile
from mastertape.mastering.reference import Reference
from mastertape.mastering.report import BandDynamics, MasteringReport, ReferenceReport
from mastertape.mastering.settings import AUTO_GENRE, STANDARD_INTENSITY, MasteringSettings, ReferenceMatch

ProgressCallback = Callable[[str, float], None]

#: Progress stages, in order; also the keys of the report's stage times.
STAGES = ("analysis", "eq", "dynamics", "stereo", "limiting", "targeting", "dither")
#: Share of the run time of each stage, for the overall progress fraction.
_STAGE_WEIGHTS = {
    "analysis": 0.1,
    "eq": 0.25,
    "dynamics": 0.1,
    "stereo": 0.05,
    "limiting": 0.25,
    "targeting": 0.2,
    "dither": 0.05,
}

#: Below this input loudness (the BS.1770 absolute gate) there is nothing to master.
SILENCE_LUFS = -70.0
#: More gain than this would mostly raise noise: refuse as near-silent.
MAX_GAIN_DB = 45.0
#: The limiter's detector is the meter's 4x true-peak envelope (BS.1770-4 Annex 2). Between its points the
#: waveform can rise further: on bright, dense limited peaks an 8x grid (or FFmpeg's 192 kHz resampling)
#: reads up to a few tenths of a dB more. So the limiter acts under the ceiling by the largest 8x/4x excess
#: found on the loudest stretches (`MARGIN_PROBE` of the hops, at least `MARGIN_PROBE_MIN`) plus
#: `MARGIN_EXTRA_DB`, the output is checked at 8x, and the limiter re-run lower if that check fails.
MARGIN_PROBE = 0.02
MARGIN_PROBE_MIN = 16
MARGIN_EXTRA_DB = 0.15
#: Worst case by which a 4x grid under-reads a continuous peak (a component at Nyquist: 1 / cos(pi / 8));
#: also the largest margin used. Clean hops within this of the ceiling are checked at 8x too.
DETECTOR_UNDER_READ_DB = 0.7
#: The estimate aims this far above the target; the exact measurement trims the rest off.
AIM_ABOVE_LU = 0.03
#: Shortfall of the exact loudness accepted before trimming up onto the target (if the peak allows it).
SHORTFALL_LU = 0.02
#: Secant steps per solve, and full-rate limiter passes, at most.
MAX_ESTIMATES = 12
MAX_PASSES = 4
#: Gain beyond the unlimited estimate (i.e. extra limiting) after which the target counts as out of reach.
MAX_LIMITING_DB = 24.0
SOLVE_TOLERANCE_LU = 0.002
MIN_DURATION_S = 0.4


@dataclass
class _Clock:
    """Stage timer and progress reporter (overall fraction, never decreasing)."""

    progress: ProgressCallback | None
    times: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    _done: float = 0.0
    _last: float = field(default_factory=time.perf_counter)

    def lap(self, stage: str) -> None:
        """Charge the time since the previous lap to `stage`."""
        now = time.perf_counter()
        self.times[stage] += now - self._last
        self._last = now

    def report(self, stage: str, stage_fraction: float) -> None:
        if self.progress is None:
            return
        before = sum(_STAGE_WEIGHTS[s] for s in STAGES[: STAGES.index(stage)])
        frac = min(1.0, before + _STAGE_WEIGHTS[stage] * min(max(stage_fraction, 0.0), 1.0))
        self._done = max(self._done, frac)
        self.progress(stage, self._done)


@dataclass(frozen=True)
class _Grid:
    """Block sizes of one run: loudness hop (100 ms), detection sub-block (about 0.7 ms, divides the hop),
    processing chunk (a whole number of hops, about 4 s)."""

    hop: int
    sub: int
    chunk: int

    @classmethod
    def for_rate(cls, sample_rate: int) -> _Grid:
        hop = hop_length(sample_rate)
        want = sample_rate / 1400.0
        sub = min((d for d in range(1, hop + 1) if hop % d == 0), key=lambda d: abs(math.log(d / want)))
        return cls(hop=hop, sub=sub, chunk=hop * max(1, round(180_000 / hop)))


def _select(audio: Audio, selection: tuple[float, float] | None) -> np.ndarray:
    x = audio.samples
    if selection is None:
        return x
    start_s, end_s = selection
    if start_s >= audio.duration_s:
        raise InvalidSetting(
            f"selection starts at {start_s:g} s, after the end of the audio ({audio.duration_s:.2f} s)",
            field="selection",
        )
    a = int(round(start_s * audio.sample_rate))
    b = min(audio.frames, int(round(end_s * audio.sample_rate)))
    if (b - a) < MIN_DURATION_S * audio.sample_rate:
        raise InvalidSetting(
            f"selection {start_s:g}-{end_s:g} s leaves less than {MIN_DURATION_S} s of audio to master",
            field="selection",
        )
    return x[:, a:b]


def _lufs(hop_sums: np.ndarray, grid: _Grid, sample_rate: int, gain_db: float = 0.0) -> float:
    energy = KWeightedEnergy(hop_sums=np.atleast_2d(hop_sums), hop_frames=grid.hop, sample_rate=sample_rate)
    return integrated_loudness_from_energy(energy, gain_db=gain_db)


def _hop_sums(values: np.ndarray, per_hop: int, n_hops: int) -> np.ndarray:
    return values[: n_hops * per_hop].reshape(n_hops, per_hop).sum(axis=1)


class _Estimator:
    """Loudness after gain + limiter, estimated on sub-blocks: the limiter runs at the sub-block rate on the
    largest detector level of each sub-block, and each sub-block's K-weighted energy is scaled by its gain."""

    def __init__(
        self,
        sub_level_db: np.ndarray,
        sub_energy: np.ndarray,
        grid: _Grid,
        sample_rate: int,
        frames: int,
        profile: Profile,
    ) -> None:
        self.sub_level_db = sub_level_db
        self.sub_energy = sub_energy
        self.grid = grid
        self.sample_rate = sample_rate
        self.n_hops = frames // grid.hop
        self.profile = profile
        self.calls = 0

    def __call__(self, gain_db: float, threshold_db: float) -> tuple[float, float]:
        """(estimated loudness in LUFS, largest gain reduction in dB) after `gain_db` and the limiter."""
        self.calls += 1
        settings = LimiterSettings(
            threshold_db, self.profile.limiter_attack_ms, self.profile.limiter_release_ms, guard=1
        )
        lim = LookaheadLimiter(settings, self.sample_rate / self.grid.sub)
        level = self.sub_level_db + np.float32(gain_db)
        red = np.concatenate([lim.process_reduction(level), lim.flush_reduction()])
        scaled = self.sub_energy * np.power(10.0, (gain_db - red) / 10.0)
        hops = _hop_sums(scaled, self.grid.hop // self.grid.sub, self.n_hops)
        return _lufs(hops, self.grid, self.sample_rate), lim.max_gain_reduction_db


def _solve_gain(
    estimate: _Estimator, goal_lufs: float, start_db: float, threshold_db: float, offset_lu: float
) -> float:
    """Gain (dB) at which estimate + offset_lu reaches goal_lufs, by the secant method from `start_db`.

    The loudness rises with the gain, at most dB for dB (limiting only slows it), so the slope is kept in
    (0, 1.5]. When the limiter eats every further dB (the target is louder than the ceiling allows) the
    gain runs away: past `MAX_LIMITING_DB` above the start the target is declared out of reach.
    """
    g0 = start_db
    f0 = estimate(g0, threshold_db)[0] + offset_lu - goal_lufs
    if abs(f0) < SOLVE_TOLERANCE_LU:
        return g0
    g1 = g0 - f0
    f1 = f0
    for _ in range(MAX_ESTIMATES):
        if g1 - start_db > MAX_LIMITING_DB:
            break
        f1 = estimate(g1, threshold_db)[0] + offset_lu - goal_lufs
        if abs(f1) < SOLVE_TOLERANCE_LU:
            return g1
        slope = (f1 - f0) / (g1 - g0) if g1 != g0 else 1.0
        slope = min(max(slope, 0.02), 1.5)
        g0, f0 = g1, f1
        g1 -= f1 / slope
    if abs(f1) < 10 * SOLVE_TOLERANCE_LU and g1 - start_db <= MAX_LIMITING_DB:
        return g1  # close enough: the exact measurement trims or repeats
    raise InvalidSetting(
        f"the loudness target cannot be reached under the true-peak ceiling: even {MAX_LIMITING_DB:g} dB "
        "more gain into the limiter would not get there (for example audio that is mostly DC offset or subsonic "
        "rumble, which loudness meters do not hear); lower the loudness target or raise the true-peak ceiling",
        field="target_lufs",
    )


def _detector_factor(sample_rate: int) -> int:
    """Oversampling of the limiter's detector: the meter's, at least 2 (BS.1770-4 needs none at 192 kHz)."""
    return max(2, oversampling_factor(sample_rate))


def _verify_factor(sample_rate: int) -> int:
    """Oversampling of the output check: twice the detector's (8x below 96 kHz)."""
    return 2 * _detector_factor(sample_rate)


def _limiter_margin_db(work: np.ndarray, det: _Detector, grid: _Grid, sample_rate: int) -> float:
    """How far under the ceiling the limiter acts: the largest excess of the 8x over the 4x envelope peak
    among the loudest hops of the pre-limiter signal, plus `MARGIN_EXTRA_DB` (see `MARGIN_PROBE`)."""
    n = det.hop_peak.size
    count = min(n, max(MARGIN_PROBE_MIN, int(MARGIN_PROBE * n)))
    hops = np.sort(np.argsort(-det.hop_peak)[:count])
    hops = hops[det.hop_peak[hops] > 0.0]
    if hops.size == 0:
        return MARGIN_EXTRA_DB
    fine = envelope_blocks(work, sample_rate, hops, grid.hop, factor=_verify_factor(sample_rate)).max(axis=1)
    excess = float(np.max(to_db(fine / det.hop_peak[hops]))) if fine.size else 0.0
    return float(min(max(excess, 0.0) + MARGIN_EXTRA_DB, DETECTOR_UNDER_READ_DB))


def _quantisation_peak_bound(bit_depth: int, sample_rate: int) -> float:
    """Largest true-peak increase (linear) that rounding with +-1 LSB TPDF can cause: 1.5 LSB times the
    interpolation filter's worst-case gain."""
    if bit_depth == 32:
        return 0.0
    return 1.5 * lsb(bit_depth) * interpolation_gain(sample_rate, _verify_factor(sample_rate))


def master(
    audio: Audio,
    settings: MasteringSettings,
    progress: ProgressCallback | None = None,
    *,
    reference: Reference | None = None,
    overwrite_input: bool = False,
) -> tuple[Audio, MasteringReport]:
    """Master `audio` to `settings.target_lufs` (integrated, BS.1770-4) with its true peak at or below
    `settings.ceiling_dbtp`, shaped by the genre profile; return float32 audio at the input sample rate
    (on the integer grid k / 2^(bits-1) for 16/24 bit) and a report.

    `progress(stage, fraction)` is called as the run advances: stage is one of `STAGES`, fraction the
    overall progress in [0, 1]. Raises SilentAudio for silent or near-silent input, TooManyChannels,
    EmptyAudio (under 0.4 s), InvalidAudioValues (NaN/inf), InvalidSetting (selection outside the audio, or
    a target the ceiling puts out of reach).

    `reference` (from `analyze_reference`): the EQ moves the mix's mid and side balance onto the
    reference's and a slow leveller matches its loudness range, as much as `settings.reference_match`
    says; the loudness target and the ceiling hold as always.

    `overwrite_input`: the caller gives `audio` up, and the master is built in its sample buffer (when it
    is float32 and writable) instead of a new one: a signal's worth less memory, and no fresh pages to
    fault in (about 0.04 s on a 3-minute stereo track). `audio` then holds the output (or, after an
    error, anything).
    """
    clock = _Clock(progress)
    clock.report("analysis", 0.0)
    sr = int(audio.sample_rate)
    x = _select(audio, settings.selection)
    if x.dtype != np.float32:
        x = x.astype(np.float32)
    channels, frames = x.shape
    if channels not in (1, 2):
        raise TooManyChannels(f"mastering takes mono or stereo audio, got {channels} channels")
    if frames < MIN_DURATION_S * sr:
        raise EmptyAudio(
            f"the audio is {frames / sr:.2f} s long: at least {MIN_DURATION_S} s are needed to "
            "measure its loudness"
        )
    grid = _Grid.for_rate(sr)

    # --- analysis ---
    input_tp_lin, input_sample_peak = true_and_sample_peak(x, sr)
    if not math.isfinite(input_tp_lin):
        raise InvalidAudioValues("samples contain NaN or infinite values")
    spectra = segment_spectra(x, sr)
    estimated_lufs = estimate_loudness_lufs(spectra)
    balance = tonal_balance(spectra)
    if settings.genre == AUTO_GENRE:
        genre, genre_reason = choose_genre(spectra)
    else:
        genre, genre_reason = settings.genre, None
    scale = settings.intensity / STANDARD_INTENSITY  # 1: the standard moves, 0: none, 2: twice
    match_scale = min(scale, 1.0)
    match = settings.reference_match if reference is not None else None
    profile = scaled_profile(get_profile(genre), scale)
    plan = _plan_eq(balance, profile, sr, reference, settings, scale, match_scale)
    widths = np.array(profile.width, dtype=np.float32)
    if plan.width_matched:
        # the side EQ matches the reference's width: the profile's width moves give way to it
        t = settings.reference_match.width * match_scale
        widths = (1.0 - t) * widths + t * np.float32(1.0)
    widths[0] = min(widths[0], 1.0)  # the low end never gets wider than it was
    hp = highpass_sos(profile.highpass_hz, sr) if profile.highpass_hz > 0.0 else identity_sos()
    band_sos = [cascade(hp, b) for b in crossover_bands_sos(profile.crossovers_hz, sr)]
    bank, band_gain = _band_bank(band_sos, plan.curves, spectra.freqs_hz, sr, channels, grid)
    reference_db = band_loud_levels_db(spectra, band_gain)
    reference_db = np.where(np.isfinite(reference_db), reference_db, -200.0)
    clock.lap("analysis")

    # --- eq / dynamics / stereo ---
    comp = MultibandCompressor(list(profile.bands), reference_db, sr, grid.sub, 2.0 if channels == 2 else 1.0)
    gain_guess_db = settings.target_lufs - estimated_lufs if math.isfinite(estimated_lufs) else 0.0
    saturation_reference = 10.0 ** (
        (settings.ceiling_dbtp - min(max(gain_guess_db, -30.0), MAX_GAIN_DB)) / 20.0
    )
    reuse = overwrite_input and x.flags.writeable and x.flags.c_contiguous and x.dtype == np.float32
    # safe in place: each block of `x` is copied (mid/side) before its output is written, and nothing
    # reads the input after the eq/dynamics/stereo pass
    work = x if reuse else np.empty((channels, frames), dtype=np.float32)
    in_hops, input_sums = _process_bands(
        x,
        work,
        grid,
        bank,
        comp,
        widths,
        profile,
        saturation_reference,
        clock,
    )
    if not np.all(np.isfinite(in_hops)):
        raise InvalidAudioValues("samples contain NaN or infinite values")
    correlation, crest = _correlation_and_crest(input_sums, input_sample_peak, x.size)
    input_energy = KWeightedEnergy(hop_sums=in_hops[None, :], hop_frames=grid.hop, sample_rate=sr)
    input_lufs = integrated_loudness_from_energy(input_energy)
    input_lra = loudness_range_from_energy(input_energy)
    if not math.isfinite(input_lufs) or input_lufs < SILENCE_LUFS:
        raise SilentAudio(
            "the audio is silent or near-silent (integrated loudness below "
            f"{SILENCE_LUFS:g} LUFS): there is nothing to master"
        )
    if settings.target_lufs - input_lufs > MAX_GAIN_DB:
        raise SilentAudio(
            f"the audio is near-silent ({input_lufs:.1f} LUFS): reaching {settings.target_lufs:g} "
            f"LUFS would need {settings.target_lufs - input_lufs:.0f} dB of gain, mostly noise"
        )

    # --- limiting: detector level and K-weighted energy of the pre-limiter signal ---
    det = _Detector.scan(work, sr, grid, clock)
    if not np.all(np.isfinite(det.sub_energy)):
        raise InvalidAudioValues("samples contain NaN or infinite values")
    n_hops = frames // grid.hop
    pre_hops = _hop_sums(det.sub_energy, grid.hop // grid.sub, n_hops)
    leveller: LevellerPlan | None = None
    if match is not None and match.dynamics > 0.0:
        energy = KWeightedEnergy(hop_sums=pre_hops[None, :], hop_frames=grid.hop, sample_rate=sr)
        leveller = leveller_gain(
            energy,
            loudness_range_from_energy(energy),
            reference.loudness_range_lu,
            match.dynamics * match_scale,
        )
        if leveller is not None:
            gain = per_frame_gain(leveller, grid.hop, frames)
            work *= gain
            det = det.scaled(gain, grid)
            pre_hops = _hop_sums(det.sub_energy, grid.hop // grid.sub, n_hops)
    clock.lap("limiting")

    # --- targeting ---
    pre_lufs = _lufs(pre_hops, grid, sr)
    if not math.isfinite(pre_lufs) or settings.target_lufs - pre_lufs > MAX_GAIN_DB:
        raise SilentAudio(
            "without its DC and subsonic content the audio is near-silent: there is nothing to master"
        )
    estimate = _Estimator(det.sub_level, det.sub_energy, grid, sr, frames, profile)
    threshold_db = settings.ceiling_dbtp - _limiter_margin_db(work, det, grid, sr)
    goal = settings.target_lufs + AIM_ABOVE_LU
    gain_db = _solve_gain(estimate, goal, settings.target_lufs - pre_lufs, threshold_db, 0.0)
    quant_bound = _quantisation_peak_bound(settings.bit_depth, sr)
    ceiling_lin = 10.0 ** (settings.ceiling_dbtp / 20.0)
    applied: tuple[float, float] | None = None  # (gain_db, threshold_db) now applied to `work`
    passes = 0
    clock.lap("targeting")
    verify_scan = ScanBank(sr, channels, factor=_verify_factor(sr), block=grid.chunk)
    while True:
        passes += 1
        limiter_gr, limited = _apply_limiter(
            work, det.level_db, gain_db, threshold_db, applied, profile, sr, grid
        )
        applied = (gain_db, threshold_db)
        clock.lap("limiting")
        clock.report("targeting", passes / (MAX_PASSES + 1))
        out_hops, out_tp_lin = _measure_output(
            work,
            verify_scan,
            det,
            grid,
            gain_db,
            pre_hops,
            limited,
            ceiling_lin * 10.0 ** (-DETECTOR_UNDER_READ_DB / 20.0),
        )
        out_lufs = _lufs(out_hops, grid, sr)
        trim_db = settings.target_lufs - out_lufs
        peak_after = out_tp_lin * 10.0 ** (trim_db / 20.0) + quant_bound
        loud_ok = out_lufs >= settings.target_lufs - SHORTFALL_LU
        peak_ok = peak_after <= ceiling_lin
        clock.lap("targeting")
        if (loud_ok and peak_ok) or passes >= MAX_PASSES:
            break
        if not peak_ok:
            threshold_db -= float(to_db(peak_after / ceiling_lin)) + MARGIN_EXTRA_DB
        offset = out_lufs - estimate(gain_db, applied[1])[0]
        gain_db = _solve_gain(estimate, goal, gain_db, threshold_db, offset)
        clock.lap("targeting")
    if out_tp_lin * 10.0 ** (trim_db / 20.0) + quant_bound > ceiling_lin:  # never break the ceiling
        trim_db = float(to_db((ceiling_lin - quant_bound) / out_tp_lin))
    clock.report("targeting", 1.0)
    clock.lap("targeting")

    # --- dither ---
    quantize(work, settings.bit_depth, settings.dither_seed, gain=10.0 ** (trim_db / 20.0), out=work)
    clock.report("dither", 1.0)
    clock.lap("dither")

    output_energy = KWeightedEnergy(
        hop_sums=out_hops[None, :] * 10.0 ** (trim_db / 10.0), hop_frames=grid.hop, sample_rate=sr
    )
    output_lufs = integrated_loudness_from_energy(output_energy)
    output_tp = float(to_db(out_tp_lin)) + trim_db
    input_tp = float(to_db(input_tp_lin))
    edges = (0.0, *profile.crossovers_hz, sr / 2.0)
    report = MasteringReport(
        genre=profile.name,
        bit_depth=settings.bit_depth,
        sample_rate=sr,
        channels=channels,
        duration_s=frames / sr,
        selection=settings.selection,
        target_lufs=settings.target_lufs,
        ceiling_dbtp=settings.ceiling_dbtp,
        input_lufs=input_lufs,
        input_true_peak_dbtp=input_tp,
        input_lra_lu=input_lra,
        input_plr_db=input_tp - input_lufs,
        input_stereo_correlation=correlation,
        input_crest_factor_db=crest,
        output_lufs=output_lufs,
        output_true_peak_dbtp=output_tp,
        output_lra_lu=loudness_range_from_energy(output_energy),
        output_plr_db=output_tp - output_lufs,
        gain_db=applied[0] + trim_db,
        limiter_max_gain_reduction_db=limiter_gr,
        eq_response_freqs_hz=tuple(float(f) for f in plan.curves.centres_hz),
        eq_response_db=tuple(round(float(v), 3) for v in plan.curves.mid_db),
        eq_side_response_db=tuple(round(float(v), 3) for v in plan.curves.side_db) if channels == 2 else (),
        bands=tuple(
            BandDynamics(
                edges[i],
                edges[i + 1],
                round(float(comp.max_gain_reduction_db[i]), 3),
                float(widths[i]) if channels == 2 else 1.0,
            )
            for i in range(len(band_sos))
        ),
        saturation_mix=profile.saturation_mix,
        targeting_iterations=estimate.calls,
        limiter_passes=passes,
        intensity=settings.intensity,
        genre_reason=genre_reason,
        reference=(
            _reference_report(reference, match, plan, widths, profile.crossovers_hz, leveller)
            if match is not None
            else None
        ),
        stage_times_s=dict(clock.times),
    )
    return Audio(work, sr), report


def _process_bands(
    x: np.ndarray,
    work: np.ndarray,
    grid: _Grid,
    bank: FFTFilterBank,
    comp: MultibandCompressor,
    widths: np.ndarray,
    profile: Profile,
    saturation_reference: float,
    clock: _Clock,
) -> tuple[np.ndarray, np.ndarray]:
    """The eq/dynamics/stereo pass: writes the pre-limiter signal to `work`; returns the K-weighted energy of
    the input per hop (sum over channels) and the input's sums of squares: (M^2, S^2, M S) for stereo, (x^2,)
    for mono."""
    channels, frames = x.shape
    stereo = channels == 2
    n_hops = frames // grid.hop
    in_hops = np.zeros(n_hops)
    n_chunks = -(-frames // grid.chunk)
    saturate = profile.saturation_mix > 0.0
    sums = np.zeros(3 if stereo else 1)
    for i, a in enumerate(range(0, frames, grid.chunk)):
        b = min(frames, a + grid.chunk)
        seg = mid_side(x[:, a:b]) if stereo else x[:, a:b]
        if stereo:
            sums += (
                float(np.dot(seg[0], seg[0])),
                float(np.dot(seg[1], seg[1])),
                float(np.dot(seg[0], seg[1])),
            )
        else:
            sums[0] += float(np.dot(seg[0], seg[0]))
        out = bank.process(seg)
        del seg
        h1 = min(n_hops, b // grid.hop)
        h0 = a // grid.hop
        if h1 > h0:
            kw = out[0][:, : (h1 - h0) * grid.hop].reshape(channels, h1 - h0, grid.hop)
            in_hops[h0:h1] = np.square(kw).sum(axis=(0, 2), dtype=np.float64) * (2.0 if stereo else 1.0)
        clock.lap("eq")
        clock.report("eq", (i + 1) / n_chunks)
        bands = out[1:]
        gains = comp.process(bands)
        clock.lap("dynamics")
        if stereo:
            mixed = np.empty((2, b - a), dtype=np.float32)
            np.einsum("bn,bn->n", bands[:, 0], gains, out=mixed[0])
            gains *= widths[:, None]
            np.einsum("bn,bn->n", bands[:, 1], gains, out=mixed[1])
        else:
            mixed = work[:, a:b]
            np.einsum("bcn,bn->cn", bands, gains, out=mixed)
        if saturate:  # on the mid only: the stage adds no side content, so the low end stays mono-compatible
            soft_saturate(
                mixed[:1],
                profile.saturation_drive,
                profile.saturation_mix,
                saturation_reference,
                out=mixed[:1],
            )
        if stereo:
            left_right(mixed, out=work[:, a:b])
        clock.lap("stereo")
    return in_hops, sums


def _correlation_and_crest(sums: np.ndarray, sample_peak: float, samples: int) -> tuple[float, float]:
    """Stereo correlation and crest factor (dB) as `dsp.spectrum.stereo_correlation` / `crest_factor_db`
    define them, from the mid/side sums of squares: with L = M + S and R = M - S, sum(L R) = M^2 - S^2 and
    sum(L^2), sum(R^2) = M^2 + S^2 +- 2 M S."""
    if sums.size == 1:
        correlation, energy = 1.0, sums[0]
    else:
        mm, ss, ms = sums
        ll, rr = mm + ss + 2.0 * ms, mm + ss - 2.0 * ms
        energy = ll + rr
        correlation = (
            1.0 if ll <= 0.0 or rr <= 0.0 else float(np.clip((mm - ss) / math.sqrt(ll * rr), -1.0, 1.0))
        )
    if sample_peak <= 0.0 or energy <= 0.0:
        return correlation, 0.0
    return correlation, float(20.0 * math.log10(sample_peak) - 10.0 * math.log10(energy / samples))


@dataclass
class _Detector:
    """The limiter's detector for the pre-limiter signal, plus its K-weighted energy: the true-peak envelope
    (BS.1770-4 Annex 2) per frame in dB (`level_db`), per sub-block its maximum (`sub_level`) and K-weighted
    energy (`sub_energy`, summed over channels), and per hop the envelope maximum (`hop_peak`, linear; the
    last hop may be partial)."""

    level_db: np.ndarray
    sub_level: np.ndarray
    sub_energy: np.ndarray
    hop_peak: np.ndarray

    @classmethod
    def scan(cls, work: np.ndarray, sample_rate: int, grid: _Grid, clock: _Clock) -> _Detector:
        frames = work.shape[1]
        n_tp_hops = -(-frames // grid.hop)
        per_hop = grid.hop // grid.sub
        level_db = np.full(n_tp_hops * grid.hop, -np.inf, dtype=np.float32)
        sub_energy = np.zeros(n_tp_hops * per_hop)
        bank = ScanBank(sample_rate, work.shape[0], factor=_detector_factor(sample_rate), block=grid.chunk)
        for a, b, kw, env in bank.scan(work, 0, frames, grid.chunk):
            level_db[a:b] = _db32(env)
            e = np.einsum("cn,cn->n", kw, kw)
            s0, n_sub = a // grid.sub, -(-(b - a) // grid.sub)
            if n_sub * grid.sub > b - a:
                e = np.concatenate([e, np.zeros(n_sub * grid.sub - (b - a), dtype=e.dtype)])
            sub_energy[s0 : s0 + n_sub] = e.reshape(n_sub, grid.sub).sum(axis=1)
            clock.report("limiting", 0.6 * b / frames)
        return cls._from_levels(level_db, frames, sub_energy, grid)

    @classmethod
    def _from_levels(cls, level_db: np.ndarray, frames: int, sub_energy: np.ndarray, grid: _Grid) -> _Detector:
        """From the envelope in dB over whole hops (-inf past `frames`): sub-block and hop maxima."""
        sub_level = level_db.reshape(-1, grid.sub).max(axis=1)
        per_hop = grid.hop // grid.sub
        hop_peak = 10.0 ** (sub_level.reshape(-1, per_hop).max(axis=1).astype(np.float64) / 20.0)
        return cls(level_db[:frames], sub_level, sub_energy, hop_peak)

    def scaled(self, gain: np.ndarray, grid: _Grid) -> _Detector:
        """The detector of the signal times `gain` (linear, per frame, slowly varying: the leveller): levels
        shifted by the gain, energies scaled by its square at each sub-block's centre."""
        frames = self.level_db.size
        level = np.full(self.hop_peak.size * grid.hop, -np.inf, dtype=np.float32)
        np.add(self.level_db, _db32(gain), out=level[:frames])
        centres = np.minimum(np.arange(self.sub_energy.size) * grid.sub + grid.sub // 2, frames - 1)
        sub_energy = self.sub_energy * np.square(gain[centres].astype(np.float64))
        return _Detector._from_levels(level, frames, sub_energy, grid)


def _db32(linear: np.ndarray) -> np.ndarray:
    """20 log10 in float32 (-inf for 0)."""
    with np.errstate(divide="ignore"):
        out = np.log10(linear.astype(np.float32, copy=False))
    out *= np.float32(20.0)
    return out


def _apply_limiter(
    work: np.ndarray,
    level_db: np.ndarray,
    gain_db: float,
    threshold_db: float,
    previous: tuple[float, float] | None,
    profile: Profile,
    sample_rate: int,
    grid: _Grid,
) -> tuple[float, np.ndarray]:
    """Scale `work` in place by gain_db and the full-rate limiter's gain; if `previous` (gain_db,
    threshold_db) was applied before, divide its gain out in the same pass. Returns the largest reduction
    (dB) and, per hop (the last may be partial), whether the limiter reduced the gain anywhere in it."""

    def limiter(threshold: float) -> LookaheadLimiter:
        return LookaheadLimiter(
            LimiterSettings(threshold, profile.limiter_attack_ms, profile.limiter_release_ms), sample_rate
        )

    frames = level_db.size
    new = limiter(threshold_db)
    old = limiter(previous[1]) if previous is not None else None
    scale = 10.0 ** (gain_db / 20.0) / (10.0 ** (previous[0] / 20.0) if previous is not None else 1.0)
    limited = np.zeros(-(-frames // grid.hop), dtype=bool)
    pos = 0

    def apply(reduction: np.ndarray, old_reduction: np.ndarray | None) -> None:
        nonlocal pos
        n = reduction.size
        active = np.nonzero(reduction > 0.0)[0]
        if active.size:
            limited[(pos + active) // grid.hop] = True
        if old_reduction is not None:
            reduction = reduction - old_reduction
        if active.size or (old_reduction is not None and np.any(old_reduction > 0.0)):
            g = np.exp(reduction.astype(np.float32) * np.float32(-math.log(10.0) / 20.0))
            g *= np.float32(scale)
            work[:, pos : pos + n] *= g
        else:
            work[:, pos : pos + n] *= np.float32(scale)
        pos += n

    offset_db = np.float32(gain_db)
    old_offset_db = np.float32(previous[0]) if previous is not None else None
    for a in range(0, frames, grid.chunk):
        level = level_db[a : a + grid.chunk]
        apply(
            new.process_reduction(level + offset_db),
            old.process_reduction(level + old_offset_db) if old is not None else None,
        )
    apply(new.flush_reduction(), old.flush_reduction() if old is not None else None)
    if pos != frames:
        raise RuntimeError(f"limiter produced {pos} gains for {frames} frames")
    return new.max_gain_reduction_db, limited


def _measure_output(
    work: np.ndarray,
    scan: ScanBank,
    det: _Detector,
    grid: _Grid,
    gain_db: float,
    pre_hops: np.ndarray,
    limited: np.ndarray,
    suspect_lin: float,
) -> tuple[np.ndarray, float]:
    """K-weighted energy per complete hop and true peak (linear, at the scan bank's oversampling) of the
    limited output in `work`.

    A hop is clean when the limiter reduced nothing in it, in the hop after it (the interpolation looks
    16 frames ahead) nor within the K-weighting's memory before it: its output is the pre-limiter signal
    times the gain, so its K-weighted energy is the pre-limiter one scaled (exact), and so is its detector
    peak, which is final if it lies below `suspect_lin`. The rest (and clean hops peaking above
    `suspect_lin`) is K-weighted and interpolated again, in runs that start `k_memory` frames early.
    """
    frames = work.shape[1]
    n_hops = pre_hops.size
    scale = 10.0 ** (gain_db / 20.0)
    memory_hops = -(-scan.k_memory // grid.hop)
    dirty = limited.copy()
    for k in range(1, memory_hops + 1):
        dirty[k:] |= limited[:-k]
    dirty[:-1] |= limited[1:]
    dirty |= det.hop_peak * scale >= suspect_lin
    out_hops = pre_hops * scale**2
    tp = float(det.hop_peak[~dirty].max(initial=0.0)) * scale
    if not dirty.any():
        return out_hops, tp
    edges = np.flatnonzero(np.diff(np.concatenate([[0], dirty.astype(np.int8), [0]])))
    starts, ends = edges[0::2], edges[1::2]
    # merge runs closer than the K memory (each run re-filters that much context anyway)
    keep = np.concatenate([[True], starts[1:] - ends[:-1] > memory_hops])
    starts, ends = starts[keep], np.concatenate([ends[:-1][keep[1:]], ends[-1:]])
    for h0, h1 in zip(starts, ends, strict=True):
        lo, hi = int(h0) * grid.hop, min(frames, int(h1) * grid.hop)
        for a, b, kw, env in scan.scan(work, lo, hi, grid.chunk):
            tp = max(tp, float(env.max()))
            c0, c1 = a // grid.hop, min(n_hops, b // grid.hop)
            if c1 > c0:
                seg = kw[:, : (c1 - c0) * grid.hop]
                out_hops[c0:c1] = (
                    np.einsum("cn,cn->n", seg, seg).reshape(c1 - c0, grid.hop).sum(axis=1, dtype=np.float64)
                )
    return out_hops, tp


@dataclass(frozen=True)
class _EqPlan:
    """The EQ of one run and what decided it: whether the side follows the reference's width, and how far
    the mix's mid balance was from the reference's (mean |dB| of the match curve; NaN without one)."""

    curves: EqCurves
    width_matched: bool
    tone_distance_db: float


def _plan_eq(
    balance: TonalBalance,
    profile: Profile,
    sample_rate: int,
    reference: Reference | None,
    settings: MasteringSettings,
    scale: float,
    match_scale: float,
) -> _EqPlan:
    centres = balance.centres_hz
    blind, _ = blind_correction_db(balance, profile, sample_rate, scale)
    if reference is None:
        return _EqPlan(combine_curves(centres, blind, None, None, 0.0, 0.0, 0.0), False, float("nan"))
    match = settings.reference_match
    ref_mid, ref_side, weights = reference_correction_db(balance, reference.balance, sample_rate)
    used = weights > 0
    distance = float(np.mean(np.abs(ref_mid[used]))) if np.any(used) else float("nan")
    width_matched = ref_side is not None and match.width > 0.0 and match_scale > 0.0
    curves = combine_curves(
        centres, blind, ref_mid, ref_side if width_matched else None, match.tone, match.width, match_scale
    )
    return _EqPlan(curves, width_matched, distance)


def _band_bank(
    band_sos: list[np.ndarray],
    curves: EqCurves,
    freqs_hz: np.ndarray,
    sample_rate: int,
    channels: int,
    grid: _Grid,
) -> tuple[FFTFilterBank, np.ndarray]:
    """The eq/dynamics pass's filter bank (output 0 the K-weighting of the input, then every band with the
    EQ of its channel, mid/side or mono) and each band's power response at `freqs_hz` per channel (for the
    compressor's reference levels). Without EQ the bank is built from the sections alone."""
    band_h2 = np.stack([np.abs(sos_response(b, freqs_hz, sample_rate)) ** 2 for b in band_sos])
    curve_list = [curves.mid_db, curves.side_db][:channels]
    eq_h2 = np.stack([10.0 ** (curve_on_grid(curves.centres_hz, c, freqs_hz) / 10.0) for c in curve_list])
    band_gain = band_h2[:, None, :] * eq_h2[None, :, :]
    k_sos = k_weighting_sos(sample_rate)
    if curves.is_flat:
        return FFTFilterBank.from_sos([k_sos, *band_sos], sample_rate, channels, block=grid.chunk), band_gain
    f = grid_freqs(response_grid_size(sample_rate), sample_rate)
    eq = np.stack([minimum_phase_response(curve_on_grid(curves.centres_hz, c, f)) for c in curve_list])
    responses = np.empty((1 + len(band_sos), channels, f.size), dtype=np.complex128)
    responses[0] = sos_response(k_sos, f, sample_rate)
    for i, b in enumerate(band_sos):
        responses[1 + i] = sos_response(b, f, sample_rate)[None, :] * eq
    return FFTFilterBank.from_responses(responses, sample_rate, channels, block=grid.chunk), band_gain


def _reference_report(
    reference: Reference,
    match: ReferenceMatch,
    plan: _EqPlan,
    widths: np.ndarray,
    crossovers_hz: tuple[float, ...],
    leveller: LevellerPlan | None,
) -> ReferenceReport:
    """What was taken from the reference: amounts, the EQ's distance, the side/mid change (dB) per band
    (side EQ over mid EQ, plus the band's width gain), the leveller."""
    c = plan.curves.centres_hz
    change = []
    bounds = np.concatenate([[0.0], np.asarray(crossovers_hz, dtype=np.float64), [np.inf]])
    if bounds.size == widths.size + 1:
        for b in range(widths.size):
            inside = (c >= bounds[b]) & (c < bounds[b + 1]) & (c >= FIT_BAND_HZ[0]) & (c <= FIT_BAND_HZ[1])
            eq_delta = float(np.mean(plan.curves.side_db[inside] - plan.curves.mid_db[inside])) if inside.any() else 0.0
            w = float(widths[b])
            change.append(round(eq_delta + (20.0 * math.log10(w) if w > 0 else -120.0), 2))
    return ReferenceReport(
        tone=match.tone,
        width=match.width,
        dynamics=match.dynamics,
        reference_lufs=reference.integrated_lufs,
        reference_lra_lu=reference.loudness_range_lu,
        tone_distance_db=round(plan.tone_distance_db, 3),
        width_matched=plan.width_matched,
        width_change_db=tuple(change),
        leveller_ratio=round(leveller.ratio, 3) if leveller is not None else None,
        leveller_min_gain_db=round(leveller.min_gain_db, 2) if leveller is not None else None,
        leveller_max_gain_db=round(leveller.max_gain_db, 2) if leveller is not None else None,
    )
