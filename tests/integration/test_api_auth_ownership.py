"""Keys: 401 without a valid key; every object belongs to the key that made it (another key gets 404)."""

from __future__ import annotations

import subprocess
import sys

from mastertape.store.keys import hash_key, list_keys, revoke_key
from tests.integration import server_process
from tests.signals import sine


def _all_endpoints(audio_id: str, up_id: str, master_id: str) -> list[tuple[str, str, dict | None]]:
    return [
        ("GET", f"/status/audio/{audio_id}", None),
        ("GET", f"/status/upscaled/{up_id}", None),
        ("GET", f"/status/mastered/{master_id}", None),
        ("GET", f"/download/audio/{audio_id}", None),
        ("GET", f"/download/upscaled/{up_id}", None),
        ("GET", f"/download/mastered/{master_id}", None),
        ("POST", "/master-audio", {"audio_id": audio_id, "use_restored": False}),
        ("POST", "/upscale-audio", {"audio_id": audio_id, "preset": "declip"}),
    ]


def test_missing_wrong_and_revoked_keys_are_401(service):
    for headers in ({}, {"X-API-Key": "mt_not-a-key"}, {"X-API-Key": ""}):
        for method, path in (("GET", "/status/audio/x"), ("POST", "/master-audio"), ("POST", "/from-link")):
            r = service.client.request(
                method, path, headers=headers, json={"audio_id": "x", "url": "http://a.b"}
            )
            assert r.status_code == 401, (method, path, r.text)
            assert r.json()["error"]["code"] == "unauthorized"
    r = service.client.post("/from-file", files={"audio": ("a.wav", b"123")})
    assert r.status_code == 401
    key = service.new_key("to-revoke")
    assert service.client.get("/status/audio/x", headers={"X-API-Key": key}).status_code == 404
    row = next(k for k in list_keys(service.rt.db) if k.key_hash == hash_key(key))
    revoke_key(service.rt.db, row.id)
    assert service.client.get("/status/audio/x", headers={"X-API-Key": key}).status_code == 401


def test_other_keys_objects_are_404_everywhere(service):
    audio_id = service.upload(service.wav(sine(seconds=2.0, dbfs=-6.0)))
    r = service.client.post(
        "/upscale-audio", headers=service.headers, json={"audio_id": audio_id, "preset": "declip"}
    )
    assert r.status_code == 200, r.text
    up_id = r.json()["id"]
    master_id = service.master(audio_id=audio_id, use_restored=False)
    service.run_jobs()
    owner_view = [
        service.client.request(m, p, headers=service.headers, json=b)
        for m, p, b in _all_endpoints(audio_id, up_id, master_id)
    ]
    assert all(r.status_code in (200, 307) for r in owner_view), [r.text for r in owner_view]

    other = {"X-API-Key": service.new_key()}
    for method, path, body in _all_endpoints(audio_id, up_id, master_id):
        r = service.client.request(method, path, headers=other, json=body, follow_redirects=False)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert r.json()["error"]["code"] == "not_found"
    # the other key's own id space is untouched: an unknown id answers exactly the same way
    unknown = service.client.get("/status/audio/00000000-0000-0000-0000-000000000000", headers=other)
    mine = service.client.get(f"/status/audio/{audio_id}", headers=other)
    assert unknown.status_code == mine.status_code == 404
    assert unknown.json()["error"]["code"] == mine.json()["error"]["code"]
    # ids of the other key as sources of a master
    other_audio = service.upload(service.wav(sine(seconds=2.0)), key=other["X-API-Key"])
    for field, value in (("upscaled_id", up_id), ("source_mastered_id", master_id)):
        r = service.client.post("/master-audio", headers=other, json={"audio_id": other_audio, field: value})
        assert r.status_code == 404 and r.json()["error"]["field"] == field


def test_keys_cli_create_list_revoke(tmp_path):
    data = tmp_path / "data"
    env = server_process.mastertape_env(data)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "mastertape", *args], env=env, capture_output=True, text=True, timeout=60
        )

    made = cli("keys", "create", "--name", "laptop")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("mt_") and len(key) > 40
    listed = cli("keys", "list", "--data-dir", str(data))
    assert "laptop" in listed.stdout and key[:10] in listed.stdout and key not in listed.stdout
    key_id = listed.stdout.splitlines()[1].split()[0]
    with server_process.running(data, workers=0) as server:
        import httpx

        assert httpx.get(f"{server.url}/status/audio/x", headers={"X-API-Key": key}).status_code == 404
        assert "Created the first API key" not in server.log()  # the table was not empty
        revoked = cli("keys", "revoke", key_id[:8])
        assert revoked.returncode == 0 and "revoked" in revoked.stdout
        assert httpx.get(f"{server.url}/status/audio/x", headers={"X-API-Key": key}).status_code == 401
    assert cli("keys", "revoke", "zzzzzzzz").returncode != 0


def test_serve_creates_and_prints_one_key_on_an_empty_database(tmp_path):
    import httpx

    data = tmp_path / "data"
    with server_process.running(data, workers=0) as server:
        pass
    printed = [line for line in server.log().splitlines() if line.startswith("mt_")]
    assert len(printed) == 1
    with server_process.running(data, workers=0) as server:
        r = httpx.get(f"{server.url}/status/audio/x", headers={"X-API-Key": printed[0]})
        assert r.status_code == 404
    assert not any(line.startswith("mt_") for line in server.log().splitlines())  # not again
