"""Dialogue isolation: keep speech, suppress everything else (DeepFilterNet3 on the centre).

In a stereo mix dialogue sits in the phantom centre. The default (`single_pass`) first weights the mid
signal by the inter-channel similarity of Avendano & Jot 2004 ("A frequency-domain approach to multichannel
upmix", eq. 3: psi = 2 |L R*| / (|L|^2 + |R|^2), 1 for a centre-panned cell, ~0 for a hard-panned or
decorrelated one), then runs DeepFilterNet3 (deepfilter.py) on that centre and returns the dialogue on every
channel. Other stereo modes use apply_stereo_mode (left_right: each channel; mid_sides: mid and side;
mono: the downmix). `strength` maps to the model's attenuation limit like in the `denoise` preset.
"""

from __future__ import annotations

import numpy as np

from mastertape.audio.types import Audio
from mastertape.dsp.stft import hann_istft, hann_stft
from mastertape.errors import PresetUnavailable
from mastertape.restoration import deepfilter
from mastertape.restoration.denoise import deepfilter_atten_lim_db
from mastertape.restoration.settings import RestoreReport, RestoreSettings
from mastertape.restoration.stereo import apply_stereo_mode


def unavailable_reason(settings: RestoreSettings | None = None) -> str | None:
    """None when DeepFilterNet3 can run here (the registry's `available` hook)."""
    del settings
    return deepfilter.deepfilter_unavailable_reason()


def phantom_centre(samples: np.ndarray, sr: int, n_fft: int = 2048) -> np.ndarray:
    """Centre-weighted mid signal (1, frames) of a stereo (2, frames) signal (Avendano & Jot 2004, eq. 3)."""
    x = np.asarray(samples, dtype=np.float64)
    z = hann_stft(x, n_fft, boundary="even")
    left, right = z[0], z[1]
    similarity = 2 * np.abs(left * np.conj(right)) / (np.abs(left) ** 2 + np.abs(right) ** 2 + 1e-20)
    return hann_istft(similarity * 0.5 * (left + right), n_fft, x.shape[1])[None, :]


def isolate_dialogue(samples: np.ndarray, sr: int, strength: float = 0.95, stereo_mode: str = "single_pass"
                     ) -> np.ndarray:
    """Dialogue of (channels, frames) samples; same shape out (see the module docstring)."""
    reason = deepfilter.deepfilter_unavailable_reason()
    if reason is not None:
        raise PresetUnavailable(reason)
    lim = deepfilter_atten_lim_db(strength)
    x = np.asarray(samples)
    if x.shape[0] == 2 and stereo_mode == "single_pass":
        centre = phantom_centre(x, sr)
        speech = deepfilter.enhance_speech(centre, sr, lim)
        # the attenuation limit mixes back the *centre*; mix back the untouched mid for strength < 1
        mid = 0.5 * (x[0] + x[1])
        wet = speech[0] + (10 ** (-lim / 20.0)) * (mid - centre[0]) if lim < 100.0 else speech[0]
        return np.repeat(wet[None, :], 2, axis=0).astype(x.dtype if x.dtype.kind == "f" else np.float32)
    return apply_stereo_mode(x, stereo_mode, lambda s: deepfilter.enhance_speech(s, sr, lim))


def run_dialogue_isolate(audio: Audio, settings: RestoreSettings) -> tuple[Audio, RestoreReport]:
    """Preset `dialogue_isolate`."""
    x = audio.samples
    out = np.nan_to_num(isolate_dialogue(x, audio.sample_rate, settings.strength, settings.stereo_mode))
    out = out.astype(np.float32)
    kept = float(10 * np.log10((np.sum(out.astype(np.float64) ** 2) + 1e-20)
                               / (np.sum(x.astype(np.float64) ** 2) + 1e-20)))
    centre = x.shape[0] == 2 and settings.stereo_mode == "single_pass"
    notes = [f"{deepfilter.model_version()} via libDF on the "
             + ("phantom centre (Avendano-Jot similarity), same dialogue on both channels" if centre
                else f"channels as stereo_mode={settings.stereo_mode} says")]
    return audio.with_samples(out), RestoreReport(
        preset="dialogue_isolate", backend="deepfilternet3", repairs=("dialogue_isolate",),
        metrics={"energy_kept_db": kept, "atten_lim_db": deepfilter_atten_lim_db(settings.strength)},
        notes=tuple(notes))
