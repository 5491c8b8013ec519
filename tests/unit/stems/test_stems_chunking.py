"""Block-wise processing with crossfades: the block weights sum to one everywhere."""

from __future__ import annotations

import numpy as np
import pytest

from mastertape.stems.chunking import block_starts, crossfade_chunks


@pytest.mark.parametrize(
    ("frames", "block", "overlap"),
    [(10, 100, 10), (1000, 100, 10), (1001, 100, 30), (12345, 1000, 500), (777, 2, 1), (500, 50, 0)],
)
def test_linear_block_function_is_reproduced_exactly(frames: int, block: int, overlap: int) -> None:
    x = np.random.default_rng(frames).standard_normal((2, frames)).astype(np.float32)
    out = crossfade_chunks(x, block, overlap, lambda b: np.stack([2 * b, -b]), stems=2)
    np.testing.assert_allclose(out[0], 2 * x, atol=1e-5)
    np.testing.assert_allclose(out[1], -x, atol=1e-5)


def test_blocks_cover_the_signal_and_the_last_is_longer_than_the_overlap() -> None:
    for frames in (1, 99, 100, 101, 190, 191, 5000):
        starts = block_starts(frames, 100, 10)
        assert starts[0] == 0 and starts[-1] + 100 >= frames
        assert all(b - a == 90 for a, b in zip(starts, starts[1:], strict=False))
        if len(starts) > 1:
            assert frames - starts[-1] > 10


def test_block_estimates_are_blended_not_cut() -> None:
    # a block function that adds a per-block constant: the output moves smoothly between the constants
    x = np.zeros((1, 1000), dtype=np.float32)
    calls = []

    def fn(b: np.ndarray) -> np.ndarray:
        calls.append(len(calls))
        return np.full((1, *b.shape), float(len(calls)), dtype=np.float32)

    out = crossfade_chunks(x, 400, 100, fn, stems=1)[0, 0]
    assert len(calls) == 3
    assert np.max(np.abs(np.diff(out))) < 0.05  # no step between blocks
    assert out[0] == 1.0 and out[-1] == 3.0


def test_bad_overlap() -> None:
    with pytest.raises(ValueError):
        block_starts(100, 10, 6)
