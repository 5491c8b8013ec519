"""Mid/side conversion and stereo width."""

from __future__ import annotations

import numpy as np
import pytest

from mastertape.dsp.spectrum import side_to_mid_ratio_db
from mastertape.dsp.stereo import apply_width, left_right, mid_side, side_to_mid_energy_ratio
from tests.signals import music_like


def _stereo() -> np.ndarray:
    return music_like(4.0, 44100, stereo_width=0.8).samples


def test_mid_side_round_trip_is_exact_for_float32_signals():
    x = _stereo()
    ms = mid_side(x)
    np.testing.assert_allclose(ms[0], (x[0].astype(np.float64) + x[1]) / 2, atol=1e-7)
    np.testing.assert_allclose(ms[1], (x[0].astype(np.float64) - x[1]) / 2, atol=1e-7)
    np.testing.assert_allclose(left_right(ms), x, atol=1e-7)


def test_width_zero_makes_mono_one_keeps_two_doubles_the_side():
    x = _stereo()
    mono = apply_width(x, 0.0)
    np.testing.assert_array_equal(mono[0], mono[1])
    np.testing.assert_allclose(apply_width(x, 1.0), x, atol=1e-7)
    ratio = side_to_mid_energy_ratio(x)
    assert ratio > 0.0
    assert side_to_mid_energy_ratio(apply_width(x, 2.0)) == pytest.approx(4 * ratio, rel=1e-4)
    assert side_to_mid_energy_ratio(mono) == 0.0


def test_narrowing_lowers_the_side_to_mid_ratio_in_every_band():
    x = _stereo()
    before = side_to_mid_ratio_db(x, 44100, 20000.0)
    after = side_to_mid_ratio_db(apply_width(x, 0.5), 44100, 20000.0)
    assert after == pytest.approx(before - 6.02, abs=0.05)


def test_mono_input_passes_and_bad_input_is_refused():
    x = music_like(1.0, 44100).samples[:1]
    np.testing.assert_array_equal(apply_width(x, 0.3), x)
    with pytest.raises(ValueError):
        mid_side(x)
    with pytest.raises(ValueError):
        apply_width(_stereo(), -1.0)
