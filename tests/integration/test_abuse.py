"""Abuse of the API: keys (401, one answer for every kind of bad key), other keys' ids (404 exactly like
unknown ids), the per-key limit on jobs in flight (429 with Retry-After, on every route that queues work),
bodies over their limits (413, chunked or not), and a full or failing disk during a job (the job fails
with a reason, the original upload stays intact, the server recovers)."""

from __future__ import annotations

import errno
import uuid

import pytest
from sqlalchemy import func, select

from mastertape.errors import StorageError
from mastertape.store.blobs import LocalBlobStore
from mastertape.store.keys import hash_key, list_keys, revoke_key
from mastertape.store.models import Asset
from tests.integration.conftest import make_service
from tests.signals import sine

#: (method, path, JSON body) of routes that need a key; ids are filled in
KEYED_ROUTES = [
    ("GET", "/status/audio/{id}", None),
    ("GET", "/status/mastered/{id}", None),
    ("GET", "/download/audio/{id}", None),
    ("POST", "/master-audio", {"audio_id": "{id}"}),
    ("POST", "/upscale-audio", {"audio_id": "{id}", "preset": "declip"}),
    ("POST", "/from-link", {"url": "http://example.com/a.wav"}),
]


def _fill(body, value: str):
    if body is None:
        return None
    return {k: (v.format(id=value) if isinstance(v, str) else v) for k, v in body.items()}


def _call(svc, method: str, path: str, body, key: str | None, object_id: str):
    headers = {} if key is None else {"X-API-Key": key}
    return svc.client.request(
        method, path.format(id=object_id), headers=headers, json=_fill(body, object_id), follow_redirects=False
    )


def test_every_kind_of_bad_key_gets_the_same_401(service):
    audio_id = service.upload(service.wav(sine(seconds=0.5)))
    revoked = service.new_key("to-revoke")
    row = next(k for k in list_keys(service.rt.db) if k.key_hash == hash_key(revoked))
    revoke_key(service.rt.db, row.id)
    good = service.key
    bad_keys = {
        "missing": None,
        "empty": "",
        "wrong": "mt_" + "A" * 43,
        "last character changed": good[:-1] + ("A" if good[-1] != "A" else "B"),
        "prefix of the key": good[:-1],
        "key plus one character": good + "x",
        "another key's hash": hash_key(good),
        "very long": "k" * 8000,
        "revoked": revoked,
    }
    for method, path, body in KEYED_ROUTES:
        answers = set()
        for name, key in bad_keys.items():
            r = _call(service, method, path, body, key, audio_id)
            assert r.status_code == 401, (name, method, path, r.text)
            answers.add((r.json()["error"]["code"], r.json()["error"]["message"] if key else "-"))
        # one answer for every wrong key: nothing tells a guess that is close from one that is not
        assert len({a for a in answers if a[1] != "-"}) == 1, answers
    files = service.client.post("/from-file", files={"audio": ("a.wav", b"RIFF")}, headers={"X-API-Key": good[:-1]})
    assert files.status_code == 401
    with service.rt.db.read() as s:  # nothing was created by any of them
        assert s.execute(select(func.count()).select_from(Asset)).scalar_one() == 1


def test_keys_are_looked_up_by_hash_and_compared_in_constant_time(service, monkeypatch):
    """The key table holds SHA-256 hashes only; a request's key is hashed, fetched by that hash and the
    stored hash compared with hmac.compare_digest (so no prefix of a key can be probed by timing)."""
    import hmac

    from mastertape.store import keys

    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(keys.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    assert service.client.get("/status/audio/x", headers=service.headers).status_code == 404
    assert compared == [(hash_key(service.key), hash_key(service.key))]
    stored = {row.key_hash for row in list_keys(service.rt.db)}
    assert service.key not in stored and hash_key(service.key) in stored


def test_another_keys_ids_answer_exactly_like_unknown_ids(service):
    audio_id = service.upload(service.wav(sine(seconds=1.0)))
    master_id = service.master(audio_id=audio_id, use_restored=False)
    service.run_jobs()
    other = service.new_key()
    routes = KEYED_ROUTES[:5] + [("GET", "/download/mastered/{id}", None), ("GET", "/status/upscaled/{id}", None)]
    for method, path, body in routes:
        mine = master_id if "mastered" in path else audio_id
        unknown = str(uuid.uuid4())
        a = _call(service, method, path, body, other, mine)
        b = _call(service, method, path, body, other, unknown)
        assert a.status_code == b.status_code == 404, (path, a.text, b.text)
        assert a.text.replace(mine, "ID") == b.text.replace(unknown, "ID"), (a.text, b.text)
        assert sorted(a.headers.items()) == sorted(b.headers.items())
        # and the owner still sees it
        assert _call(service, method, path, body, service.key, mine).status_code != 404 or "upscaled" in path


def test_jobs_in_flight_limit_is_429_with_retry_after_on_every_route_that_queues(tmp_path):
    svc = make_service(tmp_path, max_jobs_in_flight_per_key=2, allow_private_links=True)
    try:
        wav = svc.wav(sine(seconds=0.5)).read_bytes()
        first = svc.upload(wav)
        svc.run_jobs()
        svc.upload(wav)
        svc.master(audio_id=first, use_restored=False)  # two jobs queued now
        attempts = {
            "/from-file": lambda k: svc.client.post("/from-file", headers=k, files={"audio": ("a.wav", wav)}),
            "/from-link": lambda k: svc.client.post("/from-link", headers=k, json={"url": "http://127.0.0.1:9/a.wav"}),
            "/master-audio": lambda k: svc.client.post("/master-audio", headers=k, json={"audio_id": first}),
            "/upscale-audio": lambda k: svc.client.post(
                "/upscale-audio", headers=k, json={"audio_id": first, "preset": "declip"}
            ),
        }
        for route, attempt in attempts.items():
            r = attempt(svc.headers)
            assert r.status_code == 429, (route, r.text)
            assert r.json()["error"]["code"] == "too_many_jobs"
            assert int(r.headers["retry-after"]) > 0
        # another key has its own allowance
        other = {"X-API-Key": svc.new_key()}
        assert svc.client.post("/from-file", headers=other, files={"audio": ("a.wav", wav)}).status_code == 200
        svc.run_jobs()  # once the jobs have ended, the key may queue again
        assert svc.client.post("/master-audio", headers=svc.headers, json={"audio_id": first}).status_code == 200
    finally:
        svc.client.close()
        svc.rt.close()


def test_bodies_over_their_limits_are_413(tmp_path):
    svc = make_service(tmp_path, max_json_body_bytes=4096, max_upload_bytes=20_000)
    try:
        audio_id = svc.upload(svc.wav(sine(seconds=0.05)))
        padding = "x" * 5000  # unknown fields are ignored, but still count against the limit
        for path, body in (
            ("/master-audio", {"audio_id": audio_id, "pad": padding}),
            ("/upscale-audio", {"audio_id": audio_id, "preset": "declip", "pad": padding}),
            ("/from-link", {"url": "http://example.com/a.wav", "pad": padding}),
        ):
            r = svc.client.post(path, headers=svc.headers, json=body)
            assert r.status_code == 413, (path, r.text)
            assert r.json()["error"]["code"] == "payload_too_large" and "4,096 bytes" in r.json()["error"]["message"]
            # the same without a Content-Length (chunked): cut off once past the limit
            raw = str(body).replace("'", '"').encode()
            r = svc.client.post(
                path,
                headers={**svc.headers, "content-type": "application/json"},
                content=(raw[i : i + 1000] for i in range(0, len(raw), 1000)),
            )
            assert r.status_code == 413, (path, r.text)
        # small bodies, chunked or not, still work
        ok = b'{"audio_id": "%s", "use_restored": false}' % audio_id.encode()
        headers = {**svc.headers, "content-type": "application/json"}
        r = svc.client.post("/master-audio", headers=headers, content=iter([ok[:10], ok[10:]]))
        assert r.status_code == 200, r.text
        big = svc.wav(sine(seconds=1.0), "big.wav")
        r = svc.client.post("/from-file", headers=svc.headers, files={"audio": ("big.wav", big.read_bytes())})
        assert r.status_code == 413 and r.json()["error"]["field"] == "audio"
    finally:
        svc.client.close()
        svc.rt.close()


class FailingDisk(LocalBlobStore):
    """The local blob store on a disk that is full (ENOSPC) for writes under `full_prefixes` and fails
    reads (EIO) under `unreadable_prefixes`: the real store's code path, with the OS saying no."""

    def __init__(self, root, full_prefixes=(), unreadable_prefixes=()) -> None:
        super().__init__(root)
        self.full_prefixes, self.unreadable_prefixes = tuple(full_prefixes), tuple(unreadable_prefixes)
        self.refused = 0

    def _commit(self, tmp, key: str) -> None:
        if key.startswith(self.full_prefixes):
            self.refused += 1
            raise OSError(errno.ENOSPC, "No space left on device")
        super()._commit(tmp, key)

    def open(self, key: str):
        if key.startswith(self.unreadable_prefixes):
            self.refused += 1
            try:  # as LocalBlobStore.open reports an OSError of the disk
                raise OSError(errno.EIO, "Input/output error")
            except OSError as exc:
                raise StorageError(f"cannot read blob {key}: {exc.strerror}") from exc
        return super().open(key)


def _storage_failure_ok(status: dict) -> None:
    assert status["status"] == "failed", status
    assert status["status_details"]["error_code"] == "storage_error", status
    msg = status["error_message"]
    assert "server's storage" in msg and "not with your file" in msg, msg
    assert "blobs" not in msg and "/original" not in msg and "Traceback" not in msg, msg


def _original_intact(svc, audio_id: str, data: bytes) -> None:
    r = svc.client.get(f"/download/audio/{audio_id}", headers=svc.headers, follow_redirects=True)
    assert r.status_code == 200 and r.content == data


@pytest.fixture
def disk(service):
    real = service.rt.blobs
    failing = FailingDisk(real.root)
    service.rt.blobs = failing
    yield failing
    service.rt.blobs = real


def test_full_disk_while_storing_a_master_fails_that_job_and_keeps_the_original(service, disk):
    data = service.wav(sine(seconds=1.0)).read_bytes()
    audio_id = service.upload(data)
    service.run_jobs()
    disk.full_prefixes = ("mastered/",)
    master_id = service.master(audio_id=audio_id, use_restored=False)
    other = service.upload(data)  # a job queued behind it is unaffected
    service.run_jobs()
    _storage_failure_ok(service.status("mastered", master_id))
    assert disk.refused == service.settings.job_max_attempts  # retried as transient, then failed
    assert service.status("audio", other)["status"] == "completed"
    _original_intact(service, audio_id, data)
    assert not [p for p in (disk.root / "mastered").rglob("*") if p.is_file()]  # nothing half-written
    assert not [p for p in (disk.root / ".tmp").iterdir()]
    disk.full_prefixes = ()  # space again: the same request succeeds
    again = service.master(audio_id=audio_id, use_restored=False)
    service.run_jobs()
    assert service.status("mastered", again)["status"] == "completed"


def test_full_disk_while_encoding_fails_the_job_with_a_reason(service, monkeypatch):
    import mastertape.audio

    data = service.wav(sine(seconds=1.0)).read_bytes()
    audio_id = service.upload(data)
    service.run_jobs()

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(mastertape.audio, "encode", no_space)
    master_id = service.master(audio_id=audio_id, use_restored=False)
    service.run_jobs()
    status = service.status("mastered", master_id)
    _storage_failure_ok(status)
    assert "No space left on device" in status["error_message"]
    _original_intact(service, audio_id, data)


def test_unreadable_storage_fails_the_job_and_the_original_is_kept(service, disk):
    data = service.wav(sine(seconds=1.0)).read_bytes()
    audio_id = service.upload(data)
    disk.unreadable_prefixes = ("audio/",)
    service.run_jobs()
    st = service.status("audio", audio_id)
    _storage_failure_ok(st)
    assert "Input/output error" in st["error_message"]
    disk.unreadable_prefixes = ()
    blob = disk.root / "audio" / audio_id / "original"
    assert blob.read_bytes() == data


def test_full_disk_during_an_upload_is_503_and_stores_nothing(service, disk):
    disk.full_prefixes = ("audio/",)
    r = service.client.post(
        "/from-file", headers=service.headers, files={"audio": ("a.wav", service.wav(sine(seconds=0.5)).read_bytes())}
    )
    assert r.status_code == 503 and r.json()["error"]["code"] == "storage_error", r.text
    assert "server's storage" in r.json()["error"]["message"]
    with service.rt.db.read() as s:
        assert s.execute(select(func.count()).select_from(Asset)).scalar_one() == 0
    assert not [p for p in disk.root.rglob("*") if p.is_file()]


def test_full_disk_during_a_link_download_fails_that_import(tmp_path, monkeypatch):
    """The download's own writes fail (ENOSPC): the import fails with a storage reason, not a link one."""
    import http.server
    import threading

    from mastertape.jobs import fetch

    body = b"RIFF" + b"\0" * 5000

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    svc = make_service(tmp_path, allow_private_links=True)
    try:

        class FullFile:
            def __init__(self, *a, **k) -> None:
                pass

            def __enter__(self):
                return self

            def __exit__(self, *a) -> None:
                pass

            def write(self, chunk) -> int:
                raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(fetch, "open", FullFile, raising=False)
        r = svc.client.post(
            "/from-link", headers=svc.headers, json={"url": f"http://127.0.0.1:{httpd.server_address[1]}/a.wav"}
        )
        assert r.status_code == 200
        svc.run_jobs()
        st = svc.status("audio", r.json()["audio_id"])
        assert st["status"] == "failed" and st["status_details"]["error_code"] == "storage_error", st
        assert "not with your link" in st["error_message"]
    finally:
        httpd.shutdown()
        svc.client.close()
        svc.rt.close()
