"""Loudness metering: ITU-R BS.1770-4 (K-weighting, gated integrated loudness), EBU Tech 3341
(momentary and short-term loudness) and EBU Tech 3342 (loudness range).

Everything is derived from one table: the sum of squared K-weighted samples of every channel in every
100 ms hop (`KWeightedEnergy`). A 400 ms gating block is 4 consecutive hops and a 3 s short-term
window is 30, so the block mean squares of BS.1770-4 eq. (3) (75 % overlap) and of Tech 3341/3342
(10 Hz refresh) are sliding sums over that table, never a loop over blocks. Hop length is
round(sample_rate / 10) frames (as libebur128 does), so a block is exactly four hops at any rate.

Channel weights are 1.0 for left and right, and mono is measured as one channel of weight 1.0 (not as
dual-mono), which is what BS.1770-4 specifies and what FFmpeg's ``ebur128`` filter does by default
(its ``dualmono`` option is off): a mono file reads 3.01 LU lower than the same signal on both
channels of a stereo file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mastertape.dsp.arrays import as_channels
from mastertape.dsp.filters import FFTFilterBank
from mastertape.dsp.truepeak import to_db, true_peak
from mastertape.errors import InvalidAudioValues, TooManyChannels, UnsupportedSampleRate

#: BS.1770-4 eq. (2): offset making a full-scale 997 Hz sine on one channel read -3.01 LUFS.
LOUDNESS_OFFSET_DB = -0.691
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
LRA_RELATIVE_GATE_LU = -20.0
LRA_LOW_PERCENTILE = 10.0
LRA_HIGH_PERCENTILE = 95.0
#: Hops (of 100 ms) per momentary block (400 ms) and per short-term window (3 s).
MOMENTARY_HOPS = 4
SHORT_TERM_HOPS = 30
MIN_SAMPLE_RATE = 8000

# Analog prototype of the BS.1770-4 K-weighting filter: the parameters that reproduce the 48 kHz
# coefficients of BS.1770-4 Table 1 (pre-filter, a high shelf) and Table 2 (RLB high-pass) through the
# bilinear transform, as fitted in libebur128 (J. Kokemueller) and used by FFmpeg's ebur128 filter;
# they reproduce both tables to 1e-15 (tests/unit/dsp/test_loudness.py). pyloudnorm 0.2 uses rounded
# values and a unit-gain RLB numerator instead, and reads 0.04 dB lower.
_SHELF_F0_HZ = 1681.974450955533
_SHELF_GAIN_DB = 3.999843853973347
_SHELF_Q = 0.7071752369554196
_SHELF_MID_EXPONENT = 0.4996667741545416  # Vb = Vh ** exponent: gain of the s-term of the shelf numerator
_RLB_F0_HZ = 38.13547087602444
_RLB_Q = 0.5003270373238773

_CHUNK_HOPS = 40  # K-weighting runs on chunks of 4 s so that the float64 work stays in cache


def _bilinear_k(f0_hz: float, sample_rate: int) -> float:
    return float(np.tan(np.pi * f0_hz / sample_rate))


def k_weighting_sos(sample_rate: int) -> np.ndarray:
    """K-weighting filter of BS.1770-4 (pre-filter then RLB high-pass) as second-order sections (2, 6).

    Designed at any rate from the analog prototype by the pre-warped bilinear transform, exactly as
    libebur128 (and FFmpeg's ebur128, and pyloudnorm) do; at 48 kHz it reproduces BS.1770-4 Tables 1
    and 2. Like Table 2 (and those tools), the RLB numerator stays the unnormalised [1, -2, 1], so the
    high-pass has a passband gain of a0 = 1 + K/Q + K^2 (1.004995 at 48 kHz) that drifts with the rate.
    Keeping a0 at its 48 kHz value instead looks more faithful but is worse: the pre-filter's warping at
    low rates happens to be offset by that drift, so with it a 997 Hz sine reads within 0.04 dB of its
    BS.1770-4 calibration from 8 to 192 kHz (measured), without it 0.2 dB low at 8 kHz.
    """
    _check_rate(sample_rate)
    k = _bilinear_k(_SHELF_F0_HZ, sample_rate)
    vh = 10.0 ** (_SHELF_GAIN_DB / 20.0)
    vb = vh**_SHELF_MID_EXPONENT
    a0 = 1.0 + k / _SHELF_Q + k * k
    shelf_b = np.array([vh + vb * k / _SHELF_Q + k * k,
                        2.0 * (k * k - vh),
                        vh - vb * k / _SHELF_Q + k * k]) / a0
    shelf_a = np.array([a0, 2.0 * (k * k - 1.0), 1.0 - k / _SHELF_Q + k * k]) / a0

    k = _bilinear_k(_RLB_F0_HZ, sample_rate)
    a0 = 1.0 + k / _RLB_Q + k * k
    rlb_b = np.array([1.0, -2.0, 1.0])
    rlb_a = np.array([a0, 2.0 * (k * k - 1.0), 1.0 - k / _RLB_Q + k * k]) / a0
    return np.vstack([np.concatenate([shelf_b, shelf_a]), np.concatenate([rlb_b, rlb_a])])


def hop_length(sample_rate: int) -> int:
    """Frames per 100 ms hop: round(sample_rate / 10), half up (libebur128's choice)."""
    return (int(sample_rate) + 5) // 10


def _check_rate(sample_rate: int) -> None:
    if int(sample_rate) != sample_rate or sample_rate < MIN_SAMPLE_RATE:
        raise UnsupportedSampleRate(f"loudness needs an integer sample rate >= {MIN_SAMPLE_RATE} Hz, "
                                    f"got {sample_rate}")


def _as_2d(samples: np.ndarray) -> np.ndarray:
    x = as_channels(samples)
    if x.shape[0] > 2:
        raise TooManyChannels(f"loudness is measured on mono or stereo audio, got {x.shape[0]} channels")
    return x


@dataclass(frozen=True)
class KWeightedEnergy:
    """Sum of squared K-weighted samples per channel and 100 ms hop (BS.1770-4 eq. (1) before the mean).

    `hop_sums` has shape (channels, hops), float64; only complete hops are kept. This is the one costly
    step of every loudness figure; keep it to derive several (or to re-evaluate a pure gain change with
    ``integrated_loudness_from_energy(energy, gain_db=...)``) without filtering again.
    """

    hop_sums: np.ndarray
    hop_frames: int
    sample_rate: int

    @property
    def channel_weights(self) -> np.ndarray:
        """BS.1770-4 Table 3 weights G_i: 1.0 for mono and for left/right."""
        return np.ones(self.hop_sums.shape[0])

    def block_powers(self, block_hops: int) -> np.ndarray:
        """Channel-weighted mean square of every window of `block_hops` hops, one hop apart.

        The argument of the logarithm in BS.1770-4 eq. (4): sum_i G_i z_ij; shape (hops - block_hops + 1,),
        empty when the signal is shorter than one window.
        """
        weighted = self.channel_weights @ self.hop_sums
        if weighted.size < block_hops:
            return np.zeros(0)
        windows = np.lib.stride_tricks.sliding_window_view(weighted, block_hops)
        return windows.sum(axis=1) / (block_hops * self.hop_frames)


def _energy(x: np.ndarray, sample_rate: int, sos: np.ndarray | None) -> KWeightedEnergy:
    hop = hop_length(sample_rate)
    channels = x.shape[0]
    n_hops = x.shape[1] // hop
    sums = np.zeros((channels, n_hops))
    # K-weighting by FFT convolution of its decayed impulse response (dsp.filters): the same result as
    # scipy.signal.sosfilt to float32 rounding, without importing scipy.signal (half a second per process)
    bank = None if sos is None else FFTFilterBank.from_sos([sos], sample_rate, channels)
    for h0 in range(0, n_hops, _CHUNK_HOPS):
        h1 = min(n_hops, h0 + _CHUNK_HOPS)
        seg = x[:, h0 * hop:h1 * hop]
        if sos is None:
            y = seg.astype(np.float64)
        else:
            y = bank.process(seg)[0].astype(np.float64)
        y = y.reshape(channels, h1 - h0, hop)
        sums[:, h0:h1] = np.einsum("chk,chk->ch", y, y)
    if not (np.all(np.isfinite(sums)) and np.all(np.isfinite(x[:, n_hops * hop:]))):
        raise InvalidAudioValues("samples contain NaN or infinite values")
    return KWeightedEnergy(hop_sums=sums, hop_frames=hop, sample_rate=int(sample_rate))


def kweighted_energy(samples: np.ndarray, sample_rate: int) -> KWeightedEnergy:
    """K-weight `samples` (channels, frames) once and sum the squares per 100 ms hop.

    The filter runs on 4 s chunks with its state carried over (identical to one pass over the file),
    accumulating in float64, so memory stays bounded on long files.
    """
    _check_rate(sample_rate)
    x = _as_2d(samples)
    return _energy(x, sample_rate, k_weighting_sos(sample_rate))


def energy_from_kweighted(kweighted: np.ndarray, sample_rate: int) -> KWeightedEnergy:
    """Same table as `kweighted_energy` for a signal that is already K-weighted (e.g. by a stage)."""
    _check_rate(sample_rate)
    return _energy(_as_2d(kweighted), sample_rate, None)


def power_to_lufs(power: float | np.ndarray) -> float | np.ndarray:
    """BS.1770-4 eq. (2)/(4): -0.691 + 10 log10(weighted mean square); -inf for zero, never NaN."""
    with np.errstate(divide="ignore"):
        out = LOUDNESS_OFFSET_DB + 10.0 * np.log10(np.asarray(power, dtype=np.float64))
    return float(out) if np.ndim(out) == 0 else out


def _lufs_to_power(lufs: float) -> float:
    return 10.0 ** ((lufs - LOUDNESS_OFFSET_DB) / 10.0)


def _gated_mean_power(powers: np.ndarray, relative_gate_lu: float) -> float:
    """BS.1770-4 eqs. (5)-(7): mean power of the blocks above the absolute and then the relative gate.

    Gates are compared in the power domain (l_j > gate is powers > power(gate)); 0.0 when no block passes.
    """
    above_abs = powers[powers > _lufs_to_power(ABSOLUTE_GATE_LUFS)]
    if above_abs.size == 0:
        return 0.0
    relative_power = float(np.mean(above_abs)) * 10.0 ** (relative_gate_lu / 10.0)
    gated = above_abs[above_abs > relative_power]
    return float(np.mean(gated)) if gated.size else 0.0


def integrated_loudness_from_energy(energy: KWeightedEnergy, gain_db: float = 0.0) -> float:
    """Gated integrated loudness in LUFS (BS.1770-4 eqs. (3)-(7)) of the signal scaled by `gain_db`.

    400 ms blocks with 75 % overlap, absolute gate -70 LUFS, relative gate -10 LU. -inf when no block
    passes the gates (silence, or less than 400 ms of audio). The result is exact for any pure gain,
    including its effect on the absolute gate, so loudness targeting can reuse one `KWeightedEnergy`.
    """
    powers = energy.block_powers(MOMENTARY_HOPS) * 10.0 ** (gain_db / 10.0)
    return power_to_lufs(_gated_mean_power(powers, RELATIVE_GATE_LU))


def momentary_from_energy(energy: KWeightedEnergy) -> np.ndarray:
    """Momentary loudness (EBU Tech 3341: 400 ms window, ungated) every 100 ms, LUFS; -inf in silence."""
    return np.asarray(power_to_lufs(energy.block_powers(MOMENTARY_HOPS)), dtype=np.float64)


def short_term_from_energy(energy: KWeightedEnergy) -> np.ndarray:
    """Short-term loudness (EBU Tech 3341: 3 s window, ungated) every 100 ms, LUFS; -inf in silence."""
    return np.asarray(power_to_lufs(energy.block_powers(SHORT_TERM_HOPS)), dtype=np.float64)


def _percentile_nearest(sorted_values: np.ndarray, percent: float) -> float:
    # EBU Tech 3342 reference pseudo-code: element round((n - 1) * p) of the sorted, gated values.
    index = int(np.floor((sorted_values.size - 1) * percent / 100.0 + 0.5))
    return float(sorted_values[index])


def loudness_range_from_energy(energy: KWeightedEnergy) -> float:
    """Loudness range in LU (EBU Tech 3342): short-term values (3 s, 10 Hz) above -70 LUFS and above
    -20 LU relative to their power mean; the 95th minus the 10th percentile. 0.0 when fewer than two
    values pass (as libebur128 and FFmpeg report for short or silent files).
    """
    powers = energy.block_powers(SHORT_TERM_HOPS)
    above_abs = powers[powers > _lufs_to_power(ABSOLUTE_GATE_LUFS)]
    if above_abs.size < 2:
        return 0.0
    relative_power = float(np.mean(above_abs)) * 10.0 ** (LRA_RELATIVE_GATE_LU / 10.0)
    gated = np.sort(above_abs[above_abs > relative_power])
    if gated.size < 2:
        return 0.0
    levels = np.asarray(power_to_lufs(gated))
    return _percentile_nearest(levels, LRA_HIGH_PERCENTILE) - _percentile_nearest(levels, LRA_LOW_PERCENTILE)


def integrated_loudness(samples: np.ndarray, sample_rate: int) -> float:
    """Integrated (gated) loudness of `samples` (channels, frames) in LUFS; -inf for silence or < 400 ms."""
    return integrated_loudness_from_energy(kweighted_energy(samples, sample_rate))


def integrated_loudness_from_kweighted(kweighted: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness of a signal that is already K-weighted (skips the filter)."""
    return integrated_loudness_from_energy(energy_from_kweighted(kweighted, sample_rate))


def momentary_loudness(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Momentary loudness every 100 ms (EBU Tech 3341), LUFS; value j covers [0.1 j, 0.1 j + 0.4) s."""
    return momentary_from_energy(kweighted_energy(samples, sample_rate))


def short_term_loudness(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Short-term loudness every 100 ms (EBU Tech 3341), LUFS; value j covers [0.1 j, 0.1 j + 3) s."""
    return short_term_from_energy(kweighted_energy(samples, sample_rate))


def loudness_range(samples: np.ndarray, sample_rate: int) -> float:
    """Loudness range (EBU Tech 3342) in LU."""
    return loudness_range_from_energy(kweighted_energy(samples, sample_rate))


@dataclass(frozen=True)
class LoudnessStats:
    """The loudness figures of one signal. Levels are -inf where nothing is measurable (silence, or a
    signal shorter than the window: 400 ms for integrated/momentary, 3 s for short-term).

    plr_db is the peak-to-loudness ratio true_peak_dbtp - integrated_lufs (EBU R 128 s1); -inf when the
    integrated loudness is -inf.
    """

    integrated_lufs: float
    loudness_range_lu: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    plr_db: float
    max_momentary_lufs: float
    max_short_term_lufs: float


def _max_or_neg_inf(values: np.ndarray) -> float:
    return float(values.max()) if values.size else float("-inf")


def measure(samples: np.ndarray, sample_rate: int) -> LoudnessStats:
    """All loudness figures of `samples` (channels, frames): K-weights once, derives the integrated,
    momentary, short-term loudness and the LRA from the same hop energies, then adds true and sample peak.
    """
    x = _as_2d(samples)
    energy = kweighted_energy(x, sample_rate)
    integrated = integrated_loudness_from_energy(energy)
    peaks = true_peak(x, sample_rate)
    true_peak_dbtp = float(to_db(peaks.max())) if peaks.size else float("-inf")
    sample_peak = float(np.max(np.abs(x))) if x.size else 0.0
    plr = true_peak_dbtp - integrated if np.isfinite(integrated) else float("-inf")
    return LoudnessStats(
        integrated_lufs=integrated,
        loudness_range_lu=loudness_range_from_energy(energy),
        true_peak_dbtp=true_peak_dbtp,
        sample_peak_dbfs=float(to_db(sample_peak)),
        plr_db=plr,
        max_momentary_lufs=_max_or_neg_inf(momentary_from_energy(energy)),
        max_short_term_lufs=_max_or_neg_inf(short_term_from_energy(energy)),
    )
