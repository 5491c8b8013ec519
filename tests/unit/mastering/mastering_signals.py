"""Test material for the mastering chain: short "finished masters" whose tonal balance follows a profile's
curve, and badly balanced or loud/quiet mixes. Made here, nothing downloaded."""

from __future__ import annotations

import numpy as np

from mastertape.audio import Audio
from mastertape.dsp.limiter import true_peak_limit
from mastertape.dsp.loudness import integrated_loudness
from mastertape.mastering.eq import target_levels_db
from mastertape.mastering.profiles import Profile


def shaped_master(
    profile: Profile,
    seconds: float = 12.0,
    sample_rate: int = 44100,
    lufs: float = -14.0,
    ceiling_dbtp: float = -1.0,
    seed: int = 3,
) -> Audio:
    """Noise whose 1/3-octave band levels follow `profile`'s target curve, with a 120 bpm pulse for dynamics,
    mono below ~150 Hz and a moderately wide top, normalised to `lufs` and peak-limited to `ceiling_dbtp`:
    what a finished master in that style measures like."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    f = np.fft.rfftfreq(n, 1.0 / sample_rate)
    fc = np.clip(f, 20.0, 20000.0)
    # band power per 1/3 octave is the density times the band width (proportional to f)
    amp = np.sqrt(10.0 ** (target_levels_db(profile, fc) / 10.0) / fc)
    amp[f < 20.0] = 0.0
    amp[f > 20000.0] = 0.0
    spec_mid = np.fft.rfft(rng.standard_normal(n)) * amp
    side_gain = np.clip((f - 150.0) / 300.0, 0.0, 1.0) * 0.5
    spec_side = np.fft.rfft(rng.standard_normal(n)) * amp * side_gain
    mid = np.fft.irfft(spec_mid, n)
    side = np.fft.irfft(spec_side, n)
    t = np.arange(n) / sample_rate
    pulse = 0.55 + 0.45 * np.exp(-((t % 0.5) * 12.0))
    x = np.stack([mid + side, mid - side]) * pulse
    x *= 10.0 ** ((lufs - integrated_loudness(x, sample_rate)) / 20.0)
    y, _ = true_peak_limit(x.astype(np.float32), sample_rate, ceiling_dbtp, attack_ms=2.0, release_ms=80.0)
    y *= np.float32(10.0 ** ((lufs - integrated_loudness(y, sample_rate)) / 20.0))
    return Audio(y.astype(np.float32), sample_rate)
