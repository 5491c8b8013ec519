"""How the API hands a job to a runner: `JobQueue.enqueue(job_id, kind)`.

A job is always a row in the database first (created by the API in the same transaction as its
artifact); `enqueue` is called after that commit, and only for jobs that are ready to run (no
dependency, or a completed one). A job that waits for another is handed over by whoever completes
the dependency: `jobs.state.complete` returns the `ReadyJob`s for that purpose.

- `PollingQueue` (embedded, the default): the worker processes poll the `jobs` table, so enqueueing
  only wakes them early.
- A Celery queue (distributed mode, `Settings.broker_url`) lives in `mastertape.jobs.celery_queue`
  as `CeleryQueue(settings)`, sending the job id to the queue of its kind; its tasks call
  `jobs.runner.run_job`, the same job functions.
"""

from __future__ import annotations

from typing import Protocol

from mastertape.config import Settings


class JobQueue(Protocol):
    def enqueue(self, job_id: str, kind: str) -> None:
        """Hand a ready job to the runner (after its row was committed)."""


class PollingQueue:
    """Workers poll the jobs table; `wake.set()` (the embedded runner's pipes to them) cuts the wait."""

    def __init__(self, wake=None) -> None:
        self._wake = wake

    def enqueue(self, job_id: str, kind: str) -> None:
        if self._wake is not None:
            self._wake.set()


def make_queue(settings: Settings, wake=None) -> JobQueue:
    """The queue for these settings: Celery when a broker is configured, else the polling embedded runner."""
    if settings.broker_url:
        from mastertape.jobs.celery_queue import CeleryQueue

        return CeleryQueue(settings)
    return PollingQueue(wake)
