"""Vectorised envelope recursions, compressor curve, multiband compressor, and the saturation stage."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from mastertape.dsp.dynamics import (
    BandCompressorSettings,
    MultibandCompressor,
    gain_reduction_db,
    one_pole,
    peak_release,
    time_constant_coeff,
)
from mastertape.dsp.saturation import soft_saturate


def _release_loop(u: np.ndarray, c: float, state: float) -> np.ndarray:
    out = np.empty_like(u, dtype=np.float64)
    for i, v in enumerate(u):
        state = max(v, c * state)
        out[i] = state
    return out


@pytest.mark.parametrize("coeff", [0.0, 0.5, 0.97, 0.99995])
def test_one_pole_equals_lfilter(coeff):
    u = np.random.default_rng(0).random(20000) * 12.0
    y, last = one_pole(u, coeff, 3.0)
    ref, _ = scipy.signal.lfilter([1 - coeff], [1, -coeff], u, zi=[coeff * 3.0])
    np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-9)
    assert last == pytest.approx(ref[-1])


@pytest.mark.parametrize("coeff", [0.0, 0.9, 0.999, 0.99999])
def test_peak_release_equals_the_recursion(coeff):
    u = np.random.default_rng(1).random(20000) ** 8 * 20.0
    y, last = peak_release(u, coeff, 5.0)
    np.testing.assert_allclose(y, _release_loop(u, coeff, 5.0), rtol=1e-12, atol=1e-12)
    y32, _ = peak_release(u.astype(np.float32), coeff, 5.0)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, _release_loop(u, coeff, 5.0), rtol=3e-7, atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=10),
    st.floats(min_value=0.5, max_value=0.9999),
)
def test_recursions_block_wise_equal_one_call(sizes, coeff):
    u = np.random.default_rng(2).random(sum(sizes)) * 10.0
    whole_p, _ = peak_release(u, coeff, 0.0)
    whole_o, _ = one_pole(u, coeff, 0.0)
    parts_p, parts_o, sp, so, pos = [], [], 0.0, 0.0, 0
    for n in sizes:
        p, sp = peak_release(u[pos : pos + n], coeff, sp)
        o, so = one_pole(u[pos : pos + n], coeff, so)
        parts_p.append(p)
        parts_o.append(o)
        pos += n
    np.testing.assert_allclose(np.concatenate(parts_p), whole_p, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.concatenate(parts_o), whole_o, rtol=1e-10, atol=1e-10)


def test_static_curve_hard_and_soft_knee():
    level = np.linspace(-40, 10, 501)
    hard = gain_reduction_db(level, -10.0, 4.0, 0.0)
    assert np.all(hard[level <= -10.0] == 0.0)
    above = level > -10.0
    np.testing.assert_allclose(hard[above], (level[above] + 10.0) * 0.75)
    soft = gain_reduction_db(level, -10.0, 4.0, 6.0)
    assert np.all(soft[level <= -13.0] == 0.0)
    np.testing.assert_allclose(soft[level >= -7.0], hard[level >= -7.0])
    assert np.all(np.diff(soft) >= -1e-12)  # monotonic, continuous through the knee
    assert np.abs(np.diff(soft)).max() < 0.1


def _bands_signal(seconds: float, sr: int, amps=(0.5, 0.05)) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    sig = np.stack([a * np.sin(2 * np.pi * f * t) for a, f in zip(amps, (100.0, 3000.0), strict=True)])
    return np.repeat(sig[:, None, :], 2, axis=1).astype(np.float32)  # (bands, channels, frames)


def test_compressor_reaches_the_static_curve_and_leaves_quiet_bands_alone():
    sr = 48000
    bands = _bands_signal(3.0, sr)
    cfg = BandCompressorSettings(threshold_db=0.0, ratio=3.0, knee_db=0.0, attack_ms=5.0, release_ms=50.0)
    level_loud = 10 * np.log10(2 * 0.5**2 / 2)  # energy summed over 2 channels, sine mean square a^2/2
    comp = MultibandCompressor([cfg, cfg], np.array([level_loud - 6.0, level_loud + 20.0]), sr, 32)
    gains = comp.process(bands)
    settled = 20 * np.log10(gains[:, -sr // 2 :])
    assert settled[0].mean() == pytest.approx(-6.0 * (1 - 1 / 3), abs=0.15)
    assert np.all(gains[1] == 1.0)
    assert comp.max_gain_reduction_db[0] == pytest.approx(4.0, abs=0.2)
    assert comp.max_gain_reduction_db[1] == 0.0


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=9000), min_size=1, max_size=8))
def test_compressor_block_wise_equals_one_call(sizes):
    sr = 44100
    rng = np.random.default_rng(3)
    frames = sum(sizes)
    bands = (rng.standard_normal((3, 2, frames)) * np.array([0.3, 0.1, 0.05])[:, None, None]).astype(
        np.float32
    )
    bands *= (1.0 + np.sin(np.arange(frames) / 2000.0)).astype(np.float32)
    cfgs = [BandCompressorSettings(-6.0, 2.0, 6.0, a, r) for a, r in ((30, 250), (15, 150), (8, 100))]
    ref = np.array([-10.0, -20.0, -26.0])
    whole = MultibandCompressor(cfgs, ref, sr, 30).process(bands)
    comp = MultibandCompressor(cfgs, ref, sr, 30)
    parts, pos = [], 0
    for n in sizes:
        parts.append(comp.process(bands[:, :, pos : pos + n]))
        pos += n
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, rtol=1e-5, atol=1e-6)


def test_compressor_attack_and_release_follow_their_time_constants():
    sr = 48000
    burst = np.zeros((1, 2, 2 * sr), dtype=np.float32)
    t = np.arange(sr) / sr
    burst[0, :, :sr] = 0.5 * np.sin(2 * np.pi * 200 * t)
    cfg = BandCompressorSettings(
        threshold_db=-20.0, ratio=10.0, knee_db=0.0, attack_ms=20.0, release_ms=200.0, rms_ms=1.0
    )
    comp = MultibandCompressor([cfg], np.array([0.0]), sr, 32)
    gr = -20 * np.log10(comp.process(burst)[0])
    full = gr[sr - 100]
    assert full > 10.0
    # attack: about 1 - 1/e of the full reduction after one time constant
    assert 0.5 * full < gr[int(0.02 * sr)] < 0.75 * full
    # release: about 1/e left one time constant after the burst
    assert 0.25 * full < gr[sr + int(0.2 * sr)] < 0.45 * full
    assert time_constant_coeff(0.0, sr) == 0.0


def test_saturation_is_transparent_at_low_level_and_bends_loud_peaks():
    x = np.linspace(-2.0, 2.0, 4001, dtype=np.float32)[None, :]
    y = soft_saturate(x, drive=2.0, mix=1.0, reference=1.0)
    small = np.abs(x) < 0.01
    np.testing.assert_allclose(y[small], x[small], rtol=1e-3, atol=1e-7)
    assert np.abs(y).max() < 0.5 + 1e-6  # tanh limit: reference / drive
    assert np.all(np.diff(y[0]) > 0)  # monotonic, odd
    np.testing.assert_allclose(y[0], -y[0][::-1], atol=1e-6)
    half = soft_saturate(x, drive=2.0, mix=0.5, reference=1.0)
    np.testing.assert_allclose(half, 0.5 * x + 0.5 * y, atol=1e-6)
    np.testing.assert_array_equal(soft_saturate(x, drive=2.0, mix=0.0, reference=1.0), x)
