"""Running one claimed job: heartbeat, dispatch to `tasks.TASKS[kind]`, and recording a failure.

Shared by every runner: the embedded worker processes (`jobs.embedded`), a Celery task (claim by id
with `run_job`), and `drain` (run everything queued, inline: tests and one-shot tools).
"""

from __future__ import annotations

import logging
import threading
import traceback

from sqlalchemy.exc import OperationalError

from mastertape.errors import MastertapeError, ServiceUnavailable, StorageError
from mastertape.jobs import state
from mastertape.jobs.runtime import Runtime
from mastertape.jobs.state import Claim, ClaimLost, ReadyJob
from mastertape.store.models import FAILED

log = logging.getLogger("mastertape.jobs")

#: errors worth another attempt (the infrastructure, not the audio or the request)
TRANSIENT = (StorageError, ServiceUnavailable, OperationalError)


class _Heartbeat(threading.Thread):
    """Renews the claim's lease every lease/3 seconds while the job runs."""

    def __init__(self, rt: Runtime, claim: Claim) -> None:
        super().__init__(name=f"heartbeat-{claim.job_id[:8]}", daemon=True)
        self._rt, self._claim = rt, claim
        self._stop_event = threading.Event()
        self.lost = False

    def run(self) -> None:
        lease_s = self._rt.settings.job_lease_s
        while not self._stop_event.wait(max(lease_s / 3.0, 0.05)):
            try:
                if not state.heartbeat(self._rt.db, self._claim, lease_s):
                    self.lost = True
                    return
            except Exception:  # noqa: BLE001 - a missed beat is retried; the lease covers three of them
                log.warning("heartbeat of job %s failed", self._claim.job_id, exc_info=True)

    def stop(self) -> None:
        self._stop_event.set()


def _describe(exc: BaseException, kind: str) -> tuple[str, str]:
    if isinstance(exc, MastertapeError):
        return exc.message, exc.code
    if isinstance(exc, MemoryError):
        return "the server ran out of memory while processing this file", "out_of_memory"
    if isinstance(exc, OperationalError):
        return "the database was not available; try again", "database_error"
    return f"internal error during {kind}: {type(exc).__name__}: {exc}", "internal_error"


def execute(rt: Runtime, claim: Claim) -> list[ReadyJob]:
    """Run a claimed job to its end; returns the jobs that became ready because it completed."""
    from mastertape.jobs.tasks import TASKS, discard_outputs

    beat = _Heartbeat(rt, claim)
    beat.start()
    try:
        return TASKS[claim.kind](claim, rt)
    except ClaimLost:
        if state.job_status(rt.db, claim.job_id) == FAILED:  # failed meanwhile (time limit): drop our files
            discard_outputs(rt, claim.kind, claim.object_id)
        log.warning("job %s was taken over elsewhere; its result here is dropped", claim.job_id)
        return []
    except (KeyboardInterrupt, SystemExit):
        state.release(rt.db, [claim.worker])  # stopped on purpose: give the job back, attempt not counted
        raise
    except Exception as exc:  # noqa: BLE001 - recorded as the job's failure
        message, code = _describe(exc, claim.kind)
        if code == "internal_error":
            log.error("job %s (%s) failed:\n%s", claim.job_id, claim.kind, traceback.format_exc())
        else:
            log.info("job %s (%s) failed: %s", claim.job_id, claim.kind, message)
        try:
            requeued = state.fail(
                rt.db,
                claim,
                message,
                code,
                retry=isinstance(exc, TRANSIENT),
                max_attempts=rt.settings.job_max_attempts,
            )
        except ClaimLost:
            requeued = state.job_status(rt.db, claim.job_id) != FAILED
        if not requeued:
            discard_outputs(rt, claim.kind, claim.object_id)
        return []
    finally:
        beat.stop()


def run_job(rt: Runtime, job_id: str, worker: str) -> list[ReadyJob]:
    """Claim job `job_id` and run it (for runners that deliver ids). Does nothing if it is not claimable."""
    claim = state.claim_job(rt.db, job_id, worker, rt.settings.job_lease_s)
    if claim is None:
        return []
    return execute(rt, claim)


def drain(rt: Runtime, worker: str = "inline", max_jobs: int | None = None) -> int:
    """Run queued jobs in this thread until none is ready; returns how many ran."""
    count = 0
    while max_jobs is None or count < max_jobs:
        claim = state.claim_next(rt.db, worker, rt.settings.job_lease_s)
        if claim is None:
            break
        execute(rt, claim)
        count += 1
    return count
