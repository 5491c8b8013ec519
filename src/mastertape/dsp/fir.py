"""EQ curves as filters: a gain curve given at a few frequencies becomes a minimum-phase response.

A corrective or matching EQ is specified as gains (dB) at 1/3-octave centres. `curve_on_grid` spreads them
over an rfft grid (linear interpolation on a log-frequency axis, flat beyond the end points), and
`minimum_phase_response` turns that magnitude into the minimum-phase filter with exactly that magnitude by
the homomorphic method: the real cepstrum of the log magnitude, folded onto positive quefrencies, and
exponentiated back (A. V. Oppenheim and R. W. Schafer, "Discrete-Time Signal Processing", 3rd ed., 2010,
sec. 13.5.2; the same construction as scipy.signal.minimum_phase's "homomorphic" method, done here on the
magnitude directly). Minimum phase, like the shelves and bells of an analogue EQ, adds no latency and the
least pre-ringing, so the chain's filter bank can take the product of this response with its band
filters and stay causal.

The grid must be much finer than the curve's features (the chain uses about 0.3 Hz), so that the cepstrum
does not alias: a curve smooth at 1/3-octave resolution has a cepstrum that has decayed long before
half the grid.
"""

from __future__ import annotations

import math

import numpy as np


def grid_freqs(n_grid: int, sample_rate: int) -> np.ndarray:
    """Frequencies (Hz) of the rfft bins of an `n_grid`-point grid."""
    return np.arange(n_grid // 2 + 1) * (float(sample_rate) / n_grid)


def curve_on_grid(freqs_hz: np.ndarray, gains_db: np.ndarray, at_hz: np.ndarray) -> np.ndarray:
    """Gains (dB) at `at_hz`, interpolated linearly in log frequency between (`freqs_hz`, `gains_db`) and
    held flat beyond the first and last points (also at 0 Hz)."""
    f = np.asarray(freqs_hz, dtype=np.float64)
    g = np.asarray(gains_db, dtype=np.float64)
    if f.size == 0:
        return np.zeros(np.shape(at_hz))
    at = np.maximum(np.asarray(at_hz, dtype=np.float64), f[0])
    return np.interp(np.log10(at), np.log10(f), g)


def minimum_phase_response(gains_db: np.ndarray) -> np.ndarray:
    """Complex minimum-phase response whose magnitude is 10^(gains_db / 20), on the rfft grid that
    `gains_db` (n_grid // 2 + 1 values, DC to Nyquist) samples; see the module doc."""
    g = np.asarray(gains_db, dtype=np.float64)
    n = 2 * (g.size - 1)
    if n <= 0:
        return np.ones(g.size, dtype=np.complex128)
    cepstrum = np.fft.irfft(g * (math.log(10.0) / 20.0), n=n)
    folded = np.zeros(n)
    folded[0] = cepstrum[0]
    folded[1 : n // 2] = 2.0 * cepstrum[1 : n // 2]
    folded[n // 2] = cepstrum[n // 2]
    return np.exp(np.fft.rfft(folded))
