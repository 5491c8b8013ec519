"""Bandwidth extension by spectral band replication: find where a recording's spectrum stops, rebuild above it.

- Cutoff detection (detect_cutoff_hz): long-term Welch spectrum (4096-point segments), smoothed with a median
  over ~150 Hz. A band limit is an edge where the level falls by >= EDGE_DROP_DB within one eighth of an octave
  and stays down to the top of the spectrum; natural roll-offs of music and speech (6-15 dB/octave) never
  do that. The cutoff is the last frequency within EDGE_REFERENCE_DB of the pass-band level just below the
  edge. Tested against known cutoffs (4, 8, 11, 16 kHz; brick-wall and steep IIR low-passes).
- Extension (extend_bandwidth): spectral band replication after the SBR tool of HE-AAC (Dietz, Liljeryd,
  Kjorling & Kunz 2002, "Spectral Band Replication, a novel approach in audio coding", AES 112th conv.,
  sec. 3: copy-up patching of the low band plus an envelope adjustment). In an STFT (Hann, 75 % overlap),
  the bins of the octave below the cutoff are copied up by a shift that is a multiple of 4 bins; with a hop
  of a quarter frame that shift is an exact frequency translation whose phase advance stays consistent from
  frame to frame (no phase vocoder needed). Envelope: per frame, a line is fitted in (log2 f, dB) through
  1/6-octave band powers of that octave (channel powers summed: one slope for the channels processed
  together), and every copied bin gets the gain that moves it from the line at its source frequency to
  the line at its target frequency, i.e. the rebuilt band continues the measured slope while its fine
  structure and temporal envelope (transients) come from the copied band. The slope is the recording's
  long-term slope plus half of each frame's deviation from it (smoothed over ~70 ms), and a calibrated
  steepening (CURVATURE_DB_PER_OCT2) is added above the cutoff.
  The rebuilt band sits LEVEL_OFFSET_DB (-3 dB) under that line.
- Known limit: a recording whose high band does not follow the band below it (quiet-nature in
  ../shared/audio: an ambience floor that stays at -110 dB while the 4-8 kHz band moves by 16 dB) gets a
  rebuilt band that is too loud in its louder frames; its LSD (8-16 kHz) rises from 0.12 to 0.15 (single
  patch 0.18). There the 8-16 kHz band of the original lies at the metric's power floor; even the
  original's exact STFT magnitudes with random phases only cut its LSD by 18 %.
- multiband_ensemble: each target octave band is the power mean of three copy-up patches taken from source
  bands of different widths (1, 3/4 and 1/2 of the octave below the cutoff); the first patch gives the
  phase; the mean power is smoothed over 5 bins. Averaging decorrelated patches smooths the replicated
  fine structure (less "copied" spectral detail, fewer tonal artefacts); False uses the single one-octave
  patch (faster).
- Reconstruction (universr's `reconstruction_method`): "original_signal" (default) returns
  `source + highpass(synthesis)`: the synthesis is made of bins at or above the cutoff only and then passes a
  linear-phase Kaiser FIR high-pass with >= 120 dB rejection below the crossover
  (crossover_hz = cutoff - CROSSOVER_GUARD_HZ), so below the crossover the output is the source to float32
  precision. "original" resynthesises the whole STFT instead, crossfading from the source into the
  synthesis over the guard band below the cutoff, which also fills a low-pass filter's roll-off there.

This is DSP, not a neural model: AudioSR, FlashSR, AERO and UniverSR are the names of the API's presets,
and every report says that spectral band replication ran.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter, uniform_filter1d
from scipy.signal import firwin, istft, kaiserord, oaconvolve, stft

from mastertape.audio.resample import resample
from mastertape.audio.types import Audio
from mastertape.dsp.spectrum import welch_power_spectrum
from mastertape.dsp.stft import fit_length, stft_size
from mastertape.restoration.settings import RestoreReport, RestoreSettings
from mastertape.restoration.stereo import apply_stereo_mode

BACKEND = "spectral_band_replication"
# cutoff detection
EDGE_DROP_DB = 20.0  # fall from the pass band to everything above the edge
EDGE_TRANSITION_OCT = 1.0 / 8.0  # the fall must happen within this much
EDGE_REFERENCE_DB = 12.0  # the cutoff is where the level is this far below the pass band
PASSBAND_SPAN_DB = 24.0  # natural roll-offs lose < 15 dB from the octave's mean to its top
MAX_EDGE_DEPTH_DB = 80.0  # an edge deeper than this under the spectrum's peak is in converter/rounding noise
MIN_CUTOFF_HZ = 1000.0
FULL_BAND_FRACTION = 0.9  # an edge above 90 % of Nyquist is the converter's anti-alias filter: full band
ANALYSIS_SECONDS = 30.0
_DETECT_NFFT = 4096
# extension
MIN_SLOPE_DB_PER_OCT = -36.0
MAX_SLOPE_DB_PER_OCT = 3.0
SLOPE_SMOOTH_S = 0.07
SLOPE_FRAME_WEIGHT = 0.5  # share of a frame's own slope deviation kept (0: the long-term slope only)
# real spectra steepen above 8 kHz: extra roll-off of CURVATURE * (octaves above the cutoff)^2, at most
# CURVATURE_MAX_OCT octaves; calibrated on ../shared/audio/music low-passed at 8 kHz (the measured level
# bias grew by ~+5 dB per octave above the cutoff with a straight line; -12 cut it to ~0)
CURVATURE_DB_PER_OCT2 = -12.0
# the rebuilt band is set this much under the extrapolated power: the measured log-spectral distance
# (a mean of log differences, i.e. a geometric-mean comparison) is lowest there on all four files of
# ../shared/audio/music (-1.5 / -3 / -4.5 / -6 dB tried), and a band slightly too dark is the safer
# error than one too bright (harshness)
LEVEL_OFFSET_DB = -3.0
CURVATURE_MAX_OCT = 1.5
ENSEMBLE_SMOOTH_BINS = 5  # the ensemble's power mean is also smoothed over 5 bins (~100 Hz)
CROSSOVER_GUARD_HZ = 200.0
HIGHPASS_REJECTION_DB = 120.0
MAX_TOP_HZ = 20000.0  # nothing is synthesised above the audible range
TOP_FRACTION = 0.95  # nor above 95 % of Nyquist
MIN_EXTENSION_RATE_HZ = 32000  # below this there is no room above the cutoff: presets upsample to 48 kHz
UPSAMPLE_RATE_HZ = 48000


# --- cutoff detection ------------------------------------------------------------------------------------
def _analysis_excerpt(x: np.ndarray, sr: int) -> np.ndarray:
    """Up to three evenly spaced excerpts totalling ANALYSIS_SECONDS (cheap on long files)."""
    n = x.shape[1]
    seg = int(ANALYSIS_SECONDS / 3 * sr)
    if n <= 3 * seg:
        return x
    starts = np.linspace(0, n - seg, 3).astype(int)
    return np.concatenate([x[:, s : s + seg] for s in starts], axis=1)


def spectrum_level_db(x: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """(freqs_hz, smoothed long-term level in dB) of the channel sum of powers (median over ~150 Hz)."""
    seg = min(_DETECT_NFFT, x.shape[1])
    freqs, psd = welch_power_spectrum(_analysis_excerpt(x, sr), sr, segment_frames=seg)
    level = 10.0 * np.log10(psd.sum(axis=0) + 1e-30)
    width = max(3, int(round(150.0 / (freqs[1] - freqs[0]))) | 1)
    return freqs, median_filter(level, size=width, mode="nearest")


def detect_cutoff_hz(x: np.ndarray, sr: int) -> float | None:
    """Effective upper band limit of (channels, frames) audio in Hz; None when it is full band (or silent).

    See the module docstring: an edge with an EDGE_DROP_DB fall within EDGE_TRANSITION_OCT that stays
    down to the top; the reported cutoff is where the level is EDGE_REFERENCE_DB under the pass band.
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if x.shape[1] < _DETECT_NFFT or not np.any(x):
        return None
    freqs, level = spectrum_level_db(x, sr)
    nyq = sr / 2.0
    top = freqs <= TOP_FRACTION * nyq + 1e-9
    lv = level[top]
    fr = freqs[top]
    # max of the level from bin j to the top (excluding the last few bins of the resampler's edge)
    suffix_max = np.maximum.accumulate(lv[::-1])[::-1]
    df = fr[1] - fr[0]
    k = np.arange(fr.size)
    gap = np.maximum(np.ceil(fr * (2**EDGE_TRANSITION_OCT - 1) / df).astype(int), 3)
    above_idx = k + gap
    valid = (above_idx < fr.size) & (fr >= MIN_CUTOFF_HZ)
    # pass-band reference: median level over the sixth of an octave below each bin
    lo = np.searchsorted(fr, fr * 2 ** (-1 / 6))
    csum = np.concatenate([[0.0], np.cumsum(lv)])
    ref = (csum[k + 1] - csum[lo]) / np.maximum(k + 1 - lo, 1)  # mean of smoothed dB: robust enough
    lo_oct = np.searchsorted(fr, fr / 2.0)
    ref_octave = (csum[k + 1] - csum[lo_oct]) / np.maximum(k + 1 - lo_oct, 1)
    drop = np.full(fr.size, -np.inf)
    drop[valid] = ref[valid] - suffix_max[above_idx[valid]]
    # the highest bin still in the pass band (within EDGE_REFERENCE_DB of the level just below it, and within
    # PASSBAND_SPAN_DB of the octave below: not in a filter's leakage tail) whose whole upper neighbourhood,
    # from one transition width on, lies EDGE_DROP_DB or more below
    in_band = ((lv >= ref - EDGE_REFERENCE_DB) & (lv >= ref_octave - PASSBAND_SPAN_DB)
               & (lv >= lv.max() - MAX_EDGE_DEPTH_DB))
    edges = np.flatnonzero((drop >= EDGE_DROP_DB) & in_band)
    if edges.size == 0:
        return None
    cutoff = float(fr[int(edges[-1])])
    if cutoff >= FULL_BAND_FRACTION * nyq:
        return None
    return cutoff


# --- extension -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExtensionPlan:
    """Bins of one extension: cutoff/top bins, guard, patch widths (all multiples of 4 bins)."""

    n_fft: int
    k_cut: int
    k_top: int
    guard: int
    widths: tuple[int, ...]


def _round4(v: float) -> int:
    return int(max(4, 4 * int(v // 4)))


def plan(sr: int, cutoff_hz: float, top_hz: float | None, multiband_ensemble: bool) -> ExtensionPlan | None:
    """Bin layout for extending from `cutoff_hz` up to `top_hz` (None: MAX_TOP_HZ / 95 % Nyquist)."""
    n_fft = stft_size(sr)  # ~46 ms: 2048 at 44.1 / 48 kHz
    df = sr / n_fft
    top = min(MAX_TOP_HZ, TOP_FRACTION * sr / 2.0) if top_hz is None else min(top_hz, sr / 2.0)
    k_cut = int(np.ceil(cutoff_hz / df))
    k_top = int(np.floor(top / df)) + 1
    guard = _round4(CROSSOVER_GUARD_HZ / df)
    octave = _round4((k_cut - guard) / 2.0)
    if k_top <= k_cut or k_cut - guard - octave < 1 or octave < 8:
        return None
    widths = (octave, _round4(0.75 * octave), _round4(0.5 * octave)) if multiband_ensemble else (octave,)
    return ExtensionPlan(n_fft, k_cut, k_top, guard, widths)


def _slopes(power: np.ndarray, freqs: np.ndarray, k_lo: int, k_hi: int, frames_smooth: int) -> np.ndarray:
    """Per-frame slope (dB/octave) of a line fitted to 1/6-octave band powers in bins [k_lo, k_hi)."""
    f_lo, f_hi = freqs[max(k_lo, 1)], freqs[k_hi - 1]
    n_bands = max(2, int(np.round(6 * np.log2(f_hi / f_lo))))
    edges = np.geomspace(f_lo, f_hi * 1.0001, n_bands + 1)
    band = np.clip(np.searchsorted(edges, freqs[k_lo:k_hi], side="right") - 1, 0, n_bands - 1)
    onehot = (band[None, :] == np.arange(n_bands)[:, None]).astype(np.float64)
    counts = onehot.sum(axis=1)
    keep = counts > 0
    onehot, counts = onehot[keep], counts[keep]
    centres = np.sqrt(edges[:-1] * edges[1:])[keep]
    bp = np.einsum("bk,...kt->...bt", onehot, power[..., k_lo:k_hi, :]) / counts[:, None]
    level = 10.0 * np.log10(bp + 1e-30)  # (..., bands, frames)
    xb = np.log2(centres)
    xc = xb - xb.mean()
    slope = np.einsum("b,...bt->...t", xc, level) / np.sum(xc**2)
    slope = uniform_filter1d(slope, size=max(1, frames_smooth), axis=-1, mode="nearest")
    # the recording's long-term slope (fit through the time-averaged band powers), and each frame's
    # deviation from it shrunk by SLOPE_FRAME_WEIGHT: single frames are noisy, quiet ones flattened by noise
    long_term = 10.0 * np.log10(bp.mean(axis=-1) + 1e-30)
    overall = np.einsum("b,...b->...", xc, long_term) / np.sum(xc**2)
    slope = overall[..., None] + SLOPE_FRAME_WEIGHT * (slope - overall[..., None])
    return np.clip(slope, MIN_SLOPE_DB_PER_OCT, MAX_SLOPE_DB_PER_OCT)


def _synthesis(z: np.ndarray, freqs: np.ndarray, p: ExtensionPlan, slope: np.ndarray, k_from: int) -> np.ndarray:
    """Replicated spectrum for bins [k_from, k_top) of STFT z (channels, bins, frames); complex64."""
    k_src_top = p.k_cut - p.guard
    targets = np.arange(k_from, p.k_top)
    logf = np.log2(np.maximum(freqs, freqs[1]))
    zf = z.astype(np.complex64)
    slope_ln = (slope * (np.log(10.0) / 20.0)).astype(np.float32)  # dB/oct -> ln(amplitude)/oct
    acc_power = None
    first = None
    for w in p.widths:
        src = k_src_top - w + np.mod(targets - p.k_cut, w)
        # gain: from the fitted line at the source frequency to the line at the target frequency
        oct_t = np.clip(logf[targets] - logf[p.k_cut], 0.0, CURVATURE_MAX_OCT)
        oct_s = np.clip(logf[src] - logf[p.k_cut], 0.0, CURVATURE_MAX_OCT)
        curve_db = CURVATURE_DB_PER_OCT2 * (oct_t**2 - oct_s**2) + LEVEL_OFFSET_DB
        curve = (curve_db * (np.log(10.0) / 20.0)).astype(np.float32)
        dist = (logf[targets] - logf[src]).astype(np.float32)
        gain = np.exp(slope_ln[:, None, :] * dist[None, :, None] + curve[None, :, None])
        patch = zf[:, src, :] * gain
        if first is None:
            first = patch
            if len(p.widths) == 1:
                return patch
        pw = patch.real**2 + patch.imag**2
        acc_power = pw if acc_power is None else acc_power + pw
    acc_power = uniform_filter1d(acc_power, size=ENSEMBLE_SMOOTH_BINS, axis=1, mode="nearest")
    mag = np.sqrt(acc_power / len(p.widths))
    return first * (mag / np.maximum(np.abs(first), 1e-30))


def _highpass_fir(sr: int, crossover_hz: float, pass_hz: float) -> np.ndarray:
    """Linear-phase Kaiser high-pass: >= HIGHPASS_REJECTION_DB below crossover_hz, pass band from pass_hz."""
    width = (pass_hz - crossover_hz) / (sr / 2.0)
    numtaps, beta = kaiserord(HIGHPASS_REJECTION_DB, width)
    numtaps |= 1  # odd length: a type I high-pass
    return firwin(numtaps, 0.5 * (crossover_hz + pass_hz), window=("kaiser", beta), pass_zero=False, fs=sr)


def crossover_hz(cutoff_hz: float) -> float:
    """Below this frequency, reconstruction_method=original_signal leaves the source untouched."""
    return max(0.0, cutoff_hz - CROSSOVER_GUARD_HZ)


def extend_bandwidth(x: np.ndarray, sr: int, cutoff_hz: float, multiband_ensemble: bool = True, *,
                     top_hz: float | None = None, reconstruction: str = "original_signal") -> np.ndarray:
    """Rebuild the band above `cutoff_hz` (up to `top_hz`) of (channels, frames) audio; float32, same shape.

    reconstruction "original_signal": source + high-passed synthesis (source untouched below
    crossover_hz(cutoff_hz)); "original": the whole STFT is resynthesised (see the module docstring).
    Nothing to do (cutoff at or above the top, or too low to have an octave to copy): the input, as float32.
    """
    src = np.atleast_2d(np.asarray(x))
    n = src.shape[1]
    p = plan(sr, float(cutoff_hz), top_hz, multiband_ensemble)
    if p is None or n < p.n_fft:
        return src.astype(np.float32, copy=True)
    x64 = src.astype(np.float64)
    hop = p.n_fft // 4
    freqs, _, z = stft(x64, fs=sr, window="hann", nperseg=p.n_fft, noverlap=p.n_fft - hop, boundary="even",
                       padded=True)
    z = np.atleast_3d(z) if z.ndim == 2 else z
    power = np.abs(z) ** 2
    frames_smooth = int(round(SLOPE_SMOOTH_S * sr / hop))
    k_src_top = p.k_cut - p.guard
    # one slope for all channels processed together (stereo_mode single_pass): a stable stereo image
    slope = _slopes(power.sum(axis=0, keepdims=True), freqs, k_src_top - p.widths[0], k_src_top, frames_smooth)
    if reconstruction == "original_signal":
        s = np.zeros_like(z)
        s[:, p.k_cut : p.k_top, :] = _synthesis(z, freqs, p, slope, p.k_cut)
        _, h = istft(s, fs=sr, window="hann", nperseg=p.n_fft, noverlap=p.n_fft - hop, boundary=True)
        h = fit_length(h, n)
        fir = _highpass_fir(sr, crossover_hz(cutoff_hz), p.k_cut * (sr / p.n_fft))
        # the whole filtered synthesis must lie inside the signal (a cropped filter tail would leak below
        # the crossover): no synthesis in the first/last half filter length, then a short fade
        h = h * _edge_taper(n, fir.size // 2, hop)[None, :]
        h = oaconvolve(h, fir[None, :], mode="same", axes=-1)
        out = x64 + h
    elif reconstruction == "original":
        k_from = p.k_cut - p.guard
        syn = _synthesis(z, freqs, p, slope, k_from)
        ramp = np.ones(p.k_top - k_from)
        ramp[: p.guard] = np.sin(0.5 * np.pi * (np.arange(p.guard) + 0.5) / p.guard) ** 2
        y = z.copy()
        y[:, k_from : p.k_top, :] = (
            (1.0 - ramp)[None, :, None] * z[:, k_from : p.k_top, :]
            + ramp[None, :, None] * syn
            + (ramp >= 1.0)[None, :, None] * z[:, k_from : p.k_top, :]  # the residue above the cutoff stays
        )
        _, out = istft(y, fs=sr, window="hann", nperseg=p.n_fft, noverlap=p.n_fft - hop, boundary=True)
        out = fit_length(out, n)
    else:
        raise ValueError(f"unknown reconstruction {reconstruction!r}")
    return np.nan_to_num(out).astype(np.float32)


def _edge_taper(n: int, dead: int, fade: int) -> np.ndarray:
    """0 for `dead` samples at both ends, sin^2 fades of `fade` samples, 1 in between."""
    w = np.ones(n)
    ramp = np.sin(0.5 * np.pi * (np.arange(fade) + 0.5) / fade) ** 2
    for side in (w, w[::-1]):
        side[: min(n, dead)] = 0.0
        seg = side[dead : dead + fade]
        seg *= ramp[: seg.size]
    return w


# --- presets ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BandwidthPreset:
    """How one preset name drives the extension (a table row, see PRESETS)."""

    ensemble: str  # "setting" (honour multiband_ensemble), "on" or "off"
    top: str  # "frequency_cutoff" (audiosr: the target top) or "full" (MAX_TOP_HZ / 95 % Nyquist)
    reconstruction: str  # "setting" (honour reconstruction_method) or "original_signal"


PRESETS: dict[str, BandwidthPreset] = {
    "audiosr": BandwidthPreset(ensemble="setting", top="frequency_cutoff", reconstruction="original_signal"),
    "flashsr": BandwidthPreset(ensemble="off", top="full", reconstruction="original_signal"),
    "aero": BandwidthPreset(ensemble="on", top="full", reconstruction="original_signal"),
    "universr": BandwidthPreset(ensemble="on", top="full", reconstruction="setting"),
}


@dataclass(frozen=True)
class ExtensionOutcome:
    """What run_extension did: samples (at `sample_rate`), the decision and notes."""

    samples: np.ndarray
    sample_rate: int
    cutoff_hz: float | None
    top_hz: float | None
    applied: bool
    notes: tuple[str, ...]


def run_extension(x: np.ndarray, sr: int, *, stereo_mode: str, multiband_ensemble: bool,
                  top_hz: float | None, reconstruction: str) -> ExtensionOutcome:
    """Detect the cutoff of `x` and extend it (shared by the bandwidth and voice presets).

    Input below MIN_EXTENSION_RATE_HZ is first resampled to UPSAMPLE_RATE_HZ (there is no room above its
    Nyquist frequency otherwise); the outcome carries the output rate.
    """
    notes: list[str] = []
    if sr < MIN_EXTENSION_RATE_HZ:
        x = resample(Audio(np.asarray(x, dtype=np.float32), sr), UPSAMPLE_RATE_HZ).samples
        notes.append(f"resampled {sr} Hz -> {UPSAMPLE_RATE_HZ} Hz to make room for the rebuilt band")
        sr = UPSAMPLE_RATE_HZ
    cutoff = detect_cutoff_hz(x, sr)
    limit = min(MAX_TOP_HZ, TOP_FRACTION * sr / 2.0) if top_hz is None else min(top_hz, sr / 2.0)
    if cutoff is None:
        notes.append("no band limit found (full band): audio unchanged")
        return ExtensionOutcome(np.array(x, dtype=np.float32), sr, None, limit, False, tuple(notes))
    if cutoff >= limit:
        notes.append(f"band limit {cutoff:.0f} Hz is at or above the target top {limit:.0f} Hz: audio unchanged")
        return ExtensionOutcome(np.array(x, dtype=np.float32), sr, cutoff, limit, False, tuple(notes))
    if plan(sr, cutoff, limit, multiband_ensemble) is None:
        notes.append(f"band limit {cutoff:.0f} Hz is too low to replicate from: audio unchanged")
        return ExtensionOutcome(np.array(x, dtype=np.float32), sr, cutoff, limit, False, tuple(notes))
    out = apply_stereo_mode(
        np.asarray(x, dtype=np.float32), stereo_mode,
        lambda b: extend_bandwidth(b, sr, cutoff, multiband_ensemble, top_hz=limit, reconstruction=reconstruction),
    )
    patches = "3-patch ensemble" if multiband_ensemble else "single patch"
    notes.append(f"band {cutoff:.0f}-{limit:.0f} Hz rebuilt by spectral band replication ({patches}, "
                 f"reconstruction {reconstruction}; below {crossover_hz(cutoff):.0f} Hz the source is "
                 + ("untouched)" if reconstruction == "original_signal" else "resynthesised)"))
    return ExtensionOutcome(out.astype(np.float32), sr, cutoff, limit, True, tuple(notes))


def run_bandwidth_preset(audio: Audio, settings: RestoreSettings) -> tuple[Audio, RestoreReport]:
    """Presets audiosr, flashsr, aero, universr (table PRESETS): detect the cutoff, replicate above it."""
    row = PRESETS[settings.preset]
    ensemble = settings.multiband_ensemble if row.ensemble == "setting" else row.ensemble == "on"
    top = settings.frequency_cutoff_hz if row.top == "frequency_cutoff" else None
    recon = settings.reconstruction_method if row.reconstruction == "setting" else row.reconstruction
    res = run_extension(audio.samples, audio.sample_rate, stereo_mode=settings.stereo_mode,
                        multiband_ensemble=ensemble, top_hz=top, reconstruction=recon)
    metrics = {
        "cutoff_hz": res.cutoff_hz,
        "target_top_hz": res.top_hz,
        "crossover_hz": crossover_hz(res.cutoff_hz) if res.cutoff_hz is not None else None,
        "multiband_ensemble": ensemble,
        "reconstruction_method": recon,
        "output_sample_rate": res.sample_rate,
    }
    notes = (*res.notes, f"DSP spectral band replication standing in for the '{settings.preset}' model "
             "(no neural network runs)")
    return Audio(res.samples, res.sample_rate), RestoreReport(
        preset=settings.preset, backend=BACKEND, repairs=("extend_bandwidth",) if res.applied else (),
        metrics=metrics, notes=notes)
