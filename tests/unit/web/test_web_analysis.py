"""web/analysis.py: waveform overview shape and values, platform playback gains, the JSON dict."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mastertape.audio import Audio
from mastertape.dsp.loudness import integrated_loudness
from mastertape.web.analysis import (
    PLATFORMS,
    PlatformRule,
    analyze,
    gain_reduction_from_report,
    platform_gain,
    platform_gains,
    short_term_curve,
    waveform_overview,
)
from tests.signals import pink_noise, sine


def _rule(name: str) -> PlatformRule:
    return next(r for r in PLATFORMS if r.name == name)


def test_waveform_overview_shape_and_envelope():
    sr = 8000
    frames = 10_007  # not a multiple of the column count
    t = np.arange(frames) / sr
    left = 0.5 * np.sin(2 * np.pi * 400 * t)
    right = np.where(t < frames / sr / 2, 0.0, 0.25)  # silent first half, DC afterwards
    wf = waveform_overview(Audio(np.stack([left, right]).astype(np.float32), sr), columns=100)
    assert wf.columns == 100
    assert wf.min.shape == wf.max.shape == wf.rms.shape == (100,)
    assert wf.seconds_per_column == pytest.approx(frames / 100 / sr)
    # every column (100 frames) holds five 400 Hz periods, so peaks reach the sine's +-0.5
    assert np.all(wf.max >= 0.49) and np.all(wf.max <= 0.5 + 1e-6)
    assert np.all(wf.min <= -0.49)
    # RMS of the pair: first half only the sine (0.5/sqrt 2 on one of two channels) -> 0.25
    assert wf.rms[10] == pytest.approx(0.25, rel=0.03)
    assert wf.rms[90] == pytest.approx(math.sqrt((0.125 + 0.0625) / 2), rel=0.03)


def test_waveform_overview_short_input_and_exact_extremes():
    x = np.array([[0.1, -0.7, 0.3, 0.9, -0.2]], dtype=np.float32)
    wf = waveform_overview(Audio(x, 8000), columns=1000)
    assert wf.columns == 5  # never more columns than frames
    np.testing.assert_allclose(wf.max, x[0])
    np.testing.assert_allclose(wf.min, x[0])
    wf1 = waveform_overview(Audio(x, 8000), columns=1)
    assert wf1.max[0] == pytest.approx(0.9) and wf1.min[0] == pytest.approx(-0.7)


def test_platform_gain_turns_loud_tracks_down_everywhere():
    for rule in PLATFORMS:
        g = platform_gain(rule, -8.0, -0.3)
        assert g.gain_db == pytest.approx(rule.reference_lufs + 8.0)
        assert g.playback_lufs == pytest.approx(rule.reference_lufs)
        assert not g.limited_by_peak


def test_platform_gain_quiet_track():
    # Spotify's published example: -20 LUFS with true peak -5 dBFS is lifted only to -16 LUFS.
    spotify = platform_gain(_rule("Spotify"), -20.0, -5.0)
    assert spotify.gain_db == pytest.approx(4.0) and spotify.playback_lufs == pytest.approx(-16.0)
    assert spotify.limited_by_peak
    # enough headroom: lifted all the way to the reference
    assert platform_gain(_rule("Spotify"), -20.0, -9.0).gain_db == pytest.approx(6.0)
    # a peak already above the ceiling: no lift at all, never a cut
    assert platform_gain(_rule("Spotify"), -20.0, 0.5).gain_db == pytest.approx(0.0)
    for name in ("YouTube", "Tidal", "Amazon Music", "Deezer"):
        g = platform_gain(_rule(name), -20.0, -9.0)
        assert g.gain_db == 0.0 and g.playback_lufs == pytest.approx(-20.0)
    assert platform_gain(_rule("Apple Music"), -20.0, -9.0).gain_db == pytest.approx(4.0)


def test_platform_references_and_silence():
    refs = {r.name: r.reference_lufs for r in PLATFORMS}
    assert refs == {"Spotify": -14.0, "Apple Music": -16.0, "YouTube": -14.0, "Amazon Music": -14.0,
                    "Tidal": -14.0, "Deezer": -15.0}
    silent = platform_gains(float("-inf"), float("-inf"))
    assert all(g.gain_db is None and g.playback_lufs is None for g in silent)


def test_short_term_curve_timing_and_thinning():
    audio = sine(997.0, -20.0, seconds=8.0, sample_rate=48000)
    curve = short_term_curve(audio)
    assert curve.first_end_s == pytest.approx(3.0)
    assert curve.step_s == pytest.approx(0.1)
    assert curve.lufs.size == 51  # (80 - 30) hops + 1
    np.testing.assert_allclose(curve.lufs, -20.0, atol=0.05)  # -20 dBFS sine on both channels
    thin = short_term_curve(audio, max_points=10)
    assert thin.lufs.size <= 10 and thin.step_s == pytest.approx(0.6)


def test_analyze_dict_is_json_and_consistent():
    audio = pink_noise(seconds=6.0, sample_rate=44100, rms_dbfs=-20.0)
    data = analyze(audio, report={"limiter_max_gain_reduction_db": -2.5}).to_dict()
    text = json.dumps(data, allow_nan=False)  # no NaN/inf may leak into JSON
    assert len(text) < 60_000
    m = data["metrics"]
    expected_lufs = integrated_loudness(audio.samples, audio.sample_rate)
    assert m["integrated_lufs"] == pytest.approx(expected_lufs, abs=0.01)
    assert m["plr_db"] == pytest.approx(m["true_peak_dbtp"] - m["integrated_lufs"], abs=0.02)
    assert m["max_gain_reduction_db"] == 2.5
    assert data["waveform"]["columns"] == 1000 and len(data["waveform"]["max"]) == 1000
    assert data["duration_s"] == pytest.approx(6.0)
    spec = data["spectrum"]
    assert spec["centers_hz"][0] == 20.0 and spec["centers_hz"][-1] == 20000.0
    assert len(spec["levels_db"]) == len(spec["centers_hz"])
    # pink noise: equal power per 1/3 octave, so the bands 100 Hz..10 kHz lie within a few dB
    mid = [lv for c, lv in zip(spec["centers_hz"], spec["levels_db"], strict=True) if 100 <= c <= 10000]
    assert max(mid) - min(mid) < 3.0
    spotify = next(p for p in data["platforms"] if p["name"] == "Spotify")
    assert spotify["gain_db"] == pytest.approx(-14.0 - m["integrated_lufs"], abs=0.02)


def test_analyze_silence_gives_nulls():
    data = analyze(Audio(np.zeros((2, 44100), dtype=np.float32), 44100)).to_dict()
    json.dumps(data, allow_nan=False)
    assert data["metrics"]["integrated_lufs"] is None
    assert data["metrics"]["max_gain_reduction_db"] is None
    assert data["short_term_lufs"]["values"] == []  # 1 s is shorter than the 3 s window
    assert all(p["gain_db"] is None for p in data["platforms"])


def test_gain_reduction_from_report():
    assert gain_reduction_from_report(None) is None
    assert gain_reduction_from_report({"max_gain_reduction_db": 3.25}) == 3.25
    assert gain_reduction_from_report({"other": 1.0}) is None
    assert gain_reduction_from_report({"max_gain_reduction_db": float("nan")}) is None
