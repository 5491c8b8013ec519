"""The embedded job queue under load, and under kill -9, against a real `mastertape serve` on loopback.

1. Load: one generated track is uploaded, then JOBS `POST /master-audio` requests are sent at once (from
   32 threads), each with its own target loudness. Waits until every master is completed or failed and
   checks, from the server's own database after it stopped: every request has exactly one master row and
   one job, every job ran exactly once (claimed once: attempts == 1), every master is completed with its
   WAV and preview stored once under its own id, no blob belongs to an unknown id, and each measured
   loudness is within 0.1 LU of its target. Prints the counts and the throughput.
2. Kill: JOBS_KILL masters of a longer track are queued; while they run the server process is killed with
   SIGKILL (its worker processes notice and exit), restarted, killed again... KILLS times, then left to
   finish. Every job must end completed, or failed with a reason; none may stay queued or processing.

    PYTHONPATH=src python3 benchmarks/queue_load.py                   # both, 200 jobs, 3 kills
    PYTHONPATH=src python3 benchmarks/queue_load.py --jobs 200 --skip-kill
    PYTHONPATH=src python3 benchmarks/queue_load.py --skip-load --kills 5

Exit status 0 when every check passes.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_latency import KEY, make_track, start_server, stop_server  # noqa: E402

TERMINAL = ("completed", "failed")


def _db(data_dir: Path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from mastertape.store.db import Database

    return Database(f"sqlite:///{data_dir / 'mastertape.sqlite3'}")


def _upload(url: str, track: Path) -> str:
    with open(track, "rb") as fh:
        r = httpx.post(f"{url}/from-file", headers={"X-API-Key": KEY}, files={"audio": ("t.wav", fh)},
                       timeout=60)
    r.raise_for_status()
    return r.json()["audio_id"]


def _submit(url: str, audio_id: str, targets: list[float]) -> list[str]:
    def one(target: float) -> str:
        with httpx.Client(timeout=60) as c:
            r = c.post(f"{url}/master-audio", headers={"X-API-Key": KEY},
                       json={"audio_id": audio_id, "use_restored": False, "target_lufs": target})
        r.raise_for_status()
        return r.json()["id"]

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        return list(pool.map(one, targets))


def _wait_all(url: str, ids: list[str], timeout_s: float) -> dict[str, dict]:
    done: dict[str, dict] = {}
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=30) as c:
        while len(done) < len(ids) and time.monotonic() < deadline:
            for mid in ids:
                if mid in done:
                    continue
                st = c.get(f"/status/mastered/{mid}").json()
                if st["status"] in TERMINAL:
                    done[mid] = st
            time.sleep(0.5)
    return done


def load_test(tmp: Path, jobs: int, workers: int) -> bool:
    from sqlalchemy import select

    from mastertape.store.models import Job, Mastered

    data = tmp / "load"
    track = tmp / "short.wav"
    make_track(track, seconds=2.0)
    proc, url = start_server(data, workers)
    try:
        audio_id = _upload(url, track)
        targets = [-20.0 + 10.0 * i / max(jobs - 1, 1) for i in range(jobs)]
        t0 = time.monotonic()
        ids = _submit(url, audio_id, targets)
        t_submit = time.monotonic() - t0
        finals = _wait_all(url, ids, timeout_s=60 + 10.0 * jobs)
        t_all = time.monotonic() - t0
    finally:
        stop_server(proc)
    db = _db(data)
    with db.read() as s:
        masters = {m.id: m for m in s.execute(select(Mastered)).scalars()}
        master_jobs = [j for j in s.execute(select(Job)).scalars() if j.kind == "master"]
    db.dispose()
    blob_root = data / "blobs" / "mastered"
    blob_dirs = {p.name for p in blob_root.iterdir()} if blob_root.is_dir() else set()
    per_master: dict[str, int] = {}
    for j in master_jobs:
        per_master[j.object_id] = per_master.get(j.object_id, 0) + 1
    completed = [i for i in ids if finals.get(i, {}).get("status") == "completed"]
    lufs_err = [abs(finals[i]["status_details"]["metrics"]["integrated_lufs"] - t)
                for i, t in zip(ids, targets, strict=True) if i in completed]
    checks = {
        f"{jobs} requests answered with distinct ids": len(set(ids)) == jobs,
        "every master ended (none lost)": len(finals) == jobs,
        "every master completed": len(completed) == jobs,
        "exactly one master row per request": set(masters) == set(ids),
        "exactly one job per master": sorted(per_master) == sorted(ids) and set(per_master.values()) == {1},
        "every job claimed once (no duplicate run)": all(j.attempts == 1 and j.status == "completed"
                                                          for j in master_jobs),
        "one stored WAV + preview per master, no stray blobs": blob_dirs == set(ids) and all(
            sorted(p.name for p in (blob_root / i).iterdir()) == ["master.wav", "preview.m4a"] for i in ids),
        "every master within 0.1 LU of its target": bool(lufs_err) and max(lufs_err) <= 0.1,
    }
    print(f"load: {jobs} masters of a 2 s track submitted in {t_submit:.1f} s, all finished after "
          f"{t_all:.1f} s ({jobs / t_all:.1f} jobs/s, {workers} worker processes, {os.cpu_count()} cores)")
    worst = max(lufs_err) if lufs_err else float("nan")
    print(f"  completed {len(completed)}/{jobs}, max |LUFS error| {worst:.3f} LU")
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAIL'}] {name}")
    return all(checks.values())


def kill_test(tmp: Path, jobs: int, kills: int, workers: int) -> bool:
    from sqlalchemy import select

    from mastertape.store.models import Job

    data = tmp / "kill"
    track = tmp / "long.wav"
    make_track(track, seconds=20.0)
    proc, url = start_server(data, workers)
    try:
        audio_id = _upload(url, track)
        ids = _submit(url, audio_id, [-22.0 + 0.25 * i for i in range(jobs)])
        for k in range(kills):
            time.sleep(3.0 + k)  # let some jobs finish and others be mid-run
            with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=30) as c:
                states = [c.get(f"/status/mastered/{i}").json()["status_details"].get("state") for i in ids]
            print(f"kill {k + 1}/{kills}: kill -9 the server with {states.count('processing')} processing, "
                  f"{states.count('completed')} completed, {states.count('queued')} queued")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            time.sleep(1.5)  # worker processes exit within a second of losing their parent
            proc, url = start_server(data, workers)
        finals = _wait_all(url, ids, timeout_s=600)
    finally:
        stop_server(proc)
    db = _db(data)
    with db.read() as s:
        all_jobs = list(s.execute(select(Job)).scalars())
    db.dispose()
    by_status: dict[str, int] = {}
    for j in all_jobs:
        by_status[j.status] = by_status.get(j.status, 0) + 1
    failed_without_reason = [j.id for j in all_jobs if j.status == "failed" and not j.error_message]
    retried = sum(1 for j in all_jobs if j.attempts > 1)
    checks = {
        "every job ended completed or failed": set(by_status) <= set(TERMINAL),
        "every failed job has a reason": not failed_without_reason,
        "every master answered by /status as finished": len(finals) == jobs,
        "no orphan worker process left": not _orphans(data),
    }
    print(f"kill: {jobs} masters of a 20 s track, server killed {kills} times; jobs by status {by_status}, "
          f"{retried} re-run after an interruption")
    for j in all_jobs:
        if j.status == "failed":
            print(f"  failed {j.kind} {j.id[:8]}: {j.error_message}")
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAIL'}] {name}")
    return all(checks.values())


def _orphans(data: Path) -> list[int]:
    """Worker processes of a killed server still alive (they should have exited)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"multiprocessing.spawn" in cmd and os.getppid() != int(entry.name):
                try:
                    env = (entry / "environ").read_bytes()
                except OSError:
                    continue
                if KEY.encode() in env:  # started by one of our servers
                    pids.append(int(entry.name))
    return pids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--kill-jobs", type=int, default=40)
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-load", action="store_true")
    ap.add_argument("--skip-kill", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    tmp = Path(tempfile.mkdtemp(prefix="mastertape-queue-"))
    ok = True
    try:
        if not args.skip_load:
            ok &= load_test(tmp, args.jobs, args.workers)
        if not args.skip_kill:
            ok &= kill_test(tmp, args.kill_jobs, args.kills, args.workers)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
