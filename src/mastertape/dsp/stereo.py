"""Mid/side conversion and stereo width.

Mid = (L + R) / 2 and side = (L - R) / 2, so L = M + S and R = M - S; width scales the side signal
(M. A. Gerzon, "Stereo shuffling: new approach, old technique", Studio Sound, 1986: 0 = mono, 1 =
unchanged, > 1 wider). Applied per band of a crossover, width below ~120 Hz of at most 1 keeps the low end
mono-compatible, as mastering for vinyl and clubs has always required.
"""

from __future__ import annotations

import numpy as np


def mid_side(samples: np.ndarray) -> np.ndarray:
    """(2, frames) left/right -> (2, frames) mid/side (float32)."""
    x = np.asarray(samples, dtype=np.float32)
    if x.shape[0] != 2:
        raise ValueError(f"mid/side needs stereo (2, frames), got {x.shape}")
    out = np.empty_like(x)
    np.add(x[0], x[1], out=out[0])
    np.subtract(x[0], x[1], out=out[1])
    out *= np.float32(0.5)
    return out


def left_right(ms: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(2, frames) mid/side -> left/right (float32). `out` must not be `ms`."""
    m = np.asarray(ms)
    if out is None:
        out = np.empty(m.shape, dtype=np.float32)
    np.add(m[0], m[1], out=out[0])
    np.subtract(m[0], m[1], out=out[1])
    return out


def apply_width(samples: np.ndarray, width: float) -> np.ndarray:
    """Scale the side signal of stereo `samples` by `width` (>= 0); mono input is returned unchanged."""
    x = np.asarray(samples, dtype=np.float32)
    if x.shape[0] == 1:
        return x.copy()
    if width < 0.0:
        raise ValueError("width must be >= 0")
    ms = mid_side(x)
    ms[1] *= np.float32(width)
    return left_right(ms)


def side_to_mid_energy_ratio(samples: np.ndarray) -> float:
    """Side energy over mid energy of a stereo signal (linear; 0.0 for mono or identical channels)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.shape[0] == 1:
        return 0.0
    mid = float(np.sum(((x[0] + x[1]) / 2) ** 2))
    side = float(np.sum(((x[0] - x[1]) / 2) ** 2))
    return side / mid if mid > 0 else (0.0 if side == 0 else float("inf"))
