"""Reference mastering, intensity and genre "auto": measured on material made here."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from mastertape.audio import Audio
from mastertape.dsp.filters import high_shelf_sos, low_shelf_sos
from mastertape.dsp.loudness import integrated_loudness, loudness_range
from mastertape.dsp.spectrum import third_octave_levels
from mastertape.dsp.truepeak import true_peak_dbtp
from mastertape.errors import EmptyAudio, InvalidSetting
from mastertape.mastering import GENRES, MasteringSettings, ReferenceMatch, analyze_reference, master
from tests.signals import music_like
from tests.unit.mastering.mastering_signals import shaped_master

SR = 44100


def tonal_distance_db(a: np.ndarray, b: np.ndarray) -> float:
    """Mean |dB| difference of the 1/3-octave balances 40 Hz - 16 kHz, each curve's mean removed."""
    _, la = third_octave_levels(a, SR, 40.0, 16000.0)
    _, lb = third_octave_levels(b, SR, 40.0, 16000.0)
    return float(np.mean(np.abs((la - la.mean()) - (lb - lb.mean()))))


def side_mid_db(x: np.ndarray) -> float:
    m, s = (x[0] + x[1]) / 2.0, (x[0] - x[1]) / 2.0
    return float(10 * np.log10(np.sum(s.astype(np.float64) ** 2) / np.sum(m.astype(np.float64) ** 2)))


def dull(x: Audio, lufs: float = -22.0) -> Audio:
    sos = np.vstack([low_shelf_sos(150.0, 4.0, SR), high_shelf_sos(3000.0, -6.0, SR)])
    y = scipy.signal.sosfilt(sos, x.samples.astype(np.float64), axis=1)
    y *= 10 ** ((lufs - integrated_loudness(y, SR)) / 20)
    return Audio(y.astype(np.float32), SR)


@pytest.fixture(scope="module")
def finished() -> Audio:
    return shaped_master(GENRES["modern"], seconds=10.0)


def test_reference_mastering_moves_a_dull_mix_onto_the_reference(finished):
    mix = dull(finished)
    out, report = master(mix, MasteringSettings(target_lufs=-14.0), reference=analyze_reference(finished))
    blind, _ = master(mix, MasteringSettings(target_lufs=-14.0))
    before = tonal_distance_db(mix.samples, finished.samples)
    assert before > 2.0
    assert tonal_distance_db(out.samples, finished.samples) < 0.6
    assert tonal_distance_db(out.samples, finished.samples) < tonal_distance_db(blind.samples, finished.samples)
    assert abs(side_mid_db(out.samples) - side_mid_db(finished.samples)) < 0.5
    assert abs(integrated_loudness(out.samples, SR) + 14.0) < 0.05
    assert true_peak_dbtp(out.samples, SR) <= -1.0
    assert report.reference is not None and report.reference.tone == 1.0 and report.reference.width_matched
    assert report.reference.tone_distance_db > 1.0
    assert max(report.eq_response_db) > 3.0  # the top end was raised to match


def test_reference_match_zero_is_the_blind_master(finished):
    mix = dull(finished)
    off = MasteringSettings(reference_match=ReferenceMatch(0.0, 0.0, 0.0))
    a, rep = master(mix, off, reference=analyze_reference(finished))
    b, _ = master(mix, MasteringSettings())
    assert a.samples.tobytes() == b.samples.tobytes()
    assert rep.reference is not None and rep.reference.leveller_ratio is None


def test_width_is_matched_and_the_low_end_is_not_widened(finished):
    ms = np.stack([(finished.samples[0] + finished.samples[1]) / 2, (finished.samples[0] - finished.samples[1]) / 2])
    wide = Audio(np.stack([ms[0] + 2.0 * ms[1], ms[0] - 2.0 * ms[1]]).astype(np.float32), SR)
    out, report = master(wide, MasteringSettings(), reference=analyze_reference(finished))
    assert side_mid_db(wide.samples) - side_mid_db(finished.samples) > 5.0
    # per band the side/mid ratio is matched; the bass-heavy mid loses a little to compression and limiting
    assert abs(side_mid_db(out.samples) - side_mid_db(finished.samples)) < 0.8
    assert all(c < 0.0 for c in report.reference.width_change_db[1:])  # narrower above the low band
    mono_ref = Audio(finished.samples.mean(axis=0, keepdims=True), SR)
    _, rep = master(wide, MasteringSettings(), reference=analyze_reference(mono_ref))
    assert not rep.reference.width_matched  # a mono reference says nothing about width


def test_dynamics_follow_the_reference_loudness_range():
    steady = music_like(30.0, SR, level_db=-16.0, seed=7)
    t = np.arange(steady.frames) / SR
    swell = (10 ** ((8.0 * np.sin(2 * np.pi * t / 12.0)) / 20.0)).astype(np.float32)
    dynamic = Audio(steady.samples * swell, SR)
    ref = analyze_reference(steady)
    assert loudness_range(dynamic.samples, SR) - ref.loudness_range_lu > 6.0
    blind, _ = master(dynamic, MasteringSettings())
    out, report = master(dynamic, MasteringSettings(), reference=ref)
    target = ref.loudness_range_lu
    assert abs(loudness_range(out.samples, SR) - target) < 0.5 * abs(loudness_range(blind.samples, SR) - target)
    assert report.reference.leveller_ratio < 1.0
    assert abs(integrated_loudness(out.samples, SR) + 14.0) < 0.05
    assert true_peak_dbtp(out.samples, SR) <= -1.0
    tone_only, rep = master(dynamic, MasteringSettings(reference_match=ReferenceMatch(1.0, 1.0, 0.0)), reference=ref)
    assert rep.reference.leveller_ratio is None


def test_intensity_zero_leaves_only_gain_limiter_and_dither(finished):
    mix = dull(finished, lufs=-18.0)
    out, report = master(mix, MasteringSettings(target_lufs=-24.0, intensity=0.0, bit_depth=32))
    assert report.limiter_max_gain_reduction_db == 0.0
    gain = 10 ** (report.gain_db / 20)
    residual = out.samples.astype(np.float64) - gain * mix.samples.astype(np.float64)
    # the output is the input times one gain, to float32 FFT rounding (no EQ, band split or compression)
    assert 10 * np.log10(np.sum(residual**2) / np.sum(out.samples.astype(np.float64) ** 2)) < -90.0
    assert abs(integrated_loudness(out.samples, SR) + 24.0) < 0.05


def test_intensity_scales_the_moves_and_the_default_is_the_standard_master(finished):
    mix = dull(finished)
    std, _ = master(mix, MasteringSettings())
    same, _ = master(mix, MasteringSettings(intensity=0.5))
    assert std.samples.tobytes() == same.samples.tobytes()
    moves = {}
    for intensity in (0.0, 0.25, 0.5, 1.0):
        out, rep = master(mix, MasteringSettings(intensity=intensity))
        moves[intensity] = (max(abs(g) for g in rep.eq_response_db), max(b.max_gain_reduction_db for b in rep.bands))
        assert abs(integrated_loudness(out.samples, SR) + 14.0) < 0.05
        assert true_peak_dbtp(out.samples, SR) <= -1.0
    eq = [moves[i][0] for i in (0.0, 0.25, 0.5, 1.0)]
    comp = [moves[i][1] for i in (0.0, 0.25, 0.5, 1.0)]
    assert eq[0] == 0.0 and comp[0] == 0.0
    assert eq == sorted(eq) and eq[3] > eq[2] > eq[1]
    assert comp == sorted(comp) and comp[3] > comp[1]


def test_genre_auto_tells_dense_from_dynamic_material():
    dense = shaped_master(GENRES["modern"], seconds=10.0)
    steady = music_like(30.0, SR, level_db=-20.0, seed=8)
    t = np.arange(steady.frames) / SR
    swell = (10 ** ((12.0 * np.sin(2 * np.pi * t / 10.0)) / 20.0)).astype(np.float32)
    orchestral = Audio(steady.samples * swell, SR)
    _, a = master(dense, MasteringSettings(genre="auto"))
    _, b = master(orchestral, MasteringSettings(genre="auto"))
    assert a.genre == "modern" and b.genre == "dynamic"
    assert "auto" in a.genre_reason and "LU" in b.genre_reason


def test_bad_reference_and_settings_are_refused_with_the_field():
    with pytest.raises(EmptyAudio) as err:
        analyze_reference(Audio(np.zeros((2, SR), dtype=np.float32), SR))
    assert err.value.field == "reference_id"
    for bad in (-0.1, 1.5, float("nan"), True):
        with pytest.raises(InvalidSetting) as err:
            ReferenceMatch(tone=bad)
        assert err.value.field == "reference_match"
        with pytest.raises(InvalidSetting) as err:
            MasteringSettings(intensity=bad)
        assert err.value.field == "intensity"
