"""A real `mastertape serve` for browser tests, and Chromium through Playwright.

`run_server` starts the server as a subprocess on 127.0.0.1 (a free port, a temporary data dir, a known
MASTERTAPE_API_KEY), waits for /healthz and stops the process group afterwards. `launch_chromium` uses
Debian's /usr/bin/chromium (never a downloaded browser). When Playwright or Chromium is missing the test
is skipped with the reason, except under CI=true, where that is a failure.

Run as a script it prints the web page's figures (first-load size, drop-to-playable time):
    PYTHONPATH=src python3 -m tests.integration.web_server TRACK
"""

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
import pytest

CHROMIUM = Path(os.environ.get("MASTERTAPE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
API_KEY = "mt-web-test-key-0123456789abcdef"
_SRC = Path(__file__).resolve().parents[2] / "src"
_STARTUP_TIMEOUT_S = 60.0


def skip_or_fail(reason: str) -> None:
    """Skip the test, or fail it when CI=true (CI must run every test)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: required)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    api_key: str
    data_dir: Path
    process: subprocess.Popen
    log_path: Path
    env: dict

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def cli(self, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess:
        """Run another `mastertape` command against the same data dir (e.g. `keys create`)."""
        return subprocess.run([sys.executable, "-m", "mastertape", *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout_s, check=True)


def _env(data_dir: Path, api_key: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASTERTAPE_")}
    env["MASTERTAPE_API_KEY"] = api_key
    env["MASTERTAPE_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_SRC), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextlib.contextmanager
def run_server(data_dir: Path, api_key: str = API_KEY, workers: int = 1) -> Iterator[Server]:
    """`mastertape serve` on a free loopback port; yields once /healthz answers 200."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = _env(data_dir, api_key)
    log_path = data_dir / "server.log"
    cmd = [sys.executable, "-m", "mastertape", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--data-dir", str(data_dir), "--workers", str(workers), "--log-level", "warning"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", api_key, data_dir, process, log_path, env)
    try:
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"mastertape serve exited with {process.returncode}:\n{server.log_tail()}")
            try:
                if httpx.get(f"{server.url}/healthz", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mastertape serve did not answer /healthz in "
                                   f"{_STARTUP_TIMEOUT_S:.0f} s:\n{server.log_tail()}")
            time.sleep(0.2)
        yield server
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server (it stops its workers), then SIGKILL to its process group if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextlib.contextmanager
def launch_chromium() -> Iterator[object]:
    """A headless Debian Chromium driven by Playwright; skips (or fails under CI=true) when absent."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("Playwright for Python is not installed (pip install playwright; no browser download)")
    if not CHROMIUM.exists():
        skip_or_fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000)
        except PlaywrightError as exc:
            skip_or_fail(f"Chromium at {CHROMIUM} does not start under Playwright: {exc}")
        try:
            yield browser
        finally:
            browser.close()


class ConsoleRecorder:
    """Collects console errors, uncaught page errors and failed requests of a page."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("requestfailed", self._failed)

    def _console(self, msg) -> None:
        if msg.type in ("error", "assert"):
            self.errors.append(f"console.{msg.type}: {msg.text}")

    def _failed(self, request) -> None:
        failure = request.failure or ""
        # a media element or a cancelled fetch body abandoning a response is not an error of the page
        if "ERR_ABORTED" in failure:
            return
        self.errors.append(f"request failed: {request.method} {request.url}: {failure}")


def transferred_bytes(page, action) -> tuple[int, list[tuple[str, int]]]:
    """Run `action()` and sum the bytes of every response it caused (headers + encoded body)."""
    rows: list[tuple[str, int]] = []

    def done(request) -> None:
        sizes = request.sizes()
        rows.append((request.url, int(sizes["responseHeadersSize"]) + int(sizes["responseBodySize"])))

    page.on("requestfinished", done)
    try:
        action()
    finally:
        page.remove_listener("requestfinished", done)
    return sum(n for _, n in rows), rows
