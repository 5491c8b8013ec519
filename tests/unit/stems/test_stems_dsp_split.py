"""The DSP part of 4_tracks: drums by median-filtering HPSS, bass by an LR4 low band, the rest as other."""

from __future__ import annotations

import numpy as np
import pytest

from mastertape.stems.dsp_split import DrumBassSettings, low_band, split_instrumental

RATE = 44100


def _sources(seconds: float = 6.0) -> dict[str, np.ndarray]:
    """Known drums (kicks + hi-hats), bass (sustained low notes) and other (sustained chords), stereo."""
    rng = np.random.default_rng(7)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    beat = 0.5
    kt = t % beat
    kick = np.exp(-kt * 30) * np.sin(2 * np.pi * (50 + 100 * np.exp(-kt * 40)) * kt)
    ht = (t + beat / 2) % beat
    hat = np.diff(rng.standard_normal(n) * np.exp(-ht * 60), prepend=0.0) * 0.3
    drums = kick + hat
    f_bass = np.take([55.0, 65.41, 49.0, 73.42], (t // 2.0).astype(int) % 4)
    bass = 0.5 * np.sin(2 * np.pi * np.cumsum(f_bass) / RATE)
    ph = 2 * np.pi * np.cumsum(np.take([392.0, 440.0, 349.2], (t // 2.0).astype(int) % 3)) / RATE
    other = sum(0.1 / h * np.sin(h * ph * r) for h in range(1, 5) for r in (1.0, 1.26, 1.5))
    return {
        k: np.stack([v, v]).astype(np.float32)
        for k, v in {"drums": drums, "bass": bass, "other": other}.items()
    }


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a.ravel().astype(np.float64)
    b = b.ravel().astype(np.float64)
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


@pytest.fixture(scope="module")
def split_result() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    src = _sources()
    mix = src["drums"] + src["bass"] + src["other"]
    # short blocks so that the crossfades between blocks are exercised too
    return src, split_instrumental(mix, RATE, DrumBassSettings(block_s=2.5, overlap_s=0.5)), mix


def test_parts_sum_to_the_instrumental(split_result) -> None:
    _, est, mix = split_result
    resid = mix.astype(np.float64) - sum(e.astype(np.float64) for e in est.values())
    assert 10 * np.log10(np.sum(resid**2) / np.sum(mix.astype(np.float64) ** 2)) < -100


@pytest.mark.parametrize("name", ["drums", "bass", "other"])
def test_each_part_resembles_its_own_source_most(name: str, split_result) -> None:
    src, est, _ = split_result
    own = _corr(est[name], src[name])
    assert own > 0.6
    for other in src:
        if other != name:
            assert own > _corr(est[name], src[other]) + 0.3, (name, other)


def test_low_band_is_a_zero_phase_lr4() -> None:
    t = np.arange(RATE) / RATE
    for f_hz, want_db in ((40.0, -0.02), (160.0, -6.02), (640.0, -48.2)):
        x = np.sin(2 * np.pi * f_hz * t)[None, :]
        y = low_band(x, RATE, 160.0)[0, RATE // 4 : -RATE // 4]
        gain_db = 20 * np.log10(np.sqrt(np.mean(y**2)) / np.sqrt(np.mean(x[0, RATE // 4 : -RATE // 4] ** 2)))
        assert gain_db == pytest.approx(want_db, abs=0.3)
        # zero phase: the output lines up with the input (no delay)
        assert _corr(y, x[0, RATE // 4 : -RATE // 4]) > 0.99
