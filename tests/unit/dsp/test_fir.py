"""Minimum-phase EQ curves and per-channel FFT filter banks."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mastertape.dsp.filters import FFTFilterBank, peaking_sos, response_grid_size, sos_response
from mastertape.dsp.fir import curve_on_grid, grid_freqs, minimum_phase_response

SR = 44100


def test_minimum_phase_response_has_the_asked_magnitude_and_is_causal():
    n = response_grid_size(SR)
    f = grid_freqs(n, SR)
    centres = np.array([40.0, 100.0, 250.0, 1000.0, 4000.0, 16000.0])
    gains = np.array([3.0, 6.0, -2.0, 0.0, -4.0, 5.0])
    want = curve_on_grid(centres, gains, f)
    h = minimum_phase_response(want)
    np.testing.assert_allclose(20 * np.log10(np.abs(h)), want, atol=1e-6)
    ir = np.fft.irfft(h, n)
    # minimum phase: the energy sits at the start, nothing wraps around to the end of the grid
    assert np.sum(ir[: SR // 4] ** 2) > 0.999999 * np.sum(ir**2)


def test_curve_on_grid_interpolates_in_log_frequency_and_holds_the_ends():
    g = curve_on_grid(np.array([100.0, 1000.0]), np.array([0.0, 10.0]), np.array([0.0, 50.0, 316.23, 5000.0]))
    np.testing.assert_allclose(g, [0.0, 0.0, 5.0, 10.0], atol=1e-3)


def test_bank_matches_the_equivalent_biquad_for_a_bell_curve():
    sos = peaking_sos(1000.0, 6.0, 1.0, SR)
    n = response_grid_size(SR)
    bank = FFTFilterBank.from_responses(sos_response(sos, grid_freqs(n, SR), SR)[None, :], SR, 1)
    ref = FFTFilterBank.from_sos([sos], SR, 1)
    x = np.random.default_rng(1).standard_normal((1, 20000)).astype(np.float32)
    np.testing.assert_allclose(bank.process(x), ref.process(x), atol=2e-5)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 9000), min_size=1, max_size=6))
def test_per_channel_bank_in_blocks_equals_one_call(cuts):
    rng = np.random.default_rng(2)
    irs = rng.standard_normal((2, 2, 300)) * np.exp(-np.arange(300) / 40.0)
    x = rng.standard_normal((2, 12000)).astype(np.float32)
    whole = FFTFilterBank(irs, 2).process(x)
    bank = FFTFilterBank(irs, 2)
    edges = sorted({0, 12000, *[c for c in cuts if c < 12000]})
    parts = [bank.process(x[:, a:b]) for a, b in zip(edges, edges[1:], strict=False)]
    np.testing.assert_allclose(np.concatenate(parts, axis=-1), whole, atol=1e-4)
    # each channel has its own response
    for c in range(2):
        want = np.convolve(x[c].astype(np.float64), irs[1, c])[:12000]
        np.testing.assert_allclose(whole[1, c], want, atol=1e-3)
