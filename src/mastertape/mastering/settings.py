"""Settings of one mastering run (the mastering fields of the API's /master-audio body and of the CLI)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mastertape.errors import InvalidSetting

TARGET_LUFS_RANGE = (-30.0, -5.0)
CEILING_DBTP_RANGE = (-9.0, 0.0)
BIT_DEPTHS = (16, 24, 32)
#: `genre` value that lets the chain choose the profile from its analysis.
AUTO_GENRE = "auto"
#: Intensity that gives the chain's standard master (the default); 0 leaves only gain, limiter and dither.
STANDARD_INTENSITY = 0.5


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise InvalidSetting(f"{field} must be a finite number, got {value!r}", field=field)
    return float(value)


@dataclass(frozen=True)
class ReferenceMatch:
    """How much of the reference to take: tonal balance (`tone`), stereo width per band (`width`) and
    dynamics (`dynamics`, the short-term loudness spread), each 0..1. Validated on construction."""

    tone: float = 1.0
    width: float = 1.0
    dynamics: float = 1.0

    def __post_init__(self) -> None:
        for name in ("tone", "width", "dynamics"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidSetting(
                    f"reference_match.{name} must be a number from 0 to 1, got {value!r}", field="reference_match"
                )
            if not 0.0 <= value <= 1.0:
                raise InvalidSetting(
                    f"reference_match.{name} must be from 0 to 1, got {value:g}", field="reference_match"
                )
            object.__setattr__(self, name, float(value))


@dataclass(frozen=True)
class MasteringSettings:
    """Loudness target (LUFS, integrated), true-peak ceiling (dBTP), genre profile (or "auto": chosen from
    the analysis), output bit depth (16 or 24 integer PCM with TPDF dither, 32 = float without dither),
    optional selection (start_s, end_s) of the input to process and return, the dither seed (same input +
    settings = bit-identical output), `intensity` 0..1 (how far the corrective EQ, compression, saturation
    and width moves go: 0.5 is the standard master, 0 leaves only gain, limiter and dither, 1 doubles
    the moves) and `reference_match` (how much of a reference's tone, width and dynamics to take, when the
    run is given a reference).

    Validated on construction; every error is an InvalidSetting naming its `field`.
    """

    target_lufs: float = -14.0
    ceiling_dbtp: float = -1.0
    genre: str = "modern"
    bit_depth: int = 24
    selection: tuple[float, float] | None = None
    dither_seed: int = 0
    intensity: float = STANDARD_INTENSITY
    reference_match: ReferenceMatch = field(default_factory=ReferenceMatch)

    def __post_init__(self) -> None:
        from mastertape.mastering.profiles import get_profile

        target = _number(self.target_lufs, "target_lufs")
        lo, hi = TARGET_LUFS_RANGE
        if not lo <= target <= hi:
            raise InvalidSetting(
                f"target_lufs must be between {lo:g} and {hi:g} LUFS, got {target:g}", field="target_lufs"
            )
        ceiling = _number(self.ceiling_dbtp, "ceiling_dbtp")
        lo, hi = CEILING_DBTP_RANGE
        if not lo <= ceiling <= hi:
            raise InvalidSetting(
                f"ceiling_dbtp must be between {lo:g} and {hi:g} dBTP, got {ceiling:g}", field="ceiling_dbtp"
            )
        object.__setattr__(self, "target_lufs", target)
        object.__setattr__(self, "ceiling_dbtp", ceiling)
        if not isinstance(self.genre, str):
            raise InvalidSetting(f"genre must be a name, got {self.genre!r}", field="genre")
        if self.genre != AUTO_GENRE:
            get_profile(self.genre)  # UnknownGenre (field "genre") listing the valid names
        intensity = _number(self.intensity, "intensity")
        if not 0.0 <= intensity <= 1.0:
            raise InvalidSetting(f"intensity must be from 0 to 1, got {intensity:g}", field="intensity")
        object.__setattr__(self, "intensity", intensity)
        if not isinstance(self.reference_match, ReferenceMatch):
            raise InvalidSetting("reference_match must be a ReferenceMatch", field="reference_match")
        if isinstance(self.bit_depth, bool) or self.bit_depth not in BIT_DEPTHS:
            raise InvalidSetting(
                f"bit_depth must be 16, 24 or 32 (float), got {self.bit_depth!r}", field="bit_depth"
            )
        if (
            isinstance(self.dither_seed, bool)
            or not isinstance(self.dither_seed, int)
            or self.dither_seed < 0
        ):
            raise InvalidSetting(
                f"dither_seed must be a non-negative integer, got {self.dither_seed!r}", field="dither_seed"
            )
        if self.selection is not None:
            try:
                start, end = self.selection
            except (TypeError, ValueError):
                raise InvalidSetting(
                    "selection must be a (start, end) pair of seconds", field="selection"
                ) from None
            start, end = _number(start, "selection"), _number(end, "selection")
            if start < 0.0:
                raise InvalidSetting(f"selection start must be >= 0 s, got {start:g}", field="selection")
            if end <= start:
                raise InvalidSetting(
                    f"selection end ({end:g} s) must be after its start ({start:g} s)", field="selection"
                )
            object.__setattr__(self, "selection", (start, end))
