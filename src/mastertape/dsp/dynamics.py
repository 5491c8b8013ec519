"""Dynamics: vectorised envelope recursions, the compressor gain computer and a multiband compressor.

Level detection and gain smoothing follow D. Giannoulis, M. Massberg and J. D. Reiss, "Digital Dynamic Range
Compressor Design - A Tutorial and Analysis", JAES 60(6), 2012: the soft-knee static curve of their eq. (4)
computes the gain reduction in dB, and their "decoupled" smooth peak detector (eq. (16)) smooths it: an
instant-attack peak hold with exponential release, followed by a one-pole low-pass for the attack.

Neither recursion needs a per-sample loop. A one-pole filter ``y[n] = c y[n-1] + (1 - c) u[n]`` is, within a
segment, ``y[n] = (1 - c) c^n * cumsum(u[k] c^-k)[n]`` plus the decaying initial state, and the release
``y[n] = max(u[n], c y[n-1])`` is ``c^n * cummax(u[k] c^-k)[n]``. Segments are cut short enough that
``c^-k`` stays finite in float64 and long enough that ``c^segment`` is below 1e-18, so the state that
crosses a segment boundary is just the end of the previous segment (what is dropped is under float64
resolution). Both functions take and return their state, so a signal processed in blocks gives the result
of one call (to float64 rounding).

The multiband compressor measures each band on sub-blocks of a few hundred microseconds (the level and gain
computations then run at about 1/30 of the sample rate) and applies each band's gain as a linear ramp
between the last two finished sub-blocks: causal, no latency, and smooth at the sample rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: -ln(c) * segment length of the segment-wise recursions (see module doc), per working precision: the
#: carried state is then below 1e-18 (float64) or 2e-9 (float32) of the previous segment's end, and c^-k stays
#: far from overflow (e^42, e^20).
_SEG_DECAY = {np.dtype(np.float64): 42.0, np.dtype(np.float32): 20.0}


def time_constant_coeff(time_s: float, rate_hz: float) -> float:
    """One-pole coefficient exp(-1 / (time_s * rate_hz)) for a time constant; 0.0 for time_s <= 0."""
    if time_s <= 0.0:
        return 0.0
    return math.exp(-1.0 / (time_s * rate_hz))


def _segment_length(coeff: float, n: int, dtype: np.dtype = np.dtype(np.float64)) -> int:
    lam = -math.log(coeff)
    return max(1, min(int(math.ceil(_SEG_DECAY[np.dtype(dtype)] / lam)), n))


def one_pole(u: np.ndarray, coeff: float, state: float = 0.0) -> tuple[np.ndarray, float]:
    """``y[n] = coeff * y[n-1] + (1 - coeff) * u[n]`` with ``y[-1] = state``; returns (y float64, y[-1]).

    Vectorised (see module doc); exact to float64 rounding for 0 <= coeff < 1.
    """
    x = np.asarray(u, dtype=np.float64)
    n = x.size
    if n == 0:
        return np.zeros(0), float(state)
    if coeff <= 0.0:
        return x.copy(), float(x[-1])
    seg = _segment_length(coeff, n)
    lam = -math.log(coeff)
    n_seg = -(-n // seg)
    pad = np.zeros(n_seg * seg)
    pad[:n] = x
    k = np.arange(seg, dtype=np.float64)
    grow = np.exp(lam * k)
    z = np.cumsum(pad.reshape(n_seg, seg) * grow, axis=1)
    z *= (1.0 - coeff) / grow
    # state entering each segment: the end of the previous one (older history is below 1e-18 of it)
    init = np.empty(n_seg)
    init[0] = state
    init[1:] = z[:-1, -1]
    if n_seg > 1:
        init[1] += coeff**seg * state
    z += init[:, None] * (coeff * np.exp(-lam * k))[None, :]
    y = z.reshape(-1)[:n]
    return y, float(y[-1])


def peak_release(u: np.ndarray, coeff: float, state: float = 0.0) -> tuple[np.ndarray, float]:
    """``y[n] = max(u[n], coeff * y[n-1])`` for u >= 0 with ``y[-1] = state``: instant attack, exponential
    release (Giannoulis et al. 2012, eq. (16), first stage). Returns (y, y[-1]); float32 input is processed
    in float32 (relative error ~1e-7), anything else in float64.
    """
    x = np.asarray(u)
    dtype = np.dtype(np.float32) if x.dtype == np.float32 else np.dtype(np.float64)
    x = x.astype(dtype, copy=False)
    n = x.size
    if n == 0:
        return np.zeros(0, dtype=dtype), float(state)
    if coeff <= 0.0:
        return x.copy(), float(x[-1])
    seg = _segment_length(coeff, n, dtype)
    lam = -math.log(coeff)
    n_seg = -(-n // seg)
    pad = np.zeros(n_seg * seg, dtype=dtype)
    pad[:n] = x
    k = np.arange(seg, dtype=np.float64)
    grow = np.exp(lam * k).astype(dtype)
    z = np.maximum.accumulate(pad.reshape(n_seg, seg) * grow, axis=1)
    z /= grow
    init = np.empty(n_seg, dtype=dtype)
    init[0] = state
    init[1:] = z[:-1, -1]
    if n_seg > 1:
        init[1] = max(init[1], coeff**seg * state)
    np.maximum(z, init[:, None] * (coeff * np.exp(-lam * k)).astype(dtype)[None, :], out=z)
    y = z.reshape(-1)[:n]
    return y, float(y[-1])


def gain_reduction_db(level_db: np.ndarray, threshold_db: float, ratio: float, knee_db: float) -> np.ndarray:
    """Static compressor curve as gain reduction in dB (>= 0), Giannoulis et al. 2012 eq. (4) (soft knee).

    Below ``threshold - knee/2`` nothing; above ``threshold + knee/2`` the output rises 1/ratio dB per dB;
    in between a quadratic joins them.
    """
    x = np.asarray(level_db, dtype=np.float64)
    over = x - threshold_db
    slope = 1.0 - 1.0 / ratio
    gr = np.where(over > 0.0, slope * over, 0.0)
    if knee_db > 0.0:
        in_knee = np.abs(over) <= knee_db / 2.0
        gr = np.where(in_knee, slope * (over + knee_db / 2.0) ** 2 / (2.0 * knee_db), gr)
    return gr


@dataclass(frozen=True)
class BandCompressorSettings:
    """One band of the multiband compressor. `threshold_db` is relative to the band's own loud level
    (the `reference_db` given to the compressor, e.g. a high percentile of its short-term level)."""

    threshold_db: float = -2.0
    ratio: float = 1.5
    knee_db: float = 6.0
    attack_ms: float = 20.0
    release_ms: float = 200.0
    rms_ms: float = 10.0


@dataclass
class _BandState:
    partial_energy: float = 0.0
    rms: float = 0.0
    release: float = 0.0
    attack: float = 0.0
    gain_prev2: float = 1.0
    gain_prev1: float = 1.0


class MultibandCompressor:
    """Stereo-linked downward compressor per band (Giannoulis et al. 2012), streaming.

    ``process(bands)`` takes the band signals, shape (bands, channels, frames), and returns the gain of every
    band for those frames (float32, (bands, frames)). The detection energy of a frame is the sum over
    channels of the squared band samples times `energy_scale` (2 for mid/side input, as L^2 + R^2 =
    2 (M^2 + S^2)); levels are its mean over sub-blocks of `subblock` frames, smoothed by an RMS one-pole
    (`rms_ms`). The static curve uses ``reference_db[b] + threshold_db``; the gain reduction is smoothed by
    the decoupled peak detector (release, then attack) and applied as a ramp between the last two finished
    sub-blocks. Blocks of any size give the result of one call. `max_gain_reduction_db` holds, per band, the
    largest smoothed gain reduction so far.
    """

    def __init__(
        self,
        bands: list[BandCompressorSettings],
        reference_db: np.ndarray,
        sample_rate: int,
        subblock: int,
        energy_scale: float = 1.0,
    ) -> None:
        if len(bands) != len(reference_db):
            raise ValueError("one reference level per band is needed")
        self.bands = list(bands)
        self.reference_db = np.asarray(reference_db, dtype=np.float64)
        self.subblock = int(subblock)
        self.energy_scale = float(energy_scale)
        rate = sample_rate / self.subblock
        self._rms_c = [time_constant_coeff(b.rms_ms / 1000.0, rate) for b in bands]
        self._att_c = [time_constant_coeff(b.attack_ms / 1000.0, rate) for b in bands]
        self._rel_c = [time_constant_coeff(b.release_ms / 1000.0, rate) for b in bands]
        self._state = [_BandState() for _ in bands]
        self._position = 0  # frames processed so far
        self.max_gain_reduction_db = np.zeros(len(bands))
        self._ramp = (np.arange(1, self.subblock + 1, dtype=np.float32) / self.subblock)[None, :]

    def _subblock_sums(self, signals: np.ndarray, offset: int, n_sb: int) -> np.ndarray:
        """Energy sums (bands, n_sb) of the sub-blocks touched, the first starting `offset` frames early."""
        n_bands, _, frames = signals.shape
        d = self.subblock
        energy = np.einsum("bcn,bcn->bn", signals, signals)
        if offset or frames != n_sb * d:
            grid = np.zeros((n_bands, n_sb * d), dtype=np.float32)
            grid[:, offset : offset + frames] = energy
            energy = grid
        return energy.reshape(n_bands, n_sb, d).sum(axis=2, dtype=np.float64)

    def process(self, bands: np.ndarray) -> np.ndarray:
        signals = np.asarray(bands, dtype=np.float32)
        n_bands, _, frames = signals.shape
        d = self.subblock
        offset = self._position % d
        n_sb = -(-(offset + frames) // d)  # sub-blocks touched by this block
        complete = (offset + frames) // d  # of which finished within it
        gains = np.empty((n_bands, frames), dtype=np.float32)
        sums = self._subblock_sums(signals, offset, n_sb) * self.energy_scale
        for b in range(n_bands):
            st = self._state[b]
            sums[b, 0] += st.partial_energy
            st.partial_energy = float(sums[b, -1]) if complete < n_sb else 0.0
            if complete:
                power, st.rms = one_pole(sums[b, :complete] / d, self._rms_c[b], st.rms)
                level_db = 10.0 * np.log10(np.maximum(power, 1e-30))
                cfg = self.bands[b]
                gr = gain_reduction_db(
                    level_db, self.reference_db[b] + cfg.threshold_db, cfg.ratio, cfg.knee_db
                )
                rel, st.release = peak_release(gr, self._rel_c[b], st.release)
                smooth, st.attack = one_pole(rel, self._att_c[b], st.attack)
                self.max_gain_reduction_db[b] = max(self.max_gain_reduction_db[b], float(smooth.max()))
                new_gains = 10.0 ** (-smooth / 20.0)
            else:
                new_gains = np.zeros(0)
            # gains g[j] of sub-blocks j0 - 2 ... j0 + complete - 1, j0 = the first sub-block touched here
            seq = np.concatenate([[st.gain_prev2, st.gain_prev1], new_gains])
            start, end = seq[:n_sb].astype(np.float32), seq[1 : n_sb + 1].astype(np.float32)
            if offset == 0 and frames == n_sb * d:
                ramp = gains[b].reshape(n_sb, d)  # write the ramp straight into the output
                np.multiply((end - start)[:, None], self._ramp, out=ramp)
                ramp += start[:, None]
            else:
                ramp = start[:, None] + (end - start)[:, None] * self._ramp
                gains[b] = ramp.reshape(-1)[offset : offset + frames]
            st.gain_prev2, st.gain_prev1 = float(seq[-2]), float(seq[-1])
        self._position += frames
        return gains
