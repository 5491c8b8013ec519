"""Genre profiles of the mastering chain: one table of data, no per-genre code.

A profile gives the tonal target and the settings of every stage. The target curve is the long-term level
of each 1/3-octave band (band power in dB, relative to the band at 1 kHz) of a finished master in that style,
as anchor points interpolated on a log-frequency axis. The shape of `modern` follows the average
long-term spectrum of commercial pop/rock masters (P. Pestana, Z. Ma, J. D. Reiss, A. Barbosa and D. Black,
"Spectral characteristics of popular commercial recordings 1950-2010", AES 135th Convention, 2013): bass
band power a few dB above the mids, then a fall of about 3-4 dB per octave above 1 kHz that steepens above
10 kHz. The others are that shape tilted the way the genre's name says. The corrective EQ only moves
towards the curve where the material is far from it, by a fraction, within `eq_max_db`.

Multiband thresholds are relative to each band's own loud level (see `mastering.analysis`), so the same
profile compresses a quiet and a loud mix alike; ratios are mastering-gentle (1.2 to 2.5).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mastertape.dsp.dynamics import BandCompressorSettings
from mastertape.errors import UnknownGenre


@dataclass(frozen=True)
class Profile:
    """Settings of the whole chain for one genre. Frequencies in Hz, levels and gains in dB, times in ms."""

    name: str
    description: str
    #: (freq_hz, level_db) anchors of the target 1/3-octave band levels, relative to the 1 kHz band.
    target_curve: tuple[tuple[float, float], ...]
    #: Largest boost or cut of any corrective EQ filter.
    eq_max_db: float
    #: Fraction of the (smoothed) distance to the target that the EQ corrects.
    eq_strength: float
    #: Distance to the target ignored entirely (dB); beyond it the correction grows smoothly.
    eq_deadband_db: float
    #: Subsonic/DC high-pass (2nd-order Butterworth) corner; 0 for none.
    highpass_hz: float
    #: Linkwitz-Riley crossover frequencies of the multiband compressor (len(bands) - 1 of them).
    crossovers_hz: tuple[float, ...]
    bands: tuple[BandCompressorSettings, ...]
    #: Stereo width per band (side gain): 0 mono, 1 unchanged. The lowest band is never above 1, and is kept a
    #: little under it even where the stereo image is to be preserved: compressing and limiting a mono kick
    #: raises the relative level of the stereo part of the low end, which this offsets.
    width: tuple[float, ...]
    #: tanh saturation: drive (> 0) and wet mix (0 disables the stage).
    saturation_drive: float
    saturation_mix: float
    limiter_attack_ms: float
    limiter_release_ms: float

    def __post_init__(self) -> None:
        n = len(self.crossovers_hz) + 1
        if len(self.bands) != n or len(self.width) != n:
            raise ValueError(f"profile {self.name}: {n} bands need {n} band settings and {n} widths")
        if self.width[0] > 1.0:
            raise ValueError(f"profile {self.name}: the lowest band must not be widened")


def _bands(
    thresholds: tuple[float, ...],
    ratios: tuple[float, ...],
    attack_ms: tuple[float, ...],
    release_ms: tuple[float, ...],
    knee_db: float = 6.0,
) -> tuple[BandCompressorSettings, ...]:
    return tuple(
        BandCompressorSettings(threshold_db=t, ratio=r, knee_db=knee_db, attack_ms=a, release_ms=rel)
        for t, r, a, rel in zip(thresholds, ratios, attack_ms, release_ms, strict=True)
    )


_MODERN_CURVE = (
    (31.5, 3.0),
    (63.0, 6.5),
    (125.0, 6.5),
    (250.0, 4.0),
    (500.0, 2.0),
    (1000.0, 0.0),
    (2000.0, -3.0),
    (4000.0, -6.5),
    (8000.0, -10.0),
    (12500.0, -14.0),
    (16000.0, -18.0),
)


def _tilt(
    curve: tuple[tuple[float, float], ...], changes: dict[float, float]
) -> tuple[tuple[float, float], ...]:
    return tuple((f, level + changes.get(f, 0.0)) for f, level in curve)


_ATTACK_3 = (30.0, 15.0, 8.0)
_RELEASE_3 = (250.0, 150.0, 100.0)

_PROFILES = (
    Profile(
        name="modern",
        description="Balanced, loud-ready master for current pop, rock and hip-hop (default).",
        target_curve=_MODERN_CURVE,
        eq_max_db=3.0,
        eq_strength=0.5,
        eq_deadband_db=2.0,
        highpass_hz=25.0,
        crossovers_hz=(120.0, 2500.0),
        bands=_bands((-2.0, -2.5, -2.5), (1.6, 1.4, 1.5), _ATTACK_3, _RELEASE_3),
        width=(0.5, 1.0, 1.1),
        saturation_drive=1.0,
        saturation_mix=0.0,
        limiter_attack_ms=2.0,
        limiter_release_ms=80.0,
    ),
    Profile(
        name="bass_heavy",
        description="Weighty, mono low end for hip-hop, trap and bass music.",
        target_curve=_tilt(_MODERN_CURVE, {31.5: 3.0, 63.0: 3.0, 125.0: 2.0}),
        eq_max_db=4.0,
        eq_strength=0.6,
        eq_deadband_db=1.5,
        highpass_hz=20.0,
        crossovers_hz=(120.0, 2500.0),
        bands=_bands((-3.0, -2.5, -2.5), (2.0, 1.4, 1.5), (40.0, 15.0, 8.0), (300.0, 150.0, 100.0)),
        width=(0.0, 1.0, 1.1),
        saturation_drive=1.2,
        saturation_mix=0.1,
        limiter_attack_ms=3.0,
        limiter_release_ms=100.0,
    ),
    Profile(
        name="edm",
        description="Dense, punchy and wide electronic dance music with a mono club low end.",
        target_curve=_tilt(_MODERN_CURVE, {63.0: 2.0, 125.0: 1.0, 8000.0: 1.0, 12500.0: 1.5, 16000.0: 1.5}),
        eq_max_db=3.0,
        eq_strength=0.5,
        eq_deadband_db=2.0,
        highpass_hz=25.0,
        crossovers_hz=(120.0, 2500.0),
        bands=_bands((-3.0, -3.0, -3.0), (2.2, 1.8, 1.8), (25.0, 10.0, 5.0), (200.0, 120.0, 80.0)),
        width=(0.0, 1.05, 1.15),
        saturation_drive=1.3,
        saturation_mix=0.1,
        limiter_attack_ms=1.5,
        limiter_release_ms=60.0,
    ),
    Profile(
        name="dynamic",
        description="Transparent and open for orchestral, jazz and acoustic music: keeps the dynamics.",
        target_curve=_tilt(_MODERN_CURVE, {63.0: -2.0, 125.0: -1.5, 250.0: -0.5, 4000.0: 0.5, 8000.0: 0.5}),
        eq_max_db=2.0,
        eq_strength=0.4,
        eq_deadband_db=2.5,
        highpass_hz=20.0,
        crossovers_hz=(150.0, 3000.0),
        bands=_bands((0.0, 0.0, 0.0), (1.3, 1.2, 1.2), (50.0, 30.0, 20.0), (400.0, 300.0, 250.0)),
        width=(0.85, 1.0, 1.0),
        saturation_drive=1.0,
        saturation_mix=0.0,
        limiter_attack_ms=3.0,
        limiter_release_ms=150.0,
    ),
    Profile(
        name="warm",
        description="Smooth, rounded low mids and soft highs with gentle tape-style saturation.",
        target_curve=_tilt(
            _MODERN_CURVE, {250.0: 1.0, 500.0: 1.0, 4000.0: -1.0, 8000.0: -2.0, 12500.0: -2.5, 16000.0: -3.0}
        ),
        eq_max_db=3.0,
        eq_strength=0.5,
        eq_deadband_db=2.0,
        highpass_hz=25.0,
        crossovers_hz=(150.0, 3000.0),
        bands=_bands((-3.0, -3.0, -4.0), (1.6, 1.5, 1.8), (40.0, 20.0, 10.0), (300.0, 200.0, 150.0)),
        width=(0.6, 1.0, 1.0),
        saturation_drive=1.5,
        saturation_mix=0.3,
        limiter_attack_ms=3.0,
        limiter_release_ms=120.0,
    ),
    Profile(
        name="bright",
        description="Airy, detailed top end and clear presence for pop, indie and acoustic pop.",
        target_curve=_tilt(
            _MODERN_CURVE, {2000.0: 0.5, 4000.0: 1.5, 8000.0: 2.5, 12500.0: 3.0, 16000.0: 3.0}
        ),
        eq_max_db=3.0,
        eq_strength=0.5,
        eq_deadband_db=2.0,
        highpass_hz=30.0,
        crossovers_hz=(120.0, 2500.0),
        bands=_bands((-3.0, -3.0, -2.0), (1.6, 1.5, 1.4), _ATTACK_3, _RELEASE_3),
        width=(0.5, 1.0, 1.15),
        saturation_drive=1.0,
        saturation_mix=0.0,
        limiter_attack_ms=2.0,
        limiter_release_ms=80.0,
    ),
    Profile(
        name="lofi",
        description="Dusty, mellow lo-fi: rolled-off highs, rounder mids and audible saturation.",
        target_curve=_tilt(
            _MODERN_CURVE,
            {500.0: 1.0, 2000.0: -0.5, 4000.0: -2.0, 8000.0: -4.0, 12500.0: -6.0, 16000.0: -8.0},
        ),
        eq_max_db=4.0,
        eq_strength=0.6,
        eq_deadband_db=1.5,
        highpass_hz=35.0,
        crossovers_hz=(150.0, 3000.0),
        bands=_bands((-4.0, -4.0, -5.0), (2.0, 1.8, 2.2), (40.0, 20.0, 10.0), (300.0, 200.0, 150.0)),
        width=(0.5, 0.9, 0.9),
        saturation_drive=2.0,
        saturation_mix=0.4,
        limiter_attack_ms=3.0,
        limiter_release_ms=120.0,
    ),
    Profile(
        name="voice",
        description="Podcast and speech: clear, consistent voice, rumble removed, mono-safe low end.",
        target_curve=(
            (63.0, -8.0),
            (125.0, 0.0),
            (250.0, 3.0),
            (500.0, 2.0),
            (1000.0, 0.0),
            (2000.0, -2.0),
            (4000.0, -5.0),
            (8000.0, -11.0),
            (12500.0, -17.0),
            (16000.0, -22.0),
        ),
        eq_max_db=4.0,
        eq_strength=0.5,
        eq_deadband_db=2.0,
        highpass_hz=70.0,
        crossovers_hz=(200.0, 3000.0),
        bands=_bands((-4.0, -6.0, -5.0), (2.0, 2.5, 2.0), (30.0, 10.0, 5.0), (200.0, 150.0, 100.0)),
        width=(0.0, 1.0, 1.0),
        saturation_drive=1.0,
        saturation_mix=0.0,
        limiter_attack_ms=2.0,
        limiter_release_ms=60.0,
    ),
)

#: Every profile by name, `modern` first (the default).
GENRES: dict[str, Profile] = {p.name: p for p in _PROFILES}
DEFAULT_GENRE = "modern"


def get_profile(name: str) -> Profile:
    """The profile called `name`; UnknownGenre (field "genre") listing the valid names otherwise."""
    try:
        return GENRES[name]
    except (KeyError, TypeError):
        raise UnknownGenre(
            f"unknown genre {name!r}; choose one of: {', '.join(GENRES)}", field="genre"
        ) from None


def scaled_profile(profile: Profile, scale: float) -> Profile:
    """`profile` with its moves scaled by `scale` (the intensity over the standard one): compressor ratios
    1 + scale (ratio - 1), widths 1 + scale (width - 1) (the lowest band still at most 1), saturation mix
    times scale (at most 1). Scale 1 is the profile itself; scale 0 a single band that does nothing (no
    high-pass, no crossover, no compression, no width or saturation move)."""
    if scale == 1.0:
        return profile
    if scale <= 0.0:
        return replace(
            profile,
            highpass_hz=0.0,
            crossovers_hz=(),
            bands=(BandCompressorSettings(threshold_db=0.0, ratio=1.0),),
            width=(1.0,),
            saturation_mix=0.0,
        )
    bands = tuple(replace(b, ratio=1.0 + scale * (b.ratio - 1.0)) for b in profile.bands)
    width = tuple(max(0.0, 1.0 + scale * (w - 1.0)) for w in profile.width)
    width = (min(width[0], 1.0), *width[1:])
    return replace(profile, bands=bands, width=width, saturation_mix=min(1.0, profile.saturation_mix * scale))
