"""Soft saturation: a tanh wave-shaper mixed in parallel with the dry signal.

tanh is the classic memoryless model of a smoothly saturating stage (tape, transformer, tube), see
J. Pakarinen and D. T. Yeh, "A Review of Digital Techniques for Modeling Vacuum-Tube Guitar Amplifiers",
Computer Music Journal 33(2), 2009, sec. 3. The curve is scaled to unit slope at zero, so low levels pass
unchanged and only material near `reference` (the level where the stage starts to bend, e.g. the final
peak level) is compressed and gains odd harmonics. `mix` sets how much of the shaped signal is blended in.
"""

from __future__ import annotations

import numpy as np


def soft_saturate(
    samples: np.ndarray, drive: float, mix: float, reference: float, out: np.ndarray | None = None
) -> np.ndarray:
    """``(1 - mix) x + mix * reference * tanh(drive x / reference) / drive`` (float32).

    drive > 0 (higher bends earlier), 0 <= mix <= 1, reference > 0 (linear level). mix == 0 returns `x`.
    `out` may be the input (in place).
    """
    x = np.asarray(samples, dtype=np.float32)
    if out is None:
        out = np.empty_like(x)
    if mix <= 0.0 or drive <= 0.0:
        out[...] = x
        return out
    k = np.float32(drive / reference)
    shaped = np.tanh(x * k)
    shaped *= np.float32(mix / k)
    np.multiply(x, np.float32(1.0 - mix), out=out)
    out += shaped
    return out
