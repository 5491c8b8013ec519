"""MasteringSettings validation and the genre profile table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mastertape.errors import InvalidSetting, UnknownGenre
from mastertape.mastering import GENRES, MasteringSettings, get_profile
from mastertape.mastering.eq import target_levels_db
from mastertape.mastering.report import MasteringReport, ReferenceReport


def test_defaults():
    s = MasteringSettings()
    assert (s.target_lufs, s.ceiling_dbtp, s.genre, s.bit_depth, s.selection, s.dither_seed) == (
        -14.0,
        -1.0,
        "modern",
        24,
        None,
        0,
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"target_lufs": -31.0}, "target_lufs"),
        ({"target_lufs": -4.9}, "target_lufs"),
        ({"target_lufs": float("nan")}, "target_lufs"),
        ({"ceiling_dbtp": 0.5}, "ceiling_dbtp"),
        ({"ceiling_dbtp": -9.5}, "ceiling_dbtp"),
        ({"bit_depth": 20}, "bit_depth"),
        ({"bit_depth": True}, "bit_depth"),
        ({"selection": (-1.0, 3.0)}, "selection"),
        ({"selection": (5.0, 5.0)}, "selection"),
        ({"selection": (5.0,)}, "selection"),
        ({"dither_seed": -1}, "dither_seed"),
    ],
)
def test_invalid_values_raise_with_their_field(kwargs, field):
    with pytest.raises(InvalidSetting) as err:
        MasteringSettings(**kwargs)
    assert err.value.field == field
    assert err.value.message


def test_valid_edges_are_accepted_and_normalised():
    s = MasteringSettings(target_lufs=-30, ceiling_dbtp=0, bit_depth=16, selection=(0, 2.5), genre="voice")
    assert s.target_lufs == -30.0 and isinstance(s.target_lufs, float)
    assert s.selection == (0.0, 2.5)
    MasteringSettings(target_lufs=-5.0, ceiling_dbtp=-9.0, bit_depth=32)


def test_unknown_genre_lists_the_valid_names():
    with pytest.raises(UnknownGenre) as err:
        MasteringSettings(genre="polka")
    assert err.value.field == "genre"
    for name in GENRES:
        assert name in err.value.message
    with pytest.raises(UnknownGenre):
        get_profile("Modern")


def test_profile_table():
    assert next(iter(GENRES)) == "modern"
    for name in ("modern", "bass_heavy", "dynamic", "warm", "bright", "voice"):
        assert name in GENRES
    for name, p in GENRES.items():
        assert p.name == name and get_profile(name) is p
        assert p.description and "\n" not in p.description and len(p.description) < 100
        assert list(p.crossovers_hz) == sorted(p.crossovers_hz)
        assert len(p.bands) == len(p.width) == len(p.crossovers_hz) + 1
        assert 0.0 <= p.width[0] <= 1.0  # the low end is never widened
        assert all(1.0 <= b.ratio <= 3.0 for b in p.bands)  # mastering-gentle
        assert 0.0 < p.eq_max_db <= 4.0 and 0.0 < p.eq_strength <= 1.0
        assert 0.0 <= p.saturation_mix <= 0.5
        curve = target_levels_db(p, np.array([1000.0]))
        assert abs(curve[0]) < 1e-9  # curves are relative to 1 kHz
    # the curves differ the way the names say
    f = np.array([50.0, 10000.0])
    modern, bass, bright, warm = (
        target_levels_db(GENRES[g], f) for g in ("modern", "bass_heavy", "bright", "warm")
    )
    assert bass[0] > modern[0] and bright[1] > modern[1] and warm[1] < modern[1]


def test_report_to_dict_is_json_and_maps_non_finite_to_none():
    report = MasteringReport(
        genre="modern",
        bit_depth=24,
        sample_rate=44100,
        channels=2,
        duration_s=1.0,
        selection=(0.0, 1.0),
        target_lufs=-14.0,
        ceiling_dbtp=-1.0,
        input_lufs=-20.0,
        input_true_peak_dbtp=-3.0,
        input_lra_lu=0.0,
        input_plr_db=17.0,
        input_stereo_correlation=1.0,
        input_crest_factor_db=12.0,
        output_lufs=-14.0,
        output_true_peak_dbtp=-1.2,
        output_lra_lu=float("nan"),
        output_plr_db=12.8,
        gain_db=6.0,
        limiter_max_gain_reduction_db=1.0,
        eq_response_freqs_hz=(100.0,),
        eq_response_db=(-1.0,),
        eq_side_response_db=(0.5,),
        bands=(),
        saturation_mix=0.0,
        targeting_iterations=3,
        limiter_passes=1,
        reference=ReferenceReport(1.0, 0.5, 0.0, -9.0, 4.0, 1.5, True, (-1.0, 0.5), None, None, None),
        stage_times_s={"analysis": 0.1},
    )
    d = json.loads(json.dumps(report.to_dict()))
    assert d["output_lra_lu"] is None
    assert d["eq_response_db"] == [-1.0] and d["eq_side_response_db"] == [0.5]
    assert d["reference"]["width_change_db"] == [-1.0, 0.5] and d["reference"]["leveller_ratio"] is None
    assert d["intensity"] == 0.5
    assert d["selection"] == [0.0, 1.0]
    assert report.max_gain_reduction_db == 1.0
