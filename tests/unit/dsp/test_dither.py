"""TPDF dither and quantisation: integer grid, +-1 LSB triangular noise, deterministic for a seed."""

from __future__ import annotations

import numpy as np
import pytest

from mastertape.dsp.dither import lsb, quantize, tpdf_noise
from mastertape.errors import InvalidSetting


def _signal(frames: int = 200_000) -> np.ndarray:
    t = np.arange(frames) / 44100
    return (0.5 * np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)])).astype(np.float32)


@pytest.mark.parametrize("bits", [16, 24])
def test_output_lies_on_the_integer_grid(bits):
    y = quantize(_signal(), bits, seed=1)
    assert y.dtype == np.float32
    codes = y.astype(np.float64) * 2 ** (bits - 1)
    np.testing.assert_array_equal(codes, np.round(codes))
    assert codes.max() <= 2 ** (bits - 1) - 1 and codes.min() >= -(2 ** (bits - 1))


def test_same_seed_is_bit_identical_and_another_seed_differs():
    x = _signal()
    a, b, c = quantize(x, 16, seed=7), quantize(x, 16, seed=7), quantize(x, 16, seed=8)
    assert a.tobytes() == b.tobytes()
    assert np.count_nonzero(a != c) > 0.3 * a.size


def test_tpdf_noise_is_triangular_within_one_lsb():
    d = tpdf_noise(np.random.Generator(np.random.PCG64(0)), 500_000, 2).astype(np.float64)
    assert d.shape == (2, 500_000)
    assert np.abs(d).max() < 1.0
    assert abs(d.mean()) < 2e-3
    assert d.var() == pytest.approx(1 / 6, rel=0.01)  # two uniforms of variance 1/12 each
    hist, _ = np.histogram(d, bins=10, range=(-1, 1))
    expected = np.array([1, 3, 5, 7, 9, 9, 7, 5, 3, 1]) / 50 * d.size
    np.testing.assert_allclose(hist, expected, rtol=0.02)


def test_error_is_signal_independent_noise_of_a_quarter_lsb_squared():
    x = _signal()
    step = lsb(16)
    err = (quantize(x, 16, seed=3).astype(np.float64) - x.astype(np.float64)) / step
    assert abs(err.mean()) < 5e-3
    assert err.var() == pytest.approx(0.25, rel=0.02)  # 1/12 rounding + 1/6 TPDF
    assert np.abs(err).max() <= 1.5 + 1e-9


def test_dither_keeps_a_tone_below_one_lsb():
    t = np.arange(400_000) / 44100
    tone = (0.4 * lsb(16) * np.sin(2 * np.pi * 1000 * t))[None, :].astype(np.float32)
    undithered = np.round(tone.astype(np.float64) / lsb(16))
    assert not undithered.any()  # plain rounding erases it
    y = quantize(tone, 16, seed=0).astype(np.float64)
    ref = np.sin(2 * np.pi * 1000 * t)
    amplitude = 2 * np.mean(y[0] * ref) / lsb(16)
    assert amplitude == pytest.approx(0.4, abs=0.02)


def test_gain_is_applied_before_rounding_and_float_output_is_not_dithered():
    x = _signal(10_000)
    np.testing.assert_array_equal(quantize(x, 32, gain=0.5), x * np.float32(0.5))
    y = quantize(x, 24, seed=0, gain=0.5)
    assert np.abs(y - 0.5 * x).max() <= 1.5 * lsb(24)
    out = x.copy()
    assert quantize(out, 24, seed=0, out=out) is out
    np.testing.assert_array_equal(out, quantize(x, 24, seed=0))


def test_rejects_other_bit_depths():
    with pytest.raises(InvalidSetting) as err:
        quantize(_signal(100), 20)
    assert err.value.field == "bit_depth"
