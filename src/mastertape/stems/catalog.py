"""The stem preset table (data, not code). Importing this module registers every preset of the contract."""

from mastertape.stems.registry import NOT_INSTALLED, StemPresetSpec, register

_S = "mastertape.stems"
_MODEL = "spleeter_2stems"
_MODEL_READY = f"{_S}.checkpoint:availability"
_RESTORE_READY = f"{_S}.restoration_presets:availability"

register(
    StemPresetSpec(
        name="2_tracks",
        description="Vocals and instrumental, by the Spleeter 2-stem U-Net (Hennequin et al. 2020); the "
        "instrumental is the exact remainder, so the two stems sum to the mix.",
        stems=("vocals", "instrumental"),
        backend=_MODEL,
        target=f"{_S}.model_presets:run_2_tracks",
        available=_MODEL_READY,
    )
)
register(
    StemPresetSpec(
        name="acapella",
        description="The vocals alone (the vocal stem of 2_tracks).",
        stems=("vocals",),
        backend=_MODEL,
        complement="instrumental",
        target=f"{_S}.model_presets:run_2_tracks",
        available=_MODEL_READY,
    )
)
register(
    StemPresetSpec(
        name="instrumental",
        description="The instrumental alone: the mix minus the vocals of the Spleeter 2-stem model.",
        stems=("instrumental",),
        backend=_MODEL,
        complement="vocals",
        target=f"{_S}.model_presets:run_2_tracks",
        available=_MODEL_READY,
    )
)
register(
    StemPresetSpec(
        name="4_tracks",
        description="Vocals from the Spleeter 2-stem model; drums, bass and other from the instrumental by "
        "DSP: harmonic-percussive separation by median filtering (drums), a Linkwitz-Riley low band of the "
        "harmonic part (bass), the rest (other). Not a trained 4-stem model.",
        stems=("vocals", "drums", "bass", "other"),
        backend=f"{_MODEL} + hpss_median + lr4_crossover",
        target=f"{_S}.model_presets:run_4_tracks",
        available=_MODEL_READY,
    )
)

_RESTORATION = (
    ("denoise", ("denoised", "noise"), "The restoration denoiser's output and the noise it removed."),
    (
        "denoise_debleed",
        ("cleaned", "noise_and_bleed"),
        "The restoration denoise + debleed output and the noise and bleed it removed.",
    ),
    (
        "dereverb",
        ("dry", "reverb"),
        "The restoration dereverberator's dry output and the reverberation it removed.",
    ),
    (
        "decrowd",
        ("performance", "crowd"),
        "The restoration crowd-noise remover's output and the crowd it removed.",
    ),
    (
        "phantom_center",
        ("center", "sides"),
        "The phantom centre extracted by the restoration preset, and everything else (mix minus centre).",
    ),
)
for _name, _stems, _text in _RESTORATION:
    register(
        StemPresetSpec(
            name=_name,
            description=_text + " The two stems sum to the mix.",
            stems=_stems,
            backend=f"restoration:{_name}",
            target=f"{_S}.restoration_presets:run_restoration_pair",
            available=_RESTORE_READY,
        )
    )

_NEEDS_MODEL = (
    ("6_tracks", ("vocals", "drums", "bass", "guitar", "piano", "other"), "Six stems from a 6-source model."),
    ("5_drums_tracks", ("kick", "snare", "toms", "hihat", "cymbals"), "The drum kit split into five parts."),
    ("2_tracks_drums", ("drums", "no_drums"), "Drums and everything else from a drum separation model."),
    ("lead_back", ("lead_vocals", "back_vocals", "instrumental"), "Lead and backing vocals apart."),
    ("duet", ("voice_1", "voice_2", "instrumental"), "Two singers apart."),
    ("modern_bowed_strings", ("strings", "other"), "Bowed strings apart from the rest."),
    ("mvsep_mega_53", ("many",), "The MVSep multi-instrument ensemble."),
    ("custom", ("custom",), "A user-chosen separation model."),
)
for _name, _stems, _text in _NEEDS_MODEL:
    register(
        StemPresetSpec(
            name=_name,
            description=f"{_text} Not available on this server: it {NOT_INSTALLED}.",
            stems=_stems,
            backend="none",
            unavailable=NOT_INSTALLED,
        )
    )
