"""Preset entries of the bandwidth family: audiosr, flashsr, aero, universr (bandwidth extension), the voice
presets novasr, lavasr, reuse, apollo_voice, and the model-folder presets dacvae, acestep_15_xl,
stable_audio_3 (see presets.py).

Targets are "module:function" strings so that listing presets imports no DSP code.
"""

from mastertape.restoration.registry import PresetSpec, register

_R = "mastertape.restoration"
_DSP = ("DSP, not the {model} neural model: no model of that name runs here. ")

_BWE = ("Detects the recording's band limit and rebuilds the missing band above it by spectral band "
        "replication (copy-up of the octave below the cutoff with an envelope that continues the measured "
        "slope); below the cutoff the source is kept untouched. Full-band input is returned unchanged; input "
        "below 32 kHz is resampled to 48 kHz first.")

register(PresetSpec(
    name="audiosr",
    description=_DSP.format(model="AudioSR") + _BWE + " frequency_cutoff is the top of the rebuilt band (Hz); "
                "multiband_ensemble averages three replication patches (smoother) instead of one.",
    backend="spectral_band_replication",
    target=f"{_R}.bandwidth:run_bandwidth_preset",
    fields=("stereo_mode", "frequency_cutoff", "multiband_ensemble"),
))

register(PresetSpec(
    name="flashsr",
    description=_DSP.format(model="FlashSR") + _BWE + " Fast variant: one replication patch, up to 20 kHz.",
    backend="spectral_band_replication",
    target=f"{_R}.bandwidth:run_bandwidth_preset",
    fields=("stereo_mode",),
))

register(PresetSpec(
    name="aero",
    description=_DSP.format(model="AERO") + _BWE + " Three-patch ensemble, up to 20 kHz.",
    backend="spectral_band_replication",
    target=f"{_R}.bandwidth:run_bandwidth_preset",
    fields=("stereo_mode",),
))

register(PresetSpec(
    name="universr",
    description=_DSP.format(model="UniverSR") + _BWE + " reconstruction_method original_signal (default) "
                "adds the high-passed synthesis to the untouched source (exact below the crossover, 200 Hz "
                "under the cutoff); original resynthesises the whole spectrum, crossfading into the rebuilt "
                "band over those 200 Hz.",
    backend="spectral_band_replication",
    target=f"{_R}.bandwidth:run_bandwidth_preset",
    fields=("stereo_mode", "reconstruction_method"),
))

_VOICE = ("Speech restoration: stationary-noise reduction (DeepFilterNet3 for speech, MMSE-LSA otherwise), "
          "then speech bandwidth extension by spectral band replication above the detected cutoff (input "
          "below 32 kHz is resampled to 48 kHz first).")

for _name, _model, _extra in (
    ("novasr", "NovaSR", " Single replication patch (fastest)."),
    ("lavasr", "LavaSR", " Three-patch replication ensemble."),
    ("reuse", "REUSE", " Three-patch replication ensemble."),
    ("apollo_voice", "Apollo", " Three-patch replication ensemble."),
):
    register(PresetSpec(
        name=_name,
        description=_DSP.format(model=_model) + _VOICE + _extra,
        backend="deepfilternet3 | mmse_lsa + spectral_band_replication",
        target=f"{_R}.voice:run_voice_preset",
        fields=("stereo_mode", "strength"),
    ))

_MODEL = ("Runs an operator-installed ONNX model from MASTERTAPE_MODEL_DIR/{name}/ (model.onnx, optional "
          "config.json; a model_name subfolder is preferred when present) with chunked overlap-add inference. "
          "No weights ship with mastertape: without them the preset is unavailable and says which file is "
          "missing.")

register(PresetSpec(
    name="dacvae",
    description=_MODEL.format(name="dacvae"),
    backend="onnx_model_folder",
    target=f"{_R}.onnx_models:run_model_preset",
    fields=("stereo_mode", "model_name"),
    available=f"{_R}.onnx_models:dacvae_unavailable",
))

register(PresetSpec(
    name="acestep_15_xl",
    description=_MODEL.format(name="acestep_15_xl") + " The prompt is not passed to the model.",
    backend="onnx_model_folder",
    target=f"{_R}.onnx_models:run_model_preset",
    fields=("stereo_mode", "model_name"),
    available=f"{_R}.onnx_models:acestep_15_xl_unavailable",
))

register(PresetSpec(
    name="stable_audio_3",
    description=_MODEL.format(name="stable_audio_3") + " With inpaint_regions, a model with a 'mask' input "
                "fills the regions; without weights the regions are filled by DSP inpainting (autoregressive "
                "extrapolation from both sides, crossfaded), reported as such.",
    backend="onnx_model_folder | dsp_inpainting (no model weights)",
    target=f"{_R}.onnx_models:run_model_preset",
    fields=("stereo_mode", "model_name", "inpaint_regions"),
    available=f"{_R}.onnx_models:stable_audio_3_unavailable",
))
