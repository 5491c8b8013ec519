"""Generated test material for the cleanup presets: a speech-like signal, clipping and noise at a known SNR."""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

# (F1, F2, F3) in Hz of a few vowels (Peterson & Barney 1952, adult male averages)
_VOWELS_HZ = ((730, 1090, 2440), (270, 2290, 3010), (530, 1840, 2480), (570, 840, 2410), (300, 870, 2240),
              (660, 1720, 2410))


def speech_like(seconds: float = 6.0, sample_rate: int = 16000, seed: int = 0, level_db: float = -20.0) -> np.ndarray:
    """A vowel-like synthetic 'voice', shape (1, frames): source-filter speech at a syllable rate of ~4 Hz.

    Glottal pulse train with a gliding pitch (95-170 Hz, like a male voice), shaped per syllable by three
    formant resonators (a vowel per syllable), syllables of 120-280 ms in words of 2-4 syllables separated by
    pauses, and short fricative noise bursts at syllable onsets. Not speech, but it has the cues a speech
    detector and a speech enhancer react to: harmonicity with moving pitch, formants, syllabic modulation, gaps.
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    env = np.zeros(n)
    f0 = np.full(n, 120.0)
    vowel_idx = np.zeros(n, dtype=int)
    fric = np.zeros(n)
    pos = int(0.15 * sample_rate)
    while pos < n:
        for _ in range(int(rng.integers(2, 5))):
            dur = int(rng.uniform(0.12, 0.28) * sample_rate)
            end = min(n, pos + dur)
            m = end - pos
            if m <= 0:
                break
            t = np.linspace(0.0, 1.0, m)
            env[pos:end] = np.sin(np.pi * t) ** 0.6
            start_f0 = rng.uniform(105, 160)
            f0[pos:end] = start_f0 + rng.uniform(-25, 20) * t
            vowel_idx[pos:end] = rng.integers(0, len(_VOWELS_HZ))
            nf = min(m, int(0.04 * sample_rate))
            if rng.random() < 0.5:
                fric[pos : pos + nf] = np.hanning(2 * nf)[:nf] * 0.5
            pos = end + int(rng.uniform(0.0, 0.04) * sample_rate)
        pos += int(rng.uniform(0.2, 0.45) * sample_rate)
    phase = np.cumsum(f0 / sample_rate)
    pulses = np.diff(np.floor(phase), prepend=0.0)  # one impulse per glottal period
    source = lfilter([1.0], [1.0, -0.95], pulses)  # spectral tilt of the glottal source
    voiced = np.zeros(n)
    for v, formants in enumerate(_VOWELS_HZ):
        sel = vowel_idx == v
        if not np.any(sel):
            continue
        y = source * sel
        for fc, bw in zip(formants, (80.0, 100.0, 140.0), strict=True):
            r = np.exp(-np.pi * bw / sample_rate)
            a = [1.0, -2 * r * np.cos(2 * np.pi * fc / sample_rate), r * r]
            y = lfilter([1.0 - r], a, y)
        voiced += y
    voiced *= env
    noise = np.diff(rng.standard_normal(n), prepend=0.0) * fric
    x = voiced / (np.std(voiced) + 1e-12) + 0.3 * noise
    x *= 10 ** (level_db / 20.0) / np.sqrt(np.mean(x**2))
    return x[None, :].astype(np.float32)


def add_noise(samples: np.ndarray, snr_db: float, kind: str = "white", seed: int = 7) -> np.ndarray:
    """`samples` plus independent white or pink noise at a known SNR (dB, over the whole signal)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(samples, dtype=np.float64)
    noise = rng.standard_normal(x.shape)
    if kind == "pink":
        spec = np.fft.rfft(noise, axis=-1)
        k = np.arange(spec.shape[-1], dtype=np.float64)
        k[0] = 1.0
        spec /= np.sqrt(k)
        noise = np.fft.irfft(spec, n=x.shape[-1], axis=-1)
    elif kind != "white":
        raise ValueError(kind)
    noise *= np.sqrt(np.mean(x**2) / np.mean(noise**2)) * 10 ** (-snr_db / 20.0)
    return (x + noise).astype(np.float32)


def hard_clip(samples: np.ndarray, level: float) -> np.ndarray:
    """Symmetric hard clipping at +-level."""
    return np.clip(samples, -level, level).astype(np.float32)


def clip_to_sdr(samples: np.ndarray, target_sdr_db: float) -> tuple[np.ndarray, float]:
    """Hard-clip so that the clipped signal's SDR against the input is `target_sdr_db` (bisection on the level)."""
    x = np.asarray(samples, dtype=np.float64)
    peak = float(np.max(np.abs(x)))
    lo, hi = 1e-4 * peak, peak
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        err = x - np.clip(x, -mid, mid)
        sdr = 10 * np.log10(np.sum(x**2) / max(np.sum(err**2), 1e-30))
        if sdr > target_sdr_db:
            hi = mid
        else:
            lo = mid
    level = 0.5 * (lo + hi)
    return hard_clip(x, level), level
