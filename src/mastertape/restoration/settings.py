"""Settings and report of one restoration run (the restoration fields of the API's master/upscale bodies)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mastertape.errors import InvalidSetting

STEREO_MODES = ("single_pass", "mid_sides", "left_right", "mono")
RECONSTRUCTION_METHODS = ("original", "original_signal")
DEFAULT_PROMPT = "high quality remaster, studio recording, official release, CD quality."


@dataclass(frozen=True)
class InpaintRegion:
    start_s: float
    end_s: float


@dataclass(frozen=True)
class RestoreSettings:
    """What to run and how. Fields a preset does not use are ignored (its registry entry lists the ones it uses)."""

    preset: str = "universal_enhancer"
    stereo_mode: str = "single_pass"
    frequency_cutoff_hz: float = 13000.0
    multiband_ensemble: bool = True
    model_name: str = "music_musedb"
    reconstruction_method: str = "original_signal"
    strength: float = 0.95
    prompt: str = DEFAULT_PROMPT
    inpaint_regions: tuple[InpaintRegion, ...] = ()
    # operator-configured folder of model weights (from Settings.model_dir); None = no generative models
    model_dir: Path | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.stereo_mode not in STEREO_MODES:
            raise InvalidSetting(f"stereo_mode must be one of {', '.join(STEREO_MODES)}", field="stereo_mode")
        if self.reconstruction_method not in RECONSTRUCTION_METHODS:
            raise InvalidSetting(
                f"reconstruction_method must be one of {', '.join(RECONSTRUCTION_METHODS)}",
                field="reconstruction_method",
            )
        if not 0.0 <= self.strength <= 1.0:
            raise InvalidSetting("strength must be between 0 and 1", field="strength")
        # the API contract clamps frequency_cutoff to 0..22000
        object.__setattr__(self, "frequency_cutoff_hz", float(min(max(self.frequency_cutoff_hz, 0.0), 22000.0)))
        for r in self.inpaint_regions:
            if not (r.start_s >= 0 and r.end_s > r.start_s):
                raise InvalidSetting("each inpaint region needs 0 <= start < end (seconds)", field="inpaint_regions")


@dataclass(frozen=True)
class RestoreReport:
    """What ran and what it measured. `backend` names the algorithm/model that actually processed the audio."""

    preset: str
    backend: str
    repairs: tuple[str, ...] = ()
    metrics: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    elapsed_s: float = 0.0
