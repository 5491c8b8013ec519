"""Bad input answered well: 422 naming the field, 404 for unknown ids, 409 before completion, 413 over the
upload limit (nothing stored), a corrupt upload ends as a failed asset with a readable message, 403 for
a forged or expired download link."""

from __future__ import annotations

import time
from urllib.parse import urlparse

import pytest
from sqlalchemy import func, select

from mastertape.store import signing
from mastertape.store.models import Asset, Job
from tests.integration.conftest import make_service
from tests.signals import music_like, sine


@pytest.fixture
def imported(service):
    audio_id = service.upload(service.wav(music_like(seconds=4.0)))
    service.run_jobs()
    return audio_id


def _error(r, status: int) -> dict:
    assert r.status_code == status, r.text
    return r.json()["error"]


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"preset": "magic"}, "preset", "unknown_preset"),
        ({"genre": "polka"}, "genre", "unknown_genre"),
        ({"hq_streaming_format": "wma"}, "hq_streaming_format", "unknown_format"),
        ({"target_lufs": -31}, "target_lufs", "invalid_setting"),
        ({"target_lufs": -4.9}, "target_lufs", "invalid_setting"),
        ({"target_lufs": "loud"}, "target_lufs", "invalid_setting"),
        ({"bit_depth": 20}, "bit_depth", "invalid_setting"),
        ({"selection": {"start": 3, "end": 2}}, "selection", "invalid_setting"),
        ({"selection": {"start": -1, "end": 2}}, "selection.start", "invalid_setting"),
        ({"selection": {"start": 1, "end": 60}}, "selection", "invalid_setting"),
        ({"selection": {"start": 10, "end": 20}}, "selection", "invalid_setting"),
        ({"stereo_mode": "surround"}, "stereo_mode", "invalid_setting"),
        ({"strength": 2}, "strength", "invalid_setting"),
        ({"inpaint_regions": [{"start": 2, "end": 1}]}, "inpaint_regions.0", "invalid_setting"),
        ({"use_restored": "perhaps"}, "use_restored", "invalid_setting"),
    ],
)
def test_master_audio_422_names_the_field(service, imported, change, field, code):
    err = _error(
        service.client.post("/master-audio", headers=service.headers, json={"audio_id": imported, **change}),
        422,
    )
    assert err["field"] == field
    assert err["code"] == code
    assert field.split(".")[0] in err["message"] or code != "invalid_setting"


def test_master_audio_ids_unknown_or_of_the_wrong_kind(service, imported):
    master_id = service.master(audio_id=imported, use_restored=False)
    unknown = "00000000-0000-0000-0000-000000000000"
    cases = [
        ({"audio_id": unknown}, 404, "audio_id"),
        ({"audio_id": master_id}, 422, "audio_id"),  # a master's id where an audio id is expected
        ({"audio_id": imported, "upscaled_id": unknown}, 404, "upscaled_id"),
        ({"audio_id": imported, "upscaled_id": master_id}, 422, "upscaled_id"),
        ({"audio_id": imported, "source_mastered_id": imported}, 422, "source_mastered_id"),
        ({"audio_id": imported, "source_mastered_id": unknown}, 404, "source_mastered_id"),
        ({"audio_id": imported, "stem_id": unknown}, 404, "stem_id"),
        ({}, 422, "audio_id"),
    ]
    for body, status, field in cases:
        err = _error(service.client.post("/master-audio", headers=service.headers, json=body), status)
        assert err["field"] == field, (body, err)
    other_audio = service.upload(service.wav(sine(seconds=2.0), "b.wav"))
    err = _error(
        service.client.post(
            "/master-audio",
            headers=service.headers,
            json={"audio_id": other_audio, "source_mastered_id": master_id},
        ),
        422,
    )
    assert err["field"] == "source_mastered_id" and "another track" in err["message"]


def test_malformed_bodies_and_paths(service, imported):
    r = service.client.post(
        "/master-audio", headers={**service.headers, "content-type": "application/json"}, content=b"{not json"
    )
    assert _error(r, 422)["code"] == "invalid_json"
    assert _error(service.client.post("/master-audio", headers=service.headers, json=[1, 2]), 422)
    assert (
        _error(service.client.get(f"/status/video/{imported}", headers=service.headers), 422)["field"]
        == "object_type"
    )
    err = _error(service.client.get(f"/download/audio/{imported}?format=wma", headers=service.headers), 422)
    assert err["field"] == "format" and err["code"] == "unknown_format"
    assert _error(service.client.get("/status/stem/abc", headers=service.headers), 404)["code"] == "not_found"
    assert _error(service.client.get("/nowhere", headers=service.headers), 404)["code"] == "not_found"


def test_upscale_audio_validation(service, imported):
    r = service.client.post(
        "/upscale-audio", headers=service.headers, json={"audio_id": imported, "preset": "nope"}
    )
    assert _error(r, 422)["field"] == "preset"
    r = service.client.post(
        "/upscale-audio",
        headers=service.headers,
        json={"audio_id": imported, "preset": "declip", "strength": -1},
    )
    assert _error(r, 422)["field"] == "strength"
    presets = {p["name"]: p for p in service.client.get("/presets").json()["presets"]}
    missing = next(
        (
            n
            for n in ("universal_enhancer", "audiosr", "stable_audio_3")
            if n not in presets or not presets[n]["available"]
        ),
        None,
    )
    if missing is not None:  # a contract preset this server cannot run: 422 with the reason
        r = service.client.post(
            "/upscale-audio", headers=service.headers, json={"audio_id": imported, "preset": missing}
        )
        err = _error(r, 422)
        assert err["field"] == "preset" and err["code"] == "preset_unavailable"
        r = service.client.post(
            "/master-audio", headers=service.headers, json={"audio_id": imported, "preset": missing}
        )
        assert _error(r, 422)["field"] == "preset"


def test_selection_checked_by_the_job_when_the_import_was_not_finished(service):
    audio_id = service.upload(service.wav(music_like(seconds=3.0)))
    master_id = service.master(audio_id=audio_id, use_restored=False, selection={"start": 5, "end": 9})
    service.run_jobs()
    st = service.status("mastered", master_id)
    assert st["is_failed"] and st["status"] == "failed"
    assert "selection" in st["error_message"] and "3.00 s long" in st["error_message"]
    assert st["status_details"]["error_code"] == "invalid_setting"


def test_download_before_completion_is_409(service):
    audio_id = service.upload(service.wav(music_like(seconds=3.0)))
    master_id = service.master(audio_id=audio_id, use_restored=False)
    for path in (f"/download/audio/{audio_id}", f"/download/mastered/{master_id}"):
        err = _error(service.client.get(path, headers=service.headers, follow_redirects=False), 409)
        assert err["code"] == "not_ready"


def test_upload_over_the_limit_is_413_and_stores_nothing(tmp_path):
    svc = make_service(tmp_path, max_upload_bytes=50_000)
    try:
        big = svc.wav(music_like(seconds=2.0), "big.wav")  # ~530 kB
        assert big.stat().st_size > 50_000
        r = svc.client.post("/from-file", headers=svc.headers, files={"audio": ("big.wav", big.read_bytes())})
        assert _error(r, 413)["code"] == "payload_too_large"

        # a body without Content-Length (chunked) is cut off while streaming
        def chunks():
            data = big.read_bytes()
            boundary = b"xyzBOUNDARY"
            yield (
                b"--"
                + boundary
                + b'\r\nContent-Disposition: form-data; name="audio"; filename="b.wav"\r\n\r\n'
            )
            for i in range(0, len(data), 8192):
                yield data[i : i + 8192]
            yield b"\r\n--" + boundary + b"--\r\n"

        r = svc.client.post(
            "/from-file",
            content=chunks(),
            headers={**svc.headers, "content-type": "multipart/form-data; boundary=xyzBOUNDARY"},
        )
        assert _error(r, 413)["field"] == "audio"
        with svc.rt.db.read() as s:
            assert s.execute(select(func.count()).select_from(Asset)).scalar_one() == 0
        blobs = [p for p in (svc.settings.data_dir / "blobs").rglob("*") if p.is_file()]
        assert blobs == []
        small = svc.wav(sine(seconds=0.1), "small.wav")  # 29 kB
        assert svc.upload(small)
    finally:
        svc.client.close()
        svc.rt.close()


@pytest.mark.parametrize(
    ("payload", "phrase"),
    [
        (b"", "empty"),
        (b"this is not audio at all " * 40, "audio"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio"),
    ],
)
def test_corrupt_upload_ends_as_a_failed_asset_with_a_readable_message(service, payload, phrase):
    audio_id = service.upload(payload, name="song.wav")
    master_id = service.master(audio_id=audio_id, use_restored=False)
    service.run_jobs()
    st = service.status("audio", audio_id)
    assert st["status"] == "failed" and st["is_failed"] and not st["is_complete"]
    msg = st["error_message"]
    assert msg and phrase in msg.lower() and "Traceback" not in msg and "internal" not in msg
    ms = service.status("mastered", master_id)
    assert ms["is_failed"] and "could not be imported" in ms["error_message"]
    r = service.client.post("/master-audio", headers=service.headers, json={"audio_id": audio_id})
    assert _error(r, 422)["field"] == "audio_id"
    # the original upload stays stored
    r = service.client.get(f"/download/audio/{audio_id}", headers=service.headers, follow_redirects=False)
    assert r.status_code == 409


def test_signed_urls_wrong_or_expired_are_403(service, imported):
    r = service.client.get(f"/download/audio/{imported}", headers=service.headers, follow_redirects=False)
    assert r.status_code == 307
    path = urlparse(r.headers["location"]).path
    token = path.rsplit("/", 1)[1]
    assert service.client.get(path).status_code == 200
    payload, mac = token.split(".")
    forged = payload + "." + ("A" if mac[0] != "A" else "B") + mac[1:]
    assert _error(service.client.get(f"/files/{forged}"), 403)["code"] == "forbidden"
    assert _error(service.client.get("/files/garbage"), 403)["code"] == "forbidden"
    secret = signing.load_secret(service.settings)
    expired = signing.sign(
        secret,
        signing.FileGrant(
            key=f"audio/{imported}/original",
            expires_at=time.time() - 1,
            filename="x.wav",
            media_type="audio/wav",
        ),
    )
    err = _error(service.client.get(f"/files/{expired}"), 403)
    assert "expired" in err["message"]
    other_secret = signing.sign(
        b"another-secret",
        signing.FileGrant(
            key=f"audio/{imported}/original",
            expires_at=time.time() + 60,
            filename="x.wav",
            media_type="audio/wav",
        ),
    )
    assert _error(service.client.get(f"/files/{other_secret}"), 403)["code"] == "forbidden"


def test_too_many_jobs_in_flight_is_429(tmp_path):
    svc = make_service(tmp_path, max_jobs_in_flight_per_key=2)
    try:
        wav = svc.wav(sine(seconds=0.5))
        svc.upload(wav)
        svc.upload(wav)
        r = svc.client.post("/from-file", headers=svc.headers, files={"audio": ("a.wav", wav.read_bytes())})
        assert _error(r, 429)["code"] == "too_many_jobs" and r.headers["retry-after"]
        with svc.rt.db.read() as s:
            assert s.execute(select(func.count()).select_from(Job)).scalar_one() == 2
    finally:
        svc.client.close()
        svc.rt.close()
