"""Speech/music decision on generated material (content.py).

What this can tell: a vowel-like synthetic voice with syllables and pauses from the synthetic music of
tests.signals, clean or with moderate noise. It cannot prove the decision on real recordings (that is
measured on ../shared/audio, see content.py).
"""

import numpy as np
import pytest

from mastertape.restoration import content, deepfilter
from tests.signals import music_like
from tests.unit.restoration.cleanup_signals import add_noise, speech_like

SR = 44100
needs_dfn = pytest.mark.skipif(deepfilter.deepfilter_unavailable_reason() is not None,
                               reason=str(deepfilter.deepfilter_unavailable_reason()))


@pytest.fixture(scope="module")
def voice():
    return speech_like(seconds=6.0, sample_rate=SR, seed=1)


@pytest.fixture(scope="module")
def music():
    return music_like(seconds=6.0, seed=4).samples


@needs_dfn
def test_model_decision_speech_vs_music(voice, music):
    d_voice = content.analyse_content(voice, SR)
    d_music = content.analyse_content(music, SR)
    assert d_voice.method == "deepfilternet3_retention"
    assert d_voice.is_speech and d_voice.speech_probability > 0.9
    assert not d_music.is_speech and d_music.speech_probability < 0.1
    assert d_voice.speech_retention_db > -3.0 > -20.0 > d_music.speech_retention_db


@needs_dfn
def test_model_decision_with_noise(voice, music):
    assert content.is_speech(add_noise(voice, 10.0), SR)
    assert not content.is_speech(add_noise(music, 20.0), SR)


def test_feature_fallback_on_clean_material(voice, music):
    d_voice = content.analyse_content(voice, SR, use_model=False)
    d_music = content.analyse_content(music, SR, use_model=False)
    assert d_voice.method == "features"
    assert d_voice.speech_probability > 0.9 > 0.1 > d_music.speech_probability
    feats = dict(d_voice.features)
    assert feats["pause_ratio"] > 0.2 > dict(d_music.features)["pause_ratio"]


def test_silence_is_not_speech():
    d = content.analyse_content(np.zeros((2, SR)), SR)
    assert d.speech_probability == 0.0 and d.method == "silence"


def test_probability_is_bounded_and_stereo_agnostic(voice):
    p_mono = content.speech_probability(voice, SR)
    p_stereo = content.speech_probability(np.repeat(voice, 2, axis=0), SR)
    assert 0.0 <= p_mono <= 1.0
    assert p_stereo == pytest.approx(p_mono, abs=1e-6)
