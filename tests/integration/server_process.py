"""Start a real `mastertape serve` (its own data dir, worker processes) on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

SRC = Path(__file__).resolve().parents[2] / "src"
STARTUP_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mastertape_env(data_dir: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASTERTAPE_")}
    env.update({"MASTERTAPE_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", **extra})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)
    return env


@dataclass
class ServerProcess:
    url: str
    data_dir: Path
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start(data_dir: Path, *, workers: int = 1, port: int | None = None, **env: str) -> ServerProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log_path = data_dir / f"serve-{port}.log"
    cmd = [
        sys.executable,
        "-m",
        "mastertape",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            env=mastertape_env(data_dir, **env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", data_dir, proc, log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"mastertape serve exited with {proc.returncode}:\n{server.log()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.url}/healthz", timeout=2.0).status_code == 200:
                return server
        if time.monotonic() > deadline:
            stop(server)
            raise RuntimeError(f"mastertape serve did not start:\n{server.log()[-3000:]}")
        time.sleep(0.1)


def stop(server: ServerProcess, sig: int = signal.SIGTERM) -> None:
    """Stop the server (SIGTERM lets it stop its workers; SIGKILL kills only it, as a crash would)."""
    if server.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.process.pid, sig)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)


@contextlib.contextmanager
def running(data_dir: Path, **kwargs) -> Iterator[ServerProcess]:
    server = start(data_dir, **kwargs)
    try:
        yield server
    finally:
        stop(server)
