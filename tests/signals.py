"""Test signals with known properties, made by the tests themselves (nothing is downloaded)."""

from __future__ import annotations

import numpy as np

from mastertape.audio import Audio


def sine(freq_hz: float = 997.0, dbfs: float = -20.0, seconds: float = 5.0, sample_rate: int = 48000,
         channels: int = 2, phase: float = 0.0) -> Audio:
    """A sine of peak level `dbfs` on every channel."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    x = (10 ** (dbfs / 20.0)) * np.sin(2 * np.pi * freq_hz * t + phase)
    return Audio(np.tile(x.astype(np.float32), (channels, 1)), sample_rate)


def pink_noise(seconds: float = 5.0, sample_rate: int = 48000, channels: int = 2, rms_dbfs: float = -20.0,
               seed: int = 0) -> Audio:
    """Pink (1/f power) noise, independent per channel, scaled to an RMS level."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    spec = np.fft.rfft(rng.standard_normal((channels, n)), axis=1)
    f = np.fft.rfftfreq(n, 1 / sample_rate)
    f[0] = f[1]
    spec /= np.sqrt(f)
    x = np.fft.irfft(spec, n=n, axis=1)
    x *= 10 ** (rms_dbfs / 20.0) / np.sqrt(np.mean(x**2))
    return Audio(x.astype(np.float32), sample_rate)


def music_like(seconds: float = 20.0, sample_rate: int = 44100, level_db: float = -18.0, seed: int = 1,
               stereo_width: float = 0.4) -> Audio:
    """A synthetic 'track': bass line, chords, hi-hat noise bursts and kick drums, in stereo.

    Not music, but it has what a mastering chain reacts to: a low end, harmonic mids, transients,
    high-frequency content and stereo width (mono below ~150 Hz like a real mix).
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    beat = 0.5  # seconds per beat (120 bpm)
    mono = np.zeros(n)
    side = np.zeros(n)
    # bass: root notes changing each bar
    roots = [55.0, 65.41, 49.0, 73.42]
    bar = (t // (4 * beat)).astype(int) % len(roots)
    f_bass = np.take(roots, bar)
    mono += 0.5 * np.sin(2 * np.pi * np.cumsum(f_bass) / sample_rate)
    # chords: three partials per note, detuned left/right for width
    for k, ratio in enumerate((1.0, 1.26, 1.5)):
        f = f_bass * 4 * ratio
        ph = 2 * np.pi * np.cumsum(f) / sample_rate
        for h in range(1, 4):
            mono += 0.08 / h * np.sin(h * ph + k)
            side += stereo_width * 0.05 / h * np.sin(h * ph * 1.003 + 2 * k)
    # kick on every beat
    kick_t = (t % beat)
    mono += 0.9 * np.exp(-kick_t * 30) * np.sin(2 * np.pi * (50 + 100 * np.exp(-kick_t * 40)) * kick_t)
    # hi-hat: noise bursts on off-beats
    hat_t = ((t + beat / 2) % beat)
    hat = rng.standard_normal(n) * np.exp(-hat_t * 60)
    hat = np.diff(hat, prepend=0.0)  # brighten
    mono += 0.15 * hat
    side += stereo_width * 0.1 * np.diff(rng.standard_normal(n) * np.exp(-hat_t * 60), prepend=0.0)
    x = np.stack([mono + side, mono - side])
    rms = np.sqrt(np.mean(x**2))
    x *= 10 ** (level_db / 20.0) / rms
    return Audio(x.astype(np.float32), sample_rate)
