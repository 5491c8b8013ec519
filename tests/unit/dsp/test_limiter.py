"""Look-ahead true-peak limiter: no true peak gets through, block-wise equals one call, timing behaves."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mastertape.dsp.limiter import (
    LimiterSettings,
    LookaheadLimiter,
    detector_level_db,
    limiter_gain,
    sliding_max,
    true_peak_limit,
)
from mastertape.dsp.truepeak import true_peak_dbtp
from tests.signals import music_like, pink_noise


@pytest.mark.parametrize("window", [1, 2, 3, 7, 64, 100, 1000])
def test_sliding_max_equals_brute_force(window):
    x = np.random.default_rng(0).random(5000).astype(np.float32)
    ref = np.lib.stride_tricks.sliding_window_view(x, window).max(axis=1)
    np.testing.assert_array_equal(sliding_max(x, window), ref)
    assert sliding_max(x[: window - 1], window).size == 0


@pytest.mark.parametrize("ceiling", [-1.0, -0.1, -6.0])
def test_no_true_peak_gets_through_on_hot_music(ceiling):
    sr = 44100
    x = music_like(8.0, sr, level_db=-6.0).samples * np.float32(3.0)  # about +12 dBTP
    assert true_peak_dbtp(x, sr) > 8.0
    y, gr = true_peak_limit(x, sr, ceiling, margin_db=0.0)
    assert true_peak_dbtp(y, sr) <= ceiling + 1e-3
    assert gr > 8.0


def test_no_true_peak_gets_through_on_intersample_peaks_and_a_peak_at_the_start():
    sr = 48000
    t = np.arange(sr) / sr
    # fs/4 sine at 45 degrees: samples at 0.707 of the peak, the true peak 3 dB above them
    x = np.tile(np.sin(2 * np.pi * 12000 * t + np.pi / 4), (2, 1)).astype(np.float32)
    x[:, :5] = 1.0  # a full-scale burst in the very first frames (no look-ahead history)
    y, _ = true_peak_limit(x, sr, -2.0, margin_db=0.0)
    assert true_peak_dbtp(y, sr) <= -2.0 + 1e-3


def test_signal_under_the_threshold_is_untouched():
    sr = 44100
    x = pink_noise(3.0, sr, rms_dbfs=-30.0).samples
    y, gr = true_peak_limit(x, sr, -1.0)
    assert gr == 0.0
    np.testing.assert_array_equal(y, x)


def test_gain_reaches_full_reduction_before_the_peak_and_releases_after():
    sr = 48000
    level = np.full(sr, -20.0, dtype=np.float32)
    peak_at = sr // 2
    level[peak_at] = 0.0  # one 10 dB over at threshold -10
    settings_ = LimiterSettings(threshold_db=-10.0, attack_ms=2.0, release_ms=50.0, guard=16)
    gain, gr = limiter_gain(level, settings_, sr)
    gr_db = -20 * np.log10(gain.astype(np.float64))
    assert gr == pytest.approx(10.0, abs=1e-4)
    attack = int(round(0.002 * sr))
    # full reduction from `guard` frames before the peak to `guard` after
    assert np.all(gr_db[peak_at - 16 : peak_at + 17] >= 10.0 - 1e-4)
    # nothing before the look-ahead window
    assert np.all(gr_db[: peak_at - attack - 16] == 0.0)
    # exponential release: 1/e of the reduction one time constant after the hold ends
    after = peak_at + attack + 16 + int(0.05 * sr)
    assert gr_db[after] == pytest.approx(10.0 / np.e, rel=0.1)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=20000), min_size=1, max_size=10))
def test_block_wise_equals_one_call(sizes):
    sr = 44100
    x = music_like(3.0, sr, level_db=-8.0).samples * np.float32(2.0)
    level = detector_level_db(x, sr)
    reps = -(-sum(sizes) // level.size)
    level = np.tile(level, reps)[: sum(sizes)]
    cfg = LimiterSettings(threshold_db=-1.0, attack_ms=2.0, release_ms=80.0)
    whole, whole_gr = limiter_gain(level, cfg, sr)
    lim = LookaheadLimiter(cfg, sr)
    parts, pos = [], 0
    for n in sizes:
        parts.append(lim.process(level[pos : pos + n]))
        pos += n
    parts.append(lim.flush())
    blocked = np.concatenate(parts)
    assert blocked.size == whole.size
    np.testing.assert_allclose(blocked, whole, rtol=2e-6, atol=1e-7)
    assert lim.max_gain_reduction_db == pytest.approx(whole_gr)
    assert lim.latency == int(round(0.002 * sr)) + cfg.guard - 1
