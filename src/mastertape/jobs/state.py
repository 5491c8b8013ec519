"""The job state machine, as guarded updates on the `jobs` table (shared by every runner).

    queued --claim--> processing --complete--> completed
                          |  \\--fail--------> failed   (dependents that were waiting fail with it)
                          \\--interrupted----> queued   (crash/restart; after `max_attempts` claims: failed)

A claim writes a fresh random `claim_token` and a lease; completing or failing requires
`status = 'processing' AND claim_token = <ours>`, in the same transaction as the artifact's own
status, so a job delivered twice (a redelivery, a worker that outlived its lease) records at most
one result, and a late one is refused (`ClaimLost`). The artifact a job writes has a key derived from
its id, so a refused duplicate only ever overwrote the blob with the same bytes.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from mastertape.store import rawsql
from mastertape.store.db import Database
from mastertape.store.models import (
    ARCHIVE,
    COMPLETED,
    FAILED,
    IMPORT,
    MASTER,
    PROCESSING,
    QUEUED,
    RESTORE,
    SPLIT,
    Archive,
    Asset,
    Job,
    Mastered,
    StemSplit,
    Upscaled,
    new_id,
    utcnow,
)

MODEL_BY_KIND = {IMPORT: Asset, RESTORE: Upscaled, MASTER: Mastered, SPLIT: StemSplit, ARCHIVE: Archive}
_DEPENDENCY_FAILED = {
    IMPORT: "the audio could not be imported",
    RESTORE: "the restoration this master was waiting for failed",
    MASTER: "the master this job was waiting for failed",
    SPLIT: "the stem separation this job was waiting for failed",
}


class ClaimLost(Exception):
    """Our claim on a job is no longer valid (it was re-queued, or completed by another delivery)."""


@dataclass(frozen=True)
class Claim:
    job_id: str
    kind: str
    object_id: str
    owner_id: str
    token: str
    attempt: int
    worker: str


@dataclass(frozen=True)
class ReadyJob:
    """A job whose dependency just completed: a runner that does not poll (Celery) enqueues it now."""

    job_id: str
    kind: str


def json_safe(value):
    """Replace non-finite floats (silence measures -inf LUFS) by None: JSON has no infinity."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return json_safe(value.item())
    return value


def create_job(
    session: Session, kind: str, object_id: str, owner_id: str, depends_on: str | None = None
) -> str:
    """Insert a queued job (plain SQL after flushing the session's pending objects, which it may
    reference: store.rawsql); returns its id."""
    job_id = new_id()
    rawsql.insert_row(
        session, Job.__table__, id=job_id, kind=kind, object_id=object_id, owner_id=owner_id,
        depends_on=depends_on, status=QUEUED, attempts=0, created_at=utcnow(),
    )
    return job_id


def _lease(lease_s: float) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=lease_s)


def _merge_details(session: Session, kind: str, object_id: str, **changes) -> None:
    model = MODEL_BY_KIND[kind]
    row = session.get(model, object_id)
    if row is None:
        return
    details = dict(row.details or {})
    details.update(json_safe(changes))
    row.details = details


def _set_artifact(session: Session, kind: str, object_id: str, status: str, **values) -> None:
    model = MODEL_BY_KIND[kind]
    session.execute(
        update(model).where(model.id == object_id).values(status=status, updated_at=utcnow(), **values)
    )


def _claimed(session: Session, job: Job, token: str, worker: str, lease_s: float) -> Claim | None:
    attempt = job.attempts + 1
    same_claim = Job.claim_token.is_(None) if job.claim_token is None else Job.claim_token == job.claim_token
    res = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status == job.status, same_claim)
        .values(
            status=PROCESSING,
            claim_token=token,
            worker=worker,
            lease_expires_at=_lease(lease_s),
            attempts=Job.attempts + 1,
            started_at=utcnow(),
        )
    )
    if res.rowcount != 1:
        return None
    _set_artifact(session, job.kind, job.object_id, PROCESSING)
    _merge_details(session, job.kind, job.object_id, stage="starting", progress=0.0)
    return Claim(
        job_id=job.id,
        kind=job.kind,
        object_id=job.object_id,
        owner_id=job.owner_id,
        token=token,
        attempt=attempt,
        worker=worker,
    )


def claim_next(db: Database, worker: str, lease_s: float, kinds: Iterable[str] | None = None) -> Claim | None:
    """Atomically claim the oldest queued job whose dependency (if any) has completed."""
    dep = aliased(Job)
    query = (
        select(Job)
        .outerjoin(dep, Job.depends_on == dep.id)
        .where(Job.status == QUEUED, or_(Job.depends_on.is_(None), dep.status == COMPLETED))
        .order_by(Job.created_at, Job.id)
        .limit(1)
    )
    if kinds is not None:
        query = query.where(Job.kind.in_(list(kinds)))
    for _ in range(5):  # a concurrent claimer (PostgreSQL) may win the row: try the next one
        with db.write() as s:
            job = s.execute(query).scalar_one_or_none()
            if job is None:
                return None
            claim = _claimed(s, job, new_id(), worker, lease_s)
            if claim is not None:
                return claim
    return None


def claim_job(db: Database, job_id: str, worker: str, lease_s: float) -> Claim | None:
    """Claim one job by id (a runner that delivers ids, e.g. Celery): when queued with its dependency
    completed, or processing under an expired lease (its worker died). None otherwise."""
    with db.write() as s:
        job = s.get(Job, job_id)
        if job is None:
            return None
        if job.status == PROCESSING and job.lease_expires_at is not None and job.lease_expires_at < utcnow():
            return _claimed(s, job, new_id(), worker, lease_s)
        if job.status != QUEUED:
            return None
        if job.depends_on is not None:
            dep = s.get(Job, job.depends_on)
            if dep is None or dep.status != COMPLETED:
                return None
        return _claimed(s, job, new_id(), worker, lease_s)


def _guard(claim: Claim):
    return and_(Job.id == claim.job_id, Job.status == PROCESSING, Job.claim_token == claim.token)


def heartbeat(db: Database, claim: Claim, lease_s: float) -> bool:
    """Extend the lease; False when the claim is no longer ours."""
    with db.write() as s:
        res = s.execute(update(Job).where(_guard(claim)).values(lease_expires_at=_lease(lease_s)))
        return res.rowcount == 1


def set_progress(db: Database, claim: Claim, **changes) -> bool:
    """Merge `changes` (stage, progress, ...) into the artifact's details while our claim holds."""
    with db.write() as s:
        held = s.execute(select(exists().where(_guard(claim)))).scalar()
        if held:
            _merge_details(s, claim.kind, claim.object_id, **changes)
        return bool(held)


def _ready_dependents(session: Session, job_id: str) -> list[ReadyJob]:
    rows = session.execute(select(Job.id, Job.kind).where(Job.depends_on == job_id, Job.status == QUEUED))
    return [ReadyJob(r.id, r.kind) for r in rows]


def complete(db: Database, claim: Claim, details: dict, **values) -> list[ReadyJob]:
    """Record success: job and artifact completed with `values` and `details`, in one transaction."""
    with db.write() as s:
        now = utcnow()
        res = s.execute(
            update(Job)
            .where(_guard(claim))
            .values(status=COMPLETED, finished_at=now, lease_expires_at=None, error_message=None)
        )
        if res.rowcount != 1:
            raise ClaimLost(f"job {claim.job_id} is no longer claimed by this worker")
        _set_artifact(
            s,
            claim.kind,
            claim.object_id,
            COMPLETED,
            details=json_safe(details),
            error_message=None,
            error_code=None,
            **values,
        )
        return _ready_dependents(s, claim.job_id)


def _fail_dependents(session: Session, job: Job, message: str) -> int:
    count = 0
    frontier = [(job.id, job.kind)]
    while frontier:
        job_id, kind = frontier.pop()
        reason = f"{_DEPENDENCY_FAILED.get(kind, 'a job this one depended on failed')}: {message}"
        rows = (
            session.execute(select(Job).where(Job.depends_on == job_id, Job.status == QUEUED)).scalars().all()
        )
        for dep in rows:
            dep.status, dep.error_message, dep.finished_at = FAILED, reason, utcnow()
            _set_artifact(
                session, dep.kind, dep.object_id, FAILED, error_message=reason, error_code="dependency_failed"
            )
            _merge_details(session, dep.kind, dep.object_id, stage="failed")
            frontier.append((dep.id, kind))
            count += 1
    return count


def fail(
    db: Database, claim: Claim, message: str, code: str, *, retry: bool = False, max_attempts: int = 1
) -> bool:
    """Record failure (job, artifact, and every job waiting on it). With `retry` and attempts left, the job
    is re-queued instead (transient trouble: storage, database). Returns True when re-queued."""
    with db.write() as s:
        job = s.execute(select(Job).where(_guard(claim))).scalar_one_or_none()
        if job is None:
            raise ClaimLost(f"job {claim.job_id} is no longer claimed by this worker")
        if retry and job.attempts < max_attempts:
            _requeue(s, job, f"retrying after a transient error: {message}")
            return True
        _fail_job(s, job, message, code)
        return False


def _fail_job(session: Session, job: Job, message: str, code: str) -> None:
    job.status, job.error_message, job.finished_at = FAILED, message, utcnow()
    job.claim_token, job.lease_expires_at = None, None
    _set_artifact(session, job.kind, job.object_id, FAILED, error_message=message, error_code=code)
    _merge_details(session, job.kind, job.object_id, stage="failed")
    _fail_dependents(session, job, message)


def _requeue(session: Session, job: Job, note: str) -> None:
    job.status, job.claim_token, job.worker, job.lease_expires_at = QUEUED, None, None, None
    _set_artifact(session, job.kind, job.object_id, QUEUED)
    _merge_details(session, job.kind, job.object_id, stage="queued", progress=0.0, note=note)


def recover_interrupted(
    db: Database, max_attempts: int, *, expired_only: bool, workers: Iterable[str] | None = None
) -> tuple[int, int]:
    """Re-queue jobs left `processing` by a crash (or fail them after `max_attempts` claims, with the reason).

    `expired_only`: only jobs whose lease ran out (safe while other runners may be alive); otherwise
    every processing job (the embedded runner at start-up, holding the data dir's lock). `workers`
    limits it to jobs claimed by those workers (a worker process that died). Returns (requeued, failed).
    """
    requeued = failed = 0
    with db.write() as s:
        query = select(Job).where(Job.status == PROCESSING)
        if expired_only:
            query = query.where(or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < utcnow()))
        if workers is not None:
            query = query.where(Job.worker.in_(list(workers)))
        for job in s.execute(query).scalars().all():
            if job.attempts >= max_attempts:
                _fail_job(
                    s,
                    job,
                    f"the job was interrupted {job.attempts} times (worker crash or server "
                    f"restart) and was given up; submit it again",
                    "interrupted",
                )
                failed += 1
            else:
                _requeue(
                    s, job, f"re-queued after an interruption (attempt {job.attempts} of {max_attempts})"
                )
                requeued += 1
    return requeued, failed


def release(db: Database, workers: Iterable[str]) -> int:
    """Give back, without counting an attempt, the jobs of workers stopped on purpose (graceful shutdown)."""
    with db.write() as s:
        rows = (
            s.execute(select(Job).where(Job.status == PROCESSING, Job.worker.in_(list(workers))))
            .scalars()
            .all()
        )
        for job in rows:
            job.attempts = max(0, job.attempts - 1)
            _requeue(s, job, "re-queued: the server was stopped while it ran")
        return len(rows)


def job_status(db: Database, job_id: str) -> str | None:
    row = db.query_one("SELECT status FROM jobs WHERE id = {}", job_id)
    return row[0] if row is not None else None


@dataclass(frozen=True)
class FailedJob:
    """A job failed by a supervisor: which worker ran it, and what it was making."""

    worker: str
    kind: str
    object_id: str


def fail_overdue(db: Database, time_limit_s: float) -> list[FailedJob]:
    """Fail processing jobs that started more than `time_limit_s` ago; returns them."""
    limit = utcnow() - dt.timedelta(seconds=time_limit_s)
    failed: list[FailedJob] = []
    with db.write() as s:
        rows = s.execute(select(Job).where(Job.status == PROCESSING, Job.started_at < limit)).scalars().all()
        for job in rows:
            failed.append(FailedJob(job.worker or "", job.kind, job.object_id))
            _fail_job(
                s,
                job,
                f"the job took longer than this server's limit of {time_limit_s:g} s and was stopped",
                "time_limit",
            )
    return failed


def fail_orphaned_waiters(db: Database) -> int:
    """Fail queued jobs whose dependency already failed (normally done at failure time; a safety net)."""
    dep = aliased(Job)
    with db.write() as s:
        rows = (
            s.execute(
                select(dep).where(
                    dep.status == FAILED, exists().where(Job.depends_on == dep.id, Job.status == QUEUED)
                )
            )
            .scalars()
            .all()
        )
        return sum(_fail_dependents(s, job, job.error_message or "failed") for job in rows)
