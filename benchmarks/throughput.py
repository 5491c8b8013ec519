"""Distributed throughput: mastered minutes of audio per minute with 1 and with 2 Celery workers.

For each worker count W, a fresh deployment is started on this machine: PostgreSQL (a new schema in
the given database), Redis (a new key prefix), blobs in a local folder (or the S3 protocol with
--storage s3: moto's server in this process, which then competes for the CPU), `mastertape serve`
(API only) and W `mastertape worker --concurrency 1` processes, worker i pinned to core i (taskset).
Every audio file of FOLDER is uploaded and imported, then mastered JOBS_PER_FILE times (each with
its own target loudness) in one burst. Throughput = total duration of the mastered audio divided
by the span from the first master job's start to the last one's end (database timestamps), so it
counts only the mastering pool, not upload or start-up. The ratio W=2 / W=1 is the scaling (ideal 2.0).

    python3 benchmarks/throughput.py /work/shared/audio/music
    python3 benchmarks/throughput.py /work/shared/audio/music --jobs-per-file 6 --workers 1,2 --repeat 2

Needs the distributed extra (`pip install -e '.[distributed]'`), a PostgreSQL where schemas may be
created (--database) and a Redis (--broker).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".aif", ".aiff")
TARGETS_LUFS = (-16.0, -14.0, -12.0, -11.0, -10.0, -9.0)
KEY = "mt_throughput_benchmark_key_0001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Deployment:
    """API + W workers on one database schema, broker prefix and blob store; `close()` removes them all."""

    def __init__(self, args, n_workers: int, tmp: Path) -> None:
        import psycopg

        self.tmp, self.n_workers, self.args = tmp, n_workers, args
        self.schema = f"mt_bench_{secrets.token_hex(5)}"
        self.prefix = f"mt-bench-{secrets.token_hex(5)}"
        self.admin = psycopg.connect(args.database.replace("+psycopg", ""), autocommit=True)
        self.admin.execute(f'CREATE SCHEMA "{self.schema}"')
        sep = "&" if "?" in args.database else "?"
        self.db_url = f"{args.database}{sep}options={quote(f'-csearch_path={self.schema}')}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MASTERTAPE_")}
        self.env.update(
            PYTHONPATH=str(REPO / "src"),
            PYTHONUNBUFFERED="1",
            MASTERTAPE_DATA_DIR=str(tmp / "data"),
            MASTERTAPE_DATABASE_URL=self.db_url,
            MASTERTAPE_BROKER_URL=args.broker,
            MASTERTAPE_QUEUE_PREFIX=self.prefix,
            MASTERTAPE_API_KEY=KEY,
            MASTERTAPE_MAX_JOBS_IN_FLIGHT_PER_KEY="100000",
            OMP_NUM_THREADS="1",
            OPENBLAS_NUM_THREADS="1",
        )
        self.moto = None
        if args.storage == "s3":
            self._start_s3()
        self.procs: list[subprocess.Popen] = []
        self._run("db", "upgrade")
        self.url = f"http://127.0.0.1:{free_port()}"
        self._spawn("api", "serve", "--port", self.url.rsplit(":", 1)[1], "--workers", "0", "--log-level", "warning")
        self._wait_api()
        self.worker_logs = []
        for i in range(n_workers):
            log = tmp / f"worker-{i}.log"
            self.worker_logs.append(log)
            core = str(i % (os.cpu_count() or 1))
            pin = ["taskset", "-c", core] if args.pin else []
            self._spawn(f"worker-{i}", "worker", "--concurrency", "1", "--queues", "import,master", prefix=pin)
        for log in self.worker_logs:
            self._wait_for(lambda log=log: "ready." in log.read_text(errors="replace"), 120, f"{log.name} ready")

    def _start_s3(self) -> None:
        import logging

        import boto3
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        port = free_port()
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.moto.start()
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        ).create_bucket(Bucket="bench")
        self.env.update(
            MASTERTAPE_STORAGE_URL="s3://bench",
            MASTERTAPE_S3_ENDPOINT_URL=endpoint,
            MASTERTAPE_S3_ACCESS_KEY_ID="x",
            MASTERTAPE_S3_SECRET_ACCESS_KEY="x",
            MASTERTAPE_S3_REGION="us-east-1",
        )

    def _run(self, *cli: str) -> None:
        subprocess.run([sys.executable, "-m", "mastertape", *cli], env=self.env, check=True, capture_output=True)

    def _spawn(self, name: str, *cli: str, prefix: list[str] | None = None) -> None:
        with open(self.tmp / f"{name}.log", "ab") as log:
            self.procs.append(
                subprocess.Popen(
                    [*(prefix or []), sys.executable, "-m", "mastertape", *cli],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    @staticmethod
    def _wait_for(check, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(0.1)

    def _wait_api(self) -> None:
        def up() -> bool:
            with contextlib.suppress(httpx.TransportError):
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            return False

        self._wait_for(up, 120, "the API")

    def jobs(self, kind: str) -> list[tuple]:
        cur = self.admin.execute(
            f'SELECT status, started_at, finished_at, object_id FROM "{self.schema}".jobs WHERE kind = %s', (kind,)
        )
        return cur.fetchall()

    def wait_jobs(self, kind: str, count: int, timeout_s: float = 3600) -> list[tuple]:
        deadline = time.monotonic() + timeout_s
        while True:
            rows = self.jobs(kind)
            if len(rows) >= count and all(r[0] in ("completed", "failed") for r in rows):
                return rows
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind} jobs not done after {timeout_s} s")
            time.sleep(0.25)

    def close(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        self.admin.execute(f'DROP SCHEMA "{self.schema}" CASCADE')
        self.admin.close()
        import redis

        client = redis.Redis.from_url(self.args.broker)
        keys = list(client.scan_iter(match=f"{self.prefix}*"))
        if keys:
            client.delete(*keys)
        if self.moto is not None:
            self.moto.stop()


def run_once(args, files: list[Path], n_workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="mt-throughput-") as tmp:
        dep = Deployment(args, n_workers, Path(tmp))
        try:
            headers = {"X-API-Key": KEY}
            audio_ids = []
            for path in files:
                with open(path, "rb") as fh:
                    files_field = {"audio": (path.name, fh)}
                    r = httpx.post(f"{dep.url}/from-file", headers=headers, files=files_field, timeout=120)
                r.raise_for_status()
                audio_ids.append(r.json()["audio_id"])
            imports = dep.wait_jobs("import", len(files))
            if any(r[0] != "completed" for r in imports):
                raise RuntimeError("an import failed: see the worker logs")
            durations = {}
            with dep.admin.cursor() as cur:
                cur.execute(f'SELECT id, duration_s FROM "{dep.schema}".assets')
                durations = dict(cur.fetchall())
            mastered_audio = {}
            for k in range(args.jobs_per_file):
                for i, audio_id in enumerate(audio_ids):
                    target = TARGETS_LUFS[(i + k) % len(TARGETS_LUFS)]
                    body = {"audio_id": audio_id, "use_restored": False, "target_lufs": target}
                    r = httpx.post(f"{dep.url}/master-audio", headers=headers, json=body, timeout=60)
                    r.raise_for_status()
                    mastered_audio[r.json()["id"]] = durations[audio_id]
            rows = dep.wait_jobs("master", len(mastered_audio))
            failed = [r for r in rows if r[0] != "completed"]
            if failed:
                raise RuntimeError(f"{len(failed)} master job(s) failed: see the worker logs in {tmp}")
            span_s = (max(r[2] for r in rows) - min(r[1] for r in rows)).total_seconds()
            audio_min = sum(mastered_audio[r[3]] for r in rows) / 60.0
            return {"workers": n_workers, "jobs": len(rows), "audio_min": audio_min, "span_s": span_s,
                    "throughput": audio_min / (span_s / 60.0)}
        finally:
            dep.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder of audio files to master")
    parser.add_argument("--jobs-per-file", type=int, default=4)
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="runs per worker count (the best is kept)")
    parser.add_argument("--database", default="postgresql+psycopg://root@127.0.0.1:5432/test")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--storage", choices=("local", "s3"), default="local")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin worker i to core i")
    args = parser.parse_args()
    files = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        print(f"no audio files in {args.folder}", file=sys.stderr)
        return 1
    print(f"{len(files)} files x {args.jobs_per_file} masters, storage {args.storage}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    best: dict[int, dict] = {}
    for n in [int(x) for x in args.workers.split(",")]:
        for _ in range(args.repeat):
            res = run_once(args, files, n)
            print(f"workers={res['workers']}  jobs={res['jobs']}  audio={res['audio_min']:.2f} min  "
                  f"span={res['span_s']:.1f} s  throughput={res['throughput']:.2f} min/min", flush=True)
            if n not in best or res["throughput"] > best[n]["throughput"]:
                best[n] = res
    if 1 in best and 2 in best:
        print(f"ratio 2 workers / 1 worker = {best[2]['throughput'] / best[1]['throughput']:.2f} (ideal 2.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
