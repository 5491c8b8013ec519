"""The numbers and curves the web page plots for one track, computed from an `Audio`.

Pure functions, no HTTP: `analyze(audio)` returns a `TrackAnalysis` (waveform overview, short-term
loudness over time, 1/3-octave spectrum, loudness metrics and the playback gain of each streaming
platform), and `TrackAnalysis.to_dict()` is the JSON body of ``GET /analysis/{object_type}/{object_id}``.

Levels that do not exist (silence, a track shorter than a meter's window) are ``None`` in the dict, since
JSON has no infinity. Measurements come from `mastertape.dsp`: integrated loudness, LRA and true peak per
ITU-R BS.1770-4 / EBU Tech 3341-3342 (`loudness.measure`), short-term loudness (Tech 3341, 3 s window,
10 Hz), band levels of IEC 61260-1 base-10 1/3-octave bands (`spectrum.third_octave_levels`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from mastertape.audio.types import Audio
from mastertape.dsp.loudness import SHORT_TERM_HOPS, hop_length, measure, short_term_loudness
from mastertape.dsp.spectrum import third_octave_levels

#: Columns of the waveform overview: about one per pixel of a wide plot.
WAVEFORM_COLUMNS = 1000
#: Short-term loudness is sent at 10 Hz up to this many points, then thinned by an integer stride.
MAX_LOUDNESS_POINTS = 2000
#: Decimals kept in the JSON (0.01 dB and 1e-4 of full scale are far below what a plot shows).
_DB_DECIMALS = 2
_COLUMNS_PER_BATCH = 50
_SAMPLE_DECIMALS = 4
#: Report keys that may hold the mastering chain's largest gain reduction, in order of preference.
GAIN_REDUCTION_KEYS = ("max_gain_reduction_db", "limiter_max_gain_reduction_db")


@dataclass(frozen=True)
class PlatformRule:
    """How one streaming service normalises playback (track mode, default settings).

    The service plays a track at ``reference_lufs - integrated_lufs`` dB. A negative gain always applies.
    A positive gain applies only if `turns_up`; then, if `boost_ceiling_dbtp` is set, only as far as the
    true peak stays at or below that ceiling (no limiter is assumed).
    """

    name: str
    reference_lufs: float
    turns_up: bool
    boost_ceiling_dbtp: float | None
    source: str


#: Platform rules. Spotify's is published (Spotify for Artists, "Loudness normalization": -14 LUFS per
#: ITU 1770; positive gain only up to 1 dB of true-peak headroom; their example: -20 LUFS with peaks at
#: -5 dBFS is lifted to -16 LUFS only). Tidal's comes from Tidal via meterplugs.com (2016: BS.1770-4,
#: -14 LUFS, never turned up). YouTube's (-14 LUFS, turns loud music down only) is widely measured
#: (productionadvice.co.uk). Apple (Sound Check, about -16 LUFS) turns quiet tracks up within the peak
#: headroom; its exact ceiling is not published, -1 dBTP is assumed as for Spotify. Amazon Music (-14)
#: and Deezer (-15) publish no rule for quiet tracks; they are assumed to turn down only, as loudness
#: penalty calculators model them. These are the default "normal" settings; listeners can change them.
PLATFORMS: tuple[PlatformRule, ...] = (
    PlatformRule("Spotify", -14.0, True, -1.0, "published: up to -1 dBTP headroom"),
    PlatformRule("Apple Music", -16.0, True, -1.0, "assumed: up within -1 dBTP headroom"),
    PlatformRule("YouTube", -14.0, False, None, "measured: turns down only"),
    PlatformRule("Amazon Music", -14.0, False, None, "assumed: turns down only"),
    PlatformRule("Tidal", -14.0, False, None, "published: turns down only"),
    PlatformRule("Deezer", -15.0, False, None, "assumed: turns down only"),
)


@dataclass(frozen=True)
class PlatformGain:
    """The gain one platform applies to a track, and the loudness it then plays at."""

    name: str
    reference_lufs: float
    gain_db: float | None
    playback_lufs: float | None
    limited_by_peak: bool
    turns_up: bool
    rule: str


def platform_gain(rule: PlatformRule, integrated_lufs: float, true_peak_dbtp: float) -> PlatformGain:
    """Playback gain of `rule`'s platform for a track (None for a track with no measurable loudness).

    gain = reference - integrated; a positive gain is dropped when the platform never turns up, and capped
    at ``boost_ceiling_dbtp - true_peak_dbtp`` (never below 0) when it turns up within peak headroom.
    """
    if not math.isfinite(integrated_lufs):
        return PlatformGain(rule.name, rule.reference_lufs, None, None, False, rule.turns_up, rule.source)
    gain = rule.reference_lufs - integrated_lufs
    limited = False
    if gain > 0.0:
        if not rule.turns_up:
            gain, limited = 0.0, True
        elif rule.boost_ceiling_dbtp is not None and math.isfinite(true_peak_dbtp):
            headroom = max(rule.boost_ceiling_dbtp - true_peak_dbtp, 0.0)
            if headroom < gain:
                gain, limited = headroom, True
    return PlatformGain(rule.name, rule.reference_lufs, gain, integrated_lufs + gain, limited, rule.turns_up,
                        rule.source)


def platform_gains(integrated_lufs: float, true_peak_dbtp: float,
                   rules: Sequence[PlatformRule] = PLATFORMS) -> list[PlatformGain]:
    """`platform_gain` for every platform in `rules`, in order."""
    return [platform_gain(rule, integrated_lufs, true_peak_dbtp) for rule in rules]


@dataclass(frozen=True)
class Waveform:
    """Min, max and RMS of the samples (all channels together) in each of `columns` equal time slices."""

    seconds_per_column: float
    min: np.ndarray
    max: np.ndarray
    rms: np.ndarray

    @property
    def columns(self) -> int:
        return int(self.min.size)


def waveform_overview(audio: Audio, columns: int = WAVEFORM_COLUMNS) -> Waveform:
    """Peak envelope of `audio` in `columns` slices (fewer if the track has fewer frames).

    Slice k covers frames [floor(k N / C), floor((k + 1) N / C)); min/max are taken over every channel,
    RMS over every channel's samples in the slice. Vectorised with `ufunc.reduceat`.
    """
    if columns < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")
    x = np.asarray(audio.samples)
    frames = x.shape[1]
    count = min(columns, frames)
    if count == 0:
        empty = np.zeros(0, dtype=np.float32)
        return Waveform(0.0, empty, empty, empty)
    starts = (np.arange(count, dtype=np.int64) * frames) // count
    bounds = np.append(starts, frames)
    lo = np.empty(count, dtype=np.float32)
    hi = np.empty(count, dtype=np.float32)
    squares = np.empty(count, dtype=np.float64)
    # a batch of columns at a time, so the float64 squares never cover the whole (long) file
    for c0 in range(0, count, _COLUMNS_PER_BATCH):
        c1 = min(count, c0 + _COLUMNS_PER_BATCH)
        seg = x[:, bounds[c0]:bounds[c1]]
        offsets = starts[c0:c1] - bounds[c0]
        lo[c0:c1] = np.minimum.reduceat(seg, offsets, axis=1).min(axis=0)
        hi[c0:c1] = np.maximum.reduceat(seg, offsets, axis=1).max(axis=0)
        squares[c0:c1] = np.add.reduceat(np.square(seg, dtype=np.float64), offsets, axis=1).sum(axis=0)
    rms = np.sqrt(squares / (np.diff(bounds) * x.shape[0]))
    return Waveform(frames / count / audio.sample_rate, lo, hi, rms.astype(np.float32))


@dataclass(frozen=True)
class LoudnessCurve:
    """Short-term loudness (EBU Tech 3341, 3 s window) over time.

    Value j is the loudness of the 3 s ending at ``first_end_s + j * step_s`` (what a loudness meter shows
    at that moment); -inf in silence. Empty for a track under 3 s.
    """

    first_end_s: float
    step_s: float
    lufs: np.ndarray


def short_term_curve(audio: Audio, max_points: int = MAX_LOUDNESS_POINTS) -> LoudnessCurve:
    """Short-term loudness every 100 ms, thinned to at most `max_points` by keeping every k-th value."""
    values = short_term_loudness(audio.samples, audio.sample_rate)
    hop_s = hop_length(audio.sample_rate) / audio.sample_rate
    stride = max(1, math.ceil(values.size / max(max_points, 1)))
    return LoudnessCurve(SHORT_TERM_HOPS * hop_s, stride * hop_s, values[::stride])


@dataclass(frozen=True)
class Spectrum:
    """Band levels (dB re full-scale mean square, so a full-scale sine reads -3.01 dB in its band)."""

    centers_hz: np.ndarray
    levels_db: np.ndarray


def spectrum(audio: Audio) -> Spectrum:
    """1/3-octave band levels, 20 Hz - 20 kHz nominal centres (bands above Nyquist left out)."""
    centers, levels = third_octave_levels(audio.samples, audio.sample_rate)
    return Spectrum(centers, levels)


@dataclass(frozen=True)
class Metrics:
    """Loudness figures of the track; `max_gain_reduction_db` (positive dB) only for a mastered track
    whose mastering report gave it."""

    integrated_lufs: float
    true_peak_dbtp: float
    loudness_range_lu: float
    plr_db: float
    sample_peak_dbfs: float
    max_short_term_lufs: float
    max_momentary_lufs: float
    max_gain_reduction_db: float | None


def gain_reduction_from_report(report: Mapping | None) -> float | None:
    """The largest gain reduction in a mastering report dict (see GAIN_REDUCTION_KEYS), as positive dB."""
    if not report:
        return None
    for key in GAIN_REDUCTION_KEYS:
        value = report.get(key)
        if isinstance(value, int | float) and math.isfinite(value):
            return abs(float(value))
    return None


@dataclass(frozen=True)
class TrackAnalysis:
    duration_s: float
    sample_rate: int
    channels: int
    metrics: Metrics
    waveform: Waveform
    short_term: LoudnessCurve
    spectrum: Spectrum
    platforms: list[PlatformGain] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready dict (the `AnalysisResponse` schema of the API), non-finite levels as None."""
        m = self.metrics
        return {
            "duration_s": round(self.duration_s, 4),
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "metrics": {
                "integrated_lufs": _db(m.integrated_lufs),
                "true_peak_dbtp": _db(m.true_peak_dbtp),
                "loudness_range_lu": _db(m.loudness_range_lu),
                "plr_db": _db(m.plr_db),
                "sample_peak_dbfs": _db(m.sample_peak_dbfs),
                "max_short_term_lufs": _db(m.max_short_term_lufs),
                "max_momentary_lufs": _db(m.max_momentary_lufs),
                "max_gain_reduction_db": _db(m.max_gain_reduction_db),
            },
            "waveform": {
                "columns": self.waveform.columns,
                "seconds_per_column": self.waveform.seconds_per_column,
                "min": _list(self.waveform.min, _SAMPLE_DECIMALS),
                "max": _list(self.waveform.max, _SAMPLE_DECIMALS),
                "rms": _list(self.waveform.rms, _SAMPLE_DECIMALS),
            },
            "short_term_lufs": {
                "window_s": 3.0,
                "first_end_s": round(self.short_term.first_end_s, 6),
                "step_s": round(self.short_term.step_s, 6),
                "values": _list(self.short_term.lufs, _DB_DECIMALS),
            },
            "spectrum": {
                "bands": "1/3 octave (IEC 61260-1 base 10)",
                "centers_hz": [float(c) for c in self.spectrum.centers_hz],
                "levels_db": _list(self.spectrum.levels_db, _DB_DECIMALS),
            },
            "platforms": [
                {
                    "name": p.name,
                    "reference_lufs": p.reference_lufs,
                    "gain_db": _db(p.gain_db),
                    "playback_lufs": _db(p.playback_lufs),
                    "limited_by_peak": p.limited_by_peak,
                    "turns_up": p.turns_up,
                    "rule": p.rule,
                }
                for p in self.platforms
            ],
        }


def analyze(audio: Audio, report: Mapping | None = None, columns: int = WAVEFORM_COLUMNS) -> TrackAnalysis:
    """Everything the page plots for `audio`; `report` is the mastering report dict of a mastered track."""
    stats = measure(audio.samples, audio.sample_rate)
    metrics = Metrics(
        integrated_lufs=stats.integrated_lufs,
        true_peak_dbtp=stats.true_peak_dbtp,
        loudness_range_lu=stats.loudness_range_lu,
        plr_db=stats.plr_db,
        sample_peak_dbfs=stats.sample_peak_dbfs,
        max_short_term_lufs=stats.max_short_term_lufs,
        max_momentary_lufs=stats.max_momentary_lufs,
        max_gain_reduction_db=gain_reduction_from_report(report),
    )
    return TrackAnalysis(
        duration_s=audio.duration_s,
        sample_rate=audio.sample_rate,
        channels=audio.channels,
        metrics=metrics,
        waveform=waveform_overview(audio, columns),
        short_term=short_term_curve(audio),
        spectrum=spectrum(audio),
        platforms=platform_gains(stats.integrated_lufs, stats.true_peak_dbtp),
    )


def _db(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), _DB_DECIMALS)


def _list(values: np.ndarray, decimals: int) -> list[float | None]:
    rounded = np.round(np.asarray(values, dtype=np.float64), decimals)
    finite = np.isfinite(rounded)
    return [float(v) if ok else None for v, ok in zip(rounded.tolist(), finite.tolist(), strict=True)]
