"""`mastertape stems IN -o OUTDIR --preset NAME`, run in-process through `mastertape.cli.main`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mastertape.audio import decode, encode
from tests.cli import run_cli
from tests.signals import music_like
from tests.unit.stems.stem_signals import sung_voice


@pytest.fixture(scope="module")
def song_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    voice = sung_voice(4.0, 44100, level_db=-22.0)
    mix = voice.with_samples(voice.samples + music_like(4.0, 44100, level_db=-20.0).samples)
    path = tmp_path_factory.mktemp("stems_cli") / "song.wav"
    encode(mix, path, "wav", bit_depth=32)
    return path


def test_two_tracks_writes_stems_that_sum_to_the_input(
    song_file: Path, tmp_path: Path, capsys, stem_model
) -> None:
    code, out, err = run_cli(
        [
            "stems",
            str(song_file),
            "-o",
            str(tmp_path / "out"),
            "--preset",
            "2_tracks",
            "--bit-depth",
            "32",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    data = json.loads(out)
    assert set(data["stems"]) == {"vocals", "instrumental"} and data["backends"] == ["spleeter_2stems"]
    src = decode(song_file).samples
    total = sum(decode(p).samples for p in data["stems"].values())
    assert 10 * np.log10(np.sum((src - total) ** 2) / np.sum(src**2)) < -40


def test_restoration_preset_and_flac(song_file: Path, tmp_path: Path, capsys) -> None:
    code, out, err = run_cli(
        ["stems", str(song_file), "-o", str(tmp_path), "--preset", "denoise", "--format", "flac"], capsys
    )
    assert code == 0, err
    assert (tmp_path / "song_denoised.flac").is_file() and (tmp_path / "song_noise.flac").is_file()
    assert "denoised" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "nope"], "unknown stem preset 'nope'"),
        (["--preset", "duet"], "needs a model that is not installed"),
        (["--format", "mp3"], "--format"),
    ],
)
def test_bad_requests_end_with_one_line(
    args: list[str], message: str, song_file: Path, tmp_path: Path, capsys
) -> None:
    code, _, err = run_cli(["stems", str(song_file), "-o", str(tmp_path), *args], capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
