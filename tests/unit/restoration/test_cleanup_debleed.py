"""Bleed suppression (debleed.py) and the denoise_debleed preset."""

import numpy as np
import pytest
from scipy.ndimage import uniform_filter1d

from mastertape.audio.types import Audio
from mastertape.dsp.metrics import si_sdr_db
from mastertape.restoration import RestoreSettings, restore
from mastertape.restoration.debleed import suppress_bleed
from tests.signals import music_like
from tests.unit.restoration.cleanup_signals import speech_like

SR = 44100


@pytest.fixture(scope="module")
def take():
    """A voice that talks 2 s, pauses 2 s and talks again, with music bleeding in 25 dB below it."""
    t = np.arange(6 * SR) / SR
    gate = uniform_filter1d((np.sin(2 * np.pi * 0.25 * t) > 0).astype(float), 2205)
    main = speech_like(seconds=6.0, sample_rate=SR, seed=1).astype(np.float64) * gate
    bleed = music_like(seconds=6.0, seed=5).samples[:1].astype(np.float64)
    bleed *= np.sqrt(np.mean(main**2) / np.mean(bleed**2)) * 10 ** (-25 / 20)
    pauses = np.zeros(main.shape[1], dtype=bool)
    pauses[int(2.2 * SR) : int(3.8 * SR)] = True  # the long pause (short pauses between words stay open)
    return main, bleed, pauses


def test_bleed_in_the_pauses_is_cut_and_the_voice_is_kept(take):
    main, bleed, pauses = take
    out = suppress_bleed(main + bleed, SR, strength=0.95)
    residual = out - main
    cut_db = 10 * np.log10(np.sum(bleed[0, pauses] ** 2) / np.sum(residual[0, pauses] ** 2))
    assert cut_db >= 10.0, cut_db  # measured 15.9 dB
    assert si_sdr_db(main, out) >= si_sdr_db(main, main + bleed)  # no worse overall
    assert si_sdr_db(main, suppress_bleed(main, SR, strength=0.95)) > 30.0  # gentle on the voice alone


def test_strength_zero_is_identity(take):
    main, bleed, _ = take
    x = (main + bleed).astype(np.float32)
    assert np.array_equal(suppress_bleed(x, SR, strength=0.0), x)


@pytest.mark.parametrize("mode", ["single_pass", "left_right", "mid_sides", "mono"])
def test_preset_denoise_debleed(take, mode):
    main, bleed, pauses = take
    x = np.repeat(main + bleed, 2, axis=0).astype(np.float32)
    out, report = restore(Audio(x, SR), RestoreSettings(preset="denoise_debleed", stereo_mode=mode))
    assert out.samples.shape == x.shape and out.samples.dtype == np.float32
    assert report.backend.endswith("+spectral_expander") and "debleed" in report.repairs
    assert report.metrics["bleed_energy_removed_db"] > 0.0
    assert np.sum(out.samples[:, pauses].astype(np.float64) ** 2) < 0.5 * np.sum(x[:, pauses].astype(np.float64) ** 2)
