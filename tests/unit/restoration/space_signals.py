"""Generated material for the space presets (dereverb, decrowd, phantom_center, hum, universal_enhancer)."""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve, lfilter


def room_response(
    rt60_s: float = 0.6, sample_rate: int = 44100, drr_db: float = 0.0, gap_s: float = 0.005, seed: int = 0
) -> np.ndarray:
    """A synthetic room impulse response: a direct path (1.0 at t = 0) plus exponentially decaying Gaussian
    noise from `gap_s` on (amplitude exp(-3 ln10 t / RT60), i.e. 60 dB of energy decay in `rt60_s`),
    scaled so that the direct-to-reverberant energy ratio is `drr_db`. Length 1.2 x RT60."""
    rng = np.random.default_rng(seed)
    n = int(1.2 * rt60_s * sample_rate)
    t = np.arange(n) / sample_rate
    h = rng.standard_normal(n) * np.exp(-3.0 * np.log(10.0) * t / rt60_s)
    h[: int(gap_s * sample_rate)] = 0.0
    h *= 10 ** (-drr_db / 20.0) / np.sqrt(np.sum(h**2))
    h[0] = 1.0
    return h


def reverberate(samples: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """(channels, frames) convolved with `rir`, cut to the input length (float64)."""
    x = np.atleast_2d(np.asarray(samples, dtype=np.float64))
    return fftconvolve(x, rir[None, :], axes=1)[:, : x.shape[1]]


_VOWELS_HZ = (
    (730, 1090, 2440),
    (270, 2290, 3010),
    (530, 1840, 2480),
    (570, 840, 2410),
    (300, 870, 2240),
    (660, 1720, 2410),
    (390, 1990, 2550),
    (440, 1020, 2240),
)


def voice_like(
    seconds: float = 8.0, sample_rate: int = 44100, seed: int = 0, level_db: float = -20.0
) -> np.ndarray:
    """A synthetic talker, shape (1, frames): syllables of 80-220 ms with a jittered, gliding pitch (85-190
    Hz, 3 % period jitter), formants moving from one vowel to the next within each syllable, fricative bursts
    and pauses between words. Unlike a held vowel, nothing in it stays predictable for more than a syllable,
    which is what WPE relies on to tell the voice from its reverberation.
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    env = np.zeros(n)
    f0 = np.full(n, 120.0)
    fa = np.zeros((n, 3))
    fric = np.zeros(n)
    pos = int(0.1 * sample_rate)
    while pos < n:
        for _ in range(int(rng.integers(2, 6))):
            m = min(n - pos, int(rng.uniform(0.08, 0.22) * sample_rate))
            if m <= 8:
                break
            t = np.linspace(0.0, 1.0, m)
            env[pos : pos + m] = np.sin(np.pi * t) ** 0.5
            f0[pos : pos + m] = rng.uniform(95, 170) + rng.uniform(-40, 30) * t
            v0, v1 = (np.asarray(_VOWELS_HZ[i], dtype=float) for i in rng.integers(0, len(_VOWELS_HZ), 2))
            fa[pos : pos + m] = v0[None, :] + (v1 - v0)[None, :] * t[:, None]
            nf = min(m, int(0.05 * sample_rate))
            if rng.random() < 0.6:
                fric[pos : pos + nf] = np.hanning(2 * nf)[:nf]
            pos += m + int(rng.uniform(0.0, 0.03) * sample_rate)
        pos += int(rng.uniform(0.15, 0.4) * sample_rate)
    periods = sample_rate / f0 * (1.0 + 0.03 * rng.standard_normal(n))
    phase = np.cumsum(1.0 / periods)
    source = lfilter([1.0], [1.0, -0.95], np.diff(np.floor(phase), prepend=0.0))
    # time-varying formant filters, processed in 10 ms blocks (formants move slowly against that)
    block = int(0.01 * sample_rate)
    voiced = np.zeros(n)
    states = [np.zeros(2) for _ in range(3)]
    for start in range(0, n, block):
        seg = source[start : start + block]
        for j, bw in enumerate((80.0, 100.0, 140.0)):
            fc = max(fa[start, j], 200.0)
            r = np.exp(-np.pi * bw / sample_rate)
            a = [1.0, -2 * r * np.cos(2 * np.pi * fc / sample_rate), r * r]
            seg, states[j] = lfilter([1.0 - r], a, seg, zi=states[j])
        voiced[start : start + block] = seg
    voiced *= env
    noise = np.diff(rng.standard_normal(n), prepend=0.0) * fric
    x = voiced / (np.std(voiced) + 1e-12) + 0.4 * noise
    x *= 10 ** (level_db / 20.0) / np.sqrt(np.mean(x**2))
    return x[None, :].astype(np.float32)
