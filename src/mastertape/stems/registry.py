"""Every stem preset name of the API contract: what it delivers, how, and whether it can run here.

Like `restoration/registry.py`, each entry names its runner by "module:function", so listing presets
(`GET /presets`) imports neither torch nor any DSP module. A runner has the signature
`run(audio: Audio, settings: StemSettings) -> Separation`. `available`, if set, is a "module:function"
taking the preset name and returning None when the preset can run here, else the reason; `unavailable` is a
fixed reason for presets that can never run on this server.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mastertape.errors import PresetUnavailable, UnknownPreset
from mastertape.restoration.registry import load_ref
from mastertape.stems.settings import PRESET_NAMES

if TYPE_CHECKING:
    import numpy as np

NOT_INSTALLED = "needs a model that is not installed"


@dataclass(frozen=True)
class Separation:
    """What a runner returns: every stem (the complement included) as float32 (channels, frames) at the
    input's rate and length, the backend(s) that ran, a note per stem and stage timings."""

    stems: dict[str, np.ndarray]
    backends: tuple[str, ...]
    notes: dict[str, str] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StemPresetSpec:
    name: str
    description: str
    stems: tuple[str, ...]  # stems delivered, in order
    backend: str  # short name of the method(s), shown to users
    target: str | None = None  # "module:function" runner; None for presets that cannot run here
    complement: str | None = None  # the stem that completes a single-stem preset to the mix
    available: str | None = None  # "module:function" -> (name) -> None | reason
    unavailable: str | None = None  # fixed reason

    def unavailable_reason(self) -> str | None:
        if self.unavailable is not None:
            return self.unavailable
        if self.available is None:
            return None
        return load_ref(self.available)(self.name)

    def function(self) -> Callable:
        if self.target is None:
            raise PresetUnavailable(f"stem preset '{self.name}' {NOT_INSTALLED}", field="preset")
        return load_ref(self.target)

    def to_dict(self) -> dict:
        """JSON-ready entry for `GET /presets` (checks availability: may look for installed packages)."""
        reason = self.unavailable_reason()
        return {
            "name": self.name,
            "description": self.description,
            "stems": list(self.stems),
            "backend": self.backend,
            "available": reason is None,
            "unavailable_reason": reason,
        }


_REGISTRY: dict[str, StemPresetSpec] = {}


def register(spec: StemPresetSpec) -> StemPresetSpec:
    if spec.name not in PRESET_NAMES:
        raise ValueError(f"{spec.name} is not a stem preset name of the API contract")
    _REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> StemPresetSpec:
    """The entry of `name`; UnknownPreset (field "preset") for a name outside the contract."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownPreset(
            f"unknown stem preset '{name}'; choose one of: {', '.join(PRESET_NAMES)}", field="preset"
        ) from None


def all_presets() -> list[StemPresetSpec]:
    _ensure_loaded()
    return [_REGISTRY[n] for n in PRESET_NAMES if n in _REGISTRY]


def _ensure_loaded() -> None:
    importlib.import_module("mastertape.stems.catalog")
