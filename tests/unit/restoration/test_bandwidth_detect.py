"""bandwidth.detect_cutoff_hz against known cutoffs."""

import numpy as np
import pytest

from mastertape.restoration.bandwidth import detect_cutoff_hz
from tests.signals import music_like, pink_noise
from tests.unit.restoration.bw_signals import bright_music, lowpass_elliptic, lowpass_fft
from tests.unit.restoration.space_signals import voice_like

SR = 44100


@pytest.mark.parametrize("cutoff_hz", [4000.0, 8000.0, 11000.0, 16000.0])
@pytest.mark.parametrize("lowpass", [lowpass_fft, lowpass_elliptic], ids=["brickwall", "elliptic"])
@pytest.mark.parametrize("make", [lambda: bright_music(6.0, SR), lambda: pink_noise(6.0, SR).samples],
                         ids=["music", "pink"])
def test_known_cutoff_is_found(cutoff_hz, lowpass, make):
    y = lowpass(make(), SR, cutoff_hz)
    found = detect_cutoff_hz(y, SR)
    assert found is not None
    assert abs(found - cutoff_hz) <= 0.04 * cutoff_hz, found


@pytest.mark.parametrize("make", [lambda: bright_music(6.0, SR), lambda: music_like(6.0, SR).samples,
                                  lambda: pink_noise(6.0, SR).samples, lambda: voice_like(6.0, SR, seed=2)],
                         ids=["music", "music_like", "pink", "voice"])
def test_full_band_gives_none(make):
    assert detect_cutoff_hz(make(), SR) is None


def test_silence_and_short_input_give_none():
    assert detect_cutoff_hz(np.zeros((2, SR), np.float32), SR) is None
    assert detect_cutoff_hz(np.ones((1, 100), np.float32), SR) is None


def test_cutoff_in_one_channel_of_48k_mono():
    x = pink_noise(4.0, 48000, channels=1).samples
    found = detect_cutoff_hz(lowpass_fft(x, 48000, 12000.0), 48000)
    assert found is not None and abs(found - 12000.0) <= 480.0
