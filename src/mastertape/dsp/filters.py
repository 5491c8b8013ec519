"""Filter design (biquads, Linkwitz-Riley crossovers) and fast block-wise filtering.

Design: second-order sections in the layout of ``scipy.signal`` (rows ``[b0, b1, b2, a0, a1, a2]``), made with
the bilinear-transform formulas of R. Bristow-Johnson's "Cookbook formulae for audio EQ biquad filter
coefficients" (peaking, shelves, Butterworth low/high-pass, all-pass). Linkwitz-Riley 4th-order crossovers
(S. Linkwitz, "Active crossover networks for noncoincident drivers", JAES 24(1), 1976) are two cascaded
Butterworth sections; their low and high outputs sum to a 2nd-order all-pass at the crossover frequency, so
a band tree whose lower bands are given that all-pass for every crossover above them sums to a pure
all-pass (flat magnitude): D. Bohn's "Linkwitz-Riley crossovers: a primer" (Rane note 160).

Filtering: an IIR filter is run as the FIR of its impulse response, truncated where it has decayed below
float32 resolution, by overlap-save FFT convolution (Oppenheim & Schafer, "Discrete-Time Signal
Processing", 3rd ed., sec. 8.7.3). One forward FFT of a block feeds every output of a `FFTFilterBank`, which
is what makes a multiband split cheap: ``scipy.signal.sosfilt`` costs about 7 ns per sample and call on any
machine because each output sample waits for the previous one, so four separate IIR outputs cost four
passes; here they cost one forward and four inverse FFTs (about 2 ns per sample each). Results match the
IIR (``sosfilt``) to float32 rounding, and a bank keeps the last input samples as its state, so a long file
can be filtered in blocks of any size with the same result as one call (to float32 rounding).

Only numpy and scipy.fft are used (``scipy.signal`` alone costs half a second to import).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.fft

#: Magnitude, relative to its peak, below which an impulse response tail is dropped (float32 resolution).
IR_TAIL_REL = 1e-7
#: Longest impulse response kept, in seconds (a 2nd-order high-pass at 15 Hz decays in about 0.3 s).
MAX_IR_S = 0.75


# --- design -----------------------------------------------------------------------------------
def _check_freq(freq_hz: float, sample_rate: int) -> float:
    if not 0.0 < freq_hz < sample_rate / 2.0:
        raise ValueError(
            f"filter frequency {freq_hz} Hz must lie between 0 and Nyquist ({sample_rate / 2} Hz)"
        )
    return 2.0 * math.pi * freq_hz / sample_rate


def _section(b: Sequence[float], a: Sequence[float]) -> np.ndarray:
    a0 = a[0]
    return np.array([[b[0] / a0, b[1] / a0, b[2] / a0, 1.0, a[1] / a0, a[2] / a0]])


def peaking_sos(freq_hz: float, gain_db: float, q: float, sample_rate: int) -> np.ndarray:
    """Peaking (bell) EQ, RBJ cookbook: gain_db at freq_hz, bandwidth set by q. Shape (1, 6)."""
    w0 = _check_freq(freq_hz, sample_rate)
    amp = 10.0 ** (gain_db / 40.0)
    alpha = math.sin(w0) / (2.0 * q)
    cw = math.cos(w0)
    return _section([1 + alpha * amp, -2 * cw, 1 - alpha * amp], [1 + alpha / amp, -2 * cw, 1 - alpha / amp])


def low_shelf_sos(
    freq_hz: float, gain_db: float, sample_rate: int, q: float = 1 / math.sqrt(2)
) -> np.ndarray:
    """Low shelf, RBJ cookbook: gain_db below freq_hz (the half-gain point). Shape (1, 6)."""
    w0 = _check_freq(freq_hz, sample_rate)
    amp = 10.0 ** (gain_db / 40.0)
    alpha = math.sin(w0) / (2.0 * q)
    cw, sq = math.cos(w0), 2.0 * math.sqrt(amp) * alpha
    b = [
        amp * ((amp + 1) - (amp - 1) * cw + sq),
        2 * amp * ((amp - 1) - (amp + 1) * cw),
        amp * ((amp + 1) - (amp - 1) * cw - sq),
    ]
    a = [(amp + 1) + (amp - 1) * cw + sq, -2 * ((amp - 1) + (amp + 1) * cw), (amp + 1) + (amp - 1) * cw - sq]
    return _section(b, a)


def high_shelf_sos(
    freq_hz: float, gain_db: float, sample_rate: int, q: float = 1 / math.sqrt(2)
) -> np.ndarray:
    """High shelf, RBJ cookbook: gain_db above freq_hz (the half-gain point). Shape (1, 6)."""
    w0 = _check_freq(freq_hz, sample_rate)
    amp = 10.0 ** (gain_db / 40.0)
    alpha = math.sin(w0) / (2.0 * q)
    cw, sq = math.cos(w0), 2.0 * math.sqrt(amp) * alpha
    b = [
        amp * ((amp + 1) + (amp - 1) * cw + sq),
        -2 * amp * ((amp - 1) + (amp + 1) * cw),
        amp * ((amp + 1) + (amp - 1) * cw - sq),
    ]
    a = [(amp + 1) - (amp - 1) * cw + sq, 2 * ((amp - 1) - (amp + 1) * cw), (amp + 1) - (amp - 1) * cw - sq]
    return _section(b, a)


def lowpass_sos(freq_hz: float, sample_rate: int, q: float = 1 / math.sqrt(2)) -> np.ndarray:
    """2nd-order low-pass (Butterworth for the default q), RBJ cookbook. Shape (1, 6)."""
    w0 = _check_freq(freq_hz, sample_rate)
    alpha, cw = math.sin(w0) / (2.0 * q), math.cos(w0)
    return _section([(1 - cw) / 2, 1 - cw, (1 - cw) / 2], [1 + alpha, -2 * cw, 1 - alpha])


def highpass_sos(freq_hz: float, sample_rate: int, q: float = 1 / math.sqrt(2)) -> np.ndarray:
    """2nd-order high-pass (Butterworth for the default q), RBJ cookbook. Shape (1, 6)."""
    w0 = _check_freq(freq_hz, sample_rate)
    alpha, cw = math.sin(w0) / (2.0 * q), math.cos(w0)
    return _section([(1 + cw) / 2, -(1 + cw), (1 + cw) / 2], [1 + alpha, -2 * cw, 1 - alpha])


def allpass_sos(freq_hz: float, sample_rate: int, q: float = 1 / math.sqrt(2)) -> np.ndarray:
    """2nd-order all-pass, RBJ cookbook; with the default q it is the sum of the LR4 low and high outputs."""
    w0 = _check_freq(freq_hz, sample_rate)
    alpha, cw = math.sin(w0) / (2.0 * q), math.cos(w0)
    return _section([1 - alpha, -2 * cw, 1 + alpha], [1 + alpha, -2 * cw, 1 - alpha])


def linkwitz_riley_sos(freq_hz: float, sample_rate: int, kind: str) -> np.ndarray:
    """Linkwitz-Riley 4th-order low-pass (kind "low") or high-pass ("high"): two Butterworth sections, (2, 6).

    Each output is -6.02 dB at freq_hz; low + high is ``allpass_sos(freq_hz)`` (flat magnitude).
    """
    if kind == "low":
        sec = lowpass_sos(freq_hz, sample_rate)
    elif kind == "high":
        sec = highpass_sos(freq_hz, sample_rate)
    else:
        raise ValueError(f"kind must be 'low' or 'high', got {kind!r}")
    return np.vstack([sec, sec])


def crossover_bands_sos(crossovers_hz: Sequence[float], sample_rate: int) -> list[np.ndarray]:
    """Second-order sections of each band of a Linkwitz-Riley 4th-order band split, lowest band first.

    Band k is ``HP(f[j]) for every j < k``, then ``LP(f[k])``, then ``AP(f[j]) for every j > k`` (the
    classic tree: the upper branch is split again, the lower one gets the matching all-pass). Summing from the
    top, ``HP(f[k]) + LP(f[k]) = AP(f[k])`` at every step, so the bands add up to the cascade of all-passes
    ``AP(f[0]) ... AP(f[-1])``: a flat magnitude.
    len(crossovers_hz) + 1 bands; the crossovers must be increasing.
    """
    f = [float(v) for v in crossovers_hz]
    if any(b <= a for a, b in zip(f, f[1:], strict=False)):
        raise ValueError(f"crossover frequencies must increase, got {f}")
    bands = []
    for k in range(len(f) + 1):
        parts = [linkwitz_riley_sos(f[j], sample_rate, "high") for j in range(k)]
        if k < len(f):
            parts.append(linkwitz_riley_sos(f[k], sample_rate, "low"))
        parts.extend(allpass_sos(f[j], sample_rate) for j in range(k + 1, len(f)))
        bands.append(np.vstack(parts) if parts else identity_sos())
    return bands


def identity_sos() -> np.ndarray:
    """A section that passes the signal unchanged, (1, 6)."""
    return np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]])


def cascade(*sos: np.ndarray) -> np.ndarray:
    """Sections of filters in series, (sum of sections, 6)."""
    return np.vstack([np.atleast_2d(s) for s in sos])


# --- analysis ---------------------------------------------------------------------------------
def sos_response(sos: np.ndarray, freqs_hz: np.ndarray | float, sample_rate: int) -> np.ndarray:
    """Complex frequency response of the cascade `sos` at `freqs_hz` (any shape), complex128."""
    f = np.asarray(freqs_hz, dtype=np.float64)
    z1 = np.exp(-2j * np.pi * f / sample_rate)
    z2 = z1 * z1
    h = np.ones(f.shape, dtype=np.complex128)
    for b0, b1, b2, a0, a1, a2 in np.atleast_2d(sos):
        h *= (b0 + b1 * z1 + b2 * z2) / (a0 + a1 * z1 + a2 * z2)
    return h


def sos_response_db(sos: np.ndarray, freqs_hz: np.ndarray | float, sample_rate: int) -> np.ndarray:
    """Magnitude response of `sos` in dB at `freqs_hz`."""
    return 20.0 * np.log10(np.maximum(np.abs(sos_response(sos, freqs_hz, sample_rate)), 1e-300))


def _pole_radius(sos: np.ndarray) -> float:
    r = 0.0
    for _b0, _b1, _b2, a0, a1, a2 in np.atleast_2d(sos):
        roots = np.roots([a0, a1, a2]) if a2 != 0.0 or a1 != 0.0 else np.zeros(1)
        r = max(r, float(np.max(np.abs(roots))) if roots.size else 0.0)
    return r


def truncated_impulse_responses(sos_list: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
    """Impulse responses of the cascades in `sos_list`, (len(sos_list), taps) float64, cut where all of them
    stay under `IR_TAIL_REL` of their peak (taps a multiple of 64, capped at `MAX_IR_S`).

    The slowest mode decays as r^n for the largest pole radius r; the responses are computed over twice that
    span (``sos_impulse_response``) and cut after their last sample above the tail level.
    """
    r = max(_pole_radius(s) for s in sos_list)
    if r >= 1.0:
        raise ValueError("unstable or marginally stable filter (pole on or outside the unit circle)")
    cap = int(MAX_IR_S * sample_rate)
    span = 64 if r == 0.0 else int(min(2.0 * math.log(IR_TAIL_REL) / math.log(r) + 64, cap))
    return truncate_impulse_responses(np.stack([sos_impulse_response(sos, span) for sos in sos_list]), sample_rate)


def impulse_response_length(sos_list: Sequence[np.ndarray], sample_rate: int) -> int:
    """Samples after which every cascade in `sos_list` stays under `IR_TAIL_REL` of its peak (multiple of 64);
    see `truncated_impulse_responses`."""
    return int(truncated_impulse_responses(sos_list, sample_rate).shape[1])


def sos_impulse_response(sos: np.ndarray, length: int) -> np.ndarray:
    """First `length` samples of the impulse response of `sos`, float64.

    Computed by sampling the frequency response on a grid at least four times longer than `length` and
    inverting it; time aliasing adds the response from `4 * length` samples on, negligible when `length`
    covers the decay (`impulse_response_length`).
    """
    n_fft = 1 << int(math.ceil(math.log2(4 * max(int(length), 16))))
    f = np.arange(n_fft // 2 + 1) / n_fft
    h = np.fft.irfft(sos_response(sos, f, 1), n=n_fft)
    return h[:length]


def response_grid_size(sample_rate: int) -> int:
    """rfft grid length on which responses are combined before inversion: at least twice `MAX_IR_S`,
    so an impulse response that long does not wrap around."""
    return 1 << int(math.ceil(math.log2(2.0 * MAX_IR_S * sample_rate)))


def truncate_impulse_responses(irs: np.ndarray, sample_rate: int) -> np.ndarray:
    """`irs` (..., n) cut after their last sample above `IR_TAIL_REL` of their peak, across all of them
    (a multiple of 64 taps, at most `MAX_IR_S`)."""
    mags = np.abs(irs.reshape(-1, irs.shape[-1]))
    above = mags > IR_TAIL_REL * mags.max(axis=1, keepdims=True)
    last = int(np.nonzero(above.any(axis=0))[0][-1]) + 1 if above.any() else 1
    taps = int(min(int(MAX_IR_S * sample_rate), irs.shape[-1], 64 * -(-last // 64)))
    return irs[..., :taps]


# --- block-wise FFT filtering ---------------------------------------------------------------------
def fft_size_for(taps: int, block: int | None = None) -> int:
    """FFT length for overlap-save filtering with `taps`-long responses: a power of two from 4096 up.

    Without a block size, about five times the response. With `block` (the frames of each `process`
    call), the length that needs the least work for such a block, counted as frames * N log2 N: a block
    just over a whole number of hops pays for a nearly empty extra frame (180,810 frames through 6,656
    taps: seven 32768-point frames cost 18% less than four of 65536 points).
    """
    smallest = max(1 << int(math.ceil(math.log2(2 * taps))), 4096)
    if block is None:
        return max(1 << int(math.ceil(math.log2(5 * taps))), 4096)

    def cost(n: int) -> float:
        return -(-int(block) // (n - taps + 1)) * n * math.log2(n)

    return min((smallest << k for k in range(4)), key=cost)


class FFTFilterBank:
    """Several linear filters applied to the same multichannel signal by overlap-save FFT convolution.

    `impulse_responses` has shape (outputs, taps), or (outputs, channels, taps) for a response per channel
    (e.g. a different EQ for mid and side); ``process(block)`` takes (channels, frames) and returns
    (outputs, channels, frames) float32: output o is the causal convolution of the signal with response o.
    The state is the last ``taps - 1`` input frames, so consecutive blocks of any size give the same result
    as one call (to float32 rounding). Memory: the FFT frames of one block, nothing of the whole signal.
    """

    def __init__(
        self,
        impulse_responses: np.ndarray,
        channels: int,
        fft_size: int | None = None,
        block: int | None = None,
    ) -> None:
        irs = np.asarray(impulse_responses, dtype=np.float64)
        irs = irs if irs.ndim == 3 else np.atleast_2d(irs)
        self.outputs, self.taps = irs.shape[0], irs.shape[-1]
        self.channels = int(channels)
        if irs.ndim == 3 and irs.shape[1] != self.channels:
            raise ValueError(f"per-channel responses need {self.channels} channels, got {irs.shape[1]}")
        if fft_size is None:
            fft_size = fft_size_for(self.taps, block)
        if fft_size < self.taps + 1:
            raise ValueError(f"fft_size {fft_size} must exceed the response length {self.taps}")
        self.fft_size = int(fft_size)
        self.hop = self.fft_size - self.taps + 1
        self._spectra = scipy.fft.rfft(irs, n=self.fft_size, axis=-1).astype(np.complex64)
        if irs.ndim == 3:  # (outputs, channels, 1, bins): broadcasts over the FFT frames of each channel
            self._spectra = self._spectra[:, :, None, :]
        self._history = np.zeros((self.channels, self.taps - 1), dtype=np.float32)

    @classmethod
    def from_sos(
        cls,
        sos_list: Sequence[np.ndarray],
        sample_rate: int,
        channels: int,
        taps: int | None = None,
        delay: int = 0,
        block: int | None = None,
    ) -> FFTFilterBank:
        """A bank whose outputs are the IIR cascades `sos_list`, truncated after they decay (see module doc),
        each delayed by `delay` frames; `block`: the usual block size (see `fft_size_for`)."""
        if taps is None:
            responses = truncated_impulse_responses(sos_list, sample_rate)
        else:
            responses = np.stack([sos_impulse_response(sos, taps) for sos in sos_list])
        irs = np.zeros((len(sos_list), responses.shape[1] + delay))
        irs[:, delay:] = responses
        return cls(irs, channels, block=block)

    @classmethod
    def from_responses(
        cls, responses: np.ndarray, sample_rate: int, channels: int, block: int | None = None
    ) -> FFTFilterBank:
        """A bank from complex frequency responses sampled on an rfft grid, shape (outputs, [channels,]
        bins) with bins = n_grid // 2 + 1: each is inverted and cut after it decays (see
        `truncate_impulse_responses`)."""
        n_grid = 2 * (responses.shape[-1] - 1)
        irs = np.fft.irfft(responses, n=n_grid, axis=-1)
        return cls(truncate_impulse_responses(irs, sample_rate), channels, block=block)

    def reset(self) -> None:
        self._history[:] = 0.0

    def process(self, block: np.ndarray) -> np.ndarray:
        """Filter the next (channels, frames) block; returns (outputs, channels, frames) float32."""
        x = np.asarray(block, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] != self.channels:
            raise ValueError(f"block must be ({self.channels}, frames), got {x.shape}")
        frames = x.shape[1]
        out = np.empty((self.outputs, self.channels, frames), dtype=np.float32)
        if frames == 0:
            return out
        keep = self.taps - 1
        n_fft, hop = self.fft_size, self.hop
        n_frames = -(-frames // hop)
        buf = np.empty((self.channels, (n_frames - 1) * hop + n_fft), dtype=np.float32)
        buf[:, :keep] = self._history
        buf[:, keep : keep + frames] = x
        buf[:, keep + frames :] = 0.0
        if keep:
            self._history = buf[:, frames : frames + keep].copy()
        windows = np.lib.stride_tricks.sliding_window_view(buf, n_fft, axis=-1)[:, ::hop][:, :n_frames]
        spec = scipy.fft.rfft(windows, axis=-1)
        prod = np.empty_like(spec)
        for o in range(self.outputs):
            np.multiply(spec, self._spectra[o], out=prod)
            y = scipy.fft.irfft(prod, n=n_fft, axis=-1, overwrite_x=True)
            out[o] = y[..., keep:].reshape(self.channels, -1)[:, :frames]
        return out
