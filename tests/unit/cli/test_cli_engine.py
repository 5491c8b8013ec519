"""The `mastertape master / analyze / genres` commands, run in-process through `mastertape.cli.main`.

Bad input must end with exit code != 0 and exactly one line on stderr; results are checked by measuring
the written files with our meter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mastertape.audio import Audio, decode, encode, probe
from mastertape.cli import engine
from mastertape.dsp.loudness import measure
from tests.cli import run_cli
from tests.signals import music_like, sine

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def track(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6 s synthetic stereo mix at about -22 LUFS, written as 24-bit WAV by our encoder."""
    path = tmp_path_factory.mktemp("cli") / "track.wav"
    encode(music_like(seconds=6.0, sample_rate=44100, level_db=-24.0), path, "wav", bit_depth=24)
    return path


def test_master_reaches_target_and_ceiling(track: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.wav"
    code, stdout, err = run_cli(["master", str(track), "-o", str(out), "--target-lufs", "-12"], capsys)
    assert code == 0, err
    assert str(out) in stdout
    mastered = decode(out)
    stats = measure(mastered.samples, mastered.sample_rate)
    assert abs(stats.integrated_lufs - (-12.0)) <= 0.1
    assert stats.true_peak_dbtp <= -1.0 + 0.05
    assert mastered.sample_rate == 44100 and mastered.channels == 2


def test_master_json_report(track: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.wav"
    code, stdout, err = run_cli(
        ["master", str(track), "-o", str(out), "--target-lufs", "-16", "--bit-depth", "16", "--json"], capsys
    )
    assert code == 0, err
    data = json.loads(stdout)  # stdout holds the JSON document and nothing else
    assert data["output"] == str(out) and data["bit_depth"] == 16 and data["preview"] is None
    report = data["report"]
    assert isinstance(report, dict) and report
    measured = measure(decode(out).samples, 44100)
    assert abs(measured.integrated_lufs - (-16.0)) <= 0.1
    # the report's output loudness is the file's
    out_lufs = [v for k, v in report.items() if "output" in k and "lufs" in k and isinstance(v, float)]
    assert out_lufs and abs(out_lufs[0] - measured.integrated_lufs) <= 0.1


def test_selection_flac_and_preview(track: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cut.flac"
    code, _, err = run_cli(
        ["master", str(track), "-o", str(out), "--selection", "1.5:4.5", "--preview", "aac"], capsys
    )
    assert code == 0, err
    info = probe(out)
    assert info.codec == "flac"
    assert abs(info.duration_s - 3.0) <= 0.01
    preview = tmp_path / "cut.m4a"
    assert preview.is_file()
    assert probe(preview).codec == "aac"
    assert abs(probe(preview).duration_s - 3.0) <= 0.1


def test_same_seed_is_bit_identical(track: Path, tmp_path: Path, capsys) -> None:
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    for dest in (a, b):
        code, _, err = run_cli(
            ["master", str(track), "-o", str(dest), "--bit-depth", "16", "--seed", "7"], capsys
        )
        assert code == 0, err
    assert np.array_equal(decode(a).samples, decode(b).samples)


@pytest.mark.parametrize(
    "extra",
    [
        ["--bit-depth", "12"],
        ["--bit-depth", "abc"],
        ["--selection", "5:2"],
        ["--selection", "five:six"],
        ["--selection", "100:200"],
        ["--genre", "polka-from-mars"],
        ["--target-lufs", "loud"],
        ["--preview", "wma"],
        ["--bit-depth", "32", "--flac"],
    ],
)
def test_bad_options_one_line_error(extra: list[str], track: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / ("out.flac" if "--flac" in extra else "out.wav")
    extra = [e for e in extra if e != "--flac"]
    code, stdout, err = run_cli(["master", str(track), "-o", str(out), *extra], capsys)
    assert code != 0
    assert stdout == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert not out.exists()


def test_bad_inputs_one_line_error(tmp_path: Path, capsys) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    cases = [
        ["master", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "o.wav")],
        ["master", str(junk), "-o", str(tmp_path / "o.wav")],
        ["master", str(empty), "-o", str(tmp_path / "o.wav")],
        ["master", str(junk), "-o", str(tmp_path / "o.mp3")],
        ["master", str(junk), "-o", str(tmp_path / "no-such-dir" / "o.wav")],
        ["master", str(junk)],
        ["analyze", str(tmp_path / "missing.wav")],
        ["analyze", str(junk)],
    ]
    for args in cases:
        code, stdout, err = run_cli(args, capsys)
        assert code != 0, args
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, err)
    assert not (tmp_path / "o.wav").exists()


def test_silent_input_is_an_error(tmp_path: Path, capsys) -> None:
    silent = tmp_path / "silent.wav"
    encode(Audio(np.zeros((2, 44100 * 3), dtype=np.float32), 44100), silent, "wav", bit_depth=24)
    code, _, err = run_cli(["master", str(silent), "-o", str(tmp_path / "o.wav")], capsys)
    assert code != 0
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.wav").exists()


def test_analyze_json_fields(tmp_path: Path, capsys) -> None:
    path = tmp_path / "sine.wav"
    encode(sine(997.0, dbfs=-23.0, seconds=5.0, sample_rate=48000), path, "wav", bit_depth=24)
    code, stdout, err = run_cli(["analyze", str(path), "--json"], capsys)
    assert code == 0, err
    data = json.loads(stdout)
    # EBU Tech 3341 test 1: a 1 kHz stereo sine of -23 dBFS peak measures -23.0 LUFS (BS.1770-4)
    assert abs(data["integrated_lufs"] - (-23.0)) <= 0.1
    assert abs(data["sample_peak_dbfs"] - (-23.0)) <= 0.05
    assert abs(data["true_peak_dbtp"] - (-23.0)) <= 0.2
    assert abs(data["plr_db"]) <= 0.2
    assert data["loudness_range_lu"] <= 0.5
    assert abs(data["max_momentary_lufs"] - (-23.0)) <= 0.2
    assert abs(data["max_short_term_lufs"] - (-23.0)) <= 0.2
    assert abs(data["duration_s"] - 5.0) <= 1e-3
    assert data["sample_rate"] == 48000 and data["channels"] == 2
    code, stdout, _ = run_cli(["analyze", str(path)], capsys)
    assert code == 0 and "-23.0 LUFS" in stdout


def test_genres_lists_profiles(capsys) -> None:
    code, stdout, _ = run_cli(["genres", "--json"], capsys)
    assert code == 0
    genres = {g["name"]: g["description"] for g in json.loads(stdout)["genres"]}
    assert "modern" in genres and len(genres) >= 6
    assert all(isinstance(d, str) and d.strip() for d in genres.values())
    code, stdout, _ = run_cli(["genres"], capsys)
    assert code == 0 and "modern" in stdout


def test_parse_selection() -> None:
    assert engine.parse_selection("1.5:4") == (1.5, 4.0)
    assert engine.parse_selection(":4") == (0.0, 4.0)
    assert engine.parse_selection("30:") == (30.0, None)
    assert engine.parse_selection(None) is None
    assert engine.preview_path(Path("/x/song.wav"), "aac") == Path("/x/song.m4a")
    assert engine.preview_path(Path("/x/song.flac"), "opus") == Path("/x/song.opus")


def test_progress_goes_to_stderr_only(capsys) -> None:
    with engine.StageProgress(True) as progress:
        for k, stage in enumerate(("analysis", "eq", "limiter", "dither")):
            progress(stage, (k + 1) / 4)
        progress("limiter", 0.2)  # never moves backwards
        assert progress._done == 1.0
    assert capsys.readouterr().out == ""
    assert not engine._want_progress(59.0, False)


def test_real_process_json_stdout_is_clean(track: Path, tmp_path: Path) -> None:
    """The installed-style entry point in a fresh process: JSON on stdout only, usage errors on one line."""
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}
    out = tmp_path / "p.wav"
    proc = subprocess.run(
        [sys.executable, "-m", "mastertape", "master", str(track), "-o", str(out), "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["output"] == str(out)
    bad = subprocess.run(
        [sys.executable, "-m", "mastertape", "master", str(track), "-o", str(out), "--selection", "abc"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [["no-such-command"], ["master", "--no-such-option", "x.wav"]])
def test_usage_errors_are_one_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(args, capsys)
    assert code != 0
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: ")


def test_master_with_a_reference_intensity_and_auto_genre(track: Path, tmp_path: Path, capsys) -> None:
    ref = tmp_path / "ref.wav"
    bright = music_like(seconds=6.0, sample_rate=44100, level_db=-14.0, seed=9).samples
    bright = np.diff(bright, axis=1, prepend=0.0).astype(np.float32) * 3.0  # a much brighter finished track
    encode(Audio(bright, 44100), ref, "wav", bit_depth=24)
    out = tmp_path / "out.wav"
    args = ["master", str(track), "-o", str(out), "--reference", str(ref), "--genre", "auto", "--intensity", "0.7"]
    code, stdout, err = run_cli([*args, "--json"], capsys)
    assert code == 0, err
    report = json.loads(stdout)["report"]
    assert report["reference"]["tone"] == 1.0 and report["reference"]["tone_distance_db"] > 1.0
    assert report["intensity"] == 0.7 and report["genre_reason"].startswith("auto")
    stats = measure(decode(out).samples, 44100)
    assert abs(stats.integrated_lufs + 14.0) <= 0.1 and stats.true_peak_dbtp <= -1.0 + 0.05
    code, _, err = run_cli(["master", str(track), "-o", str(out), "--match-tone", "2"], capsys)
    assert code != 0 and "reference_match" in err
    code, _, err = run_cli(["master", str(track), "-o", str(out), "--reference", str(tmp_path / "nope.wav")], capsys)
    assert code != 0 and "no such file" in err
