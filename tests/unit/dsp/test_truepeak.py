"""True peak (BS.1770-4 Annex 2): known inter-sample peaks, block-wise equals direct, and FFmpeg agreement."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mastertape.dsp.truepeak import (
    TAPS_PER_PHASE,
    interpolation_taps,
    oversampled_peak_envelope,
    oversampling_factor,
    true_peak,
    true_peak_dbtp,
)
from mastertape.errors import InvalidAudioValues
from tests.ffmpeg_ref import ebur128_samples
from tests.signals import music_like, pink_noise


def faded_sine(freq_hz: float, peak: float, phase_deg: float, sample_rate: int, seconds: float = 1.0,
               channels: int = 2) -> np.ndarray:
    """Sine with 20 ms raised-cosine fades: an abrupt onset would add a genuine (Gibbs) overshoot."""
    n = int(seconds * sample_rate)
    x = peak * np.sin(2 * np.pi * freq_hz * np.arange(n) / sample_rate + np.deg2rad(phase_deg))
    ramp = np.sin(np.linspace(0, np.pi / 2, int(0.02 * sample_rate))) ** 2
    x[:ramp.size] *= ramp
    x[-ramp.size:] *= ramp[::-1]
    return np.tile(x, (channels, 1))


def direct_envelope(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Reference: each branch as a plain correlation over the zero-padded signal (no blocks, float64)."""
    factor = oversampling_factor(sample_rate)
    taps = interpolation_taps(factor)
    half = TAPS_PER_PHASE // 2
    env = np.abs(x.astype(np.float64))
    for c in range(x.shape[0]):
        padded = np.pad(x[c].astype(np.float64), (half - 1, half))
        for branch in taps:
            env[c] = np.maximum(env[c], np.abs(np.correlate(padded, branch, mode="valid")))
    return env


@pytest.mark.parametrize(("sample_rate", "factor"), [
    (32000, 4), (44100, 4), (48000, 4), (88200, 4), (96000, 2), (176400, 1), (192000, 1)])
def test_oversampling_factor_follows_annex2(sample_rate, factor):
    assert oversampling_factor(sample_rate) == factor


@pytest.mark.parametrize("sample_rate", [44100, 48000, 96000])
@pytest.mark.parametrize(("divisor", "phase_deg"), [(4, 45.0), (6, 60.0), (8, 67.5)])
def test_intersample_peak_of_phase_shifted_sine(sample_rate, divisor, phase_deg):
    """EBU Tech 3341 true-peak cases: the analog peak falls half-way between two samples."""
    peak = 10 ** (-6 / 20)
    x = faded_sine(sample_rate / divisor, peak, phase_deg, sample_rate)
    sample_peak_db = 20 * np.log10(np.abs(x).max())
    if divisor == 4:
        assert sample_peak_db == pytest.approx(-9.01, abs=0.01)  # the samples miss the peak by 3 dB
    assert sample_peak_db < -6.2
    assert true_peak_dbtp(x, sample_rate) == pytest.approx(-6.0, abs=0.2)
    np.testing.assert_allclose(20 * np.log10(true_peak(x, sample_rate)), -6.0, atol=0.2)


def test_no_oversampling_from_176k():
    x = faded_sine(48000.0, 0.5, 45.0, 192000)
    assert true_peak(x, 192000)[0] == pytest.approx(np.abs(x).max())


def test_branches_have_unit_dc_gain_and_mirror_each_other():
    taps = interpolation_taps(4)
    assert taps.shape == (3, TAPS_PER_PHASE)
    np.testing.assert_allclose(taps.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(taps[2], taps[0][::-1], atol=1e-12)  # 3/4 is 1/4 reversed
    np.testing.assert_allclose(taps[1], taps[1][::-1], atol=1e-12)  # 1/2 is symmetric


def test_interpolated_points_sit_on_the_analog_waveform():
    sample_rate = 48000
    x = faded_sine(5000.0, 0.5, 10.0, sample_rate, channels=1)
    env = oversampled_peak_envelope(x, sample_rate)[0]
    n = np.arange(x.shape[1])
    fine = np.arange(4)[:, None] / 4 + n[None, :]
    analog = np.abs(0.5 * np.sin(2 * np.pi * 5000.0 * fine / sample_rate + np.deg2rad(10.0))).max(axis=0)
    mid = slice(2000, -2000)  # away from the fades
    np.testing.assert_allclose(env[mid], analog[mid], atol=2e-4)


def test_envelope_equals_direct_computation_across_batches():
    x = pink_noise(3.0, 44100, 2, -10.0, seed=4).samples  # 132300 frames: several batches of blocks
    env = oversampled_peak_envelope(x, 44100)
    ref = direct_envelope(x, 44100)
    assert env.shape == x.shape and env.dtype == np.float32
    np.testing.assert_allclose(env, ref, atol=2e-6)
    np.testing.assert_allclose(true_peak(x, 44100), ref.max(axis=1), atol=2e-6)
    assert np.all(env >= np.abs(x))
    assert env.max() == pytest.approx(true_peak(x, 44100).max(), abs=1e-7)


@settings(max_examples=25, deadline=None)
@given(frames=st.integers(1, 20000), channels=st.sampled_from([1, 2]), seed=st.integers(0, 10**6),
       sample_rate=st.sampled_from([44100, 96000]))
def test_any_length_matches_direct_computation(frames, channels, seed, sample_rate):
    x = np.random.default_rng(seed).uniform(-1, 1, (channels, frames)).astype(np.float32)
    ref = direct_envelope(x, sample_rate)
    np.testing.assert_allclose(oversampled_peak_envelope(x, sample_rate), ref, atol=5e-6)
    np.testing.assert_allclose(true_peak(x, sample_rate), ref.max(axis=1), atol=5e-6)


def test_memory_stays_bounded():
    x = pink_noise(60.0, 48000, 1, -10.0).samples  # 11.5 MB; 4x oversampled it would be 46 MB
    tracemalloc.start()
    try:
        true_peak(x, 48000)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak_bytes < 8e6


def test_silence_and_bad_values():
    assert true_peak_dbtp(np.zeros((2, 1000), dtype=np.float32), 48000) == -math.inf
    assert true_peak_dbtp(np.zeros((2, 0), dtype=np.float32), 48000) == -math.inf
    bad = np.zeros((1, 100))
    bad[0, 5] = np.inf
    with pytest.raises(InvalidAudioValues):
        true_peak(bad, 48000)


def _clipped(kind: str, sample_rate: int) -> np.ndarray:
    if kind == "clipped_music":
        return np.clip(music_like(6.0, sample_rate, level_db=-8.0).samples * 3.0, -0.9, 0.9)
    return np.clip(pink_noise(6.0, sample_rate, 2, -12.0, seed=2).samples * 4.0, -1.0, 1.0)


@pytest.mark.parametrize("sample_rate", [44100, 48000])
@pytest.mark.parametrize("kind", ["clipped_music", "clipped_pink"])
def test_hard_clipped_audio_tracks_ffmpeg(kind, sample_rate, tmp_path):
    """Clipped audio has its spectrum up to Nyquist and inter-sample peaks of several dB, where the
    interpolation filter matters most."""
    x = _clipped(kind, sample_rate)
    ours = true_peak_dbtp(x, sample_rate)
    assert ours > 20 * np.log10(np.abs(x).max()) + 1.0  # real inter-sample overs
    assert ours == pytest.approx(ebur128_samples(x, sample_rate, tmp_path).true_peak_dbtp, abs=0.2)
