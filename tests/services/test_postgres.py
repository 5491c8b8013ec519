"""PostgreSQL: `mastertape db upgrade` and the guarded job transitions under concurrent claimers."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from mastertape.config import Settings
from mastertape.jobs import state
from mastertape.store.db import Database
from mastertape.store.keys import create_key
from mastertape.store.migrate import current_revision, head_revision
from mastertape.store.models import COMPLETED, IMPORT, Asset, Job
from tests.integration.server_process import mastertape_env

pytestmark = pytest.mark.services


@pytest.fixture
def db(pg_url, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "mastertape", "db", "upgrade"],
        env=mastertape_env(tmp_path, MASTERTAPE_DATABASE_URL=pg_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    database = Database.from_settings(Settings(data_dir=tmp_path, database_url=pg_url))
    assert database.engine.dialect.name == "postgresql"
    yield database
    database.dispose()


def _queued_import(db: Database) -> str:
    key_row, _ = create_key(db, "pg")
    with db.write() as s:
        asset = Asset(owner_id=key_row.id, status="queued", details={}, download_count=0, blob_key="audio/a/original")
        s.add(asset)
        s.flush()
        return state.create_job(s, IMPORT, asset.id, key_row.id)


def test_db_upgrade_reaches_head_in_its_own_schema(db):
    assert current_revision(db.engine) == head_revision()
    schema = db.query_one("SELECT current_schema()")[0]
    assert schema.startswith("mt_test_")


def test_one_job_is_claimed_once_by_concurrent_claimers_and_completed_once(db):
    job_id = _queued_import(db)
    claims, barrier = [], threading.Barrier(8)

    def claimer(i: int) -> None:
        barrier.wait()
        claim = state.claim_job(db, job_id, f"w{i}", lease_s=30)
        if claim is not None:
            claims.append(claim)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claims) == 1
    claim = claims[0]
    state.complete(db, claim, {"stage": "done"})
    with pytest.raises(state.ClaimLost):
        state.complete(db, claim, {"stage": "done"})  # a second delivery of the same claim records nothing
    with db.read() as s:
        job = s.get(Job, job_id)
        assert job.status == COMPLETED and job.attempts == 1
        assert s.get(Asset, job.object_id).status == COMPLETED


def test_a_lapsed_claim_cannot_complete_after_a_takeover(db):
    job_id = _queued_import(db)
    first = state.claim_job(db, job_id, "dead-worker", lease_s=0.0)  # its lease is already over
    second = state.claim_job(db, job_id, "live-worker", lease_s=30)
    assert first is not None and second is not None and second.attempt == 2
    with pytest.raises(state.ClaimLost):
        state.complete(db, first, {})
    state.complete(db, second, {})
    with db.read() as s:
        assert s.get(Job, job_id).worker == "live-worker"
