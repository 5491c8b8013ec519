"""Filter design (RBJ biquads, Linkwitz-Riley crossovers), block-wise FFT filtering against scipy.signal."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from mastertape.dsp.filters import (
    IR_TAIL_REL,
    FFTFilterBank,
    allpass_sos,
    cascade,
    crossover_bands_sos,
    fft_size_for,
    high_shelf_sos,
    highpass_sos,
    impulse_response_length,
    linkwitz_riley_sos,
    low_shelf_sos,
    lowpass_sos,
    peaking_sos,
    sos_impulse_response,
    sos_response,
    sos_response_db,
)

SR = 44100


def test_butterworth_sections_match_scipy():
    for f0 in (30.0, 1000.0, 12000.0):
        np.testing.assert_allclose(
            lowpass_sos(f0, SR),
            scipy.signal.butter(2, f0, "low", fs=SR, output="sos"),
            rtol=1e-10,
            atol=1e-12,
        )
        np.testing.assert_allclose(
            highpass_sos(f0, SR),
            scipy.signal.butter(2, f0, "high", fs=SR, output="sos"),
            rtol=1e-10,
            atol=1e-12,
        )


@pytest.mark.parametrize("gain_db", [-6.0, 3.0, 9.0])
def test_peaking_has_its_gain_at_its_frequency_and_unity_far_away(gain_db):
    sos = peaking_sos(1000.0, gain_db, 1.0, SR)
    assert sos_response_db(sos, 1000.0, SR) == pytest.approx(gain_db, abs=1e-9)
    assert abs(sos_response_db(sos, 20.0, SR)) < 0.05
    assert abs(sos_response_db(sos, 20000.0, SR)) < 0.1


@pytest.mark.parametrize("gain_db", [-4.0, 5.0])
def test_shelves_reach_their_gain_and_pass_half_of_it_at_the_corner(gain_db):
    low = low_shelf_sos(200.0, gain_db, SR)
    high = high_shelf_sos(5000.0, gain_db, SR)
    assert sos_response_db(low, 10.0, SR) == pytest.approx(gain_db, abs=0.05)
    assert abs(sos_response_db(low, 15000.0, SR)) < 0.05
    assert sos_response_db(low, 200.0, SR) == pytest.approx(gain_db / 2, abs=0.05)
    assert sos_response_db(high, 20000.0, SR) == pytest.approx(gain_db, abs=0.15)
    assert abs(sos_response_db(high, 50.0, SR)) < 0.05
    assert sos_response_db(high, 5000.0, SR) == pytest.approx(gain_db / 2, abs=0.05)


def test_linkwitz_riley_outputs_are_minus_6_db_at_the_crossover_and_sum_to_the_allpass():
    f = np.geomspace(10, 21000, 300)
    low = sos_response(linkwitz_riley_sos(800.0, SR, "low"), f, SR)
    high = sos_response(linkwitz_riley_sos(800.0, SR, "high"), f, SR)
    np.testing.assert_allclose(low + high, sos_response(allpass_sos(800.0, SR), f, SR), atol=1e-12)
    np.testing.assert_allclose(np.abs(low + high), 1.0, atol=1e-12)
    assert sos_response_db(linkwitz_riley_sos(800.0, SR, "low"), 800.0, SR) == pytest.approx(
        -6.0206, abs=1e-3
    )
    assert sos_response_db(linkwitz_riley_sos(800.0, SR, "high"), 800.0, SR) == pytest.approx(
        -6.0206, abs=1e-3
    )
    # 24 dB per octave far from the crossover
    assert sos_response_db(linkwitz_riley_sos(800.0, SR, "low"), 6400.0, SR) < -68.0


@pytest.mark.parametrize("crossovers", [(500.0,), (120.0, 2500.0), (100.0, 1000.0, 6000.0)])
def test_crossover_bands_sum_to_a_flat_allpass(crossovers):
    f = np.geomspace(10, 21000, 400)
    bands = crossover_bands_sos(crossovers, SR)
    assert len(bands) == len(crossovers) + 1
    total = sum(sos_response(b, f, SR) for b in bands)
    np.testing.assert_allclose(np.abs(total), 1.0, atol=1e-10)
    expected = sos_response(cascade(*[allpass_sos(fc, SR) for fc in crossovers]), f, SR)
    np.testing.assert_allclose(total, expected, atol=1e-10)
    # each band passes its own range: about 0 dB in the middle of it (geometric), well down elsewhere
    edges = (20.0, *crossovers, 20000.0)
    for k, b in enumerate(bands):
        centre = np.sqrt(edges[k] * edges[k + 1])
        assert sos_response_db(b, centre, SR) > -1.5


def test_crossover_rejects_unsorted_frequencies():
    with pytest.raises(ValueError):
        crossover_bands_sos((2000.0, 200.0), SR)


def test_impulse_response_matches_sosfilt_and_has_decayed_at_its_length():
    sos = cascade(
        highpass_sos(25.0, SR), peaking_sos(90.0, 3.0, 0.7, SR), linkwitz_riley_sos(120.0, SR, "low")
    )
    n = impulse_response_length([sos], SR)
    impulse = np.zeros(4 * n)
    impulse[0] = 1.0
    ref = scipy.signal.sosfilt(sos, impulse)
    h = sos_impulse_response(sos, n)
    np.testing.assert_allclose(h, ref[:n], atol=1e-9)
    assert np.abs(ref[n:]).max() <= 2 * IR_TAIL_REL * np.abs(ref).max()


def _bank_and_reference(channels: int = 2):
    sos_list = [
        cascade(highpass_sos(25.0, SR), low_shelf_sos(90.0, 2.0, SR), b)
        for b in crossover_bands_sos((120.0, 2500.0), SR)
    ]
    return FFTFilterBank.from_sos(sos_list, SR, channels), sos_list


def test_fft_bank_matches_sosfilt_to_float32_resolution():
    rng = np.random.default_rng(0)
    x = (0.3 * rng.standard_normal((2, 3 * SR))).astype(np.float32)
    bank, sos_list = _bank_and_reference()
    y = bank.process(x)
    assert y.shape == (3, 2, x.shape[1]) and y.dtype == np.float32
    for o, sos in enumerate(sos_list):
        ref = scipy.signal.sosfilt(sos, x.astype(np.float64), axis=-1)
        assert np.abs(y[o] - ref).max() < 2e-6 * np.abs(ref).max() + 1e-7


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=30000), min_size=1, max_size=12))
def test_fft_bank_block_wise_equals_one_call(sizes):
    rng = np.random.default_rng(1)
    total = sum(sizes)
    x = (0.5 * rng.standard_normal((2, total))).astype(np.float32)
    bank, _ = _bank_and_reference()
    whole = bank.process(x)
    bank.reset()
    parts, pos = [], 0
    for n in sizes:
        parts.append(bank.process(x[:, pos : pos + n]))
        pos += n
    blocked = np.concatenate(parts, axis=-1)
    assert np.abs(blocked - whole).max() < 1e-6


def test_fft_size_for_block_avoids_a_nearly_empty_last_frame():
    # 180,810 frames through 6,656 taps: 65536-point frames hop 58,881 (3.07 per block, so 4 frames);
    # 32768-point frames hop 26,113 (6.9, so 7): less work in all
    assert fft_size_for(6656) == 65536
    assert fft_size_for(6656, block=180_810) == 32768
    for taps in (48, 1000, 2384, 9000):
        for block in (4096, 100_000, 180_810):
            n = fft_size_for(taps, block)
            assert n > 2 * taps and n & (n - 1) == 0


def test_fft_bank_output_does_not_depend_on_fft_size():
    rng = np.random.default_rng(3)
    x = (0.3 * rng.standard_normal((2, 2 * SR))).astype(np.float32)
    sos_list = [cascade(highpass_sos(25.0, SR), b) for b in crossover_bands_sos((120.0, 2500.0), SR)]
    default = FFTFilterBank.from_sos(sos_list, SR, 2)
    sized = FFTFilterBank.from_sos(sos_list, SR, 2, block=30_000)
    assert sized.fft_size != default.fft_size
    a, b = default.process(x), sized.process(x)
    assert np.abs(a - b).max() < 2e-6 * np.abs(a).max()


def test_fft_bank_mono_and_empty_blocks():
    bank, sos_list = _bank_and_reference(channels=1)
    x = np.zeros((1, 0), dtype=np.float32)
    assert bank.process(x).shape == (3, 1, 0)
    impulse = np.zeros((1, 20000), dtype=np.float32)
    impulse[0, 10] = 1.0
    y = bank.process(impulse)
    ref = scipy.signal.sosfilt(sos_list[0], impulse[0].astype(np.float64))
    assert np.abs(y[0, 0] - ref).max() < 1e-6
    with pytest.raises(ValueError):
        bank.process(np.zeros((2, 10), dtype=np.float32))
