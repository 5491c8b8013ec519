"""Phantom-centre extraction from a stereo mix (Avendano & Jot 2004, similarity-based).

Avendano & Jot, "A frequency-domain approach to multichannel upmix", J. Audio Eng. Soc. 52(7/8), 2004:
per STFT bin, the inter-channel similarity psi = 2 |Phi_LR| / (Phi_LL + Phi_RR) (their eq. 7) is 1 for a
source panned dead centre (same signal, same level in both channels) and falls towards 0 as the source is
panned away or is uncorrelated between the channels. We use the signed form 2 Re(Phi_LR) / (Phi_LL + Phi_RR),
so that an out-of-phase component (L = -R, psi = -1) is not taken for centre. The centre is the mid signal
(L + R) / 2 weighted by a window on the similarity, their eq. 12 form Gamma = nu + (1 - nu) exp(-(1 - psi)^2
/ (2 xi)) with the width xi = CENTRE_WIDTH (psi = 0.8 passes at -2.4 dB, psi = 0.5 at -11.6 dB, a hard-panned
source at psi = 0 is cut down to the floor nu).

Spectra are smoothed over CONTEXT_TAU_S of frames and 3 bins before the similarity is taken (a single
periodogram bin is too noisy a similarity estimate), Hann STFT of ~46 ms with 75 % overlap.

Output: the extracted centre signal, identical on both channels (a mono centre "channel" as an upmixer
would feed to a centre speaker), at the level it has in the mix. The sides, i.e. the residual L - C and R - C
(hard- or partly-panned sources, stereo width, decorrelated reverberation), are discarded; they are reported
as `residual_energy_db` relative to the input. Mono input has no sides: it is returned unchanged.
`strength` sets the floor nu = -strength * FLOOR_RANGE_DB (40 dB at strength 1).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import lfilter

from mastertape.audio.types import Audio
from mastertape.dsp.stft import hann_istft, hann_stft, stft_size
from mastertape.restoration.settings import RestoreReport, RestoreSettings

CENTRE_WIDTH = 0.04  # xi of the Gaussian window on 1 - psi
CONTEXT_TAU_S = 0.03
FLOOR_RANGE_DB = 40.0


def _smooth(v: np.ndarray, alpha: float) -> np.ndarray:
    out = lfilter([1.0 - alpha], [1.0, -alpha], v, axis=-1)
    return uniform_filter1d(out, 3, axis=-2, mode="nearest")


def centre_mask(zl: np.ndarray, zr: np.ndarray, alpha: float, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """(gain, similarity) per bin and frame for two STFTs (bins, frames)."""
    pll = _smooth(np.abs(zl) ** 2, alpha)
    prr = _smooth(np.abs(zr) ** 2, alpha)
    plr = _smooth((zl * np.conj(zr)).real, alpha)
    psi = 2.0 * plr / np.maximum(pll + prr, 1e-40)
    gain = floor + (1.0 - floor) * np.exp(-((1.0 - np.clip(psi, -1.0, 1.0)) ** 2) / (2.0 * CENTRE_WIDTH))
    return gain, psi


def extract_centre(samples: np.ndarray, sr: int, strength: float = 0.95) -> tuple[np.ndarray, dict]:
    """Centre of a (2, frames) mix, returned on both channels (2, frames); plus metrics."""
    x = np.asarray(samples, dtype=np.float64)
    n = x.shape[1]
    n_fft = stft_size(sr)
    hop = n_fft // 4
    z = hann_stft(x, n_fft)
    alpha = float(np.exp(-hop / (CONTEXT_TAU_S * sr)))
    floor = 10 ** (-strength * FLOOR_RANGE_DB / 20.0)
    gain, psi = centre_mask(z[0], z[1], alpha, floor)
    centre = hann_istft(0.5 * (z[0] + z[1]) * gain, n_fft, n)
    power = np.abs(z[0]) ** 2 + np.abs(z[1]) ** 2
    out = np.stack([centre, centre])
    resid = x - out
    metrics = {
        "mean_similarity": float(np.average(psi, weights=power + 1e-30)),
        "centre_energy_db": _ratio_db(out, x),
        "residual_energy_db": _ratio_db(resid, x),
    }
    return out, metrics


def _ratio_db(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10((float(np.sum(a**2)) + 1e-30) / (float(np.sum(b**2)) + 1e-30)))


def run_phantom_center(audio: Audio, settings: RestoreSettings) -> tuple[Audio, RestoreReport]:
    """Preset `phantom_center`: the phantom centre of a stereo mix on both output channels."""
    x = audio.samples
    if x.shape[0] == 1:
        return audio.with_samples(np.array(x, dtype=np.float32, copy=True)), RestoreReport(
            preset="phantom_center",
            backend="avendano_jot_similarity",
            repairs=(),
            metrics={},
            notes=("mono input: everything is already centre; returned unchanged",),
        )
    out, metrics = extract_centre(x, audio.sample_rate, settings.strength)
    notes = (
        "output = the extracted phantom centre, identical on both channels (mono centre); the sides "
        "(panned sources, width, decorrelated ambience: the residual L - C, R - C) are discarded",
    )
    return audio.with_samples(np.nan_to_num(out).astype(np.float32)), RestoreReport(
        preset="phantom_center",
        backend="avendano_jot_similarity",
        repairs=("phantom_center",),
        metrics=metrics,
        notes=notes,
    )
