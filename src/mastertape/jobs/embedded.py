"""The embedded runner: a pool of worker processes started by `mastertape serve`, jobs persisted as rows.

- Start-up: takes an exclusive lock on `<data_dir>/runner.lock` (one embedded runner per data dir), so
  every job still marked `processing` was left by a crash or a kill: it is re-queued, or failed with
  the reason once it has been claimed `job_max_attempts` times. Then it starts `workers` processes.
- Each worker process loops: claim the oldest ready job atomically (`state.claim_next`), run it
  (`runner.execute`, lease renewed by a heartbeat), repeat; when idle it waits on its own pipe, which
  `PollingQueue.enqueue` writes to, polling every `worker_poll_s` at most. A worker whose parent
  server died exits within a second (it checks its parent pid), so no orphan keeps working.
- A supervisor thread in the server restarts worker processes that died (their jobs re-queued,
  the attempt counted, so a file that crashes the decoder fails after a few tries instead of
  looping), re-queues jobs whose lease expired, and fails jobs past `job_time_limit_s`,
  killing the process that ran them.
- Stop: workers are asked to stop, given a few seconds, then terminated; jobs they held are
  re-queued without counting an attempt.

Wake-ups and stop requests travel through one pipe per worker, never through multiprocessing's
Event/Condition: those keep shared counters that a process killed while waiting leaves inconsistent,
after which `set()` blocks forever.
"""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from pathlib import Path

from mastertape.config import Settings
from mastertape.errors import ServiceUnavailable
from mastertape.jobs import state
from mastertape.jobs.queue import PollingQueue
from mastertape.jobs.runtime import Runtime
from mastertape.jobs.tasks import discard_outputs

log = logging.getLogger("mastertape.jobs")

LOCK_FILE = "runner.lock"
SUPERVISE_EVERY_S = 1.0
EXPIRED_LEASES_EVERY_S = 5.0
STOP_GRACE_S = 5.0
#: scheduling priority of worker processes relative to the server (higher = yields the CPU more)
WORKER_NICENESS = 10


def worker_name(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}"


def _watch_parent(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(3)  # the server is gone: stop now, the next start re-queues our job
        time.sleep(1.0)


def _worker_main(settings: Settings, inbox, parent_pid: int) -> None:
    """One worker process. `inbox`: read end of a pipe from the server (b"w" wake up, b"s" stop)."""
    # Ctrl-C or a SIGTERM sent to the whole process group: the server decides (it asks us to stop, then
    # kills us after a grace period and gives our job back); if the server itself is gone we exit anyway
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()
    os.nice(WORKER_NICENESS)  # the API answers first; batch work takes the CPU it leaves
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(process)d %(levelname)s %(message)s")
    from mastertape.jobs.runner import execute

    rt = Runtime.open(settings)
    worker = worker_name(os.getpid())
    fd = inbox.fileno()
    stopping = False
    while not stopping:
        try:
            claim = state.claim_next(rt.db, worker, settings.job_lease_s)
        except Exception:  # noqa: BLE001 - database busy or briefly unavailable: try again shortly
            log.warning("claiming a job failed", exc_info=True)
            claim = None
        if claim is not None:
            execute(rt, claim)
            wait_s = 0.0  # look again at once (a dependent job may be ready), after reading the inbox
        else:
            wait_s = settings.worker_poll_s
        if inbox.poll(wait_s):
            try:
                stopping = b"s" in os.read(fd, 4096)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:  # the server closed its end
                stopping = True
    rt.close()


class _Waker:
    """Writes one byte to each worker's pipe (non-blocking: a full pipe already holds a wake-up)."""

    def __init__(self) -> None:
        self._pipes: list = []
        self._lock = threading.Lock()  # a pipe is never closed while another thread writes to it

    def _send(self, byte: bytes) -> None:
        with self._lock:
            for conn in self._pipes:
                try:
                    os.write(conn.fileno(), byte)
                except OSError:  # full (BlockingIOError), or the worker is gone (BrokenPipeError)
                    pass

    def put(self, slot: int | None, conn) -> None:
        with self._lock:
            if slot is None:
                self._pipes.append(conn)
            else:
                self._pipes[slot].close()
                self._pipes[slot] = conn

    def close(self) -> None:
        with self._lock:
            for conn in self._pipes:
                conn.close()
            self._pipes = []

    def set(self) -> None:
        self._send(b"w")

    def stop(self) -> None:
        self._send(b"s")


class EmbeddedRunner:
    """Owns the worker processes and the supervisor thread of one `mastertape serve`."""

    def __init__(self, settings: Settings, workers: int | None = None) -> None:
        self.settings = settings
        self.n_workers = max(0, settings.workers if workers is None else workers)
        self._ctx = multiprocessing.get_context("spawn")
        self._wake = _Waker()
        self._procs: list = []
        self._lock_fd: int | None = None
        self._supervisor: threading.Thread | None = None
        self._stopping = threading.Event()
        self._rt: Runtime | None = None
        self._started = False
        self.queue = PollingQueue(self._wake)

    # --- lifecycle ---
    def _take_lock(self) -> None:
        path = Path(self.settings.data_dir) / LOCK_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ServiceUnavailable(
                f"another mastertape server is already running on the data dir {self.settings.data_dir}"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def start(self) -> dict:
        """Take the lock, recover interrupted jobs, start the workers; returns what recovery did."""
        if self._started:
            return {}
        self._take_lock()
        self._started = True
        self._rt = Runtime.open(self.settings)
        requeued, failed = state.recover_interrupted(
            self._rt.db, self.settings.job_max_attempts, expired_only=False
        )
        state.fail_orphaned_waiters(self._rt.db)
        if requeued or failed:
            log.info("recovered interrupted jobs: %d re-queued, %d failed", requeued, failed)
        self._procs = [self._spawn() for _ in range(self.n_workers)]
        self._supervisor = threading.Thread(target=self._supervise, name="job-supervisor", daemon=True)
        self._supervisor.start()
        return {"requeued": requeued, "failed": failed}

    def _spawn(self, slot: int | None = None):
        inbox, outbox = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=_worker_main,
            args=(self.settings, inbox, os.getpid()),
            name="mastertape-worker",
            daemon=False,
        )
        proc.start()
        inbox.close()  # the child has its own copy
        os.set_blocking(outbox.fileno(), False)
        self._wake.put(slot, outbox)
        return proc

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        if not self._started or self._stopping.is_set():
            return
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(2 * SUPERVISE_EVERY_S + 1.0)
        self._wake.stop()
        deadline = time.monotonic() + grace_s
        for proc in self._procs:
            proc.join(max(0.0, deadline - time.monotonic()))
        killed = []
        for proc in self._procs:
            if proc.is_alive():
                proc.kill()
                proc.join(2.0)
                killed.append(worker_name(proc.pid))
        self._wake.close()
        if self._rt is not None:
            if killed:
                state.release(self._rt.db, killed)
            self._rt.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- supervision ---
    def _supervise(self) -> None:
        last_expired = time.monotonic()
        while not self._stopping.wait(SUPERVISE_EVERY_S):
            try:
                self._check_workers()
                if time.monotonic() - last_expired >= EXPIRED_LEASES_EVERY_S:
                    last_expired = time.monotonic()
                    state.recover_interrupted(self._rt.db, self.settings.job_max_attempts, expired_only=True)
                    state.fail_orphaned_waiters(self._rt.db)
                    self._enforce_time_limit()
            except Exception:  # noqa: BLE001 - keep supervising whatever happens
                log.exception("job supervisor")

    def _check_workers(self) -> None:
        for i, proc in enumerate(self._procs):
            if proc.is_alive() or self._stopping.is_set():
                continue
            log.warning("worker process %s exited with code %s; restarting it", proc.pid, proc.exitcode)
            requeued, failed = state.recover_interrupted(
                self._rt.db,
                self.settings.job_max_attempts,
                expired_only=False,
                workers=[worker_name(proc.pid)],
            )
            if requeued or failed:
                log.warning("its job was %s", "re-queued" if requeued else "failed (too many interruptions)")
            self._procs[i] = self._spawn(slot=i)

    def _enforce_time_limit(self) -> None:
        failed = state.fail_overdue(self._rt.db, self.settings.job_time_limit_s)
        workers = {job.worker for job in failed}
        for proc in self._procs:
            if proc.is_alive() and worker_name(proc.pid) in workers:
                log.warning("worker %s ran a job past the time limit: stopping it", proc.pid)
                proc.kill()  # restarted by _check_workers on the next round
                proc.join(STOP_GRACE_S)
        for job in failed:  # after the kill: nothing writes them any more
            discard_outputs(self._rt, job.kind, job.object_id)

    @property
    def worker_pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.pid is not None]
