"""`CeleryQueue`: how the API hands a job to Celery workers (distributed mode, `Settings.broker_url`).

`enqueue` publishes the job id to the queue of the job's kind. When the broker cannot be reached the
job would never run, so it is failed at once with the reason (its row was already committed) and
the request answers 503 (`ServiceUnavailable`): nothing is left behind in `queued`.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlparse

from mastertape.config import Settings
from mastertape.errors import ServiceUnavailable
from mastertape.jobs import state

log = logging.getLogger("mastertape.jobs")

BROKER_DOWN_MESSAGE = (
    "the job queue (message broker) cannot be reached, so the job was not queued; "
    "try again in a moment (nothing was started)"
)


def broker_display(url: str | None) -> str:
    """The broker URL without credentials, for messages and logs."""
    parsed = urlparse(url or "")
    host = parsed.hostname or ""
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{host}{port}{parsed.path}"


class CeleryQueue:
    def __init__(self, settings: Settings, app=None) -> None:
        from mastertape.jobs.celery_app import make_celery

        self.settings = settings
        self.app = app or make_celery(settings)
        self._db = None
        self._db_lock = threading.Lock()

    def enqueue(self, job_id: str, kind: str) -> None:
        from mastertape.jobs.celery_app import send_job

        try:
            send_job(self.app, self.settings, job_id, kind)
        except Exception as exc:  # noqa: BLE001 - any publish failure means the job was not queued
            log.error("cannot publish job %s to %s: %s", job_id, broker_display(self.settings.broker_url), exc)
            self._fail_unsent(job_id)
            raise ServiceUnavailable(BROKER_DOWN_MESSAGE) from None

    def _database(self):
        from mastertape.store.db import Database

        with self._db_lock:
            if self._db is None:
                self._db = Database.from_settings(self.settings)
            return self._db

    def _fail_unsent(self, job_id: str) -> None:
        """Mark the job (and any job waiting on it) failed: its message never reached the broker."""
        db = self._database()
        claim = state.claim_job(db, job_id, "api:unsent", self.settings.job_lease_s)
        if claim is None:  # not claimable (a worker got it after all, or it already ended): leave it
            return
        try:
            state.fail(db, claim, "the job could not be queued: the message broker was unreachable", "broker_error")
        except state.ClaimLost:
            pass
