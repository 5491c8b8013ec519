"""Voice restoration presets novasr, lavasr, reuse, apollo_voice: speech denoising, then speech bandwidth extension.

1. Denoise with denoise.denoise_routed (DeepFilterNet3 for speech, MMSE-LSA otherwise or when the model would
   take part of the voice); a recording without a stationary noise floor passes unchanged.
2. Bandwidth extension with bandwidth.run_extension (spectral band replication above the detected cutoff;
   a recording below 32 kHz is first resampled to 48 kHz, so that e.g. 8 or 16 kHz telephone/VoIP speech
   gets its missing band). Denoising comes first so that the replication does not copy the noise upwards.

These are DSP stand-ins for the named neural models (NovaSR, LavaSR, REUSE, Apollo); the report says so.
The presets differ only in the replication's patch ensemble (see VOICE_PRESETS).
"""

from __future__ import annotations

import numpy as np

from mastertape.audio.types import Audio
from mastertape.restoration import bandwidth, denoise
from mastertape.restoration.settings import RestoreReport, RestoreSettings

# preset -> use the 3-patch ensemble (smoother rebuilt band) or the single patch (faster)
VOICE_PRESETS: dict[str, bool] = {"novasr": False, "lavasr": True, "reuse": True, "apollo_voice": True}


def restore_voice(samples: np.ndarray, sr: int, *, strength: float, stereo_mode: str, multiband_ensemble: bool
                  ) -> tuple[np.ndarray, int, RestoreReport]:
    """Denoise then extend; (samples, output rate, report with preset '' to be filled by the caller)."""
    den = denoise.denoise_routed(np.asarray(samples, dtype=np.float32), sr, strength, stereo_mode)
    y = np.nan_to_num(den.samples).astype(np.float32)
    denoised = not np.array_equal(y, samples)
    ext = bandwidth.run_extension(y, sr, stereo_mode=stereo_mode, multiband_ensemble=multiband_ensemble,
                                  top_hz=None, reconstruction="original_signal")
    repairs = tuple(r for r, done in (("denoise", denoised), ("extend_bandwidth", ext.applied)) if done)
    metrics = {
        "denoise": {"backend": den.backend, **den.metrics},
        "cutoff_hz": ext.cutoff_hz,
        "target_top_hz": ext.top_hz,
        "multiband_ensemble": multiband_ensemble,
        "output_sample_rate": ext.sample_rate,
    }
    report = RestoreReport(preset="", backend=f"{den.backend}+{bandwidth.BACKEND}", repairs=repairs,
                           metrics=metrics, notes=(*den.notes, *ext.notes))
    return ext.samples, ext.sample_rate, report


def run_voice_preset(audio: Audio, settings: RestoreSettings) -> tuple[Audio, RestoreReport]:
    """Presets novasr, lavasr, reuse, apollo_voice (see the module docstring)."""
    out, sr, report = restore_voice(audio.samples, audio.sample_rate, strength=settings.strength,
                                    stereo_mode=settings.stereo_mode,
                                    multiband_ensemble=VOICE_PRESETS[settings.preset])
    notes = (*report.notes, f"DSP speech restoration standing in for the '{settings.preset}' model "
             "(no neural network of that name runs)")
    return Audio(out, sr), RestoreReport(preset=settings.preset, backend=report.backend, repairs=report.repairs,
                                         metrics=report.metrics, notes=notes)
