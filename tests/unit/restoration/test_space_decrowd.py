"""Diffuse-sound reduction (restoration/decrowd.py): a coherent source in decorrelated noise."""

import numpy as np
import pytest

from mastertape.audio import Audio
from mastertape.dsp.metrics import si_sdr_db
from mastertape.restoration import RestoreSettings, decrowd
from tests.signals import music_like, pink_noise
from tests.unit.restoration.space_signals import voice_like

SR = 44100


def _scene(snr_db: float, seconds: float = 6.0):
    """A voice panned 60/40 (coherent) plus independent pink noise per channel (diffuse) at `snr_db`."""
    v = voice_like(seconds, SR, seed=2)[0].astype(np.float64)
    src = np.stack([0.6 * v, 0.4 * v])
    noise = pink_noise(seconds, SR, channels=2, seed=11).samples.astype(np.float64)[:, : src.shape[1]]
    noise *= np.sqrt(np.mean(src**2) / np.mean(noise**2)) * 10 ** (-snr_db / 20.0)
    return src, noise


def _diffuse_left_db(out, src, noise):
    """Energy of what is not the source in `out`, relative to the noise that went in (dB, negative = less)."""
    a = np.sum(out * src) / np.sum(src * src)
    return 10 * np.log10(np.sum((out - a * src) ** 2) / np.sum(noise**2))


@pytest.mark.parametrize("snr_db", [0.0, 10.0])
def test_diffuse_noise_is_reduced_and_the_source_kept(snr_db):
    src, noise = _scene(snr_db)
    out, report = decrowd.run_decrowd(
        Audio((src + noise).astype(np.float32), SR), RestoreSettings(preset="decrowd")
    )
    y = out.samples.astype(np.float64)
    assert report.backend == "interchannel_coherence"
    assert _diffuse_left_db(y, src, noise) < -4.0
    assert si_sdr_db(src, y) > si_sdr_db(src, src + noise) + 3.0
    assert report.metrics["energy_removed_db"] > 0.5


def test_coherent_programme_is_nearly_untouched():
    x = music_like(6.0, SR, stereo_width=0.4).samples
    y, metrics = decrowd.decrowd_stereo(x, SR, 0.95)
    assert si_sdr_db(x, y) > 25.0
    assert metrics["mean_direct_share"] > 0.9


def test_strength_sets_the_floor():
    src, noise = _scene(0.0)
    gentle, _ = decrowd.decrowd_stereo(src + noise, SR, 0.2)
    strong, _ = decrowd.decrowd_stereo(src + noise, SR, 1.0)
    assert _diffuse_left_db(strong, src, noise) < _diffuse_left_db(gentle, src, noise) - 3.0
    assert _diffuse_left_db(gentle, src, noise) > -3.0  # 0.2 x 12 dB at most


def test_coherence_bias_of_independent_noise():
    n_fft = decrowd.stft_size(SR)
    a = decrowd._alpha(decrowd.COHERENCE_TAU_S, n_fft // 4, SR)
    assert 0.1 < decrowd.coherence_bias(a, n_fft) < 0.35


def test_mono_input_uses_the_weaker_cues_and_says_so():
    v = voice_like(6.0, SR, seed=4)
    rng = np.random.default_rng(5)
    claps = np.zeros(v.shape[1])
    for start in rng.integers(0, v.shape[1] - 2000, size=120):  # 20 claps per second
        claps[start : start + 400] += rng.standard_normal(400) * np.exp(-np.arange(400) / 60.0)
    claps *= 0.5 * np.sqrt(np.mean(v**2) / np.mean(claps**2))
    x = (v + claps[None, :]).astype(np.float32)
    out, report = decrowd.run_decrowd(Audio(x, SR), RestoreSettings(preset="decrowd"))
    assert report.backend == "stationary_floor+applause_transients"
    assert "mono input" in report.notes[0] and "coherence" in report.notes[0]
    assert report.metrics["blocks"][0]["applause_like_s"] > 2.0
    y = out.samples.astype(np.float64)
    assert si_sdr_db(v, y) > si_sdr_db(v, x)
    assert out.samples.shape == x.shape and np.all(np.isfinite(y))


def test_left_right_mode_falls_back_per_channel():
    src, noise = _scene(10.0, seconds=3.0)
    out, report = decrowd.run_decrowd(
        Audio((src + noise).astype(np.float32), SR),
        RestoreSettings(preset="decrowd", stereo_mode="left_right"),
    )
    assert report.backend == "stationary_floor+applause_transients"
    assert "stereo_mode left_right" in report.notes[0]
    assert len(report.metrics["blocks"]) == 2
