"""Spectrum and stereo analysis: band levels, correlation, crest factor and low-end side/mid balance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal

from mastertape.dsp.spectrum import (
    band_power,
    crest_factor_db,
    side_to_mid_ratio_db,
    stereo_correlation,
    third_octave_centers,
    third_octave_levels,
    welch_power_spectrum,
)
from tests.signals import music_like, pink_noise, sine

NOMINAL_20_TO_20K = [20, 25, 31.5, 40, 50, 63, 80, 100, 125, 160, 200, 250, 315, 400, 500, 630, 800, 1000,
                     1250, 1600, 2000, 2500, 3150, 4000, 5000, 6300, 8000, 10000, 12500, 16000, 20000]


def test_band_centres_are_iec_61260_base10():
    nominal, exact = third_octave_centers()
    np.testing.assert_allclose(nominal, NOMINAL_20_TO_20K)
    np.testing.assert_allclose(exact[17], 1000.0)
    np.testing.assert_allclose(exact[1:] / exact[:-1], 10 ** 0.1)
    np.testing.assert_allclose(exact / nominal, 1.0, atol=0.03)  # nominal values are rounded exact ones


@pytest.mark.parametrize("freq_hz", [63.0, 1000.0, 8000.0])
def test_sine_lands_in_its_band_at_its_power(freq_hz):
    x = sine(freq_hz, -20.0, 4.0, 48000).samples
    centres, levels = third_octave_levels(x, 48000)
    k = int(np.argmin(np.abs(centres - freq_hz)))
    assert levels[k] == pytest.approx(-20.0 - 3.01, abs=0.1)  # mean square of a -20 dBFS sine
    others = np.delete(levels, k)
    assert np.all(others < levels[k] - 40.0)


def test_pink_noise_is_flat_and_white_noise_rises_1db_per_band():
    pink = pink_noise(10.0, 48000, 2, -20.0).samples
    _, levels = third_octave_levels(pink, 48000, 50.0, 16000.0)
    assert np.ptp(levels) < 1.0
    white = np.random.default_rng(1).standard_normal((2, 480000)) * 0.1
    _, levels = third_octave_levels(white, 48000, 50.0, 16000.0)
    slope = np.polyfit(np.arange(levels.size), levels, 1)[0]
    assert slope == pytest.approx(10 * np.log10(10 ** 0.1), abs=0.05)  # band width grows by 10^0.1


def test_bands_above_nyquist_are_dropped_and_straddling_band_kept():
    x = pink_noise(3.0, 32000, 1).samples
    centres, levels = third_octave_levels(x, 32000)
    assert centres[-1] == 16000  # 16 kHz band (14.1-17.8 kHz) starts below the 16 kHz Nyquist
    assert np.all(np.isfinite(levels))


def test_band_powers_add_up_to_the_mean_square():
    x = np.random.default_rng(5).standard_normal((1, 8 * 44100)) * 0.1  # white, -20 dB mean square
    freqs, psd = welch_power_spectrum(x, 44100)
    total = band_power(freqs, psd[0], 44100, 0.0, 22050.0)
    assert 10 * np.log10(total) == pytest.approx(-20.0, abs=0.2)
    edges = np.geomspace(10.0, 22050.0, 40)
    parts = band_power(freqs, psd[0], 44100, edges[:-1], edges[1:])
    assert parts.sum() == pytest.approx(band_power(freqs, psd[0], 44100, 10.0, 22050.0), rel=1e-9)


def test_welch_matches_scipy():
    x = pink_noise(4.0, 48000, 2).samples
    freqs, psd = welch_power_spectrum(x, 48000, segment_frames=4096)
    f_ref, p_ref = scipy.signal.welch(x, 48000, window="hann", nperseg=4096, noverlap=2048, detrend=False)
    np.testing.assert_allclose(freqs, f_ref)
    np.testing.assert_allclose(psd, p_ref, rtol=1e-4, atol=1e-12)


def test_stereo_correlation():
    tone = sine(440.0, -10.0, 1.0, 48000).samples
    assert stereo_correlation(tone) == pytest.approx(1.0)
    assert stereo_correlation(tone * np.array([[1.0], [-1.0]])) == pytest.approx(-1.0)
    assert stereo_correlation(pink_noise(4.0, 48000, 2).samples) == pytest.approx(0.0, abs=0.1)
    assert stereo_correlation(tone[:1]) == 1.0
    assert stereo_correlation(np.zeros((2, 100))) == 1.0
    assert 0.3 < stereo_correlation(music_like(4.0, 44100).samples) < 1.0


def test_crest_factor():
    assert crest_factor_db(sine(997.0, -6.0, 1.0, 48000).samples) == pytest.approx(3.01, abs=0.01)
    square = np.sign(sine(100.0, 0.0, 1.0, 48000, phase=0.1).samples)
    assert crest_factor_db(square) == pytest.approx(0.0, abs=0.01)
    assert crest_factor_db(np.zeros((2, 10))) == 0.0
    impulse = np.zeros((1, 10000))
    impulse[0, 5] = 1.0
    assert crest_factor_db(impulse) == pytest.approx(40.0)


def test_side_to_mid_ratio_checks_the_low_end_only():
    sample_rate = 48000
    bass = sine(60.0, -10.0, 4.0, sample_rate).samples
    wide_highs = sine(3000.0, -10.0, 4.0, sample_rate).samples * np.array([[1.0], [-1.0]])
    # mono bass plus anti-phase highs: clean below 150 Hz, all side above
    mix = bass + wide_highs
    assert side_to_mid_ratio_db(mix, sample_rate, 150.0) < -60.0
    assert side_to_mid_ratio_db(mix, sample_rate, 20000.0) == pytest.approx(0.0, abs=0.1)
    # bass 12 dB wider than mono: side is L-R/2 of a bass whose right channel is lower
    lopsided = bass * np.array([[1.0], [10 ** (-12 / 20)]])
    expected = 20 * np.log10((1 - 10 ** (-12 / 20)) / (1 + 10 ** (-12 / 20)))
    assert side_to_mid_ratio_db(lopsided, sample_rate, 150.0) == pytest.approx(expected, abs=0.1)
    assert side_to_mid_ratio_db(bass[:1], sample_rate, 150.0) == -math.inf
    assert side_to_mid_ratio_db(np.zeros((2, 1000)), sample_rate, 150.0) == -math.inf
    assert side_to_mid_ratio_db(bass * np.array([[1.0], [-1.0]]), sample_rate, 150.0) == math.inf


def test_music_like_low_end_is_mono():
    x = music_like(6.0, 44100).samples
    assert side_to_mid_ratio_db(x, 44100, 120.0) < -25.0
    assert side_to_mid_ratio_db(x, 44100, 20000.0) > -25.0
