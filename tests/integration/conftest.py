"""Fixtures of the API tests: an app in-process on a temporary data dir, with jobs run inline.

`service` builds the app from explicit Settings (nothing read from the environment), makes one API key,
and gives a TestClient plus `run_jobs()`, which runs every ready job in this process with the same
job functions the worker processes use (`jobs.runner.drain`). One test starts real worker processes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from mastertape.api.app import create_app
from mastertape.audio import Audio, encode
from mastertape.config import Settings
from mastertape.jobs.runner import drain
from mastertape.jobs.runtime import Runtime
from mastertape.store.keys import create_key

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@dataclass
class Service:
    settings: Settings
    rt: Runtime
    client: TestClient
    key: str
    tmp: Path

    @property
    def headers(self) -> dict:
        return {"X-API-Key": self.key}

    def new_key(self, name: str = "other") -> str:
        return create_key(self.rt.db, name)[1]

    def run_jobs(self) -> int:
        return drain(self.rt)

    def wav(self, audio: Audio, name: str = "track.wav", bit_depth: int = 24) -> Path:
        path = self.tmp / name
        encode(audio, path, "wav", bit_depth=bit_depth)
        return path

    def upload(self, path: Path | bytes, key: str | None = None, name: str = "track.wav") -> str:
        data = path if isinstance(path, bytes) else Path(path).read_bytes()
        r = self.client.post(
            "/from-file",
            headers={"X-API-Key": key or self.key},
            files={"audio": (name, data, "application/octet-stream")},
        )
        assert r.status_code == 200, r.text
        return r.json()["audio_id"]

    def status(self, object_type: str, object_id: str, key: str | None = None) -> dict:
        r = self.client.get(f"/status/{object_type}/{object_id}", headers={"X-API-Key": key or self.key})
        assert r.status_code == 200, r.text
        return r.json()

    def master(self, key: str | None = None, **body) -> str:
        r = self.client.post("/master-audio", headers={"X-API-Key": key or self.key}, json=body)
        assert r.status_code == 200, r.text
        return r.json()["id"]


def make_service(tmp_path: Path, **overrides) -> Service:
    settings = Settings(data_dir=tmp_path / "data", workers=1, **overrides)
    app = create_app(settings)
    rt = app.state.rt
    _, key = create_key(rt.db, "test")
    client = TestClient(app)
    return Service(settings=settings, rt=rt, client=client, key=key, tmp=tmp_path)


@pytest.fixture
def service(tmp_path) -> Service:
    svc = make_service(tmp_path)
    yield svc
    svc.client.close()
    svc.rt.close()
