"""Look-ahead true-peak limiter: a gain computer driven by the oversampled peak envelope.

The detector is the true-peak envelope of ITU-R BS.1770-4 Annex 2 (``truepeak.oversampled_peak_envelope``:
per base-rate sample, the largest magnitude of the 4x-interpolated points up to the next sample), linked
over channels. The gain computer works in dB of gain reduction, as in D. Giannoulis, M. Massberg and
J. D. Reiss, "Digital Dynamic Range Compressor Design - A Tutorial and Analysis", JAES 60(6), 2012 (limiter
= infinite ratio, hard knee), with a look-ahead delay as in U. Zolzer (ed.), "DAFX: Digital Audio Effects",
2nd ed., Wiley 2011, ch. 4 (limiter), realised as the usual hold-then-smooth ("minimum hold + moving
average") construction so that the gain is fully down before the peak arrives:

1. instantaneous reduction ``r[n] = max(0, level_db[n] - threshold_db)``;
2. hold: ``h[k] = max(r[k - guard ... k + attack + guard - 1])`` (a sliding maximum over the look-ahead);
3. release: ``q[k] = max(h[k], c q[k-1])`` (exponential return in dB, instant attack);
4. attack: two cascaded moving averages whose combined support is `attack` samples, so the gain glides
   into a peak and reaches its full value ``guard`` samples before it.

Every smoothed value within ``guard`` samples of a peak averages only held values >= that peak's reduction,
so the gain there never exceeds what the peak needs; the guard (half the interpolation filter) keeps the
gain flat across the samples that make up an inter-sample peak. The gain at frame k depends on the level up
to frame ``k + attack + guard - 1``: that is the latency of the streaming form. Everything is vectorised
(sliding maximum by doubling, release by the segment-wise cumulative maximum of ``dynamics.peak_release``,
moving averages by cumulative sums) and the state carried between blocks makes block-wise processing give
the one-call result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mastertape.dsp.dynamics import peak_release, time_constant_coeff
from mastertape.dsp.truepeak import TAPS_PER_PHASE, oversampled_peak_envelope, to_db

#: Frames held on each side of a peak: half the true-peak interpolation filter.
DEFAULT_GUARD = TAPS_PER_PHASE // 2


def sliding_max(x: np.ndarray, window: int) -> np.ndarray:
    """``out[k] = max(x[k : k + window])`` for k in [0, len(x) - window], by log2(window) doubling steps."""
    x = np.asarray(x)
    n_out = x.size - window + 1
    if window < 1:
        raise ValueError("window must be >= 1")
    if n_out <= 0:
        return x[:0].copy()
    m = x
    span = 1
    while span * 2 <= window:
        m = np.maximum(m[:-span], m[span:])
        span *= 2
    return np.maximum(m[:n_out], m[window - span : window - span + n_out])


def _boxcar(x: np.ndarray, tail: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Moving average over the last `length` values, given the previous ``length - 1`` values in `tail`."""
    if length <= 1:
        return x, tail
    buf = np.concatenate([tail, x])
    cs = np.concatenate([[0.0], np.cumsum(buf, dtype=np.float64)])
    out = (cs[length:] - cs[:-length]) / length
    return out, buf[buf.size - (length - 1) :]


@dataclass(frozen=True)
class LimiterSettings:
    """Threshold (dB of the detector level), look-ahead/attack and release times."""

    threshold_db: float = -1.0
    attack_ms: float = 2.0
    release_ms: float = 80.0
    guard: int = DEFAULT_GUARD


class LookaheadLimiter:
    """Streaming gain computer. ``process(level_db)`` returns the gains (linear, float32) of the frames whose
    look-ahead is complete: the output lags the input by `latency` frames; ``flush()`` returns the rest
    (the level after the end is taken as silence). `rate_hz` is the rate of the level values (the sample
    rate, or a decimated rate for fast estimates).
    """

    def __init__(self, settings: LimiterSettings, rate_hz: float) -> None:
        self.settings = settings
        self.attack = max(1, int(round(settings.attack_ms / 1000.0 * rate_hz)))
        self.guard = int(settings.guard)
        self.window = self.attack + 2 * self.guard
        self.latency = self.attack + self.guard - 1
        self._len1 = (self.attack + 1) // 2
        self._len2 = self.attack - self._len1 + 1
        self._release_c = time_constant_coeff(settings.release_ms / 1000.0, rate_hz)
        self._inst_tail = np.zeros(self.guard, dtype=np.float32)  # reductions of frames k0 - guard ... k0 - 1
        self._release_state = 0.0
        self._tail1: np.ndarray | None = None  # set from the first released value (see process_reduction)
        self._tail2: np.ndarray | None = None
        self.max_gain_reduction_db = 0.0

    def process_reduction(self, level_db: np.ndarray) -> np.ndarray:
        """Like `process`, but returns the smoothed gain reduction in dB (float64, >= 0)."""
        inst = np.maximum(
            np.asarray(level_db, dtype=np.float32) - np.float32(self.settings.threshold_db), np.float32(0.0)
        )
        buf = np.concatenate([self._inst_tail, inst])
        if self._idle() and not np.any(buf > 0.0):
            # nothing to reduce and nothing releasing: every stage outputs exact zeros
            n_out = max(0, buf.size - self.window + 1)
            self._inst_tail = buf[n_out:]
            if self._tail1 is None and n_out:
                self._tail1, self._tail2 = np.zeros(self._len1 - 1), np.zeros(self._len2 - 1)
            return np.zeros(n_out)
        held = sliding_max(buf, self.window)
        self._inst_tail = buf[held.size :]
        released, self._release_state = peak_release(held, self._release_c, self._release_state)
        if self._tail1 is None:
            if released.size == 0:
                return released
            # before the start the reduction is taken as that of the first look-ahead window, so a peak in the
            # first `attack` frames is met by full reduction instead of a ramp from unity gain
            self._tail1 = np.full(self._len1 - 1, released[0])
            self._tail2 = np.full(self._len2 - 1, released[0])
        s1, self._tail1 = _boxcar(released, self._tail1, self._len1)
        s2, self._tail2 = _boxcar(s1, self._tail2, self._len2)
        if s2.size:
            self.max_gain_reduction_db = max(self.max_gain_reduction_db, float(s2.max()))
        return s2

    def _idle(self) -> bool:
        if self._release_state != 0.0:
            return False
        return self._tail1 is None or not (np.any(self._tail1) or np.any(self._tail2))

    def process(self, level_db: np.ndarray) -> np.ndarray:
        """Gains (linear, float32) for the frames completed by this block of detector levels (dB)."""
        return reduction_to_gain(self.process_reduction(level_db))

    def flush_reduction(self) -> np.ndarray:
        return self.process_reduction(np.full(self.latency, -np.inf, dtype=np.float32))

    def flush(self) -> np.ndarray:
        return reduction_to_gain(self.flush_reduction())


def reduction_to_gain(reduction_db: np.ndarray) -> np.ndarray:
    """Linear gain 10^(-reduction/20), float32."""
    return np.exp(np.asarray(reduction_db, dtype=np.float32) * np.float32(-math.log(10.0) / 20.0))


def limiter_gain(level_db: np.ndarray, settings: LimiterSettings, rate_hz: float) -> tuple[np.ndarray, float]:
    """One-call gain (linear float32, same length as `level_db`) and the largest gain reduction in dB."""
    lim = LookaheadLimiter(settings, rate_hz)
    red = np.concatenate([lim.process_reduction(level_db), lim.flush_reduction()])
    return reduction_to_gain(red), lim.max_gain_reduction_db


def detector_level_db(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """True-peak detector level in dB per frame, linked over channels: 20 log10 of the largest oversampled
    peak envelope of any channel (float32, -inf in digital silence)."""
    env = oversampled_peak_envelope(samples, sample_rate).max(axis=0)
    return np.asarray(to_db(env), dtype=np.float32)


def true_peak_limit(
    samples: np.ndarray,
    sample_rate: int,
    ceiling_dbtp: float,
    attack_ms: float = 2.0,
    release_ms: float = 80.0,
    margin_db: float = 0.1,
) -> tuple[np.ndarray, float]:
    """Limit (channels, frames) `samples` so that the true peak stays at or below `ceiling_dbtp`.

    The gain computer acts `margin_db` below the ceiling (the gain varies across the interpolation filter of
    an inter-sample peak by a few hundredths of a dB at most). Returns (float32 samples, max reduction dB).
    For whole files the mastering chain computes the envelope block-wise; this one-call form is for short
    signals and tests.
    """
    x = np.asarray(samples, dtype=np.float32)
    level = detector_level_db(x, sample_rate)
    gain, max_gr = limiter_gain(
        level, LimiterSettings(ceiling_dbtp - margin_db, attack_ms, release_ms), sample_rate
    )
    return x * gain[None, :], max_gr
