"""Registry entries of the cleanup presets and their common contract."""

import numpy as np
import pytest

from mastertape.audio.types import Audio
from mastertape.restoration import RestoreSettings, deepfilter, get, restore
from tests.signals import music_like

CLEANUP = ("declip", "denoise", "denoise_debleed", "dialogue_isolate")


@pytest.mark.parametrize("name", CLEANUP)
def test_registered_with_description_backend_and_fields(name):
    spec = get(name)
    assert spec.description and spec.backend
    assert "strength" in spec.fields
    assert callable(spec.function())


def test_declip_documents_that_it_ignores_stereo_mode():
    assert "stereo_mode" not in get("declip").fields


@pytest.mark.parametrize("name", CLEANUP)
def test_contract_same_shape_rate_float32_finite(name):
    if name == "dialogue_isolate" and deepfilter.deepfilter_unavailable_reason() is not None:
        pytest.skip("DeepFilterNet3 runtime not installed")
    audio = music_like(seconds=3.0, seed=6)
    for samples in (audio.samples, audio.samples[:1]):
        out, report = restore(Audio(samples, audio.sample_rate), RestoreSettings(preset=name))
        assert out.sample_rate == audio.sample_rate
        assert out.samples.shape == samples.shape and out.samples.dtype == np.float32
        assert np.all(np.isfinite(out.samples))
        assert report.preset == name and report.backend
        assert report.elapsed_s > 0.0
