"""End to end: upload a generated track, master it with the defaults, poll, follow the 307, measure the WAV.

Once in-process (jobs run inline by the same job functions), once through the Python client and the
`remote master` command against a real `mastertape serve` with worker processes.
"""

from __future__ import annotations

import io
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from mastertape.audio import decode
from mastertape.client import Client
from mastertape.dsp.loudness import measure
from tests.integration import server_process
from tests.signals import music_like

LUFS_TOLERANCE = 0.1
CEILING_DBTP = -1.0


def _check_master_wav(data: bytes, target_lufs: float, bit_depth: int = 24) -> None:
    with wave.open(io.BytesIO(data)) as w:
        assert w.getsampwidth() * 8 == bit_depth
        assert w.getnchannels() == 2
    audio = decode(data)
    stats = measure(audio.samples, audio.sample_rate)
    assert abs(stats.integrated_lufs - target_lufs) <= LUFS_TOLERANCE
    assert stats.true_peak_dbtp <= CEILING_DBTP + 0.05


def test_upload_master_defaults_download(service):
    src = service.wav(music_like(seconds=6.0, level_db=-20.0), "song.wav", bit_depth=16)
    audio_id = service.upload(src, name="song.wav")
    st = service.status("audio", audio_id)
    assert st["status"] == "in_progress" and not st["is_complete"] and st["download_url"] is None

    r = service.client.post("/master-audio", headers=service.headers, json={"audio_id": audio_id})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "processing" and body["message"] == "Mastering queued"
    master_id = body["id"]
    waiting = service.status("mastered", master_id)
    assert waiting["status"] == "processing" and waiting["status_details"]["stage"] == "waiting"

    assert service.run_jobs() >= 2
    st = service.status("audio", audio_id)
    assert st["status"] == "completed" and st["is_complete"]
    assert st["status_details"]["metrics"]["sample_rate"] == 44100
    assert abs(st["status_details"]["metrics"]["duration_s"] - 6.0) < 1e-3

    st = service.status("mastered", master_id)
    assert st["status"] == "completed" and st["is_complete"] and not st["is_failed"]
    assert st["audio_id"] == audio_id
    assert st["download_url"].endswith(f"/download/mastered/{master_id}")
    details = st["status_details"]
    assert details["stage"] == "done" and details["progress"] == 1.0
    assert details["source"]["type"] in ("original", "upscaled")
    assert details["backend"] and details["genre"] == "modern" and details["bit_depth"] == 24
    assert abs(details["metrics"]["integrated_lufs"] - (-14.0)) <= LUFS_TOLERANCE
    assert {"decode_s", "master_s", "encode_s", "processing_s"} <= set(details["timings"])

    r = service.client.get(f"/download/mastered/{master_id}", headers=service.headers, follow_redirects=False)
    assert r.status_code == 307
    location = r.headers["location"]
    assert "/files/" in location
    f = service.client.get(location)  # no API key: the signed URL is the credential
    assert f.status_code == 200 and f.headers["content-type"] == "audio/wav"
    assert 'filename="song_master.wav"' in f.headers["content-disposition"]
    _check_master_wav(f.content, -14.0)

    # the streaming preview (aac, written by the job) and an on-demand conversion
    for fmt, media in (("aac", "audio/mp4"), ("flac", "audio/flac")):
        r = service.client.get(
            f"/download/mastered/{master_id}?format={fmt}", headers=service.headers, follow_redirects=False
        )
        assert r.status_code == 307
        f = service.client.get(r.headers["location"])
        assert f.status_code == 200 and f.headers["content-type"] == media
        decoded = decode(f.content)
        assert decoded.channels == 2 and abs(decoded.duration_s - 6.0) < 0.1


def test_master_settings_are_applied(service):
    audio_id = service.upload(service.wav(music_like(seconds=5.0, seed=3)))
    master_id = service.master(
        audio_id=audio_id,
        target_lufs=-10,
        bit_depth=16,
        genre="modern",
        use_restored=False,
        hq_streaming_format="mp3",
        selection={"start": 1.0, "end": 4.0},
    )
    service.run_jobs()
    st = service.status("mastered", master_id)
    assert st["is_complete"], st
    assert st["status_details"]["source"]["type"] == "original"
    assert st["status_details"]["hq_streaming_format"] == "mp3"
    r = service.client.get(f"/download/mastered/{master_id}", headers=service.headers)  # follows the 307
    assert r.status_code == 200
    _check_master_wav(r.content, -10.0, bit_depth=16)
    assert abs(decode(r.content).duration_s - 3.0) < 1e-3
    r = service.client.get(f"/download/mastered/{master_id}?format=mp3", headers=service.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg"


def test_remaster_from_a_master(service):
    audio_id = service.upload(service.wav(music_like(seconds=5.0)))
    first = service.master(audio_id=audio_id, target_lufs=-16, use_restored=False)
    second = service.master(audio_id=audio_id, source_mastered_id=first, target_lufs=-11)
    assert service.status("mastered", second)["status_details"]["stage"] == "waiting"
    service.run_jobs()
    st = service.status("mastered", second)
    assert st["is_complete"], st
    assert st["status_details"]["source"] == {"type": "mastered", "id": first}
    assert abs(st["status_details"]["metrics"]["integrated_lufs"] + 11.0) <= LUFS_TOLERANCE


@pytest.mark.slow
def test_python_client_and_remote_command_against_a_real_server(tmp_path):
    src = tmp_path / "in.wav"
    from mastertape.audio import encode

    encode(music_like(seconds=5.0, seed=7), src, "wav", bit_depth=24)
    key = "mt_client_test_key_0123456789abcdef"
    with server_process.running(tmp_path / "data", workers=1, MASTERTAPE_API_KEY=key) as server:
        progress: list[dict] = []
        with Client(server.url, key) as client:
            audio_id = client.upload(src)
            master_id = client.master(audio_id, target_lufs=-12.0)
            final = client.wait("mastered", master_id, progress=progress.append, poll_s=0.1, timeout_s=120)
            out = client.download("mastered", master_id, tmp_path / "out.wav")
            assert final["is_complete"] and progress[-1] == final
            assert any(p["status_details"].get("stage") not in ("done",) for p in progress)
            _check_master_wav(out.read_bytes(), -12.0)

        cli_out = tmp_path / "cli.wav"
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "mastertape",
                "remote",
                "master",
                str(src),
                "-o",
                str(cli_out),
                "--url",
                server.url,
                "--key",
                key,
                "--target-lufs",
                "-9",
                "--poll",
                "0.1",
            ],
            env=server_process.mastertape_env(tmp_path / "data"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        assert "LUFS" in run.stdout
        _check_master_wav(cli_out.read_bytes(), -9.0)

        bad = subprocess.run(
            [
                sys.executable,
                "-m",
                "mastertape",
                "remote",
                "master",
                str(src),
                "-o",
                str(tmp_path / "x.wav"),
                "--url",
                server.url,
                "--key",
                "wrong-key-wrong-key",
            ],
            env=server_process.mastertape_env(tmp_path / "data"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bad.returncode != 0 and "API key" in bad.stderr


def test_download_paths_are_never_client_chosen(service):
    r = service.client.get("/files/..%2F..%2Fmastertape.sqlite3")
    assert r.status_code in (403, 404) and r.json()["error"]["code"] in ("forbidden", "not_found")
    r = service.client.get("/files/mastertape.sqlite3")
    assert r.status_code == 403
    r = service.client.get("/files/" + "a" * 40 + "." + "b" * 43)
    assert r.status_code == 403


def test_genres_presets_health_and_openapi(service):
    g = service.client.get("/genres").json()
    assert g["default"] == "modern" and "modern" in {x["name"] for x in g["genres"]}
    p = service.client.get("/presets").json()
    names = {x["name"] for x in p["presets"]}
    assert "declip" in names
    for preset in p["presets"] + p["stem_presets"]:
        assert preset["available"] == (preset["unavailable_reason"] is None)
    stem_presets = {x["name"]: x for x in p["stem_presets"]}
    assert stem_presets["4_tracks"]["stems"] == ["vocals", "drums", "bass", "other"]
    assert "needs a model that is not installed" in stem_presets["6_tracks"]["unavailable_reason"]
    assert service.client.get("/healthz").json()["status"] == "ok"
    spec = service.client.get("/openapi.json").json()
    for path in (
        "/from-file",
        "/from-link",
        "/status/{object_type}/{object_id}",
        "/master-audio",
        "/upscale-audio",
        "/download/{object_type}/{object_id}",
        "/genres",
        "/presets",
        "/healthz",
    ):
        assert path in spec["paths"], path
    master_props = spec["components"]["schemas"]["MasterRequest"]["properties"]
    assert master_props["target_lufs"]["default"] == -14.0
    assert master_props["preset"]["default"] == "universal_enhancer"
    assert master_props["use_restored"]["default"] is True
    assert master_props["hq_streaming_format"]["default"] == "aac"
    assert master_props["frequency_cutoff"]["default"] == 13000
    assert Path(service.settings.data_dir).is_dir()


def test_restoration_then_master_reuses_it(service):
    audio_id = service.upload(service.wav(music_like(seconds=4.0, seed=5)))
    r = service.client.post("/upscale-audio", headers=service.headers,
                            json={"audio_id": audio_id, "preset": "declip", "strength": 0.8,
                                  "stereo_mode": "mono", "prompt": "ignored by declip"})
    assert r.status_code == 200 and r.json()["status"] == "processing"
    up_id = r.json()["id"]
    service.run_jobs()
    up = service.status("upscaled", up_id)
    assert up["is_complete"], up
    assert up["status_details"]["preset"] == "declip" and up["status_details"]["backend"]
    assert up["status_details"]["parameters"] == {"strength": 0.8}  # only the fields declip uses
    r = service.client.get(f"/download/upscaled/{up_id}", headers=service.headers)
    assert r.status_code == 200 and decode(r.content).channels == 2

    # same preset and the parameters it uses (the others differ): the completed restoration is reused
    reuse = service.master(audio_id=audio_id, preset="declip", strength=0.8, stereo_mode="left_right")
    assert service.status("mastered", reuse)["status_details"]["source"] == {
        "type": "upscaled", "id": up_id, "preset": "declip", "reused": True}
    # other parameters: a new restoration is queued first, and a second master waits for that same one
    first = service.master(audio_id=audio_id, preset="declip", strength=0.5)
    second = service.master(audio_id=audio_id, preset="declip", strength=0.5, target_lufs=-12)
    s1 = service.status("mastered", first)["status_details"]
    s2 = service.status("mastered", second)["status_details"]
    assert s1["source"]["reused"] is False and s2["source"]["reused"] is True
    assert s1["source"]["id"] == s2["source"]["id"] != up_id
    assert s1["stage"] == "waiting"
    # an explicit upscaled_id is used as is
    chosen = service.master(audio_id=audio_id, upscaled_id=up_id, target_lufs=-18)
    service.run_jobs()
    for master_id in (reuse, first, second, chosen):
        st = service.status("mastered", master_id)
        assert st["is_complete"], st
    assert service.status("mastered", chosen)["status_details"]["source"]["id"] == up_id
    assert abs(service.status("mastered", chosen)["status_details"]["metrics"]["integrated_lufs"] + 18) <= 0.1
