"""Latency of `POST /master-audio` under concurrent clients, against a real `mastertape serve` on loopback.

Starts the server as a subprocess (127.0.0.1, a free port, its own temporary data dir, a known API key),
makes one API key per client (tenants, as `mastertape keys create` does; `--shared-key`: all clients use
one key) and uploads one short generated track per key, then runs CLIENTS concurrent clients (asyncio, one
keep-alive connection each) that POST /master-audio with the default body until REQUESTS requests are
answered, and prints p50/p90/p99/max latency (time from sending a request to its complete answer) and
throughput.

- closed loop (default): every client sends its next request as soon as the previous one is answered;
  latency then includes the wait behind the other 31 clients' requests (Little's law: latency = clients /
  throughput), so this is the worst case for a given server speed;
- `--rate R`: open loop, each client sends R requests per second on a fixed schedule (requests are
  timed from their scheduled send time, so queueing delay is counted, not hidden).

By default the server runs with `--workers 0` (API only: the jobs stay queued, nothing competes with
the API for the CPU); `--workers N` measures with N worker processes mastering the queued jobs meanwhile.

    PYTHONPATH=src python3 benchmarks/api_latency.py                       # 32 clients, 5 rounds of 3200
    PYTHONPATH=src python3 benchmarks/api_latency.py --rate 10             # 32 x 10 req/s, open loop
    PYTHONPATH=src python3 benchmarks/api_latency.py --workers 2 --requests 1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
KEY = "mt_benchmark_key_0123456789abcdefghijklmnop"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, workers: int, extra_env: dict | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASTERTAPE_")}
    env.update({"MASTERTAPE_API_KEY": KEY, "MASTERTAPE_MAX_JOBS_IN_FLIGHT_PER_KEY": "1000000",
                "PYTHONPATH": str(ROOT / "src")}, **(extra_env or {}))
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / "server.log", "ab")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "mastertape", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(data_dir), "--workers", str(workers), "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{(data_dir / 'server.log').read_text()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        time.sleep(0.1)
    raise SystemExit("server did not start")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def make_track(path: Path, seconds: float = 3.0) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT))
    from tests.signals import music_like

    from mastertape.audio import encode

    encode(music_like(seconds=seconds), path, "wav", bit_depth=16)


def client_keys(data_dir: Path, n: int) -> list[str]:
    """n API keys made in the server's database (as `mastertape keys create` does): one tenant per client."""
    from mastertape.config import Settings
    from mastertape.store.db import Database
    from mastertape.store.keys import create_key

    db = Database.from_settings(Settings(data_dir=data_dir))
    try:
        return [create_key(db, f"client {i}")[1] for i in range(n)]
    finally:
        db.dispose()


def upload(url: str, key: str, track: Path) -> str:
    with open(track, "rb") as fh:
        r = httpx.post(f"{url}/from-file", headers={"X-API-Key": key}, files={"audio": ("t.wav", fh)})
    r.raise_for_status()
    return r.json()["audio_id"]


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, int(round(q / 100.0 * (len(sorted_values) - 1)))))
    return sorted_values[k]


class RawClient:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams. httpx costs the load generator itself about
    2.5 ms of CPU per request, which on a 2-core machine would be measured as server latency; this costs
    a few tens of microseconds."""

    def __init__(self, host: str, port: int, key: str = KEY) -> None:
        self.host, self.port, self.key = host, port, key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post_json(self, path: str, payload: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nX-API-Key: {self.key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode()
        self.writer.write(head + payload)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        length = 0
        for line in raw.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length)
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def run_clients(url: str, tracks: list[tuple[str, str]], clients: int, requests: int, rate: float | None,
                      body: dict) -> tuple[list[float], int, float]:
    """`tracks`: (API key, audio id) per client, or one pair shared by all."""
    import json

    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors = 0
    per_client = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]
    pairs_of = [tracks[i % len(tracks)] for i in range(clients)]
    conns = [RawClient(host, int(port), key) for key, _ in pairs_of]
    payloads = {aid: json.dumps({**body, "audio_id": aid}).encode() for _, aid in pairs_of}
    # warm-up: open the connections and let the server import and cache what it needs
    for _ in range(3):
        await asyncio.gather(*(c.post_json("/master-audio", payloads[aid])
                               for c, (_, aid) in zip(conns, pairs_of, strict=True)))

    async def client(conn: RawClient, n: int, offset: float, payload: bytes) -> None:
        nonlocal errors
        t_next = time.perf_counter() + offset
        for _ in range(n):
            if rate:
                delay = t_next - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                t0 = t_next
                t_next += 1.0 / rate
            else:
                t0 = time.perf_counter()
            status, _ = await conn.post_json("/master-audio", payload)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                errors += 1

    t_start = time.perf_counter()
    spread = (1.0 / rate) if rate else 0.0
    pairs = enumerate(zip(conns, per_client, pairs_of, strict=True))
    await asyncio.gather(*(client(c, n, spread * i / clients, payloads[aid]) for i, (c, n, (_, aid)) in pairs))
    wall = time.perf_counter() - t_start
    for c in conns:
        c.close()
    return latencies, errors, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=3200, help="total requests measured (after a warm-up)")
    ap.add_argument("--rate", type=float, default=None, help="open loop: requests per second per client")
    ap.add_argument("--workers", type=int, default=0, help="worker processes of the server (default 0)")
    ap.add_argument("--no-restore", action="store_true", help="send use_restored=false")
    ap.add_argument("--shared-key", action="store_true",
                    help="all clients use one API key and one track (default: a key and a track per client)")
    ap.add_argument("--rounds", type=int, default=5,
                    help="independent runs, each on a fresh server and database (default 5)")
    args = ap.parse_args()

    mode = f"open loop, {args.rate:g} req/s per client" if args.rate else "closed loop"
    tenancy = "one shared API key" if args.shared_key else "an API key and a track per client"
    print(f"POST /master-audio: {args.requests} requests per round, {args.clients} concurrent clients ({mode}, "
          f"{tenancy}), server --workers {args.workers}, {os.cpu_count()} cores shared with the clients")
    p99s = []
    for i in range(args.rounds):
        ms, errors, wall = one_round(args)
        p99s.append(percentile(ms, 99))
        print(f"  round {i + 1}: latency ms p50 {percentile(ms, 50):.1f}  p90 {percentile(ms, 90):.1f}  "
              f"p99 {percentile(ms, 99):.1f}  max {ms[-1]:.1f}  mean {statistics.fmean(ms):.1f}   "
              f"{len(ms) / wall:.0f} req/s   errors {errors}", flush=True)
    median = statistics.median(p99s)
    print(f"  p99 over {args.rounds} rounds: median {median:.1f} ms, worst {max(p99s):.1f} ms; "
          f"target p99 < 20 ms: {'met' if median < 20.0 else 'NOT met'} (median), "
          f"{sum(v < 20.0 for v in p99s)}/{args.rounds} rounds under it")


def one_round(args: argparse.Namespace) -> tuple[list[float], int, float]:
    """(sorted latencies in ms, errors, wall seconds) of one run against a fresh server."""
    tmp = Path(tempfile.mkdtemp(prefix="mastertape-bench-"))
    try:
        track = tmp / "track.wav"
        make_track(track)
        proc, url = start_server(tmp / "data", args.workers)
        try:
            keys = [KEY] if args.shared_key else client_keys(tmp / "data", args.clients)
            tracks = [(key, upload(url, key, track)) for key in keys]
            body = {"use_restored": False} if args.no_restore else {}
            latencies, errors, wall = asyncio.run(
                run_clients(url, tracks, args.clients, args.requests, args.rate, body))
        finally:
            stop_server(proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return sorted(v * 1000.0 for v in latencies), errors, wall


if __name__ == "__main__":
    main()
