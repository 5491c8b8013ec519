"""Settings and report of one stem separation (the engine side of `POST /create-stems`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mastertape.errors import InvalidSetting, UnknownPreset

#: every stem preset name of the API contract, in the order `GET /presets` lists them
PRESET_NAMES = (
    "2_tracks",
    "acapella",
    "instrumental",
    "4_tracks",
    "denoise",
    "denoise_debleed",
    "dereverb",
    "decrowd",
    "phantom_center",
    "6_tracks",
    "5_drums_tracks",
    "2_tracks_drums",
    "lead_back",
    "duet",
    "modern_bowed_strings",
    "mvsep_mega_53",
    "custom",
)
STEREO_MODES = ("single_pass", "mid_sides", "left_right", "mono")


@dataclass(frozen=True)
class StemSettings:
    """What to split and how.

    - `preset`: one of PRESET_NAMES (UnknownPreset otherwise, field "preset");
    - `with_complement`: also return the stem that completes the set to the mix, for the presets that
      deliver a single stem (`acapella` -> + "instrumental", `instrumental` -> + "vocals");
    - `strength`, `stereo_mode`: passed to the restoration backend of the restoration-based presets;
    - `bass_crossover_hz`: Linkwitz-Riley crossover of the 4_tracks bass stem (40..500 Hz);
    - `threads`: torch intra-op threads while the model runs (None leaves the process setting alone).
    """

    preset: str = "2_tracks"
    with_complement: bool = False
    strength: float = 0.95
    stereo_mode: str = "single_pass"
    bass_crossover_hz: float = 160.0
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.preset not in PRESET_NAMES:
            raise UnknownPreset(
                f"unknown stem preset '{self.preset}'; choose one of: {', '.join(PRESET_NAMES)}",
                field="preset",
            )
        if not 0.0 <= self.strength <= 1.0:
            raise InvalidSetting("strength must be between 0 and 1", field="strength")
        if self.stereo_mode not in STEREO_MODES:
            raise InvalidSetting(f"stereo_mode must be one of {', '.join(STEREO_MODES)}", field="stereo_mode")
        if not 40.0 <= self.bass_crossover_hz <= 500.0:
            raise InvalidSetting("bass_crossover_hz must be between 40 and 500 Hz", field="bass_crossover_hz")
        if self.threads is not None and not (isinstance(self.threads, int) and self.threads >= 1):
            raise InvalidSetting("threads must be a positive integer or None", field="threads")


@dataclass(frozen=True)
class StemReport:
    """What ran: the backend(s), a note per stem, stage timings and measurements.

    `metrics` holds `sum_residual_db` (level of `mix - sum(all stems)` relative to the mix, dB; the stems of
    every preset sum back to the mix, so this is about -100 dB or lower) and `rms_dbfs` per stem.
    """

    preset: str
    backends: tuple[str, ...]
    stems: tuple[str, ...]
    notes: dict[str, str] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    elapsed_s: float = 0.0
