"""DSP inpainting of short gaps: autoregressive extrapolation from both sides, crossfaded.

For each region, an all-pole (linear prediction) model is fitted to the context on each side by the
autocorrelation method (Levinson-Durbin via scipy.linalg.solve_toeplitz; Makhoul 1975, "Linear
prediction: a tutorial review", eqs. 37-38), the left context is extrapolated forwards and the right
context backwards through the gap (the predictor run with zero excitation), and the two are crossfaded
with complementary sin^2 / cos^2 weights across the gap (the two-sided extrapolation of Kauppinen & Roth
2002, "Audio signal extrapolation - theory and applications", DAFx, sec. 4). Tonal, stationary material
continues convincingly over tens of milliseconds; over longer gaps the prediction decays towards
silence, so it is a repair for clicks, dropouts and short gaps, not a generative model.

Used by `stable_audio_3` when `inpaint_regions` is given and no model weights are installed; the report
names it "dsp_inpainting (no model weights)".
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_toeplitz
from scipy.signal import lfilter, lfiltic

MAX_ORDER = 1024
MIN_CONTEXT_S = 0.05
MAX_CONTEXT_S = 1.0
CONTEXT_PER_GAP = 4  # context length = CONTEXT_PER_GAP x gap length (within the bounds above)


def lpc(context: np.ndarray, order: int) -> np.ndarray:
    """Prediction polynomial [1, a1, ..., ap] of `context` (autocorrelation method, Hann-windowed)."""
    w = context * np.hanning(context.size)
    nfft = 1 << int(np.ceil(np.log2(2 * w.size)))
    spec = np.fft.rfft(w, nfft)
    r = np.fft.irfft(np.abs(spec) ** 2, nfft)[: order + 1]
    if r[0] <= 0:
        return np.concatenate([[1.0], np.zeros(order)])
    r[0] *= 1.0 + 1e-9  # white-noise correction: keeps the Toeplitz system well conditioned
    r = r * np.exp(-0.5 * (2e-4 * np.arange(order + 1)) ** 2)  # slight lag window (bandwidth expansion)
    a = solve_toeplitz(r[:order], -r[1 : order + 1])
    return np.concatenate([[1.0], a])


def extrapolate(context: np.ndarray, length: int, order: int) -> np.ndarray:
    """`length` samples continuing `context` (1-D) by its all-pole model."""
    order = int(min(order, context.size - 1))
    if order < 1 or not np.any(context):
        return np.zeros(length)
    a = lpc(context, order)
    zi = lfiltic([1.0], a, context[::-1][:order])
    return lfilter([1.0], a, np.zeros(length), zi=zi)[0]


def fill_gap(x: np.ndarray, start: int, end: int, sr: int) -> np.ndarray:
    """The samples [start, end) of 1-D `x` rebuilt from both sides (see the module docstring); float64."""
    g = end - start
    if g <= 0:
        return np.zeros(0)
    ctx = int(np.clip(CONTEXT_PER_GAP * g, MIN_CONTEXT_S * sr, MAX_CONTEXT_S * sr))
    left = np.asarray(x[max(0, start - ctx) : start], dtype=np.float64)
    right = np.asarray(x[end : end + ctx], dtype=np.float64)
    order = min(MAX_ORDER, ctx // 3)
    fwd = extrapolate(left, g, order) if left.size > 8 else None
    bwd = extrapolate(right[::-1], g, order)[::-1] if right.size > 8 else None
    if fwd is None and bwd is None:
        return np.zeros(g)
    if fwd is None or bwd is None:
        return fwd if bwd is None else bwd
    w = np.sin(0.5 * np.pi * (np.arange(g) + 0.5) / g) ** 2
    return (1.0 - w) * fwd + w * bwd


def region_samples(regions, sr: int, n: int) -> list[tuple[int, int]]:
    """(start, end) sample ranges of regions (objects with start_s/end_s), clipped, sorted and merged."""
    spans = sorted((int(round(r.start_s * sr)), min(n, int(round(r.end_s * sr)))) for r in regions)
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if e <= s or s >= n:
            continue
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def inpaint(samples: np.ndarray, sr: int, regions) -> np.ndarray:
    """(channels, frames) with every region rebuilt per channel; samples outside the regions unchanged."""
    x = np.atleast_2d(np.asarray(samples))
    out = np.array(x, dtype=np.float32, copy=True)
    for s, e in region_samples(regions, sr, x.shape[1]):
        for c in range(x.shape[0]):
            out[c, s:e] = fill_gap(out[c], s, e, sr)
    return out
