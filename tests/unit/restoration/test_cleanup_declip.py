"""Clipping detection and A-SPADE declipping on generated audio."""

import numpy as np
import pytest

from mastertape.audio.types import Audio
from mastertape.dsp.metrics import sdr_db
from mastertape.restoration import RestoreSettings, restore
from mastertape.restoration.declip import declip_samples, detect_clipping
from tests.signals import music_like, sine
from tests.unit.restoration.cleanup_signals import clip_to_sdr, hard_clip


@pytest.fixture(scope="module")
def music():
    return music_like(seconds=3.0, seed=3).samples.astype(np.float64)


def test_no_clipping_found_in_clean_signals(music):
    for x in (music, sine(50, 0.0, 2.0).samples, sine(997, -0.1, 2.0).samples, np.zeros((2, 1000))):
        info = detect_clipping(x)
        assert info.clipped_fraction == 0.0
        assert not info.is_clipped


def test_detects_symmetric_and_asymmetric_clipping(music):
    level = 0.5 * float(np.max(np.abs(music)))
    y = hard_clip(music, level)
    info = detect_clipping(y)
    truth = np.abs(music) > level
    assert info.mask is not None
    assert np.count_nonzero(info.mask & ~truth) == 0  # no reliable sample flagged
    assert np.array_equal(info.mask[0], truth[0] | (np.abs(y[0]) >= level))
    assert info.threshold[0] == pytest.approx(level, rel=1e-6)
    # asymmetric: only the positive side clipped
    y2 = np.minimum(music, level).astype(np.float32)
    info2 = detect_clipping(y2)
    assert np.isfinite(info2.upper[0]) and np.isinf(info2.lower[0])


def test_declip_improves_sdr_keeps_reliable_samples_and_is_consistent(music):
    x = music[:1]
    y, level = clip_to_sdr(x, 8.0)
    info = detect_clipping(y)
    z = declip_samples(y, 44100, info)
    assert z.dtype == y.dtype and z.shape == y.shape
    assert np.array_equal(z[~info.mask], y[~info.mask])  # reliable samples bit-exact
    hi = info.mask & (y > 0)
    lo = info.mask & (y < 0)
    assert np.all(z[hi] >= level * (1 - 1e-6)) and np.all(z[lo] <= -level * (1 - 1e-6))
    gain = sdr_db(x, z) - sdr_db(x, y)
    assert gain >= 4.0, gain  # measured +7.9 dB


def test_preset_declip_strength_and_report(music):
    y, _ = clip_to_sdr(music, 12.0)
    audio = Audio(y.astype(np.float32), 44100)
    full, report = restore(audio, RestoreSettings(preset="declip", strength=1.0))
    half, _ = restore(audio, RestoreSettings(preset="declip", strength=0.5))
    none, _ = restore(audio, RestoreSettings(preset="declip", strength=0.0))
    assert report.backend == "a_spade" and report.repairs == ("declip",)
    assert report.metrics["clipped_fraction"] > 0.05
    assert full.samples.shape == y.shape and full.samples.dtype == np.float32
    assert np.array_equal(none.samples, audio.samples)
    np.testing.assert_allclose(half.samples - y, 0.5 * (full.samples - y), atol=1e-6)
    assert sdr_db(music, full.samples) > sdr_db(music, y) + 4.0


def test_preset_declip_leaves_clean_audio_untouched(music):
    audio = Audio(music.astype(np.float32), 44100)
    out, report = restore(audio, RestoreSettings(preset="declip"))
    assert np.array_equal(out.samples, audio.samples)
    assert report.repairs == ()
