"""The chain's shared-FFT meters agree with the project meter (dsp.loudness / dsp.truepeak)."""

from __future__ import annotations

import numpy as np
import pytest

from mastertape.dsp.loudness import kweighted_energy
from mastertape.dsp.truepeak import oversampled_peak_envelope, true_peak
from mastertape.mastering.measure import ScanBank, envelope_blocks, true_and_sample_peak
from tests.signals import music_like

SR = 44100


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    return music_like(6.0, SR, level_db=-10.0).samples * np.float32(2.0)


def test_scan_bank_gives_the_meters_k_weighting_and_envelope(signal):
    bank = ScanBank(SR, 2, factor=4)
    hop = 4410
    frames = signal.shape[1]
    kw = np.zeros_like(signal)
    env = np.zeros(frames, dtype=np.float32)
    for a, b, k, e in bank.scan(signal, 0, frames, 3 * hop):
        kw[:, a:b], env[a:b] = k, e
    ref = kweighted_energy(signal, SR).hop_sums.sum(axis=0)
    ours = np.square(kw[:, : ref.size * hop].astype(np.float64)).reshape(2, -1, hop).sum(axis=(0, 2))
    np.testing.assert_allclose(ours, ref, rtol=1e-4)  # float32 FFT rounding: < 0.0005 dB
    np.testing.assert_allclose(env, oversampled_peak_envelope(signal, SR).max(axis=0), atol=2e-6)


def test_scan_of_a_range_equals_the_whole_scan(signal):
    bank = ScanBank(SR, 2, factor=8)
    whole = {a: (k, e) for a, b, k, e in bank.scan(signal, 0, signal.shape[1], 4410)}
    for a, _b, k, e in bank.scan(signal, 4410 * 20, 4410 * 23, 4410):
        np.testing.assert_allclose(k, whole[a][0], atol=2e-6)
        np.testing.assert_allclose(e, whole[a][1], atol=2e-6)


def test_envelope_blocks_and_true_peak_search_match_the_meter(signal):
    ref = oversampled_peak_envelope(signal, SR).max(axis=0)
    blocks = np.array([0, 5, 17, signal.shape[1] // 4096])
    env = envelope_blocks(signal, SR, blocks, 4096)
    for j, i in enumerate(blocks):
        part = ref[i * 4096 : (i + 1) * 4096]
        np.testing.assert_allclose(env[j, : part.size], part, atol=2e-6)
        assert np.all(env[j, part.size :] == 0.0)
    fine = envelope_blocks(signal, SR, blocks, 4096, factor=8)
    assert np.all(fine >= env - 1e-6)  # the 4x points are among the 8x ones
    tp, sample_peak = true_and_sample_peak(signal, SR)
    assert tp == pytest.approx(float(true_peak(signal, SR).max()), abs=2e-6)
    assert sample_peak == pytest.approx(float(np.abs(signal).max()))
    bad = signal.copy()
    bad[1, 777] = np.inf
    assert np.isnan(true_and_sample_peak(bad, SR)[0])
