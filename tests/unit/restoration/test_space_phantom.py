"""Phantom-centre extraction (restoration/phantom.py): a centred voice among hard-panned sources."""

import numpy as np

from mastertape.audio import Audio
from mastertape.restoration import RestoreSettings, phantom
from tests.signals import music_like, pink_noise
from tests.unit.restoration.space_signals import voice_like

SR = 44100


def _corr(a, b):
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


def test_centre_is_extracted_and_panned_sources_left_out():
    centre = voice_like(8.0, SR, seed=6)[0].astype(np.float64)
    left = music_like(8.0, SR).samples[0].astype(np.float64)[: centre.size]
    right = (
        pink_noise(8.0, SR, channels=1, seed=9, rms_dbfs=-25.0).samples[0].astype(np.float64)[: centre.size]
    )
    x = np.stack([centre + left, centre + right]).astype(np.float32)
    out, report = phantom.run_phantom_center(Audio(x, SR), RestoreSettings(preset="phantom_center"))
    y = out.samples.astype(np.float64)
    np.testing.assert_array_equal(y[0], y[1])  # the centre on both channels
    assert _corr(y[0], centre) > 0.95
    assert abs(_corr(y[0], left)) < 0.1
    assert abs(_corr(y[0], right)) < 0.1
    # the plain mid signal is far less selective: what the extraction adds
    mid = x.mean(axis=0).astype(np.float64)
    assert _corr(mid, left) > 0.3
    assert report.backend == "avendano_jot_similarity"
    assert report.metrics["residual_energy_db"] < -1.0
    assert "both channels" in report.notes[0]


def test_out_of_phase_content_is_not_centre():
    v = voice_like(4.0, SR, seed=1)[0].astype(np.float64)
    y, metrics = phantom.extract_centre(np.stack([v, -v]), SR)
    assert np.sum(y**2) < 1e-3 * np.sum(v**2)
    assert metrics["mean_similarity"] < -0.9


def test_mono_input_is_returned_unchanged():
    x = voice_like(2.0, SR)
    out, report = phantom.run_phantom_center(Audio(x, SR), RestoreSettings(preset="phantom_center"))
    np.testing.assert_array_equal(out.samples, x)
    assert report.repairs == () and "mono" in report.notes[0]
