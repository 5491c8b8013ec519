"""A synthetic singing voice for the stem tests: harmonic, with vibrato, vowel formants and syllables."""

from __future__ import annotations

import numpy as np

from mastertape.audio import Audio

#: (F1, F2, F3) in Hz of the vowels /a/, /i/, /u/, /e/, /o/ (Peterson & Barney 1952, male averages)
_VOWELS_HZ = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410))


def sung_voice(
    seconds: float = 8.0, sample_rate: int = 44100, level_db: float = -20.0, seed: int = 3
) -> Audio:
    """Stereo, centred (L == R): a melody of sung syllables at ~4 per second, 5.5 Hz vibrato of +-2 %.

    Each harmonic of the glottal source is weighted by three formant resonances of the syllable's vowel,
    and each syllable has an attack / decay envelope with short gaps between syllables.
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    syllable_s = 0.25
    k = (t // syllable_s).astype(int)
    count = int(k.max()) + 1
    notes = 196.0 * 2 ** (rng.choice([0, 2, 4, 5, 7, 9], size=count) / 12.0)
    f0 = notes[k] * (1 + 0.02 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    vowel = np.asarray(_VOWELS_HZ, dtype=float)[rng.integers(0, len(_VOWELS_HZ), size=count)][k]  # (n, 3)
    x = np.zeros(n)
    for h in range(1, 40):
        fh = h * f0
        gain = np.zeros(n)
        for j, bw in enumerate((90.0, 110.0, 170.0)):
            gain += (1.0 / (1 + ((fh - vowel[:, j]) / bw) ** 2)) * (0.5**j)
        gain *= (fh < 0.45 * sample_rate) / h**0.5
        x += gain * np.sin(h * phase)
    pos = (t % syllable_s) / syllable_s
    env = np.clip(pos / 0.1, 0, 1) * np.clip((0.85 - pos) / 0.25, 0, 1)
    x *= env
    x *= 10 ** (level_db / 20.0) / np.sqrt(np.mean(x**2))
    return Audio(np.stack([x, x]).astype(np.float32), sample_rate)
