"""Speech/music decision: is this recording speech (route to speech-only tools) or not?

Primary method, when the DeepFilterNet3 runtime is installed (deepfilter.py): *speech retention*. DFN3
is a speech enhancer trained to keep speech and remove everything else, so what it keeps tells speech from
music. Two numbers on a level-normalised mono excerpt (<= 3 x 10 s): the energy kept (dB), and the
speech-dominant share (the share of the input energy in 200 ms blocks kept within 4 dB). Measured on
../shared/audio (clean, and with white noise at 20/10/5 dB SNR): speech keeps -0.3 to -8.1 dB with a share
of 0.19-1.0; real music keeps -16 to -31 dB with a share of 0.00. The probability is
logistic((kept + 11.5) / 2 + (share - 0.15) / 0.05). Known miss: the synthetic `tests.signals.music_like`
with white noise at 10 dB SNR or less keeps -7.5 to -8.4 dB (share up to 0.11) and scores as speech; at
15-20 dB SNR it does not. The denoise preset guards against such misses (see denoise.denoise_routed).

Fallback without the runtime: features after Scheirer & Slaney 1997 ("Construction and evaluation of a
robust multifeature speech/music discriminator"): the share of near-silent 10 ms frames after removing a
per-band stationary floor (pauses between words), the share of low-energy frames per second, and the
4 Hz syllabic modulation energy. Clean speech is told from music reliably; speech buried in broadband noise
is not (the pauses fill up): the report says which method ran.

Limitation: music with a lead *singing* voice keeps part of its energy through DFN3; we have no such
recording here to calibrate on, so a song may score in between.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr
from scipy.signal import stft

from mastertape.restoration import deepfilter

RETENTION_CENTRE_DB = -11.5
RETENTION_SLOPE_DB = 2.0
SPEECH_BLOCK_DB = -4.0
SHARE_CENTRE = 0.15
SHARE_SLOPE = 0.05
ANALYSIS_EXCERPT_S = 10.0
MAX_EXCERPTS = 3
_ANALYSIS_RMS_DBFS = -23.0
_FEATURE_RATE_HZ = 16000


@dataclass(frozen=True)
class ContentDecision:
    """Outcome of the speech/music analysis."""

    speech_probability: float
    is_speech: bool
    method: str  # "deepfilternet3_retention" | "features" | "silence"
    speech_retention_db: float | None = None  # energy kept by DFN3, dB (primary method only)
    features: tuple[tuple[str, float], ...] = ()


def _excerpts(mono: np.ndarray, sample_rate: int) -> np.ndarray:
    """Up to MAX_EXCERPTS excerpts of ANALYSIS_EXCERPT_S seconds, evenly spaced, concatenated."""
    seg = int(ANALYSIS_EXCERPT_S * sample_rate)
    n = mono.shape[0]
    if n <= seg * MAX_EXCERPTS:
        return mono
    starts = np.linspace(0, n - seg, MAX_EXCERPTS).astype(int)
    return np.concatenate([mono[s : s + seg] for s in starts])


def _logistic(z: float) -> float:
    return float(1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0))))


def retention_db(mono: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """(energy kept by DeepFilterNet3 in dB, speech-dominant share) on a level-normalised excerpt.

    The speech-dominant share is the share of the input energy in 200 ms blocks that DFN3 keeps within
    SPEECH_BLOCK_DB: speech passes whole where it talks and is cut in its pauses, while music that it
    partly keeps is attenuated everywhere.
    """
    x = mono / np.sqrt(np.mean(mono**2)) * 10 ** (_ANALYSIS_RMS_DBFS / 20.0)
    y = deepfilter.enhance_speech(x[None, :], sample_rate)[0].astype(np.float64)
    kept = float(10.0 * np.log10((np.sum(y**2) + 1e-20) / (np.sum(x**2) + 1e-20)))
    block = max(1, int(0.2 * sample_rate))
    nb = max(1, x.shape[0] // block)
    e_in = (x[: nb * block] ** 2).reshape(nb, -1).sum(axis=1)
    e_out = (y[: nb * block] ** 2).reshape(nb, -1).sum(axis=1)
    whole = 10 * np.log10((e_out + 1e-20) / (e_in + 1e-20)) > SPEECH_BLOCK_DB
    share = float(e_in[whole].sum() / max(e_in.sum(), 1e-30))
    return kept, share


def speech_features(mono: np.ndarray, sample_rate: int) -> dict[str, float]:
    """Scheirer-Slaney style features on 16 kHz, 10 ms frames, 24 mel-spaced bands (100 Hz - 7 kHz).

    pause_ratio: share of frames whose floor-removed energy is under 1 % of the loud (90th percentile) level;
    low_energy_ratio: mean over 1 s windows of the share of frames under half the window's mean energy;
    modulation_4hz: share of band-envelope modulation energy between 2.5 and 6 Hz (of 0.5 - 30 Hz).
    """
    y = soxr.resample(mono, sample_rate, _FEATURE_RATE_HZ) if sample_rate != _FEATURE_RATE_HZ else mono
    hop, n_fft = 160, 512
    freqs, _, z = stft(y, fs=_FEATURE_RATE_HZ, nperseg=n_fft, noverlap=n_fft - hop, boundary=None, padded=False)
    power = np.abs(z) ** 2
    if power.shape[1] < 50:
        return {"pause_ratio": 0.0, "low_energy_ratio": 0.0, "modulation_4hz": 0.0}
    mel = np.linspace(2595 * np.log10(1 + 100 / 700), 2595 * np.log10(1 + 7000 / 700), 25)
    edges = 700 * (10 ** (mel / 2595) - 1)
    band_of_bin = np.digitize(freqs, edges) - 1
    valid = (band_of_bin >= 0) & (band_of_bin < 24)
    onehot = (band_of_bin[valid][None, :] == np.arange(24)[:, None]).astype(np.float64)
    bands = onehot @ power[valid]  # (24, frames)
    floor = np.percentile(bands, 10, axis=1, keepdims=True)
    active = np.maximum(bands - 1.5 * floor, 0.0)
    energy = active.sum(axis=0)
    loud = np.percentile(energy, 90)
    pause_ratio = float(np.mean(energy < 0.01 * loud)) if loud > 0 else 1.0
    per_s = int(_FEATURE_RATE_HZ / hop)
    n_win = energy.shape[0] // per_s
    if n_win >= 1:
        w = energy[: n_win * per_s].reshape(n_win, per_s)
        low_energy_ratio = float(np.mean(w < 0.5 * w.mean(axis=1, keepdims=True)))
    else:
        low_energy_ratio = float(np.mean(energy < 0.5 * energy.mean()))
    env = np.sqrt(active)
    env = env - env.mean(axis=1, keepdims=True)
    spec = np.abs(np.fft.rfft(env * np.hanning(env.shape[1]), axis=1)) ** 2
    fm = np.fft.rfftfreq(env.shape[1], hop / _FEATURE_RATE_HZ)
    syll = spec[:, (fm >= 2.5) & (fm <= 6.0)].sum(axis=1)
    total = spec[:, (fm >= 0.5) & (fm <= 30.0)].sum(axis=1) + 1e-20
    weights = np.sqrt(active).mean(axis=1) + 1e-12
    modulation_4hz = float(np.average(syll / total, weights=weights))
    return {"pause_ratio": pause_ratio, "low_energy_ratio": low_energy_ratio, "modulation_4hz": modulation_4hz}


def _feature_probability(f: dict[str, float]) -> float:
    # hand-set on the measured ranges (clean speech: pauses 0.35-0.39, low-energy 0.55-0.57;
    # music: pauses <= 0.06, low-energy 0.15-0.57); pauses dominate, the others break near-ties
    z = (f["pause_ratio"] - 0.15) / 0.03 + (f["low_energy_ratio"] - 0.45) / 0.2 + (f["modulation_4hz"] - 0.3) / 0.1
    return _logistic(z)


def analyse_content(samples: np.ndarray, sample_rate: int, use_model: bool = True) -> ContentDecision:
    """Speech/music decision on (channels, frames) or (frames,) samples (mono downmix, <= 30 s analysed)."""
    x = np.atleast_2d(np.asarray(samples, dtype=np.float64))
    mono = _excerpts(x.mean(axis=0), sample_rate)
    if mono.size == 0 or np.sqrt(np.mean(mono**2)) < 1e-5:  # below -100 dBFS: nothing to decide on
        return ContentDecision(0.0, False, "silence")
    if use_model and deepfilter.deepfilter_unavailable_reason() is None:
        kept, share = retention_db(mono, sample_rate)
        p = _logistic((kept - RETENTION_CENTRE_DB) / RETENTION_SLOPE_DB + (share - SHARE_CENTRE) / SHARE_SLOPE)
        return ContentDecision(p, p >= 0.5, "deepfilternet3_retention", speech_retention_db=kept,
                               features=(("speech_dominant_share", share),))
    feats = speech_features(mono, sample_rate)
    p = _feature_probability(feats)
    return ContentDecision(p, p >= 0.5, "features", features=tuple(sorted(feats.items())))


def speech_probability(samples: np.ndarray, sr: int) -> float:
    """Probability in [0, 1] that the recording is speech (see analyse_content)."""
    return analyse_content(samples, sr).speech_probability


def is_speech(samples: np.ndarray, sr: int) -> bool:
    """True when speech_probability >= 0.5."""
    return analyse_content(samples, sr).is_speech
