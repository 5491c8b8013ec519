"""The Celery application of the distributed deployment: one task per job kind, on one queue per kind.

A message carries only a job id. The task claims the job row (`runner.run_job`, the same function the
embedded runner uses) and runs it; the database, not the broker, decides whether a delivery does
anything, so a message delivered twice, late or after its job finished is harmless:

    after run_job the job is   the task then
    completed                  sends the jobs that waited for it (again, if this is a redelivery)
    failed                     nothing (the jobs waiting for it were failed with it)
    queued                     it was re-queued after a transient error: retry later, with backoff
    processing (elsewhere)     another delivery holds it: look again when that lease runs out, and
                               take the job over if its worker stopped renewing it (died)

Recovery from a dead worker does not wait for the broker: every worker process runs a `Reaper`
thread that re-queues (and re-sends) jobs whose lease expired, fails jobs past the time limit, and
at start re-sends queued jobs that may have lost their message (an API killed between commit and
publish). The broker's own redelivery (RabbitMQ at once when the connection drops, Redis after
`broker_visibility_timeout_s`) is a second path to the same outcome.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import threading
from urllib.parse import urlparse

from celery import Celery, Task, signals
from celery.exceptions import TimeLimitExceeded
from sqlalchemy import select
from sqlalchemy.orm import aliased

from mastertape.config import Settings
from mastertape.jobs import state
from mastertape.jobs.runner import TRANSIENT, run_job
from mastertape.jobs.runtime import Runtime
from mastertape.jobs.tasks import discard_outputs
from mastertape.store.models import (
    ARCHIVE,
    COMPLETED,
    IMPORT,
    MASTER,
    PROCESSING,
    QUEUED,
    RESTORE,
    SPLIT,
    Job,
    utcnow,
)

log = logging.getLogger("mastertape.jobs")

KINDS = (IMPORT, RESTORE, MASTER, SPLIT, ARCHIVE)
#: the hard time limit kills the job this long after `job_time_limit_s`, so that the job, claimed a
#: moment after the task started, is already past the limit when `fail_overdue` looks at it
TIME_LIMIT_GRACE_S = 1.0
#: transient errors before a job could be claimed (database down): retries, backoff base and cap
TRANSIENT_MAX_RETRIES = 8
BACKOFF_CAP_S = 60.0
#: a publish to a broker that does not answer gives up after these retries (the API then answers 503)
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2, "interval_max": 0.5}


def task_name(kind: str) -> str:
    return f"mastertape.job.{kind}"


def queue_name(settings: Settings, kind: str) -> str:
    return f"{settings.queue_prefix}.{kind}"


def backoff_s(retries: int, base_s: float = 1.0, cap_s: float = BACKOFF_CAP_S) -> float:
    """Exponential backoff with "equal jitter": half the step fixed, half random, so that jobs failing
    together (a storage outage) do not all come back at the same instant."""
    step = min(cap_s, base_s * (2 ** max(0, retries)))
    return step / 2 + random.uniform(0, step / 2)


# --- one Runtime per process (prefork children must not share the parent's connections) -----------
_runtimes: dict[int, Runtime] = {}
_runtime_lock = threading.Lock()


def process_runtime(settings: Settings) -> Runtime:
    pid = os.getpid()
    with _runtime_lock:
        rt = _runtimes.get(pid)
        if rt is None:
            rt = _runtimes[pid] = Runtime.open(settings)
        return rt


@signals.worker_process_init.connect
def _forget_parent_connections(**_kwargs) -> None:
    """In a new pool process: drop (without closing: they are the parent's) inherited DB connections."""
    with _runtime_lock:
        for pid, rt in list(_runtimes.items()):
            if pid != os.getpid():
                rt.db.engine.dispose(close=False)
                del _runtimes[pid]


def worker_name() -> str:
    from mastertape.jobs.embedded import worker_name as name

    return name(os.getpid())


# --- publishing -----------------------------------------------------------------------------------
def send_job(app: Celery, settings: Settings, job_id: str, kind: str, *, countdown: float | None = None) -> None:
    """Publish job `job_id` to the queue of its kind (raises when the broker cannot be reached)."""
    app.send_task(
        task_name(kind),
        args=[job_id],
        queue=queue_name(settings, kind),
        countdown=countdown,
        retry=True,
        retry_policy=PUBLISH_RETRY_POLICY,
    )


def _ready_dependents(rt: Runtime, job_id: str) -> list[tuple[str, str]]:
    with rt.db.read() as s:
        rows = s.execute(select(Job.id, Job.kind).where(Job.depends_on == job_id, Job.status == QUEUED))
        return [(r.id, r.kind) for r in rows]


def _ready_queued(rt: Runtime, ids: list[str] | None = None, created_before=None):
    """(id, kind) of queued jobs with no pending dependency (of `ids`, or created before a moment)."""
    dep = aliased(Job)
    query = (
        select(Job.id, Job.kind)
        .outerjoin(dep, Job.depends_on == dep.id)
        .where(Job.status == QUEUED, (Job.depends_on.is_(None)) | (dep.status == COMPLETED))
    )
    if ids is not None:
        query = query.where(Job.id.in_(ids))
    if created_before is not None:
        query = query.where(Job.created_at < created_before)
    with rt.db.read() as s:
        return [(r.id, r.kind) for r in s.execute(query)]


# --- the task ---------------------------------------------------------------------------------------
def time_limit_message(limit_s: float) -> str:
    return f"the job took longer than this server's limit of {limit_s:g} s and was stopped"


def fail_timed_out(rt: Runtime, job_id: str, limit_s: float) -> bool:
    """Fail job `job_id` (and the jobs waiting on it) for exceeding the time limit, if it is still running,
    and delete the files it may have stored. If the process running it is still alive, the runner drops
    its result (and files) when it finds the job failed.

    Per job rather than `state.fail_overdue` (every overdue job): pools may run with different limits.
    """
    with rt.db.write() as s:
        job = s.execute(select(Job).where(Job.id == job_id).with_for_update()).scalar_one_or_none()
        if job is None or job.status != PROCESSING:
            return False
        kind, object_id = job.kind, job.object_id
        state._fail_job(s, job, time_limit_message(limit_s), "time_limit")  # the state machine's own failure
    discard_outputs(rt, kind, object_id)
    return True


class JobTask(Task):
    """Base of the job tasks: a hard time limit (handled in the worker's main process) fails the job."""

    settings: Settings

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        if isinstance(exc, TimeLimitExceeded) and args:
            # the pool process running the job was killed; record why on the job (and its dependents)
            if fail_timed_out(process_runtime(self.settings), args[0], self.settings.job_time_limit_s):
                log.warning("job %s was stopped at the time limit and failed", args[0])


def _deliver(task: JobTask, job_id: str) -> str:
    """Run one delivery of job `job_id` (see the module docstring); returns the job's status after it."""
    settings = task.settings
    try:
        rt = process_runtime(settings)
        run_job(rt, job_id, worker_name())
        with rt.db.read() as s:
            job = s.get(Job, job_id)
            if job is None:
                return "missing"
            status, attempts, lease = job.status, job.attempts, job.lease_expires_at
            dependency = s.get(Job, job.depends_on) if job.depends_on else None
            waiting = dependency is not None and dependency.status != COMPLETED
        if status == COMPLETED:
            for dep_id, dep_kind in _ready_dependents(rt, job_id):
                send_job(task.app, settings, dep_id, dep_kind)
    except TRANSIENT as exc:  # the database or storage is unreachable: try the whole delivery again later
        raise task.retry(exc=exc, countdown=backoff_s(task.request.retries)) from exc
    if status == QUEUED and not waiting:
        # re-queued by runner.execute after a transient error (bounded by job_max_attempts there)
        raise task.retry(countdown=backoff_s(attempts - 1), max_retries=None)
    if status == PROCESSING:
        # another delivery runs it; come back when its lease would have run out without a heartbeat
        remaining = (lease - utcnow()).total_seconds() if lease is not None else settings.job_lease_s
        raise task.retry(countdown=max(0.5, remaining + 0.5), max_retries=None)
    return status


def _register(app: Celery, settings: Settings, kind: str) -> None:
    def run(self: JobTask, job_id: str) -> str:
        return _deliver(self, job_id)

    app.task(
        run,
        name=task_name(kind),
        base=JobTask,
        bind=True,
        settings=settings,
        # acknowledge after the job ran, not on receipt: a worker that dies mid-job (machine lost, OOM
        # killer, SIGKILL) leaves the message with the broker, which delivers it again
        acks_late=True,
        # a pool process killed mid-job puts the message back on the queue (instead of failing it)
        reject_on_worker_lost=True,
        # the hard limit kills the pool process; JobTask.on_failure marks the job failed with the reason
        time_limit=settings.job_time_limit_s + TIME_LIMIT_GRACE_S,
        # retries of transient errors (storage, database) before a claim; after a claim the job row
        # counts attempts (job_max_attempts), which bounds the rest
        max_retries=TRANSIENT_MAX_RETRIES,
        ignore_result=True,
    )


def make_celery(settings: Settings) -> Celery:
    """The Celery app for these settings (broker from `broker_url`; no result backend: the DB has status)."""
    from kombu import Exchange, Queue

    app = Celery("mastertape", broker=settings.broker_url, set_as_current=False)
    names = [queue_name(settings, kind) for kind in KINDS]
    transport: dict = {}
    if urlparse(settings.broker_url or "").scheme in ("redis", "rediss"):
        transport = {
            # an unacknowledged message whose worker vanished comes back after this long
            "visibility_timeout": settings.broker_visibility_timeout_s,
            # every key of ours (queues, unacked messages) under one prefix: deployments sharing a
            # Redis stay apart, and tests can delete exactly what they created
            "global_keyprefix": f"{settings.queue_prefix}:",
            "socket_connect_timeout": 3,
        }
    app.conf.update(
        broker_transport_options=transport,
        broker_connection_timeout=3,
        broker_connection_retry_on_startup=True,
        # one message at a time per pool process: a long restoration never sits prefetched behind
        # another one while an idle worker could have taken it
        worker_prefetch_multiplier=1,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        # a broker hiccup does not cancel running jobs; a duplicate delivery is refused by the DB claim
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        # one direct exchange per queue, named like it: a kind's messages reach only its own queue
        task_queues=[Queue(name, Exchange(name, type="direct"), routing_key=name) for name in names],
        task_routes={task_name(kind): {"queue": queue_name(settings, kind)} for kind in KINDS},
        task_default_queue=queue_name(settings, MASTER),
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    for kind in KINDS:
        _register(app, settings, kind)
    return app


def preload() -> None:
    """Import the job code in the worker's main process, before the pool forks: every pool process
    then starts with it loaded instead of paying for the imports in its first job."""
    import mastertape.audio  # noqa: F401
    import mastertape.dsp.loudness  # noqa: F401
    import mastertape.jobs.tasks  # noqa: F401
    import mastertape.mastering  # noqa: F401
    import mastertape.restoration  # noqa: F401
    import mastertape.store.s3  # noqa: F401

    try:
        import boto3  # noqa: F401
    except ImportError:  # only needed with s3:// storage
        pass


def warm_pool_process(settings: Settings) -> None:
    """In a new pool process: connect to the database and blob store now, not in the first job."""
    try:
        process_runtime(settings)
    except Exception:  # noqa: BLE001 - the first job retries (transient) and reports what is wrong
        log.warning("could not connect at pool process start", exc_info=True)


# --- the reaper: recovery that does not depend on the broker ----------------------------------------
class Reaper(threading.Thread):
    """Runs in each worker's main process: expired leases -> re-queued and re-sent; overdue -> failed."""

    def __init__(
        self, app: Celery, settings: Settings, kinds: tuple[str, ...] = KINDS, every_s: float | None = None
    ) -> None:
        super().__init__(name="mastertape-reaper", daemon=True)
        self.app, self.settings, self.kinds = app, settings, tuple(kinds)
        self.every_s = every_s or max(0.5, min(settings.job_lease_s / 3.0, 10.0))
        self._stop_event = threading.Event()
        self.started_at = utcnow()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        try:
            self.resend_stale_queued()
        except Exception:  # noqa: BLE001 - retried through the periodic pass
            log.warning("re-sending queued jobs at start failed", exc_info=True)
        while not self._stop_event.wait(self.every_s):
            try:
                self.reap_once()
            except Exception:  # noqa: BLE001 - the database may be briefly away; next round
                log.warning("job reaper pass failed", exc_info=True)

    def resend_stale_queued(self) -> int:
        """At start: re-send ready queued jobs created a lease before this worker started (their message
        may have been lost; if not, the duplicate is refused by the claim)."""
        rt = process_runtime(self.settings)
        jobs = _ready_queued(rt, created_before=self.started_at - dt.timedelta(seconds=self.settings.job_lease_s))
        for job_id, kind in jobs:
            send_job(self.app, self.settings, job_id, kind)
        if jobs:
            log.info("re-sent %d queued job(s) found at start", len(jobs))
        return len(jobs)

    def fail_overdue(self) -> int:
        """Fail the running jobs of this worker's kinds that are past its time limit (a pool process the
        hard limit could not stop in time, or whose worker died before recording it)."""
        rt = process_runtime(self.settings)
        limit_s = self.settings.job_time_limit_s
        with rt.db.read() as s:
            overdue = list(
                s.execute(
                    select(Job.id).where(
                        Job.status == PROCESSING,
                        Job.kind.in_(self.kinds),
                        Job.started_at < utcnow() - dt.timedelta(seconds=limit_s),
                    )
                ).scalars()
            )
        return sum(fail_timed_out(rt, job_id, limit_s) for job_id in overdue)

    def reap_once(self) -> int:
        rt = process_runtime(self.settings)
        self.fail_overdue()
        with rt.db.read() as s:
            expired = list(
                s.execute(
                    select(Job.id).where(
                        Job.status == PROCESSING,
                        Job.lease_expires_at.is_not(None),
                        Job.lease_expires_at < utcnow(),
                    )
                ).scalars()
            )
        if not expired:
            return 0
        state.recover_interrupted(rt.db, self.settings.job_max_attempts, expired_only=True)
        state.fail_orphaned_waiters(rt.db)
        jobs = _ready_queued(rt, ids=expired)
        for job_id, kind in jobs:
            send_job(self.app, self.settings, job_id, kind)
        log.warning("re-sent %d job(s) whose worker stopped renewing its lease", len(jobs))
        return len(jobs)
