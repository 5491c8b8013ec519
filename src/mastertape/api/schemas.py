"""Request and response bodies of the HTTP API (pydantic), apart from the SQLAlchemy models.

Field names and defaults are those of the Neural Analog mastering API (see DESIGN.md); unknown
fields in a request body are ignored, so a client written for that API works unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mastertape.restoration.registry import PRESET_NAMES
from mastertape.restoration.settings import DEFAULT_PROMPT
from mastertape.stems.settings import PRESET_NAMES as STEM_PRESET_NAMES

StereoMode = Literal["single_pass", "mid_sides", "left_right", "mono"]
ReconstructionMethod = Literal["original", "original_signal"]
OutputFormat = Literal["wav", "flac", "mp3", "aac", "opus"]
PresetName = Literal[PRESET_NAMES]  # type: ignore[valid-type]
StemPresetName = Literal[STEM_PRESET_NAMES]  # type: ignore[valid-type]
ArchiveVersion = Literal["original", "restored", "mastered", "original_stems", "restored_stems", "mastered_stems"]

#: the restoration fields of /upscale-audio and /master-audio (a preset uses the subset its entry lists)
RESTORATION_FIELDS = (
    "stereo_mode",
    "frequency_cutoff",
    "multiband_ensemble",
    "model_name",
    "reconstruction_method",
    "strength",
    "prompt",
    "inpaint_regions",
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class Region(_Body):
    """A time range in seconds."""

    start: float = Field(ge=0, description="Start, in seconds from the beginning of the track.")
    end: float = Field(description="End, in seconds; must be after start.")

    @model_validator(mode="after")
    def _ordered(self) -> Region:
        if self.end <= self.start:
            raise ValueError("end must be greater than start")
        return self


class RestorationFields(_Body):
    audio_id: str = Field(description="Audio asset to process (from /from-file or /from-link).")
    preset: PresetName = Field("universal_enhancer", description="Restoration preset (see GET /presets).")
    stereo_mode: StereoMode = Field(
        "single_pass", description="How stereo is processed by stereo-capable presets."
    )
    frequency_cutoff: float = Field(
        13000, description="Bandwidth hint in Hz for bandwidth-extension presets; clamped to 0..22000."
    )
    multiband_ensemble: bool = True
    model_name: str = "music_musedb"
    reconstruction_method: ReconstructionMethod = "original_signal"
    strength: float = Field(0.95, ge=0.0, le=1.0, description="Amount of processing, 0..1.")
    prompt: str = Field(DEFAULT_PROMPT, max_length=2000, description="Text prompt of generative presets.")
    inpaint_regions: list[Region] = Field(default_factory=list, description="Regions to rebuild, in seconds.")
    stem_id: str | None = Field(None, description="Process this stem of the track instead of the full mix.")

    @field_validator("frequency_cutoff")
    @classmethod
    def _clamp_cutoff(cls, value: float) -> float:
        return float(min(max(value, 0.0), 22000.0))

    @field_validator("inpaint_regions", mode="before")
    @classmethod
    def _none_is_empty(cls, value):
        return [] if value is None else value

    def restoration_params(self, fields: tuple[str, ...]) -> dict[str, Any]:
        """The restoration fields that `fields` (a preset's list) uses, JSON-ready."""
        dumped = self.model_dump(mode="json")
        return {f: dumped[f] for f in RESTORATION_FIELDS if f in fields}


class UpscaleRequest(RestorationFields):
    """POST /upscale-audio: restore an asset with a preset."""


class MasterRequest(RestorationFields):
    """POST /master-audio: every field of the contract, with its default."""

    use_restored: bool = Field(
        True,
        description="Master a restored version: an existing completed one made "
        "with the same preset and parameters, else one queued first.",
    )
    upscaled_id: str | None = Field(None, description="Master this restored version.")
    source_mastered_id: str | None = Field(None, description="Master the output of this earlier master.")
    selection: Region | None = Field(None, description="Master only this part of the track (seconds).")
    bit_depth: Literal[16, 24, 32] = Field(24, description="Bit depth of the WAV master (32 = float).")
    hq_streaming_format: OutputFormat = Field(
        "aac", description="Format of the streaming preview made with the master."
    )
    target_lufs: float = Field(-14.0, ge=-30.0, le=-5.0, description="Integrated loudness target, LUFS.")
    genre: str = Field("modern", description="Mastering profile (see GET /genres).")


class CreateStemsRequest(_Body):
    """POST /create-stems: split a track (or a restored version, a master, or a stem) into stems."""

    preset: StemPresetName = Field(description="Stem layout, e.g. 2_tracks, acapella, 4_tracks (see GET /presets).")
    audio_id: str | None = Field(None, description="Split the original track.")
    upscaled_id: str | None = Field(None, description="Split this restored version of the track.")
    mastered_id: str | None = Field(None, description="Split this master of the track.")
    stem_id: str | None = Field(
        None, description="Split this stem further; takes priority over the other ids, then mastered_id, "
        "then upscaled_id, then audio_id. An audio_id given alongside must be the same track."
    )
    bit_depth: Literal[16, 24, 32] = Field(24, description="Bit depth of the stems' WAV files (32 = float).")


class CreateStemsResponse(BaseModel):
    creation_id: str = Field(description="Poll GET /status/stem_split/{creation_id}.")
    status: str
    message: str


class StemSelection(_Body):
    """One exact stem version for an archive."""

    stem_id: str
    version: Literal["original", "restored", "mastered"] = Field(
        "original", description="original = the stem as split; restored / mastered = a restoration or master of it."
    )
    upscaled_id: str | None = Field(None, description="With version restored: this restoration of the stem.")
    mastered_id: str | None = Field(None, description="With version mastered: this master of the stem.")


class ArchiveRequest(_Body):
    """POST /download-archive: which versions of which tracks and stems to zip, and in which formats."""

    versions: list[ArchiveVersion] = Field(
        min_length=1,
        description="original / restored / mastered (full track) and original_stems / restored_stems / "
        "mastered_stems (the stems as split, their restorations, their masters). Track and stem versions "
        "may be mixed in one request.",
    )
    id: str | None = Field(None, description="Audio asset to package.")
    ids: list[str] | None = Field(None, max_length=100, description="Several audio assets in one zip.")
    stem_ids: list[str] | None = Field(
        None, max_length=500, description="Only these stems for the *_stems versions (their tracks are implied)."
    )
    stem_selections: list[StemSelection] | None = Field(
        None, max_length=500, description="Exact stem versions to add, whatever `versions` says."
    )
    format: OutputFormat = Field("wav", description="Format of stem files, and of track files without their own.")
    original_format: OutputFormat | None = Field(
        None, description="Format of the original; unset: the file as uploaded."
    )
    restored_format: OutputFormat | None = Field(None, description="Format of restored versions; unset: `format`.")
    mastered_format: OutputFormat | None = Field(None, description="Format of masters; unset: `format`.")


class ArchiveResponse(BaseModel):
    id: str = Field(description="Archive id: poll GET /status/archive/{id}, then follow download_url.")
    status: str
    message: str
    download_url: str = Field(description="GET /download/archive/{id}: 409 until complete, then 307 to the zip.")
    files: int = Field(description="Number of audio files the zip will hold (plus manifest.json).")
    email_notification_queued: bool = Field(False, description="Always false: this server sends no email.")


class LinkRequest(_Body):
    url: str = Field(max_length=4096, description="http(s) link to an audio file.")


class UploadResponse(BaseModel):
    audio_id: str
    status: str = Field(description="'in_progress' while the file is imported in the background.")
    message: str


class QueuedResponse(BaseModel):
    id: str
    status: str
    message: str


class StatusResponse(BaseModel):
    object_type: str
    object_id: str
    status: str = Field(
        description="audio: in_progress | completed | failed; upscaled and mastered: "
        "processing | completed | failed."
    )
    is_complete: bool
    is_failed: bool
    error_message: str | None = None
    download_url: str | None = Field(None, description="GET this (with X-API-Key) for a 307 to the file.")
    audio_id: str | None = None
    status_details: dict[str, Any] = Field(default_factory=dict)


class GenreInfo(BaseModel):
    name: str
    description: str


class GenresResponse(BaseModel):
    default: str
    genres: list[GenreInfo]


class PresetInfo(BaseModel):
    name: str
    description: str
    backend: str
    fields: list[str] = Field(description="Request fields this preset uses; the others are ignored.")
    available: bool
    unavailable_reason: str | None = None


class StemPresetInfo(BaseModel):
    name: str
    description: str
    stems: list[str] = Field(description="Stems this preset delivers, in order.")
    backend: str
    available: bool
    unavailable_reason: str | None = None


class PresetsResponse(BaseModel):
    default: str
    presets: list[PresetInfo]
    stem_presets: list[StemPresetInfo] = Field(
        default_factory=list, description="Presets of POST /create-stems and whether they run here."
    )


class HealthResponse(BaseModel):
    status: str
    version: str
    database: str


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
