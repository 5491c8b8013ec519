"""Shape checks shared by the signal functions: every one takes (channels, frames) or a mono 1-D array."""

from __future__ import annotations

import numpy as np


def as_channels(samples: np.ndarray) -> np.ndarray:
    """`samples` as a C-contiguous (channels, frames) array; a 1-D array is one channel.

    Contiguous because a transposed (frames, channels) buffer would make every pass over a channel strided.
    """
    x = np.asarray(samples)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"samples must be (channels, frames), got shape {x.shape}")
    return np.ascontiguousarray(x)
