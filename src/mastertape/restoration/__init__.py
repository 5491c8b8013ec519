"""Restoration presets: `restore(audio, RestoreSettings) -> (audio, RestoreReport)`."""

from mastertape.restoration.registry import PRESET_NAMES, all_presets, get, restore
from mastertape.restoration.settings import InpaintRegion, RestoreReport, RestoreSettings

__all__ = ["PRESET_NAMES", "InpaintRegion", "RestoreReport", "RestoreSettings", "all_presets", "get", "restore"]
