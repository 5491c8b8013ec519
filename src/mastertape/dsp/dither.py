"""Dither and quantisation to integer PCM resolution.

TPDF (triangular probability density) dither of +-1 LSB peak, the difference of two independent uniform
variables, added before rounding: it makes the first and second moments of the total error independent of
the signal, so no distortion or noise modulation remains (S. P. Lipshitz, R. A. Wannamaker and J. Vanderkooy,
"Quantization and Dither: A Theoretical Survey", JAES 40(5), 1992). The result lies exactly on the grid
k / 2^(bits-1), k in [-2^(bits-1), 2^(bits-1) - 1], stored as float32 (exact for 16 and 24 bits), so the
encoder's scale-and-round conversion reproduces the codes.

The random stream is PCG64 seeded with `seed`, drawn in fixed chunks of frames in frame-major
(interleaved) order: the same samples, bit depth and seed always give bit-identical output.
"""

from __future__ import annotations

import numpy as np

from mastertape.errors import InvalidSetting

PCM_BIT_DEPTHS = (16, 24)
FLOAT_BIT_DEPTH = 32
_CHUNK_FRAMES = 1 << 16
_UNIFORM_BITS = 16  # resolution of each uniform variable: 1/65536 LSB


def lsb(bits: int) -> float:
    """Quantisation step of `bits`-bit PCM, full scale 1.0: 2^-(bits-1)."""
    return 2.0 ** -(bits - 1)


def tpdf_noise(generator: np.random.Generator, frames: int, channels: int) -> np.ndarray:
    """TPDF noise in LSB, shape (channels, frames), float32 in (-1, 1): (u1 - u2) / 65536 of two 16-bit
    uniform integers, four of which come from each raw 64-bit draw (frame-major order)."""
    n = frames * channels
    raw = generator.bit_generator.random_raw(-(-n // 2))
    words = raw.view(np.uint16).reshape(-1, 4)[: -(-n // 2)]
    diff = words[:, 0::2].astype(np.int32) - words[:, 1::2].astype(np.int32)
    noise = diff.reshape(-1)[:n].astype(np.float32) * np.float32(1.0 / (1 << _UNIFORM_BITS))
    return noise.reshape(frames, channels).T


def quantize(
    samples: np.ndarray, bit_depth: int, seed: int = 0, gain: float = 1.0, out: np.ndarray | None = None
) -> np.ndarray:
    """`gain * samples` (channels, frames) with TPDF dither, rounded to `bit_depth` (16 or 24) integer codes
    and returned as float32 on the grid k / 2^(bit_depth-1); 32 returns float32 without dither.

    Codes are clipped to the PCM range (the mastering chain's ceiling keeps them inside it). `out` may be
    `samples` itself (float32) to work in place.
    """
    x = np.asarray(samples)
    if out is None:
        out = np.empty(x.shape, dtype=np.float32)
    if bit_depth == FLOAT_BIT_DEPTH:
        np.multiply(x, np.float32(gain), out=out, casting="unsafe")
        return out
    if bit_depth not in PCM_BIT_DEPTHS:
        raise InvalidSetting(f"bit_depth must be 16, 24 or 32 (float), got {bit_depth}", field="bit_depth")
    scale = float(1 << (bit_depth - 1))
    rng = np.random.Generator(np.random.PCG64(seed))
    channels, frames = x.shape
    k = np.float64(gain * scale)
    for a in range(0, frames, _CHUNK_FRAMES):
        b = min(frames, a + _CHUNK_FRAMES)
        y = x[:, a:b] * k  # float64: exact products for the rounding
        y += tpdf_noise(rng, b - a, channels)
        np.rint(y, out=y)
        np.clip(y, -scale, scale - 1.0, out=y)
        y *= 1.0 / scale
        out[:, a:b] = y
    return out
