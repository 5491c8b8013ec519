"""Voice presets (novasr, lavasr, reuse, apollo_voice): denoise, then speech bandwidth extension."""

import numpy as np
import pytest

from mastertape.audio import Audio
from mastertape.dsp.metrics import log_spectral_distance, si_sdr_db
from mastertape.restoration import RestoreSettings, get, restore
from tests.unit.restoration.bw_signals import band_energy_db, lowpass_fft
from tests.unit.restoration.cleanup_signals import add_noise, speech_like
from tests.unit.restoration.space_signals import voice_like

SR = 44100


@pytest.fixture(scope="module")
def voice():
    """A synthetic talker, its 4 kHz telephone-band copy, and that copy with white noise at 10 dB SNR."""
    clean = voice_like(5.0, SR, seed=4)
    band = lowpass_fft(clean, SR, 4000.0)
    noisy = lowpass_fft(add_noise(band, 10.0, "white"), SR, 4000.0)
    return clean, band, noisy


@pytest.mark.parametrize("preset", ["novasr", "lavasr"])
def test_noisy_band_limited_voice_is_denoised_and_extended(voice, preset):
    clean, band, noisy = voice
    out, report = restore(Audio(noisy, SR), RestoreSettings(preset=preset))
    y = out.samples
    assert out.sample_rate == SR and y.shape == noisy.shape
    assert report.repairs == ("denoise", "extend_bandwidth")
    assert report.backend.endswith("+spectral_band_replication")
    assert abs(report.metrics["cutoff_hz"] - 4000.0) < 200.0
    assert any("no neural network" in n for n in report.notes) and "DSP" in get(preset).description
    # the telephone band is cleaner than it was (compare the bands under the cutoff only). This synthetic
    # voice is not recognised as speech by DeepFilterNet3's retention test, so MMSE-LSA runs (+2.2 dB measured)
    assert report.metrics["denoise"]["backend"] in ("mmse_lsa", "deepfilternet3")
    low = lambda s: lowpass_fft(s, SR, 3800.0)  # noqa: E731
    assert si_sdr_db(low(band), low(y)) > si_sdr_db(low(band), low(noisy)) + 1.5
    # and the band above it is rebuilt
    assert band_energy_db(y, SR, 4500, 8000) > band_energy_db(noisy, SR, 4500, 8000) + 20


@pytest.mark.parametrize("preset", ["novasr", "lavasr", "reuse", "apollo_voice"])
def test_clean_band_limited_voice_gets_its_band_back(voice, preset):
    """No noise floor: only the extension runs, and the band above 4 kHz moves towards the clean voice's."""
    clean, band, _ = voice
    out, report = restore(Audio(band, SR), RestoreSettings(preset=preset))
    assert report.repairs == ("extend_bandwidth",)
    before = log_spectral_distance(clean, band, SR, 4500.0, 8000.0)
    assert log_spectral_distance(clean, out.samples, SR, 4500.0, 8000.0) < 0.8 * before
    # not louder than the real band by more than 10 dB (measured +7 dB: this synthetic voice has weak fricatives)
    assert band_energy_db(out.samples, SR, 4500, 8000) < band_energy_db(clean, SR, 4500, 8000) + 10.0


def test_16k_speech_comes_out_at_48k_with_a_band_above_8k():
    x = speech_like(3.0, 16000, seed=2)
    out, report = restore(Audio(x, 16000), RestoreSettings(preset="apollo_voice"))
    assert out.sample_rate == 48000 and report.metrics["output_sample_rate"] == 48000
    assert "extend_bandwidth" in report.repairs
    assert band_energy_db(out.samples, 48000, 8500, 16000) > band_energy_db(out.samples, 48000, 100, 8000) - 50


def test_stereo_mode_mono_gives_identical_channels(voice):
    _, _, noisy = voice
    st = np.concatenate([noisy, 0.5 * noisy])
    out, _ = restore(Audio(st, SR), RestoreSettings(preset="reuse", stereo_mode="mono"))
    np.testing.assert_array_equal(out.samples[0], out.samples[1])
