"""The mastering chain end to end: loudness targeting, ceiling, quality guards, determinism, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mastertape.audio import Audio
from mastertape.dsp.dither import lsb
from mastertape.dsp.loudness import integrated_loudness
from mastertape.dsp.spectrum import side_to_mid_ratio_db, third_octave_levels
from mastertape.dsp.truepeak import true_peak_dbtp
from mastertape.errors import EmptyAudio, InvalidAudioValues, InvalidSetting, SilentAudio, TooManyChannels
from mastertape.mastering import GENRES, STAGES, MasteringSettings, master
from mastertape.mastering.measure import envelope_blocks
from tests.ffmpeg_ref import ebur128_samples
from tests.signals import music_like, pink_noise
from tests.unit.mastering.mastering_signals import shaped_master

SR = 44100


def quiet_mix() -> Audio:
    """A quiet, dynamic mix: about -33 LUFS."""
    return music_like(10.0, SR, level_db=-36.0, seed=4)


def loud_limited_mix() -> Audio:
    """An already loud, hard-clipped master: about -8 LUFS with inter-sample peaks above 0 dBTP."""
    x = music_like(10.0, SR, level_db=-6.0, seed=5).samples * np.float32(3.5)
    return Audio(np.clip(x, -1.0, 1.0), SR)


@pytest.fixture(scope="module")
def inputs() -> dict[str, Audio]:
    return {"quiet": quiet_mix(), "loud": loud_limited_mix()}


def test_test_material_is_what_it_claims(inputs):
    assert integrated_loudness(inputs["quiet"].samples, SR) < -30.0
    assert integrated_loudness(inputs["loud"].samples, SR) > -9.5
    assert true_peak_dbtp(inputs["loud"].samples, SR) > 0.0


@pytest.mark.parametrize("source", ["quiet", "loud"])
@pytest.mark.parametrize("target", [-23.0, -14.0, -8.0])
def test_final_quantised_output_hits_the_target_under_the_ceiling(inputs, source, target):
    out, report = master(inputs[source], MasteringSettings(target_lufs=target, bit_depth=16))
    measured = integrated_loudness(out.samples, SR)
    assert abs(measured - target) <= 0.05
    assert true_peak_dbtp(out.samples, SR) <= -1.0
    assert report.output_true_peak_dbtp <= -1.0
    assert report.output_lufs == pytest.approx(target, abs=0.01)
    assert out.samples.dtype == np.float32 and out.samples.shape == inputs[source].samples.shape
    assert out.sample_rate == SR


@pytest.mark.parametrize(("target", "ceiling"), [(-10.0, -0.1), (-16.0, -3.0), (-20.0, -6.0)])
def test_other_ceilings(inputs, target, ceiling):
    out, _ = master(inputs["loud"], MasteringSettings(target_lufs=target, ceiling_dbtp=ceiling))
    assert abs(integrated_loudness(out.samples, SR) - target) <= 0.05
    assert true_peak_dbtp(out.samples, SR) <= ceiling


def test_output_true_peak_holds_at_8x_oversampling(inputs):
    out, report = master(inputs["loud"], MasteringSettings(target_lufs=-8.0))
    blocks = np.arange(-(-out.frames // 4096))
    fine = float(envelope_blocks(out.samples, SR, blocks, 4096, factor=8).max())
    assert 20 * np.log10(fine) <= -1.0
    assert report.output_true_peak_dbtp == pytest.approx(20 * np.log10(fine), abs=0.01)


def test_ffmpeg_agrees_on_loudness_and_true_peak(inputs, tmp_path):
    out, _ = master(inputs["loud"], MasteringSettings(target_lufs=-9.0))
    ref = ebur128_samples(out.samples, SR, tmp_path)
    assert abs(ref.integrated_lufs - (-9.0)) <= 0.05
    assert ref.true_peak_dbtp <= -1.0  # the summary's one decimal, rounded


@pytest.mark.parametrize("bits", [16, 24])
def test_pcm_output_lies_on_the_integer_grid_and_never_clips(inputs, bits):
    out, _ = master(inputs["loud"], MasteringSettings(target_lufs=-8.0, ceiling_dbtp=0.0, bit_depth=bits))
    codes = out.samples.astype(np.float64) * 2 ** (bits - 1)
    np.testing.assert_array_equal(codes, np.round(codes))
    assert np.abs(out.samples).max() <= 1.0 - lsb(bits)
    assert true_peak_dbtp(out.samples, SR) <= 0.0


def test_float_output_is_not_dithered(inputs):
    out, _ = master(inputs["quiet"], MasteringSettings(bit_depth=32))
    codes = out.samples.astype(np.float64) * 2**23
    assert np.count_nonzero(codes != np.round(codes)) > 0.5 * codes.size


def test_same_input_settings_and_seed_give_bit_identical_output(inputs):
    a, _ = master(inputs["quiet"], MasteringSettings(bit_depth=16, dither_seed=5))
    b, _ = master(inputs["quiet"], MasteringSettings(bit_depth=16, dither_seed=5))
    c, _ = master(inputs["quiet"], MasteringSettings(bit_depth=16, dither_seed=6))
    assert a.samples.tobytes() == b.samples.tobytes()
    assert a.samples.tobytes() != c.samples.tobytes()


@pytest.mark.parametrize("name", ["quiet", "loud"])
def test_mastering_in_the_input_buffer_gives_the_same_output(inputs, name):
    settings = MasteringSettings(bit_depth=24, dither_seed=3)
    expected, _ = master(inputs[name], settings)
    given_up = Audio(inputs[name].samples.copy(), SR)
    out, _ = master(given_up, settings, overwrite_input=True)
    assert np.shares_memory(out.samples, given_up.samples)  # no second buffer
    assert out.samples.tobytes() == expected.samples.tobytes()
    # a selection is a view that is not contiguous: mastered into a new buffer, same result
    sel = MasteringSettings(bit_depth=24, dither_seed=3, selection=(1.0, 6.0))
    a, _ = master(inputs[name], sel)
    b, _ = master(Audio(inputs[name].samples.copy(), SR), sel, overwrite_input=True)
    assert a.samples.tobytes() == b.samples.tobytes()


@pytest.mark.parametrize("genre", [g for g in GENRES if g != "voice"])
def test_material_mastered_near_the_target_keeps_its_tonal_balance(genre):
    source = shaped_master(GENRES[genre], seconds=8.0)
    out, report = master(source, MasteringSettings(genre=genre))
    assert max(abs(g) for g in report.eq_response_db) < 0.5  # close to the curve: hardly any EQ
    _, before = third_octave_levels(source.samples, SR, 60.0, 12000.0)
    _, after = third_octave_levels(out.samples, SR, 60.0, 12000.0)
    before -= integrated_loudness(source.samples, SR)
    after -= integrated_loudness(out.samples, SR)
    assert np.abs(after - before).max() < 1.5


def _stereo_bass_mix() -> Audio:
    """A mix whose low end has real stereo content (decorrelated bass under a mono-bass track)."""
    base = music_like(8.0, SR, level_db=-20.0, seed=6).samples.astype(np.float64)
    rng = np.random.default_rng(7)
    n = base.shape[1]
    f = np.fft.rfftfreq(n, 1 / SR)
    lowpass = (f < 120.0) & (f > 30.0)
    side = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * lowpass, n)
    side *= 0.3 * np.sqrt(np.mean(base**2)) / np.sqrt(np.mean(side**2))
    return Audio(np.stack([base[0] + side, base[1] - side]).astype(np.float32), SR)


@pytest.mark.parametrize("genre", list(GENRES))
def test_low_end_never_gets_wider(genre):
    source = _stereo_bass_mix()
    out, _ = master(source, MasteringSettings(genre=genre))
    before = side_to_mid_ratio_db(source.samples, SR, 120.0)
    assert before > -15.0
    assert side_to_mid_ratio_db(out.samples, SR, 120.0) <= before + 0.05


def test_selection_processes_and_returns_only_that_range():
    source = music_like(12.0, SR, level_db=-20.0)
    out, report = master(source, MasteringSettings(selection=(2.0, 7.5)))
    assert out.samples.shape == (2, int(5.5 * SR))
    assert report.selection == (2.0, 7.5) and report.duration_s == pytest.approx(5.5)
    assert abs(integrated_loudness(out.samples, SR) - (-14.0)) <= 0.05
    end_past, _ = master(source, MasteringSettings(selection=(10.0, 60.0)))
    assert end_past.samples.shape[1] == 2 * SR
    with pytest.raises(InvalidSetting) as err:
        master(source, MasteringSettings(selection=(13.0, 20.0)))
    assert err.value.field == "selection"
    with pytest.raises(InvalidSetting):
        master(source, MasteringSettings(selection=(11.9, 20.0)))  # under 0.4 s left


def test_mono_and_other_sample_rates():
    mono = music_like(6.0, 48000, level_db=-25.0)
    mono = Audio(mono.samples[:1].copy(), 48000)
    out, report = master(mono, MasteringSettings(target_lufs=-16.0))
    assert out.samples.shape == mono.samples.shape and report.channels == 1
    assert abs(integrated_loudness(out.samples, 48000) - (-16.0)) <= 0.05
    hi = Audio(music_like(4.0, 96000, level_db=-15.0).samples, 96000)
    out, _ = master(hi, MasteringSettings(target_lufs=-10.0))
    assert abs(integrated_loudness(out.samples, 96000) - (-10.0)) <= 0.05
    assert true_peak_dbtp(out.samples, 96000) <= -1.0


def test_silent_and_near_silent_input_is_refused_clearly():
    silent = Audio(np.zeros((2, 5 * SR), dtype=np.float32), SR)
    with pytest.raises(SilentAudio) as err:
        master(silent, MasteringSettings())
    assert "silent" in err.value.message
    hiss = pink_noise(5.0, SR, rms_dbfs=-75.0)
    with pytest.raises(SilentAudio):
        master(hiss, MasteringSettings(target_lufs=-8.0))
    t = np.arange(5 * SR) / SR
    fade = np.minimum(1.0, t) * np.minimum(1.0, 5.0 - t)
    rumble = (0.5 * np.sin(2 * np.pi * 5.0 * t) * fade).astype(np.float32)  # loud, but only subsonic
    assert integrated_loudness(np.tile(rumble, (2, 1)), SR) > -50.0
    with pytest.raises(SilentAudio):
        master(Audio(np.tile(rumble, (2, 1)), SR), MasteringSettings())


def test_bad_input_errors():
    x = music_like(2.0, SR).samples
    bad = x.copy()
    bad[0, 1000] = np.nan
    with pytest.raises(InvalidAudioValues):
        master(Audio(bad, SR), MasteringSettings())
    with pytest.raises(TooManyChannels):
        master(Audio(np.vstack([x, x[:1]]), SR), MasteringSettings())
    with pytest.raises(EmptyAudio):
        master(Audio(x[:, : SR // 4], SR), MasteringSettings())


def test_unreachable_target_is_reported_not_faked():
    source = pink_noise(5.0, SR, rms_dbfs=-20.0)
    with pytest.raises(InvalidSetting) as err:
        master(source, MasteringSettings(target_lufs=-5.0, ceiling_dbtp=-9.0))
    assert err.value.field == "target_lufs"


def test_progress_and_report(inputs):
    calls: list[tuple[str, float]] = []
    out, report = master(
        inputs["quiet"], MasteringSettings(genre="warm"), progress=lambda s, f: calls.append((s, f))
    )
    stages = [s for s, _ in calls]
    assert set(stages) <= set(STAGES)
    assert [s for s in STAGES if s in stages] == sorted(set(stages), key=STAGES.index)
    assert stages[0] == "analysis" and stages[-1] == "dither"
    fractions = [f for _, f in calls]
    assert fractions == sorted(fractions) and 0.0 <= fractions[0] and fractions[-1] == 1.0
    assert set(report.stage_times_s) == set(STAGES) and all(v >= 0 for v in report.stage_times_s.values())
    assert report.genre == "warm" and report.saturation_mix > 0
    assert report.input_lufs == pytest.approx(integrated_loudness(inputs["quiet"].samples, SR), abs=0.01)
    assert report.input_true_peak_dbtp == pytest.approx(true_peak_dbtp(inputs["quiet"].samples, SR), abs=0.01)
    assert report.gain_db > 15.0 and report.targeting_iterations >= 1 and report.limiter_passes >= 1
    assert len(report.bands) == len(GENRES["warm"].crossovers_hz) + 1
    assert report.output_plr_db == pytest.approx(report.output_true_peak_dbtp - report.output_lufs)
    d = json.loads(json.dumps(report.to_dict()))
    assert d["output_lufs"] == pytest.approx(-14.0, abs=0.01)
    assert len(d["eq_response_db"]) == len(d["eq_response_freqs_hz"])


def test_badly_balanced_mix_is_moved_towards_the_profile():
    dark = shaped_master(GENRES["modern"], seconds=8.0)
    x = dark.samples.astype(np.float64)
    spec = np.fft.rfft(x, axis=1)
    f = np.fft.rfftfreq(x.shape[1], 1 / SR)
    spec *= np.where(f > 2000.0, 10 ** (-9 / 20), 1.0)  # 9 dB too dull above 2 kHz
    dull = Audio(np.fft.irfft(spec, x.shape[1], axis=1).astype(np.float32), SR)
    out, report = master(dull, MasteringSettings())
    gains = dict(zip(report.eq_response_freqs_hz, report.eq_response_db, strict=True))
    assert gains[8000.0] > 0.75 and abs(gains[250.0]) < gains[8000.0] / 2  # the top is raised, the lows far less
    above = [f >= 150.0 for f in report.eq_response_freqs_hz]  # blind: one EQ for mid and side (but the lows)
    assert np.array(report.eq_side_response_db)[above].tolist() == np.array(report.eq_response_db)[above].tolist()
    c, before = third_octave_levels(dull.samples, SR, 60.0, 12000.0)
    _, after = third_octave_levels(out.samples, SR, 60.0, 12000.0)
    tilt_before = before[c >= 5000].mean() - before[c <= 500].mean()
    tilt_after = after[c >= 5000].mean() - after[c <= 500].mean()
    assert tilt_after > tilt_before + 1.0
