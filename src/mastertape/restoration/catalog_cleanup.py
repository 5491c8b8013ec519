"""Preset entries of the cleanup family: declip, denoise, denoise_debleed, dialogue_isolate (see presets.py).

Targets are "module:function" strings so that listing presets imports no DSP code.
"""

from mastertape.restoration.registry import PresetSpec, register

_R = "mastertape.restoration"

register(PresetSpec(
    name="declip",
    description="Detects hard clipping per channel and rebuilds the clipped peaks with sparse (A-SPADE) "
                "reconstruction; unclipped samples are kept bit-exact. Each channel is processed on its own.",
    backend="a_spade",
    target=f"{_R}.declip:run_declip",
    fields=("strength",),
))

register(PresetSpec(
    name="denoise",
    description="Reduces stationary background noise (hiss, hum-free broadband noise). Music: MMSE-LSA spectral "
                "gain driven by a noise profile, leaves clean audio untouched. Speech: DeepFilterNet3.",
    backend="mmse_lsa | deepfilternet3 (speech)",
    target=f"{_R}.denoise:run_denoise",
    fields=("stereo_mode", "strength"),
))

register(PresetSpec(
    name="denoise_debleed",
    description="The denoise preset followed by a gentle spectral downward expander that suppresses low-level "
                "bleed from other sources (cells far below the programme around them).",
    backend="mmse_lsa | deepfilternet3 (speech) + spectral_expander",
    target=f"{_R}.debleed:run_denoise_debleed",
    fields=("stereo_mode", "strength"),
))

register(PresetSpec(
    name="dialogue_isolate",
    description="Keeps the dialogue and suppresses music, effects and noise: DeepFilterNet3 on the phantom "
                "centre of a stereo mix (or per channel / mid-side / mono as stereo_mode says).",
    backend="deepfilternet3",
    target=f"{_R}.isolate:run_dialogue_isolate",
    fields=("stereo_mode", "strength"),
    available=f"{_R}.isolate:unavailable_reason",
))
