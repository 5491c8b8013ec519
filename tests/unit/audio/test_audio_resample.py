"""resample (soxr VHQ): length, level and frequency kept, no aliasing, channels independent."""

from __future__ import annotations

import numpy as np
import pytest

from mastertape.audio import Audio, resample
from tests.signals import sine


def _peak_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spec)])


@pytest.mark.parametrize(("src", "dst"), [(44100, 48000), (48000, 44100), (96000, 48000), (22050, 48000)])
def test_sine_keeps_frequency_level_and_length(src: int, dst: int) -> None:
    audio = sine(1000.0, dbfs=-6.0, seconds=1.0, sample_rate=src, channels=2)
    out = resample(audio, dst)
    assert out.sample_rate == dst and out.channels == 2
    assert out.samples.dtype == np.float32 and out.samples.flags["C_CONTIGUOUS"]
    assert out.frames == round(audio.frames * dst / src)
    mid = out.samples[0, dst // 10 : -dst // 10]
    assert abs(20 * np.log10(np.max(np.abs(mid))) - (-6.0)) < 0.01
    assert abs(_peak_hz(mid, dst) - 1000.0) < 2.0


def test_content_above_the_new_nyquist_is_removed() -> None:
    """23 kHz at 48 kHz has no place at 44.1 kHz (Nyquist 22.05 kHz): it must vanish, not fold to 21.1 kHz."""
    audio = sine(23000.0, dbfs=0.0, seconds=0.5, sample_rate=48000, channels=1)
    out = resample(audio, 44100).samples[0, 4410:-4410]
    assert 20 * np.log10(np.sqrt(np.mean(out.astype(np.float64) ** 2)) + 1e-20) < -100.0


def test_channels_are_resampled_independently() -> None:
    left = sine(440.0, dbfs=-12.0, seconds=0.5, sample_rate=44100, channels=1).samples[0]
    right = sine(3000.0, dbfs=-12.0, seconds=0.5, sample_rate=44100, channels=1).samples[0]
    out = resample(Audio(np.stack([left, right]), 44100), 48000)
    assert abs(_peak_hz(out.samples[0], 48000) - 440.0) < 3.0
    assert abs(_peak_hz(out.samples[1], 48000) - 3000.0) < 3.0


def test_same_rate_is_a_no_op_and_float64_comes_back_float32() -> None:
    audio = sine(seconds=0.1, sample_rate=48000)
    assert resample(audio, 48000) is audio
    out = resample(Audio(audio.samples.astype(np.float64), 48000), 44100)
    assert out.samples.dtype == np.float32


@pytest.mark.parametrize("bad", [0, -44100, 44100.5])
def test_invalid_rate(bad: float) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        resample(sine(seconds=0.1), bad)
