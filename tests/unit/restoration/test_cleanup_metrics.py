"""Known answers of the SDR / SI-SDR / log-spectral-distance metrics (dsp/metrics.py)."""

import numpy as np
import pytest

from mastertape.dsp.metrics import log_spectral_distance, sdr_db, si_sdr_db


def _signal(n=48000, seed=0):
    return np.random.default_rng(seed).standard_normal((2, n))


def test_sdr_of_known_error_level():
    s = _signal()
    err = _signal(seed=1) * 10 ** (-20 / 20)  # same power as s, scaled down 20 dB
    assert sdr_db(s, s + err) == pytest.approx(20.0, abs=0.1)


def test_si_sdr_ignores_gain_but_sdr_does_not():
    s = _signal()
    assert si_sdr_db(s, 0.5 * s) > 100.0
    assert sdr_db(s, 0.5 * s) == pytest.approx(20 * np.log10(2.0), abs=1e-6)


def test_si_sdr_of_added_noise_matches_snr():
    s = _signal()
    noise = _signal(seed=5) * 10 ** (-10 / 20)
    assert si_sdr_db(s, s + noise) == pytest.approx(10.0, abs=0.15)


def test_shapes_must_match():
    with pytest.raises(ValueError):
        sdr_db(np.zeros(10), np.zeros(11))


def test_log_spectral_distance_zero_for_identity_and_one_decade_for_x_sqrt10():
    sr = 32000
    s = _signal(32000)
    assert log_spectral_distance(s, s, sr) == pytest.approx(0.0, abs=1e-12)
    # amplitude x sqrt(10) -> power x 10 -> log10 difference exactly 1 in every bin
    assert log_spectral_distance(s, s * np.sqrt(10.0), sr, 1000, 8000) == pytest.approx(1.0, abs=1e-9)


def test_log_spectral_distance_sees_a_missing_band():
    from scipy.signal import butter, sosfiltfilt

    sr = 32000
    s = _signal(32000)
    low = sosfiltfilt(butter(10, 4000, fs=sr, output="sos"), s, axis=-1)
    below = log_spectral_distance(s, low, sr, 500, 3000)
    above = log_spectral_distance(s, low, sr, 6000, 15000)
    assert below < 0.1 and above > 3.0
