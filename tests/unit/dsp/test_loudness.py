"""Loudness meter: BS.1770-4 / EBU Tech 3341 / Tech 3342 cases built from tones, and FFmpeg as a reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from mastertape.dsp.loudness import (
    LoudnessStats,
    energy_from_kweighted,
    integrated_loudness,
    integrated_loudness_from_energy,
    integrated_loudness_from_kweighted,
    k_weighting_sos,
    kweighted_energy,
    loudness_range,
    loudness_range_from_energy,
    measure,
    momentary_loudness,
    short_term_loudness,
)
from mastertape.errors import InvalidAudioValues, TooManyChannels, UnsupportedSampleRate
from tests.ffmpeg_ref import ebur128_samples
from tests.signals import music_like, pink_noise, sine


def tones(segments: list[tuple[float, float]], sample_rate: int = 48000, channels: int = 2,
          freq_hz: float = 997.0) -> np.ndarray:
    """Concatenated sine segments (peak dBFS, seconds) with continuous phase; -inf dBFS is silence."""
    parts = []
    start = 0
    for dbfs, seconds in segments:
        n = int(round(seconds * sample_rate))
        t = (start + np.arange(n)) / sample_rate
        amp = 0.0 if dbfs == -math.inf else 10 ** (dbfs / 20)
        parts.append(amp * np.sin(2 * np.pi * freq_hz * t))
        start += n
    return np.tile(np.concatenate(parts).astype(np.float32), (channels, 1))


def level_steps(sample_rate: int, channels: int, seconds: float = 12.0) -> np.ndarray:
    """Pink noise whose level steps every 2 s (0, -12, -4, -20, -8, +3 dB): a signal with a real LRA."""
    x = pink_noise(seconds, sample_rate, channels, -20.0, seed=3).samples.astype(np.float64)
    gains_db = np.repeat([0.0, -12.0, -4.0, -20.0, -8.0, 3.0], int(2 * sample_rate))
    gains_db = np.resize(gains_db, x.shape[1])
    return (x * 10 ** (gains_db / 20)).astype(np.float32)


# --- K-weighting -------------------------------------------------------------------------------
def test_k_weighting_reproduces_bs1770_tables_at_48k():
    sos = k_weighting_sos(48000)
    table1 = [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585]
    table2 = [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621]
    np.testing.assert_allclose(sos[0], table1, atol=1e-12)
    np.testing.assert_allclose(sos[1], table2, atol=1e-12)


@pytest.mark.parametrize("sample_rate", [44100, 96000])
def test_k_weighting_response_matches_48k_design(sample_rate):
    freqs = np.array([20.0, 50.0, 100.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0])
    ref = np.abs(scipy.signal.sosfreqz(k_weighting_sos(48000), freqs, fs=48000)[1])
    got = np.abs(scipy.signal.sosfreqz(k_weighting_sos(sample_rate), freqs, fs=sample_rate)[1])
    np.testing.assert_allclose(20 * np.log10(got / ref), 0.0, atol=0.05)
    # and it is the K curve, not something flat: -13 dB at 20 Hz, +4 dB at 10 kHz
    assert 20 * np.log10(got[0]) == pytest.approx(-13.3, abs=0.2)
    assert 20 * np.log10(got[7]) == pytest.approx(4.0, abs=0.1)


# --- calibration (EBU Tech 3341 cases 1-2 and the BS.1770-4 reference) ---------------------------------
@pytest.mark.parametrize("sample_rate", [44100, 48000, 96000])
@pytest.mark.parametrize(("dbfs", "channels", "expected_lufs"), [
    (-23.0, 2, -23.0),   # Tech 3341 case 1: stereo sine at -23 dBFS reads -23 LUFS
    (-33.0, 2, -33.0),   # Tech 3341 case 2
    (0.0, 2, 0.0),
    (-20.0, 2, -20.0),   # a -20 dBFS sine on both channels is -20 LUFS, not -23
    (-20.0, 1, -23.0),   # mono (weight 1.0, not dual-mono): 997 Hz at -20 dBFS reads -23.0 LUFS
])
def test_sine_reads_its_calibrated_loudness(sample_rate, dbfs, channels, expected_lufs):
    x = sine(997.0, dbfs, 6.0, sample_rate, channels).samples
    stats = measure(x, sample_rate)
    assert stats.integrated_lufs == pytest.approx(expected_lufs, abs=0.1)
    assert stats.max_momentary_lufs == pytest.approx(expected_lufs, abs=0.1)
    assert stats.max_short_term_lufs == pytest.approx(expected_lufs, abs=0.1)
    m = momentary_loudness(x, sample_rate)
    s = short_term_loudness(x, sample_rate)
    np.testing.assert_allclose(m, expected_lufs, atol=0.1)
    np.testing.assert_allclose(s, expected_lufs, atol=0.1)
    assert stats.loudness_range_lu == pytest.approx(0.0, abs=0.1)
    assert stats.true_peak_dbtp == pytest.approx(dbfs, abs=0.05)
    assert stats.sample_peak_dbfs == pytest.approx(dbfs, abs=0.05)
    assert stats.plr_db == pytest.approx(dbfs - expected_lufs, abs=0.15)


# --- gating (EBU Tech 3341 cases 3-5) ----------------------------------------------------------------
@pytest.mark.parametrize("segments", [
    [(-36, 10), (-23, 60), (-36, 10)],                        # case 3: relative gate
    [(-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10)],  # case 4: absolute and relative gate
    [(-26, 20), (-20, 20.1), (-26, 20)],                      # case 5
], ids=["tech3341-case3", "tech3341-case4", "tech3341-case5"])
def test_tech3341_gating_cases(segments):
    x = tones(segments)
    assert integrated_loudness(x, 48000) == pytest.approx(-23.0, abs=0.1)


def test_tone_then_silence_is_gated():
    x = tones([(-23, 10), (-math.inf, 20)])
    # ungated, the 30 s average would be 4.8 dB lower; the absolute gate drops the silent blocks
    assert integrated_loudness(x, 48000) == pytest.approx(-23.0, abs=0.1)
    m = momentary_loudness(x, 48000)
    assert np.all(m[-190:] < -70.0)  # the filter's decay tail, then exact zeros
    assert not np.any(np.isnan(m))


def test_momentary_and_short_term_windows_are_placed_in_time():
    # 1 s of tone at 5.0-6.0 s in 10 s of silence; value j covers [0.1 j, 0.1 j + window)
    x = tones([(-math.inf, 5), (-23, 1), (-math.inf, 4)])
    m = momentary_loudness(x, 48000)
    assert m.size == 100 - 3
    # blocks ending by 5.0 s hold only silence (float32 FFT filtering leaves rounding dust far below the gate)
    assert np.all(m[:47] < -120)
    np.testing.assert_allclose(m[50:57], -23.0, atol=0.1)  # blocks 5.0-5.4 ... 5.6-6.0 s lie in the tone
    assert m[49] == pytest.approx(-23.0 + 10 * np.log10(3 / 4), abs=0.1)
    s = short_term_loudness(x, 48000)
    assert s.size == 100 - 29
    np.testing.assert_allclose(s[30:51], -23.0 + 10 * np.log10(1 / 3), atol=0.1)


# --- loudness range (EBU Tech 3342) -------------------------------------------------------------
@pytest.mark.parametrize(("segments", "expected_lu"), [
    ([(-20, 20), (-30, 20)], 10.0),                                    # Tech 3342 case 1
    ([(-20, 20), (-15, 20)], 5.0),                                     # case 2
    ([(-40, 20), (-20, 20)], 20.0),                                    # case 3
    ([(-50, 20), (-35, 20), (-20, 20), (-35, 20), (-50, 20)], 15.0),   # case 4
], ids=["tech3342-case1", "tech3342-case2", "tech3342-case3", "tech3342-case4"])
def test_tech3342_loudness_range(segments, expected_lu):
    x = tones(segments)
    assert loudness_range(x, 48000) == pytest.approx(expected_lu, abs=1.0)


# --- silence, short signals, errors ---------------------------------------------------------------
def test_silence_is_minus_infinity_not_nan():
    x = np.zeros((2, 48000 * 5), dtype=np.float32)
    stats = measure(x, 48000)
    assert stats.integrated_lufs == -math.inf
    assert stats.max_momentary_lufs == -math.inf
    assert stats.max_short_term_lufs == -math.inf
    assert stats.true_peak_dbtp == -math.inf
    assert stats.sample_peak_dbfs == -math.inf
    assert stats.loudness_range_lu == 0.0
    assert stats.plr_db == -math.inf
    assert np.all(np.isneginf(momentary_loudness(x, 48000)))


def test_too_short_signals():
    short = sine(997.0, -23.0, 0.3, 48000).samples
    assert integrated_loudness(short, 48000) == -math.inf
    assert momentary_loudness(short, 48000).size == 0
    two_seconds = measure(sine(997.0, -23.0, 2.0, 48000).samples, 48000)
    assert two_seconds.integrated_lufs == pytest.approx(-23.0, abs=0.1)
    assert two_seconds.max_short_term_lufs == -math.inf
    assert two_seconds.loudness_range_lu == 0.0
    empty = measure(np.zeros((2, 0), dtype=np.float32), 48000)
    assert empty.integrated_lufs == -math.inf and empty.true_peak_dbtp == -math.inf


def test_invalid_inputs_raise_typed_errors():
    with pytest.raises(TooManyChannels):
        integrated_loudness(np.zeros((3, 48000)), 48000)
    bad = sine(997.0, -23.0, 1.0, 48000).samples.copy()
    bad[0, 1000] = np.nan
    with pytest.raises(InvalidAudioValues):
        measure(bad, 48000)
    with pytest.raises(UnsupportedSampleRate):
        integrated_loudness(np.zeros((2, 4000)), 4000)


# --- implementation properties --------------------------------------------------------------------
def test_chunked_energy_equals_one_pass_filtering():
    x = music_like(9.5, 44100).samples
    energy = kweighted_energy(x, 44100)
    y = scipy.signal.sosfilt(k_weighting_sos(44100), x.astype(np.float64), axis=-1)
    hop = energy.hop_frames
    assert hop == 4410
    n = energy.hop_sums.shape[1]
    assert n == 95
    direct = (y[:, :n * hop] ** 2).reshape(2, n, hop).sum(axis=-1)
    # the meter filters by float32 FFT convolution: equal to sosfilt within 1e-4 relative (0.0004 dB)
    np.testing.assert_allclose(energy.hop_sums, direct, rtol=1e-4)


def test_prefiltered_signal_gives_the_same_loudness():
    x = pink_noise(5.0, 48000).samples
    y = scipy.signal.sosfilt(k_weighting_sos(48000), x.astype(np.float64), axis=-1)
    expected = integrated_loudness(x, 48000)
    assert integrated_loudness_from_kweighted(y, 48000) == pytest.approx(expected, abs=1e-3)
    assert loudness_range_from_energy(energy_from_kweighted(y, 48000)) == pytest.approx(
        loudness_range(x, 48000), abs=1e-3)


def test_agrees_with_pyloudnorm():
    # pyloudnorm 0.2 normalises the RLB numerator to unit gain (0.995, -1.990, 0.995 instead of
    # BS.1770-4 Table 2's 1, -2, 1) and rounds the shelf parameters, so it reads 0.04 dB lower than the
    # standard's coefficients (which FFmpeg and we use) on any signal.
    pyln = pytest.importorskip("pyloudnorm")
    x = level_steps(48000, 2)
    ref = pyln.Meter(48000).integrated_loudness(x.T.astype(np.float64))
    assert integrated_loudness(x, 48000) - ref == pytest.approx(0.042, abs=0.02)


@settings(max_examples=25, deadline=None)
@given(gain_db=st.floats(min_value=-40.0, max_value=20.0), seed=st.integers(0, 2**16))
def test_loudness_scales_exactly_with_gain(gain_db, seed):
    x = pink_noise(1.5, 44100, 2, -20.0, seed=seed).samples.astype(np.float64)
    base = integrated_loudness(x, 44100)
    scaled = integrated_loudness(x * 10 ** (gain_db / 20), 44100)
    assert scaled - base == pytest.approx(gain_db, abs=1e-6)
    # re-using the filtered energies for a pure gain gives the same figure without filtering again
    reused = integrated_loudness_from_energy(kweighted_energy(x, 44100), gain_db)
    assert reused == pytest.approx(scaled, abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(frames=st.integers(0, 20000), scale=st.sampled_from([0.0, 1e-12, 1e-4, 1.0, 8.0]),
       channels=st.sampled_from([1, 2]), seed=st.integers(0, 1000))
def test_measure_never_returns_nan(frames, scale, channels, seed):
    x = (np.random.default_rng(seed).standard_normal((channels, frames)) * scale).astype(np.float32)
    stats = measure(x, 8000)
    assert isinstance(stats, LoudnessStats)
    assert not any(math.isnan(v) for v in vars(stats).values())


# --- FFmpeg's ebur128 as a reference ---------------------------------------------------------------
def _reference_signal(kind: str, sample_rate: int, channels: int) -> np.ndarray:
    if kind == "pink":
        return pink_noise(8.0, sample_rate, channels, -18.0, seed=7).samples
    if kind == "tones":  # two partials, faded in and out so that the onset adds no overshoot
        x = (sine(3000.0, -12.0, 8.0, sample_rate, channels).samples
             + sine(9000.0, -15.0, 8.0, sample_rate, channels, phase=1.0).samples)
        ramp = np.sin(np.linspace(0, np.pi / 2, sample_rate // 20)) ** 2
        x[:, :ramp.size] *= ramp
        x[:, -ramp.size:] *= ramp[::-1]
        return x
    if kind == "music_like":
        x = music_like(8.0, sample_rate).samples
        return x if channels == 2 else x[:1]
    if kind == "level_steps":
        return level_steps(sample_rate, channels)
    raise ValueError(kind)


@pytest.mark.parametrize(("sample_rate", "channels"), [(44100, 2), (48000, 2), (44100, 1), (48000, 1)])
@pytest.mark.parametrize("kind", ["pink", "tones", "music_like", "level_steps"])
def test_matches_ffmpeg_ebur128(kind, sample_rate, channels, tmp_path):
    x = _reference_signal(kind, sample_rate, channels)
    ref = ebur128_samples(x, sample_rate, tmp_path)
    stats = measure(x, sample_rate)
    assert stats.integrated_lufs == pytest.approx(ref.integrated_lufs, abs=0.1)
    assert stats.true_peak_dbtp == pytest.approx(ref.true_peak_dbtp, abs=0.2)
    assert stats.loudness_range_lu == pytest.approx(ref.loudness_range_lu, abs=1.0)
    if kind == "level_steps":
        assert ref.loudness_range_lu > 10.0  # the LRA comparison is not trivially 0 == 0


def test_mono_is_weighted_like_ffmpeg_default(tmp_path):
    """FFmpeg's ebur128 weighs a mono channel 1.0 unless dualmono=true (+3.01 dB); so do we."""
    x = sine(997.0, -20.0, 5.0, 48000, channels=1).samples
    ours = integrated_loudness(x, 48000)
    assert ours == pytest.approx(-23.0, abs=0.05)
    assert ours == pytest.approx(ebur128_samples(x, 48000, tmp_path).integrated_lufs, abs=0.05)
    dual = ebur128_samples(x, 48000, tmp_path, dual_mono=True).integrated_lufs
    assert dual - ours == pytest.approx(3.01, abs=0.05)
