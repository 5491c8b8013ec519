"""The bandwidth presets audiosr, flashsr, aero, universr through the registry: settings honoured, reports honest."""

import numpy as np
import pytest

from mastertape.audio import Audio
from mastertape.dsp.metrics import log_spectral_distance
from mastertape.restoration import RestoreSettings, get, restore
from mastertape.restoration.bandwidth import crossover_hz
from tests.unit.restoration.bw_signals import band_energy_db, bright_music, lowpass_fft

SR = 44100
CUT = 8000.0


@pytest.fixture(scope="module")
def pair():
    x = bright_music(4.0, SR)
    return x, lowpass_fft(x, SR, CUT)


@pytest.mark.parametrize("preset", ["audiosr", "flashsr", "aero", "universr"])
def test_preset_rebuilds_the_band_and_says_it_is_dsp(pair, preset):
    x, y = pair
    settings = RestoreSettings(preset=preset, frequency_cutoff_hz=20000.0)
    out, report = restore(Audio(y, SR), settings)
    assert report.backend == "spectral_band_replication" and report.repairs == ("extend_bandwidth",)
    assert abs(report.metrics["cutoff_hz"] - CUT) < 0.04 * CUT
    assert any("no neural network" in n for n in report.notes)
    assert "DSP" in get(preset).description
    before = log_spectral_distance(x, y, SR, 8000.0, 16000.0)
    assert log_spectral_distance(x, out.samples, SR, 8000.0, 16000.0) <= 0.7 * before


def test_audiosr_frequency_cutoff_is_the_top_of_the_rebuilt_band(pair):
    _, y = pair
    out, report = restore(Audio(y, SR), RestoreSettings(preset="audiosr", frequency_cutoff_hz=12000.0))
    assert report.metrics["target_top_hz"] == 12000.0
    assert band_energy_db(out.samples, SR, 12500, 20000) < band_energy_db(out.samples, SR, 8500, 12000) - 40.0
    # a target at or below the detected cutoff: nothing to do, and the report says so
    out, report = restore(Audio(y, SR), RestoreSettings(preset="audiosr", frequency_cutoff_hz=6000.0))
    assert report.repairs == ()
    np.testing.assert_array_equal(out.samples, y)


def test_audiosr_multiband_ensemble_changes_the_synthesis(pair):
    _, y = pair
    on, r_on = restore(Audio(y, SR), RestoreSettings(preset="audiosr", multiband_ensemble=True))
    off, r_off = restore(Audio(y, SR), RestoreSettings(preset="audiosr", multiband_ensemble=False))
    assert r_on.metrics["multiband_ensemble"] and not r_off.metrics["multiband_ensemble"]
    assert not np.allclose(on.samples, off.samples)


def test_universr_reconstruction_method(pair):
    _, y = pair
    keep, r1 = restore(Audio(y, SR), RestoreSettings(preset="universr", reconstruction_method="original_signal"))
    full, r2 = restore(Audio(y, SR), RestoreSettings(preset="universr", reconstruction_method="original"))
    assert r1.metrics["reconstruction_method"] == "original_signal"
    assert r2.metrics["reconstruction_method"] == "original"
    cut = r1.metrics["cutoff_hz"]
    xo = crossover_hz(cut)
    d_keep = band_energy_db(keep.samples.astype(np.float64) - y, SR, 0, xo) - band_energy_db(y, SR, 0, xo)
    assert d_keep < -120.0  # original_signal: the source to float32 precision below the crossover
    d_full = band_energy_db(full.samples.astype(np.float64) - y, SR, xo, cut) - band_energy_db(y, SR, xo, cut)
    assert d_full > -40.0  # original: the band under the cutoff is resynthesised (crossfaded)


def test_full_band_input_is_returned_unchanged(pair):
    x, _ = pair
    out, report = restore(Audio(x, SR), RestoreSettings(preset="aero"))
    assert report.repairs == () and report.metrics["cutoff_hz"] is None
    np.testing.assert_array_equal(out.samples, x)


def test_low_rate_input_is_upsampled_to_48k():
    x = bright_music(3.0, 16000)  # Nyquist 8 kHz: full band at its own rate
    y = lowpass_fft(x, 16000, 4000.0)
    out, report = restore(Audio(y, 16000), RestoreSettings(preset="flashsr"))
    assert out.sample_rate == 48000 and report.metrics["output_sample_rate"] == 48000
    assert abs(out.frames - 3 * y.shape[1]) <= 3
    assert report.repairs == ("extend_bandwidth",)
    assert abs(report.metrics["cutoff_hz"] - 4000.0) < 200.0
    assert band_energy_db(out.samples, 48000, 4500, 8000) > band_energy_db(out.samples, 48000, 500, 4000) - 40


def test_stereo_mode_is_honoured(pair):
    _, y = pair
    mono_out, _ = restore(Audio(y, SR), RestoreSettings(preset="aero", stereo_mode="mono"))
    np.testing.assert_array_equal(mono_out.samples[0], mono_out.samples[1])
    joint, _ = restore(Audio(y, SR), RestoreSettings(preset="aero", stereo_mode="single_pass"))
    split, _ = restore(Audio(y, SR), RestoreSettings(preset="aero", stereo_mode="left_right"))
    assert not np.allclose(joint.samples, split.samples)  # one slope for both channels vs one each
    same = np.repeat(y[:1], 2, axis=0)  # L == R: the side signal is silent and stays so in mid_sides
    ms, _ = restore(Audio(same, SR), RestoreSettings(preset="aero", stereo_mode="mid_sides"))
    np.testing.assert_allclose(ms.samples[0], ms.samples[1], atol=1e-7)
