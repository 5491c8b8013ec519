"""Block-wise processing of long signals with raised-cosine crossfades, so memory stays bounded.

A separator that works on a block (and needs context on both sides of every sample) runs on
overlapping blocks; consecutive estimates are blended with complementary sin^2 / cos^2 weights over the
overlap, so the weights of all blocks sum to exactly 1 at every sample. A linear combination of the
estimates therefore stays consistent: if every block's stems sum to its input, the blended stems sum to
the whole input.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

BlockFn = Callable[[np.ndarray], np.ndarray]  # (channels, m) -> (stems, channels, m)


def block_starts(frames: int, block_frames: int, overlap_frames: int) -> list[int]:
    """Start of every block: steps of `block - overlap`; the last block is the one reaching the end.

    Every block but the last is `block_frames` long; the last is longer than the overlap.
    At most two blocks overlap anywhere, so the overlap can be at most half a block.
    """
    if not (block_frames >= 1 and 0 <= overlap_frames <= block_frames // 2):
        raise ValueError(
            "need 0 <= overlap_frames <= block_frames / 2"
        )  # at most two blocks overlap anywhere
    step = block_frames - overlap_frames
    starts = [0]
    while starts[-1] + block_frames < frames:
        starts.append(starts[-1] + step)
    return starts


def crossfade_chunks(
    samples: np.ndarray, block_frames: int, overlap_frames: int, fn: BlockFn, stems: int
) -> np.ndarray:
    """Run `fn` on overlapping blocks of `samples` (channels, frames): (stems, channels, frames) float32."""
    channels, frames = samples.shape
    out = np.zeros((stems, channels, frames), dtype=np.float32)
    starts = block_starts(frames, block_frames, overlap_frames)
    ramp = np.sin(0.5 * np.pi * (np.arange(overlap_frames) + 0.5) / max(overlap_frames, 1)) ** 2
    for k, start in enumerate(starts):
        stop = min(start + block_frames, frames)
        est = np.asarray(fn(samples[:, start:stop]), dtype=np.float32)
        if est.shape != (stems, channels, stop - start):
            raise ValueError(f"block function returned {est.shape}, want {(stems, channels, stop - start)}")
        weight = np.ones(stop - start, dtype=np.float32)
        if overlap_frames and k > 0:  # fade in over the overlap with the previous block
            weight[:overlap_frames] = ramp
        if overlap_frames and k + 1 < len(starts):  # fade out where the next block fades in
            weight[-overlap_frames:] *= 1.0 - ramp
        out[:, :, start:stop] += est * weight
    return out
