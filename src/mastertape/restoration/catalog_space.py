"""Preset entries of the space family: dereverb, decrowd, phantom_center, universal_enhancer (see presets.py).

Targets are "module:function" strings so that listing presets imports no DSP code.
"""

from mastertape.restoration.registry import PresetSpec, register

_R = "mastertape.restoration"

register(PresetSpec(
    name="universal_enhancer",
    description="The default: analyses clipping, mains hum, a stationary noise floor and the band limit, "
                "then applies only the repairs needed (declip -> dehum -> denoise -> bandwidth extension "
                "below 15 kHz), each decision reported with its measured value; clean audio comes out "
                "unchanged.",
    backend="analysis + a_spade / zero_phase_notch / mmse_lsa | deepfilternet3 / bandwidth_extension",
    target=f"{_R}.enhancer:run_universal_enhancer",
    fields=("stereo_mode", "strength", "multiband_ensemble"),
))

register(PresetSpec(
    name="dereverb",
    description="Removes room reverberation. Speech: weighted prediction error (WPE, nara-wpe) followed by "
                "late-reverberation subtraction; music: late-reverberation spectral subtraction only (WPE "
                "harms music), with the RT60 estimated from the recording.",
    backend="wpe+late_reverb_subtraction (speech) | late_reverb_subtraction",
    target=f"{_R}.dereverb:run_dereverb",
    fields=("stereo_mode", "strength"),
))

register(PresetSpec(
    name="decrowd",
    description="Reduces diffuse crowd noise, applause and ambience: per time-frequency bin, sound with "
                "low inter-channel coherence is attenuated (gently, at most 12 dB) and coherent sources are "
                "kept. Mono input: only stationary ambience and applause-like transients can be told apart.",
    backend="interchannel_coherence | stationary_floor+applause_transients (mono)",
    target=f"{_R}.decrowd:run_decrowd",
    fields=("stereo_mode", "strength"),
))

register(PresetSpec(
    name="phantom_center",
    description="Extracts the phantom centre of a stereo mix (Avendano-Jot similarity): the output holds the "
                "centre signal on both channels; panned sources, width and decorrelated ambience are "
                "discarded. Mono input is returned unchanged. stereo_mode does not apply.",
    backend="avendano_jot_similarity",
    target=f"{_R}.phantom:run_phantom_center",
    fields=("strength",),
))
