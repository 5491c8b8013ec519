"""Mains hum detection and zero-phase notch removal (restoration/hum.py) on generated programme material."""

import numpy as np
import pytest

from mastertape.dsp.metrics import si_sdr_db
from mastertape.restoration import hum
from tests.signals import music_like, pink_noise

SR = 44100


def programme(seconds: float = 12.0, seed: int = 3) -> np.ndarray:
    """Stereo pink noise at -30 dBFS RMS with a few drifting tones away from the mains harmonics."""
    x = pink_noise(seconds, SR, channels=2, rms_dbfs=-30.0, seed=seed).samples.astype(np.float64)
    t = np.arange(x.shape[1]) / SR
    for f in (83.0, 233.0, 441.0, 1327.0):
        x += 0.02 * np.sin(2 * np.pi * f * t * (1 + 0.002 * np.sin(2 * np.pi * 0.3 * t)))
    return x


def hum_tone(n: int, f0_hz: float, level_dbfs: float, harmonics=(1, 2, 3, 4, 5)) -> np.ndarray:
    t = np.arange(n) / SR
    return sum(10 ** (level_dbfs / 20) / k * np.sin(2 * np.pi * k * f0_hz * t + k) for k in harmonics)


@pytest.mark.parametrize("f0_hz", [50.0, 60.1])
def test_hum_is_detected_and_notched(f0_hz):
    prog = programme()
    h = np.tile(hum_tone(prog.shape[1], f0_hz, -40.0), (2, 1))
    info = hum.detect_hum(prog + h, SR)
    assert info.detected
    assert info.mains_hz == round(f0_hz / 10) * 10
    assert abs(info.f0_hz - f0_hz) < 0.1
    assert len(info.harmonics_hz) >= 3
    for f in info.harmonics_hz:
        k = round(f / f0_hz)
        assert abs(f - k * f0_hz) < 0.1
    # the hum itself through the same notches: at least 12 dB less energy (harmonics 1-3 hold 90 % of it)
    residual = hum.remove_hum(h, SR, info)
    edge = SR  # the notches ring in over the first and last second
    reduction_db = 10 * np.log10(np.sum(h[:, edge:-edge] ** 2) / np.sum(residual[:, edge:-edge] ** 2))
    assert reduction_db > 12.0
    cleaned = hum.remove_hum(prog + h, SR, info)
    assert si_sdr_db(prog, cleaned) > si_sdr_db(prog, prog + h) + 6.0


@pytest.mark.parametrize(
    "make",
    [
        lambda: music_like(12.0, SR).samples,  # strictly periodic drum loop: a line comb on every 2 Hz
        lambda: programme(),
        lambda: pink_noise(12.0, SR, channels=1).samples,
    ],
)
def test_no_hum_found_in_clean_material(make):
    x = make()
    info = hum.detect_hum(x, SR)
    assert not info.detected
    assert info.harmonics_hz == ()
    np.testing.assert_array_equal(hum.remove_hum(x, SR, info), x)


def test_notches_are_zero_phase_and_narrow():
    t = np.arange(5 * SR) / SR
    x = (0.3 * np.sin(2 * np.pi * 997.0 * t) + 0.3 * np.sin(2 * np.pi * 70.0 * t))[None, :]
    info = hum.HumInfo(True, 50.0, 50.0, harmonics_hz=(50.0, 100.0, 150.0))
    y = hum.remove_hum(x, SR, info)
    core = slice(SR, 4 * SR)
    # no phase shift: 70 Hz (20 Hz from the nearest notch) and 997 Hz come out sample-aligned
    assert si_sdr_db(x[:, core], y[:, core]) > 40.0


def test_short_or_silent_input_is_not_analysed():
    assert not hum.detect_hum(np.zeros((2, 5 * SR)), SR).detected
    assert not hum.detect_hum(np.ones((1, SR // 2)) * 0.1, SR).detected
