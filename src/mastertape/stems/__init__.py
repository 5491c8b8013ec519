"""Stem separation: `split(audio, StemSettings) -> ({name: Audio}, StemReport)`.

Presets and how they run are listed by `all_presets()` (each entry's `to_dict()` is what `GET /presets`
shows). The vocal model (Spleeter 2-stem) needs the optional extra `mastertape[stems]`; without it the model
presets raise PresetUnavailable("... cannot run here: install mastertape[stems]").
"""

from mastertape.stems.registry import NOT_INSTALLED, StemPresetSpec, all_presets, get
from mastertape.stems.separate import split
from mastertape.stems.settings import PRESET_NAMES, StemReport, StemSettings

__all__ = [
    "NOT_INSTALLED",
    "PRESET_NAMES",
    "StemPresetSpec",
    "StemReport",
    "StemSettings",
    "all_presets",
    "get",
    "split",
]
