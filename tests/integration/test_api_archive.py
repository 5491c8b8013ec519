"""POST /download-archive: versions and formats packaged by a job, clear answers for what cannot be packaged.

Tracks are generated here (music_like, sines); stems come from a restoration-based stem preset (`denoise`),
which needs no model, so these tests run everywhere.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np

from mastertape.audio import decode
from mastertape.dsp.loudness import measure
from tests.signals import music_like, sine

UNKNOWN = "00000000-0000-0000-0000-000000000000"


def _error(r, status: int) -> dict:
    assert r.status_code == status, r.text
    return r.json()["error"]


def _archive(service, key: str | None = None, **body) -> dict:
    r = service.client.post("/download-archive", headers={"X-API-Key": key or service.key}, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _zip(service, archive: dict) -> zipfile.ZipFile:
    service.run_jobs()
    st = service.status("archive", archive["id"])
    assert st["is_complete"], st
    assert st["download_url"] == archive["download_url"]
    r = service.client.get(archive["download_url"], headers=service.headers, follow_redirects=False)
    assert r.status_code == 307
    f = service.client.get(r.headers["location"])
    assert f.status_code == 200 and f.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(f.content))


def _restore(service, audio_id: str, **extra) -> str:
    r = service.client.post(
        "/upscale-audio", headers=service.headers, json={"audio_id": audio_id, "preset": "declip", **extra}
    )
    assert r.status_code == 200, r.text
    return r.json()["id"]


def test_track_versions_in_their_formats(service):
    track = music_like(seconds=4.0, level_db=-20.0, seed=5)
    src = service.wav(track, "mix.wav", bit_depth=16)
    audio_id = service.upload(src, name="mix.wav")
    up_id = _restore(service, audio_id)
    first = service.master(audio_id=audio_id, use_restored=False, target_lufs=-14.0)
    second = service.master(audio_id=audio_id, use_restored=False, target_lufs=-12.0, bit_depth=16)
    service.run_jobs()

    # default formats: the original as uploaded, restored and mastered as WAV
    archive = _archive(service, id=audio_id, versions=["original", "restored", "mastered"])
    assert archive["files"] == 4
    with _zip(service, archive) as zf:
        manifest = {f["path"]: f for f in json.loads(zf.read("manifest.json"))["files"]}
        assert set(zf.namelist()) == set(manifest) | {"manifest.json"}
        assert zf.read("mix/mix_original.wav") == src.read_bytes()
        assert manifest["mix/mix_restored.wav"]["id"] == up_id
        masters = {manifest[p]["id"]: p for p in manifest if manifest[p]["version"] == "mastered"}
        assert masters[first] == "mix/mix_master.wav"
        assert masters[second] == f"mix/mix_master_{second[:8]}.wav"  # a second master gets its id
        for master_id, target in ((first, -14.0), (second, -12.0)):
            audio = decode(zf.read(masters[master_id]))
            assert abs(measure(audio.samples, audio.sample_rate).integrated_lufs - target) <= 0.1
        restored = decode(zf.read("mix/mix_restored.wav"))
        assert restored.samples.shape == track.samples.shape

    # per-version formats
    archive = _archive(
        service,
        id=audio_id,
        versions=["original", "restored", "mastered"],
        original_format="flac",
        restored_format="flac",
        mastered_format="mp3",
    )
    with _zip(service, archive) as zf:
        names = set(zf.namelist())
        assert {"mix/mix_original.flac", "mix/mix_restored.flac", "mix/mix_master.mp3"} <= names
        original = decode(zf.read("mix/mix_original.flac"))
        assert np.array_equal(original.samples, decode(src.read_bytes()).samples)  # lossless
        for name in names - {"manifest.json"}:
            assert abs(decode(zf.read(name)).duration_s - 4.0) < 0.1, name


def test_what_cannot_be_packaged(service):
    audio_id = service.upload(service.wav(sine(seconds=2.0, dbfs=-10.0)))
    h = service.headers
    # still importing
    err = _error(
        service.client.post("/download-archive", headers=h, json={"id": audio_id, "versions": ["original"]}), 409
    )
    assert err["code"] == "not_ready"
    service.run_jobs()
    master_id = service.master(audio_id=audio_id, use_restored=False)  # queued, not run yet
    cases = [
        ({"id": audio_id, "versions": ["mastered"]}, 409, None),  # a master is on its way
        ({"id": audio_id, "versions": ["restored"]}, 422, "versions"),  # none at all
        ({"id": audio_id, "versions": ["original_stems"]}, 422, "versions"),
        ({"id": audio_id, "versions": []}, 422, "versions"),
        ({"id": audio_id, "versions": ["everything"]}, 422, "versions.0"),
        ({"id": audio_id, "versions": ["original"], "format": "wma"}, 422, "format"),
        ({"versions": ["original"]}, 422, "id"),
        ({"id": UNKNOWN, "versions": ["original"]}, 404, "id"),
        ({"ids": [audio_id, UNKNOWN], "versions": ["original"]}, 404, "ids.1"),
        ({"id": master_id, "versions": ["original"]}, 422, "id"),  # a master's id is not an audio id
        ({"stem_ids": [UNKNOWN], "versions": ["original_stems"]}, 404, "stem_ids.0"),
        ({"stem_selections": [{"stem_id": UNKNOWN}], "versions": ["original_stems"]}, 404, "stem_selections.0.stem_id"),
    ]
    for body, status, field in cases:
        err = _error(service.client.post("/download-archive", headers=h, json=body), status)
        assert err.get("field") == field, (body, err)

    service.run_jobs()
    archive = _archive(service, id=audio_id, versions=["original", "mastered"])
    st = service.status("archive", archive["id"])
    assert st["status"] == "processing" and not st["is_complete"]
    assert _error(service.client.get(archive["download_url"], headers=h), 409)["code"] == "not_ready"

    # another key sees neither the track nor the archive
    other = {"X-API-Key": service.new_key()}
    err = _error(
        service.client.post("/download-archive", headers=other, json={"id": audio_id, "versions": ["original"]}), 404
    )
    assert err["field"] == "id"
    service.run_jobs()
    for path in (f"/status/archive/{archive['id']}", f"/download/archive/{archive['id']}"):
        assert _error(service.client.get(path, headers=other, follow_redirects=False), 404)["code"] == "not_found"
    assert service.status("archive", archive["id"])["is_complete"]


def test_several_tracks_stems_and_stem_selections(service):
    a = service.upload(service.wav(music_like(seconds=3.0, seed=2), "take.wav"), name="take.wav")
    b = service.upload(service.wav(music_like(seconds=3.0, seed=3), "take2.wav"), name="take.wav")
    r = service.client.post("/create-stems", headers=service.headers, json={"audio_id": a, "preset": "denoise"})
    assert r.status_code == 200, r.text
    split_id = r.json()["creation_id"]
    service.run_jobs()
    stems = {s["name"]: s["stem_id"] for s in service.status("stem_split", split_id)["status_details"]["stems"]}
    assert list(stems) == ["denoised", "noise"]
    stem_master = service.master(audio_id=a, stem_id=stems["denoised"], use_restored=False, target_lufs=-18.0)
    stem_restored = _restore(service, a, stem_id=stems["denoised"])
    service.run_jobs()

    archive = _archive(
        service,
        ids=[a, b],
        versions=["original", "original_stems", "restored_stems"],
        stem_ids=[stems["denoised"]],
        stem_selections=[{"stem_id": stems["denoised"], "version": "mastered", "mastered_id": stem_master}],
        format="flac",
    )
    with _zip(service, archive) as zf:
        manifest = {f["path"]: f for f in json.loads(zf.read("manifest.json"))["files"]}
        folder_b = f"take_{b[:8]}"  # two tracks of the same name get their own folders
        assert set(manifest) == {
            "take/take_original.wav",
            f"{folder_b}/{folder_b}_original.wav",
            "take/stems/take_denoised.flac",
            "take/stems/take_denoised_restored.flac",
            "take/stems/take_denoised_master.flac",
        }
        assert manifest["take/stems/take_denoised_master.flac"]["id"] == stem_master
        assert manifest["take/stems/take_denoised_restored.flac"]["id"] == stem_restored
        master = decode(zf.read("take/stems/take_denoised_master.flac"))
        assert abs(measure(master.samples, master.sample_rate).integrated_lufs + 18.0) <= 0.1
        stem = decode(zf.read("take/stems/take_denoised.flac"))
        assert stem.samples.shape[1] == 3 * 44100

    # a selection whose master is of another stem is refused, naming the field
    err = _error(
        service.client.post(
            "/download-archive",
            headers=service.headers,
            json={
                "versions": ["original_stems"],
                "stem_selections": [{"stem_id": stems["noise"], "version": "mastered", "mastered_id": stem_master}],
            },
        ),
        422,
    )
    assert err["field"] == "stem_selections.0.mastered_id"
