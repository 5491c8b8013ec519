"""A distributed deployment in processes: `mastertape serve` (API) + `mastertape worker`s, one environment.

Each process runs in its own session (process group), so `kill_worker` can SIGKILL a worker's main
process and its pool process together, as the loss of a machine would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from mastertape.audio import Audio, encode
from mastertape.config import Settings
from mastertape.jobs.runtime import Runtime
from mastertape.store.models import COMPLETED, FAILED, Job
from tests.integration import server_process

WORKER_START_TIMEOUT_S = 60.0


def settings_from_env(env: dict, data_dir: Path) -> Settings:
    values = {k.removeprefix("MASTERTAPE_").lower(): v for k, v in env.items() if k.startswith("MASTERTAPE_")}
    return Settings(data_dir=data_dir, **values)


class Worker:
    def __init__(self, process: subprocess.Popen, log_path: Path) -> None:
        self.process, self.log_path = process, log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pool_pids(self) -> set[int]:
        """Pids of the processes in this worker's process group (main + pool)."""
        pids = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.getpgid(int(entry.name)) == self.pid:
                        pids.add(int(entry.name))
        return pids

    def kill(self, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)  # leftover pool processes of a dead main process


class Cluster:
    def __init__(self, tmp: Path, env: dict) -> None:
        self.tmp = tmp
        self.data_dir = tmp / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.env = dict(env)
        self.settings = settings_from_env(self.env, self.data_dir)
        self.key = self.env["MASTERTAPE_API_KEY"]
        self.api: server_process.ServerProcess | None = None
        self.workers: list[Worker] = []
        self._rt: Runtime | None = None
        self.upgrade()

    # --- processes ---------------------------------------------------------------------------------
    def _cli(self, *args: str, log_name: str, session: bool = True) -> tuple[subprocess.Popen, Path]:
        log_path = self.tmp / log_name
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mastertape", *args],
                env=server_process.mastertape_env(self.data_dir, **self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=session,
            )
        return proc, log_path

    def upgrade(self) -> str:
        """`mastertape db upgrade` in a subprocess, as an operator runs it."""
        out = subprocess.run(
            [sys.executable, "-m", "mastertape", "db", "upgrade"],
            env=server_process.mastertape_env(self.data_dir, **self.env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    def start_api(self, **env: str) -> server_process.ServerProcess:
        self.api = server_process.start(self.data_dir, workers=0, **{**self.env, **env})
        return self.api

    def stop_api(self, sig: int = signal.SIGTERM) -> None:
        if self.api is not None:
            server_process.stop(self.api, sig)
            self.api = None

    def start_worker(self, concurrency: int = 1, queues: str = "import,restore,master,split,archive") -> Worker:
        n = len(self.workers)
        proc, log_path = self._cli(
            "worker", "--concurrency", str(concurrency), "--queues", queues, "--log-level", "info",
            log_name=f"worker-{n}.log",
        )
        worker = Worker(proc, log_path)
        self.workers.append(worker)
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        while "ready." not in worker.log():
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode}:\n{worker.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{worker.log()[-3000:]}")
            time.sleep(0.1)
        return worker

    def close(self) -> None:
        self.stop_api()
        for worker in self.workers:
            worker.stop()
        if self._rt is not None:
            self._rt.close()

    # --- state, as seen from the database and the bucket ------------------------------------------
    @property
    def rt(self) -> Runtime:
        if self._rt is None:
            self._rt = Runtime.open(self.settings)
        return self._rt

    def jobs(self) -> list[Job]:
        with self.rt.db.read() as s:
            rows = list(s.execute(select(Job)).scalars())
            for row in rows:
                s.expunge(row)
            return rows

    def wait_until_done(self, timeout_s: float = 180.0) -> list[Job]:
        """Poll until every job is completed or failed; returns the jobs."""
        deadline = time.monotonic() + timeout_s
        while True:
            jobs = self.jobs()
            if jobs and all(j.status in (COMPLETED, FAILED) for j in jobs):
                return jobs
            if time.monotonic() > deadline:
                pending = [
                    (j.id[:8], j.kind, j.status, j.attempts) for j in jobs if j.status not in (COMPLETED, FAILED)
                ]
                logs = "\n".join(w.log()[-2000:] for w in self.workers)
                raise AssertionError(f"jobs still pending after {timeout_s} s: {pending}\n{logs}")
            time.sleep(0.2)

    def bucket_keys(self) -> set[str]:
        return set(self.rt.blobs.list_keys())

    # --- the API, as a client uses it ----------------------------------------------------------
    @property
    def headers(self) -> dict:
        return {"X-API-Key": self.key}

    def wav_bytes(self, audio: Audio, name: str = "track.wav") -> bytes:
        path = self.tmp / name
        encode(audio, path, "wav", bit_depth=16)
        return path.read_bytes()

    def upload(self, data: bytes, name: str = "track.wav") -> httpx.Response:
        return httpx.post(
            f"{self.api.url}/from-file",
            headers=self.headers,
            files={"audio": (name, data, "application/octet-stream")},
            timeout=60,
        )

    def master(self, audio_id: str, **body) -> httpx.Response:
        return httpx.post(
            f"{self.api.url}/master-audio",
            headers=self.headers,
            json={"audio_id": audio_id, "use_restored": False, **body},
            timeout=60,
        )

    def status(self, object_type: str, object_id: str) -> dict:
        r = httpx.get(f"{self.api.url}/status/{object_type}/{object_id}", headers=self.headers, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()
