"""Loudness and true-peak measurement inside the chain, sharing FFTs and skipping what cannot matter.

`ScanBank` filters a signal once through an FFT bank whose outputs are the K-weighting of ITU-R BS.1770-4
(the meter's `k_weighting_sos`) and, optionally, the polyphase interpolation branches of its Annex 2
true-peak measurement (the meter's `interpolation_taps`): one forward FFT per block gives both the
K-weighted signal and the oversampled peak envelope. Figures equal those of `dsp.loudness` /
`dsp.truepeak` to float32 rounding.

Interpolating is the costly part of a true-peak envelope, and only needed where a peak could matter. An
interpolated point is a weighted sum of the 32 samples around it, so it is at most the largest of them
times the filter's largest sum of |taps| (`interpolation_gain`, 2.35 at 4x): a block whose neighbourhood
sample peak times that bound stays below a level of interest cannot reach it. `envelope_blocks` interpolates
just the listed blocks (with context, exact), and `true_and_sample_peak` searches a whole signal that way.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mastertape.dsp.filters import FFTFilterBank, truncated_impulse_responses
from mastertape.dsp.loudness import k_weighting_sos
from mastertape.dsp.truepeak import (
    TAPS_PER_PHASE,
    interpolation_taps,
    oversampling_factor,
)

#: The interpolation branches look this many frames ahead.
LOOKAHEAD = TAPS_PER_PHASE // 2
_CONTEXT = TAPS_PER_PHASE
_BATCH_FRAMES = 1 << 17
_SEARCH_BLOCK = 4096


class ScanBank:
    """K-weighting and true-peak interpolation at `factor` points per sample (1: none) of a (channels, frames)
    signal, block-wise.

    With interpolation every output is delayed by `LOOKAHEAD` frames (the K-weighting response is shifted to
    match the look-ahead of the interpolation), so feeding frames [p, q) yields frames
    [p - LOOKAHEAD, q - LOOKAHEAD).
    """

    def __init__(self, sample_rate: int, channels: int, factor: int = 1, block: int | None = None) -> None:
        k_sos = k_weighting_sos(sample_rate)
        k_ir = truncated_impulse_responses([k_sos], sample_rate)[0]
        n = k_ir.size
        self.k_memory = n
        self.factor = int(factor)
        taps = interpolation_taps(self.factor) if self.factor > 1 else np.zeros((0, TAPS_PER_PHASE))
        self.delay = LOOKAHEAD if self.factor > 1 else 0
        irs = np.zeros((1 + taps.shape[0], max(n + self.delay, TAPS_PER_PHASE)))
        irs[0, self.delay : self.delay + n] = k_ir
        # branch k: y(n + k/factor) = sum_i x[n + i - (TAPS/2 - 1)] taps[k, i], i.e. the causal FIR
        # taps[k, ::-1] read LOOKAHEAD frames later
        irs[1:, :TAPS_PER_PHASE] = taps[:, ::-1]
        self.bank = FFTFilterBank(irs, channels, block=block)

    def scan(
        self, signal: np.ndarray, lo: int, hi: int, chunk: int
    ) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
        """Yield (a, b, kweighted (channels, b - a) float32, envelope (b - a,) float32) over [lo, hi) in
        consecutive pieces ending on multiples of `chunk`. The envelope is the largest |x| over the
        oversampled points in [n, n + 1) of any channel (factor 1: of the samples only). The
        K-weighting starts `k_memory` frames before `lo` (or at the signal's start), which leaves it exact.
        """
        self.bank.reset()
        fed = max(0, lo - self.k_memory)
        a = lo
        while a < hi:
            b = min(hi, (a // chunk + 1) * chunk)
            q = b + self.delay
            out = self.bank.process(_padded(signal, fed, q))
            sl = slice(a - (fed - self.delay), b - (fed - self.delay))
            env = np.abs(signal[:, a:b]).max(axis=0)
            if out.shape[0] > 1:
                branches = out[1:, :, sl]
                np.abs(branches, out=branches)
                np.maximum(env, branches.max(axis=(0, 1)), out=env)
            yield a, b, out[0][:, sl], env
            fed = q
            a = b


def _padded(signal: np.ndarray, start: int, stop: int) -> np.ndarray:
    """signal[:, start:stop] with zeros past the end."""
    frames = signal.shape[1]
    if stop <= frames:
        return signal[:, start:stop]
    out = np.zeros((signal.shape[0], stop - start), dtype=np.float32)
    if start < frames:
        out[:, : frames - start] = signal[:, start:]
    return out


def interpolation_gain(sample_rate: int, factor: int | None = None) -> float:
    """Largest sum of |taps| over the interpolation branches (at `factor`, default the meter's for the rate):
    the most an interpolated point can exceed the largest |sample| feeding it."""
    factor = oversampling_factor(sample_rate) if factor is None else factor
    return float(np.abs(interpolation_taps(factor)).sum(axis=1).max()) if factor > 1 else 1.0


def _branch_bank(factor: int, channels: int) -> FFTFilterBank:
    taps = interpolation_taps(factor)
    return FFTFilterBank(taps[:, ::-1], channels, fft_size=1 << 15)


def envelope_blocks(
    signal: np.ndarray, sample_rate: int, blocks: np.ndarray, block: int, factor: int | None = None
) -> np.ndarray:
    """True-peak envelope at `factor` points per sample (default: the meter's for the rate), channel maximum,
    float32, of the blocks [i * block, (i + 1) * block): shape (len(blocks), block); frames past the end
    read 0.

    The blocks are cut out with `TAPS_PER_PHASE` frames of context on both sides, laid end to end and
    interpolated a batch at a time (the same polyphase branches as `truepeak`); only each block's own frames
    are kept, so the values are those of the whole signal.
    """
    channels, frames = signal.shape
    factor = oversampling_factor(sample_rate) if factor is None else int(factor)
    blocks = np.asarray(blocks, dtype=np.int64)
    out = np.empty((blocks.size, block), dtype=np.float32)
    span = block + 2 * _CONTEXT
    per_batch = max(1, _BATCH_FRAMES // span)
    bank = _branch_bank(factor, channels) if factor > 1 else None
    for k in range(0, blocks.size, per_batch):
        batch = blocks[k : k + per_batch]
        pieces = np.zeros((channels, batch.size, span + LOOKAHEAD), dtype=np.float32)
        for j, i in enumerate(batch):  # a slice copy per block; the interpolation is one call per batch
            s0 = int(i) * block - _CONTEXT
            lo, hi = max(0, s0), min(frames, s0 + span)
            if hi > lo:
                pieces[:, j, lo - s0 : hi - s0] = signal[:, lo:hi]
        flat = pieces.reshape(channels, -1)
        env = np.abs(flat).max(axis=0)
        if bank is not None:
            bank.reset()
            branches = bank.process(
                flat
            )  # output frame p is the interpolation around input frame p - LOOKAHEAD
            np.maximum(
                env[:-LOOKAHEAD], np.abs(branches[:, :, LOOKAHEAD:]).max(axis=(0, 1)), out=env[:-LOOKAHEAD]
            )
        env = env.reshape(batch.size, span + LOOKAHEAD)
        out[k : k + batch.size] = env[:, _CONTEXT : _CONTEXT + block]
    past_end = blocks * block + block - frames  # frames of each block beyond the signal
    for j in np.flatnonzero(past_end > 0):
        out[j, block - past_end[j] :] = 0.0
    return out


def block_peaks(signal: np.ndarray, block: int) -> np.ndarray:
    """Largest |sample| of any channel per block (the last may be partial), float64. Max and min reductions
    only: no full-length temporary."""
    channels, frames = signal.shape
    whole = frames // block
    hi = signal[:, : whole * block].reshape(channels, whole, block).max(axis=(0, 2))
    lo = signal[:, : whole * block].reshape(channels, whole, block).min(axis=(0, 2))
    peaks = np.maximum(hi, -lo).astype(np.float64)
    if whole * block < frames:
        tail = signal[:, whole * block :]
        peaks = np.append(peaks, max(float(tail.max()), -float(tail.min())))
    return peaks


def peak_bounds(peaks: np.ndarray, sample_rate: int) -> np.ndarray:
    """Upper bound of the true peak in each block from the sample peaks of it and its neighbours."""
    hood = peaks.copy()
    hood[1:] = np.maximum(hood[1:], peaks[:-1])
    hood[:-1] = np.maximum(hood[:-1], peaks[1:])
    return hood * interpolation_gain(sample_rate)


def true_and_sample_peak(
    signal: np.ndarray, sample_rate: int, block: int = _SEARCH_BLOCK
) -> tuple[float, float]:
    """(true peak, sample peak), linear, max over channels, of `signal`: BS.1770-4 Annex 2, exact,
    interpolating only the blocks whose bound exceeds the largest value found; NaN for NaN or inf samples."""
    frames = signal.shape[1]
    if frames == 0:
        return 0.0, 0.0
    peaks = block_peaks(signal, block)
    sample_peak = float(peaks.max())
    if not np.isfinite(sample_peak) or np.isnan(peaks).any():
        return float("nan"), float("nan")
    if oversampling_factor(sample_rate) == 1 or sample_peak == 0.0:
        return sample_peak, sample_peak
    bounds = peak_bounds(peaks, sample_rate)
    first = np.sort(np.argsort(-peaks)[:8])
    best = max(sample_peak, float(envelope_blocks(signal, sample_rate, first, block).max()))
    rest = np.setdiff1d(np.flatnonzero(bounds > best), first)
    if rest.size:
        best = max(best, float(envelope_blocks(signal, sample_rate, rest, block).max()))
    return best, sample_peak
