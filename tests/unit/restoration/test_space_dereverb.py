"""Dereverberation (restoration/dereverb.py): RT60 estimate, WPE + late-reverb subtraction, content routing.

The speech figures on real recordings come from benchmarks/restoration.py; here a synthetic talker
(space_signals.voice_like) is reverberated by a generated room response (direct path + exponentially
decaying noise, RT60 0.6 s, DRR 0 dB).
"""

import numpy as np
import pytest

from mastertape.audio import Audio
from mastertape.dsp.metrics import si_sdr_db
from mastertape.restoration import RestoreSettings, content, dereverb
from tests.signals import music_like
from tests.unit.restoration.space_signals import reverberate, room_response, voice_like

needs_wpe = pytest.mark.skipif(
    dereverb.wpe_unavailable_reason() is not None, reason=str(dereverb.wpe_unavailable_reason())
)


@pytest.fixture(scope="module")
def voice16():
    return voice_like(6.0, 16000, seed=0).astype(np.float64)


@pytest.mark.parametrize("rt60_s", [0.3, 0.6, 1.0])
def test_rt60_estimate_follows_the_room(voice16, rt60_s):
    wet = reverberate(voice16, room_response(rt60_s, 16000))
    est = dereverb.estimate_rt60(wet, 16000)
    assert est.rt60_s is not None and est.decays >= dereverb.RT60_MIN_DECAYS
    assert 0.7 * rt60_s <= est.rt60_s <= 1.25 * rt60_s


def test_rt60_of_a_dry_voice_is_short(voice16):
    assert dereverb.estimate_rt60(voice16, 16000).rt60_s < 0.25


@needs_wpe
def test_wpe_plus_post_filter_gains_on_reverberant_speech(voice16):
    wet = reverberate(voice16, room_response(0.6, 16000, drr_db=0.0))
    rt60 = dereverb.estimate_rt60(wet, 16000).rt60_s
    wpe_only = dereverb.wpe_dereverb(wet, 16000)
    both = dereverb.suppress_late_reverb(wpe_only, 16000, rt60, floor_db=dereverb.SPEECH_FLOOR_DB)
    before = si_sdr_db(voice16, wet)
    assert si_sdr_db(voice16, wpe_only) > before + 0.5
    assert si_sdr_db(voice16, both) > before + 2.0
    assert both.shape == wet.shape and np.all(np.isfinite(both))


def test_late_reverb_subtraction_never_hurts_reverberant_music():
    dry = music_like(8.0, 44100).samples.astype(np.float64)
    wet = reverberate(dry, room_response(0.6, 44100))
    rt60 = dereverb.estimate_rt60(wet, 44100).rt60_s
    out = dereverb.suppress_late_reverb(wet, 44100, rt60, floor_db=dereverb.MUSIC_FLOOR_DB)
    assert si_sdr_db(dry, out) >= si_sdr_db(dry, wet) - 0.5


def _decision(p):
    return content.ContentDecision(speech_probability=p, is_speech=p >= 0.5, method="test")


@needs_wpe
def test_speech_is_routed_to_wpe(monkeypatch, voice16):
    monkeypatch.setattr(content, "analyse_content", lambda x, sr, use_model=True: _decision(0.93))
    wet = reverberate(voice16, room_response(0.6, 16000)).astype(np.float32)
    out, report = dereverb.run_dereverb(Audio(wet, 16000), RestoreSettings(preset="dereverb"))
    assert report.backend == "wpe+late_reverb_subtraction"
    assert report.metrics["speech_probability"] == pytest.approx(0.93)
    assert 0.4 < report.metrics["rt60_used_s"] < 0.8
    assert out.samples.dtype == np.float32 and out.samples.shape == wet.shape
    assert si_sdr_db(voice16, out.samples) > si_sdr_db(voice16, wet) + 2.0


def test_music_is_routed_to_spectral_subtraction(monkeypatch):
    monkeypatch.setattr(content, "analyse_content", lambda x, sr, use_model=True: _decision(0.02))
    dry = music_like(6.0, 44100).samples
    wet = reverberate(dry, room_response(0.6, 44100)).astype(np.float32)
    for mode in ("single_pass", "mid_sides"):
        out, report = dereverb.run_dereverb(
            Audio(wet, 44100), RestoreSettings(preset="dereverb", stereo_mode=mode)
        )
        assert report.backend == "late_reverb_subtraction"
        assert "not speech" in report.notes[-1]
        assert si_sdr_db(dry, out.samples) >= si_sdr_db(dry, wet) - 0.5


def test_strength_zero_returns_the_input(monkeypatch):
    monkeypatch.setattr(content, "analyse_content", lambda x, sr, use_model=True: _decision(0.0))
    x = music_like(3.0, 44100).samples
    out, report = dereverb.run_dereverb(Audio(x, 44100), RestoreSettings(preset="dereverb", strength=0.0))
    np.testing.assert_array_equal(out.samples, x)
    assert report.repairs == ()
