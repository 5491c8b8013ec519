"""Bleed suppression: a gentle spectral downward expander on low-level time-frequency regions.

Bleed is another source leaking into a recording at a low level (drums in a vocal microphone, the band in
a spoken-word take). It is quiet *relative to the programme around it*. Two references, each held over
+-100 ms: the broadband frame level against the file's loud level (a gate: in the pauses of the main
source only bleed is left), and each third-octave band against the loudest band within +-1 octave (bleed
far below the programme while it plays). Below the threshold every dB costs RATIO - 1 more dB, down to a
floor of strength * 20 dB. Gains open at once and close with a 100 ms release (gate ballistics, cf.
Giannoulis, Massberg & Reiss 2012 on attack/release smoothing) and are smoothed over 5 bins.
It runs after the noise reduction (denoise.py) in the `denoise_debleed` preset.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter, uniform_filter1d
from scipy.signal import lfilter

from mastertape.audio.types import Audio
from mastertape.dsp.stft import hann_istft, hann_stft, stft_size
from mastertape.restoration.settings import RestoreReport, RestoreSettings

NEIGHBOURHOOD_S = 0.1  # hold: +- time span over which the references take their peak
RATIO = 2.5  # (RATIO - 1) dB of cut per dB below the threshold
RELEASE_S = 0.1


def _band_matrix(freqs_hz: np.ndarray) -> np.ndarray:
    """(bands, bins) 0/1 matrix of third-octave bands from 40 Hz up (bins below 40 Hz join the first band)."""
    edges = 40.0 * 2 ** (np.arange(0, 40) / 3.0)
    edges = edges[edges < freqs_hz[-1]]
    idx = np.clip(np.searchsorted(edges, freqs_hz, side="right") - 1, 0, len(edges) - 1)
    return (idx[None, :] == np.arange(len(edges))[:, None]).astype(np.float64)


def _expand_db(level_db: np.ndarray, reference_db: np.ndarray, threshold_db: float) -> np.ndarray:
    """Downward expander gain in dB: (RATIO - 1) dB of cut per dB below reference + threshold."""
    return np.minimum((level_db - reference_db) - threshold_db, 0.0) * (RATIO - 1.0)


def bleed_gains(power: np.ndarray, freqs_hz: np.ndarray, frame_rate_hz: float, threshold_db: float,
                max_attenuation_db: float) -> np.ndarray:
    """Expander gains (linear, bins x frames, shared by the channels) for power (channels, bins, frames).

    Two references, both held over +-NEIGHBOURHOOD_S so that nothing near the programme is touched:
    1. broadband, like a gate: the frame level against the file's loud level (95th percentile of frames);
       in the pauses of the main source only the bleed is left, and it is expanded down;
    2. spectral: a third-octave band against the loudest band within +-1 octave, with a threshold 10 dB
       deeper; bleed in bands far below the programme around it is expanded down while the source plays.
    """
    half_t = max(1, int(round(NEIGHBOURHOOD_S * frame_rate_hz)))
    bands = _band_matrix(freqs_hz)
    band_power = np.einsum("kb,cbt->kt", bands, power)  # (bands, frames), channels summed
    band_db = 10 * np.log10(np.maximum(band_power, 1e-20))
    frame_db = 10 * np.log10(np.maximum(band_power.sum(axis=0), 1e-20))
    held_frame_db = maximum_filter(frame_db, size=2 * half_t + 1, mode="nearest")
    broadband = _expand_db(held_frame_db, np.percentile(frame_db, 95), threshold_db)[None, :]
    held_band_db = maximum_filter(band_db, size=(1, 2 * half_t + 1), mode="nearest")
    neighbours_db = maximum_filter(held_band_db, size=(7, 1), mode="nearest")  # +-3 third-octaves
    spectral = _expand_db(held_band_db, neighbours_db, threshold_db - 10.0)
    gain_db = np.clip(broadband + spectral, -max_attenuation_db, 0.0)
    a = np.exp(-1.0 / (RELEASE_S * frame_rate_hz))
    slow = lfilter([1 - a], [1, -a], gain_db, axis=-1)  # closes slowly, opens at once
    gain_db = np.maximum(gain_db, slow)
    per_bin = uniform_filter1d(bands.T @ gain_db, size=5, axis=0, mode="nearest")  # each bin: its band's gain
    return 10 ** (per_bin / 20.0)


def threshold_for_strength(strength: float) -> float:
    """Expander threshold in dB below the reference: -39 + 20 * strength (-20 dB at the default 0.95)."""
    return -39.0 + 20.0 * strength


def suppress_bleed(samples: np.ndarray, sr: int, strength: float = 0.95, threshold_db: float | None = None
                   ) -> np.ndarray:
    """Expand low-level cells of (channels, frames) or (frames,) samples downwards; same shape out.

    `strength` (0..1) sets the threshold (threshold_for_strength: -39 dB at 0 up to -19 dB at 1 below the
    reference, unless `threshold_db` is given) and the deepest attenuation (strength * 20 dB).
    """
    x_in = np.asarray(samples)
    squeeze = x_in.ndim == 1
    x = np.atleast_2d(x_in).astype(np.float64)
    n = x.shape[1]
    if strength <= 0.0 or n == 0:
        return np.array(x_in, copy=True)
    thr = threshold_db if threshold_db is not None else threshold_for_strength(strength)
    n_fft = stft_size(sr)
    hop = n_fft // 4
    z = hann_stft(x, n_fft, boundary="even")
    freqs = np.arange(z.shape[1]) * sr / n_fft
    gains = bleed_gains(np.abs(z) ** 2, freqs, sr / hop, thr, 20.0 * strength)
    y = hann_istft(z * gains, n_fft, n)
    out = np.nan_to_num(y).astype(x_in.dtype if x_in.dtype.kind == "f" else np.float32)
    return out[0] if squeeze else out


def run_denoise_debleed(audio: Audio, settings: RestoreSettings) -> tuple[Audio, RestoreReport]:
    """Preset `denoise_debleed`: the `denoise` preset, then bleed suppression with the same stereo mode."""
    from mastertape.restoration.denoise import denoise_routed
    from mastertape.restoration.stereo import apply_stereo_mode

    res = denoise_routed(audio.samples, audio.sample_rate, settings.strength, settings.stereo_mode)
    out = apply_stereo_mode(res.samples, settings.stereo_mode,
                            lambda s: suppress_bleed(s, audio.sample_rate, settings.strength))
    out = np.nan_to_num(out).astype(np.float32)
    before = float(np.mean(res.samples.astype(np.float64) ** 2))
    after = float(np.mean(out.astype(np.float64) ** 2))
    metrics = dict(res.metrics)
    metrics["bleed_threshold_db"] = threshold_for_strength(settings.strength)
    metrics["bleed_energy_removed_db"] = float(10 * np.log10(max(before, 1e-30) / max(after, 1e-30)))
    denoised = not np.array_equal(res.samples, audio.samples)
    repairs = (("denoise",) if denoised else ()) + ("debleed",)
    return audio.with_samples(out), RestoreReport(
        preset="denoise_debleed", backend=f"{res.backend}+spectral_expander", repairs=repairs, metrics=metrics,
        notes=res.notes)
