"""The stem preset table and settings: every contract name, clear errors for what cannot run here."""

from __future__ import annotations

import numpy as np
import pytest

from mastertape.audio import Audio
from mastertape.errors import InvalidSetting, PresetUnavailable, UnknownPreset
from mastertape.stems import NOT_INSTALLED, PRESET_NAMES, StemSettings, all_presets, checkpoint, get, split

CONTRACT = (
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
NEEDS_MODEL = (
    "6_tracks",
    "5_drums_tracks",
    "2_tracks_drums",
    "lead_back",
    "duet",
    "modern_bowed_strings",
    "mvsep_mega_53",
    "custom",
)
MODEL_PRESETS = ("2_tracks", "acapella", "instrumental", "4_tracks")


def _audio() -> Audio:
    return Audio(np.zeros((2, 4410), dtype=np.float32), 44100)


def test_every_contract_name_is_listed_once_in_order() -> None:
    assert PRESET_NAMES == CONTRACT
    assert [p.name for p in all_presets()] == list(CONTRACT)
    for p in all_presets():
        entry = p.to_dict()
        assert entry["stems"] and entry["description"]
        assert set(entry) == {"name", "description", "stems", "backend", "available", "unavailable_reason"}


def test_stem_names_of_the_main_presets() -> None:
    assert get("2_tracks").stems == ("vocals", "instrumental")
    assert get("acapella").stems == ("vocals",)
    assert get("instrumental").stems == ("instrumental",)
    assert get("4_tracks").stems == ("vocals", "drums", "bass", "other")
    assert get("dereverb").stems == ("dry", "reverb")
    assert get("phantom_center").stems == ("center", "sides")
    assert get("denoise").stems == ("denoised", "noise")


@pytest.mark.parametrize("name", ["5_tracks", "", "2-tracks", "VOCALS"])
def test_unknown_preset(name: str) -> None:
    with pytest.raises(UnknownPreset) as err:
        StemSettings(preset=name)
    assert err.value.field == "preset"
    with pytest.raises(UnknownPreset):
        get(name)


@pytest.mark.parametrize("name", NEEDS_MODEL)
def test_presets_without_a_model_say_so(name: str) -> None:
    entry = get(name).to_dict()
    assert entry["available"] is False and entry["unavailable_reason"] == NOT_INSTALLED
    with pytest.raises(PresetUnavailable) as err:
        split(_audio(), StemSettings(preset=name))
    assert "needs a model that is not installed" in err.value.message
    assert err.value.field == "preset"


@pytest.mark.parametrize("name", MODEL_PRESETS)
def test_model_presets_without_the_extra(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint, "weights_dir", lambda: None)
    assert get(name).to_dict()["unavailable_reason"] == "cannot run here: install mastertape[stems]"
    with pytest.raises(PresetUnavailable) as err:
        split(_audio(), StemSettings(preset=name))
    assert "cannot run here: install mastertape[stems]" in err.value.message


def test_weights_dir_is_none_without_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint, "WEIGHT_PACKAGE", "no_such_weight_package_xyz")
    assert checkpoint.weights_dir() is None
    assert checkpoint.unavailable_reason() == checkpoint.INSTALL_HINT


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"strength": 1.5}, "strength"),
        ({"stereo_mode": "wide"}, "stereo_mode"),
        ({"bass_crossover_hz": 5.0}, "bass_crossover_hz"),
        ({"threads": 0}, "threads"),
    ],
)
def test_settings_validation(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidSetting) as err:
        StemSettings(preset="2_tracks", **kwargs)
    assert err.value.field == field


def test_settings_are_frozen() -> None:
    s = StemSettings(preset="4_tracks")
    with pytest.raises(AttributeError):
        s.preset = "2_tracks"  # type: ignore[misc]
