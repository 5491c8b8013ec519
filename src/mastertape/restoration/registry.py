"""Every restoration preset name of the API contract, with what it does and whether it can run here.

Each entry points at its backend by "module:function" so that importing the registry is cheap
(the API lists presets without importing numpy-heavy backends). A backend function has the
signature `run(audio: Audio, settings: RestoreSettings) -> tuple[Audio, RestoreReport]`.
An `available` callable, if given, returns None when the preset can run or a human reason why not.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from mastertape.errors import PresetUnavailable, UnknownPreset

PRESET_NAMES = (
    "universal_enhancer", "novasr", "flashsr", "dacvae", "declip", "dialogue_isolate", "denoise",
    "denoise_debleed", "dereverb", "decrowd", "phantom_center", "audiosr", "apollo_voice", "lavasr",
    "reuse", "acestep_15_xl", "stable_audio_3", "universr", "aero",
)


@dataclass(frozen=True)
class PresetSpec:
    name: str
    description: str
    backend: str  # short name of the algorithm, shown to users
    target: str  # "module:function" implementing it
    fields: tuple[str, ...] = ("stereo_mode",)  # request fields it honours
    available: str | None = None  # "module:function" -> (settings) -> None | reason

    def unavailable_reason(self, settings=None) -> str | None:
        if self.available is None:
            return None
        return load_ref(self.available)(settings)

    def function(self) -> Callable:
        return load_ref(self.target)


def load_ref(ref: str) -> Callable:
    """The object a "module:function" reference names (imported on first use)."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


_REGISTRY: dict[str, PresetSpec] = {}


def register(spec: PresetSpec) -> PresetSpec:
    if spec.name not in PRESET_NAMES:
        raise ValueError(f"{spec.name} is not a preset name of the API contract")
    _REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> PresetSpec:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownPreset(
            f"unknown preset '{name}'; choose one of: {', '.join(PRESET_NAMES)}", field="preset"
        ) from None


def all_presets() -> list[PresetSpec]:
    _ensure_loaded()
    return [_REGISTRY[n] for n in PRESET_NAMES if n in _REGISTRY]


def _ensure_loaded() -> None:
    # the table of entries lives in presets.py (data); importing it registers them
    importlib.import_module("mastertape.restoration.presets")


def restore(audio, settings):
    """Run the preset named in `settings` on `audio`: `(audio, RestoreReport)`.

    Raises UnknownPreset for a name outside the contract and PresetUnavailable (with the reason)
    for a preset that cannot run on this server; it never returns the input as if restored.
    """
    spec = get(settings.preset)
    reason = spec.unavailable_reason(settings)
    if reason is not None:
        raise PresetUnavailable(f"preset '{spec.name}' cannot run on this server: {reason}", field="preset")
    t0 = time.perf_counter()
    out, report = spec.function()(audio, settings)
    return out, replace(report, elapsed_s=time.perf_counter() - t0)
