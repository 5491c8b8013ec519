"""`mastertape restore` and `mastertape presets` (cli/restore.py)."""

import json

import numpy as np
from typer.testing import CliRunner

from mastertape.audio import decode, encode
from mastertape.cli import app
from mastertape.restoration import PRESET_NAMES
from tests.signals import music_like

runner = CliRunner()


def _wav(tmp_path, seconds=2.0):
    path = tmp_path / "in.wav"
    encode(music_like(seconds, 44100), path, "wav", bit_depth=24)
    return path


def test_presets_json_lists_every_contract_name():
    res = runner.invoke(app, ["presets", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["presets"]
    assert [r["name"] for r in rows] == list(PRESET_NAMES)
    by_name = {r["name"]: r for r in rows}
    for name in ("universal_enhancer", "dereverb", "decrowd", "phantom_center"):
        assert by_name[name]["available"] is True and by_name[name]["backend"]
    for r in rows:
        assert r["available"] or r["reason"]


def test_restore_writes_the_output_and_reports(tmp_path):
    src = _wav(tmp_path)
    out = tmp_path / "out.flac"
    res = runner.invoke(app, ["restore", str(src), "-o", str(out), "--preset", "phantom_center", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["report"]["preset"] == "phantom_center" and data["format"] == "flac"
    restored = decode(out)
    assert restored.sample_rate == 44100 and restored.channels == 2
    np.testing.assert_allclose(restored.samples[0], restored.samples[1])


def test_default_preset_leaves_clean_audio_alone(tmp_path):
    src = _wav(tmp_path)
    out = tmp_path / "out.wav"
    res = runner.invoke(app, ["restore", str(src), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "universal_enhancer" in res.stdout
    a, b = decode(src), decode(out)
    assert np.max(np.abs(a.samples - b.samples)) < 1e-6


def test_bad_input_fails_with_one_line(tmp_path):
    src = _wav(tmp_path, 1.0)
    cases = [
        ["restore", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "o.wav")],
        ["restore", str(src), "-o", str(tmp_path / "o.xyz")],
        ["restore", str(src), "-o", str(tmp_path / "o.wav"), "--preset", "nope"],
        ["restore", str(src), "-o", str(tmp_path / "o.wav"), "--strength", "2"],
        ["restore", str(src), "-o", str(tmp_path / "o.wav"), "--stereo-mode", "surround"],
        ["restore", str(src), "-o", str(tmp_path / "o.flac"), "--bit-depth", "32"],
    ]
    from mastertape.errors import MastertapeError

    for argv in cases:
        res = runner.invoke(app, argv)
        assert res.exit_code != 0, argv
        assert isinstance(res.exception, MastertapeError), (argv, res.exception)
        assert "\n" not in res.exception.message
