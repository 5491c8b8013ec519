"""bandwidth.extend_bandwidth: the rebuilt band's quality (LSD) and the untouched low band."""

import numpy as np
import pytest

from mastertape.dsp.metrics import log_spectral_distance
from mastertape.restoration.bandwidth import crossover_hz, extend_bandwidth
from tests.unit.restoration.bw_signals import band_energy_db, bright_music, lowpass_fft

SR = 44100
CUT = 8000.0


@pytest.fixture(scope="module")
def pair():
    x = bright_music(6.0, SR)
    return x, lowpass_fft(x, SR, CUT)


@pytest.mark.parametrize("ensemble", [True, False])
def test_lsd_above_the_cutoff_drops_by_a_third(pair, ensemble):
    x, y = pair
    out = extend_bandwidth(y, SR, CUT, multiband_ensemble=ensemble)
    assert out.shape == y.shape and out.dtype == np.float32
    before = log_spectral_distance(x, y, SR, 8000.0, 16000.0)
    after = log_spectral_distance(x, out, SR, 8000.0, 16000.0)
    assert after <= 0.7 * before, (before, after)
    # the rebuilt band carries energy near the original's, not a blast of noise nor nothing: within 12 dB
    # under it (the calibrated steepening and the -3 dB LEVEL_OFFSET_DB are made for real music, and this
    # pink-noise bed does not steepen) and never above it
    excess = band_energy_db(out, SR, 8500, 16000) - band_energy_db(x, SR, 8500, 16000)
    assert -12.0 < excess < 1.0, excess


def test_original_signal_keeps_the_low_band_exact(pair):
    """reconstruction original_signal: below the crossover, output minus source is at float32 rounding level."""
    x, y = pair
    out = extend_bandwidth(y, SR, CUT, reconstruction="original_signal")
    xo = crossover_hz(CUT)
    diff = out.astype(np.float64) - y.astype(np.float64)
    rel_db = band_energy_db(diff, SR, 0.0, xo) - band_energy_db(y, SR, 0.0, xo)
    assert rel_db < -120.0, rel_db  # float32 rounding of the output is about -140 dB here
    # the same signal, low-passed below the crossover, agrees sample for sample to float32 precision
    low_out = lowpass_fft(out, SR, xo)
    low_src = lowpass_fft(y, SR, xo)
    assert np.max(np.abs(low_out - low_src)) < 2e-7
    # and the synthesis is really there above the cutoff
    assert band_energy_db(diff, SR, CUT + 200, 16000) > band_energy_db(y, SR, 0, xo) - 40


def test_original_resynthesises_the_whole_signal(pair):
    x, y = pair
    exact = extend_bandwidth(y, SR, CUT, reconstruction="original_signal")
    full = extend_bandwidth(y, SR, CUT, reconstruction="original")
    xo = crossover_hz(CUT)
    diff = full.astype(np.float64) - y.astype(np.float64)
    # the guard band under the cutoff is crossfaded into the synthesis: changed well above rounding level
    assert band_energy_db(diff, SR, xo, CUT) - band_energy_db(y, SR, xo, CUT) > -40.0
    # far below it the STFT resynthesis is nearly transparent (weighted overlap-add of a modified STFT)
    assert band_energy_db(diff, SR, 0, xo - 300) - band_energy_db(y, SR, 0, xo - 300) < -60.0
    # both rebuild the band above the cutoff to a similar quality
    lsd_exact = log_spectral_distance(x, exact, SR, 8000.0, 16000.0)
    lsd_full = log_spectral_distance(x, full, SR, 8000.0, 16000.0)
    assert abs(lsd_exact - lsd_full) < 0.15 * lsd_exact


def test_nothing_to_do_returns_the_input():
    x = bright_music(2.0, SR)
    out = extend_bandwidth(x, SR, 21000.0)  # cutoff above the top of the rebuilt band
    np.testing.assert_array_equal(out, x)
    out = extend_bandwidth(x[:, :500], SR, 8000.0)  # shorter than one STFT frame
    np.testing.assert_array_equal(out, x[:, :500])


def test_top_hz_limits_the_rebuilt_band(pair):
    _, y = pair
    out = extend_bandwidth(y, SR, CUT, top_hz=12000.0)
    assert band_energy_db(out, SR, 12500, 20000) < band_energy_db(out, SR, 8500, 12000) - 40.0
    assert np.all(np.isfinite(out))
