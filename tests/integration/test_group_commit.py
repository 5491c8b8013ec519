"""store.group_commit: requests share one transaction; each one's failure stays its own."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from mastertape.config import Settings
from mastertape.jobs import state
from mastertape.jobs.runtime import Runtime
from mastertape.store import keys, rawsql
from mastertape.store.group_commit import GroupCommit
from mastertape.store.models import Job


@pytest.fixture()
def rt(tmp_path):
    runtime = Runtime.open(Settings(data_dir=tmp_path / "data"), migrate=True, api=True)
    yield runtime
    runtime.close()


def _count_jobs(rt) -> int:
    with rt.db.read() as s:
        return s.execute(select(func.count()).select_from(Job)).scalar_one()


def test_concurrent_requests_commit_together_and_a_failing_one_alone_is_rolled_back(rt):
    owner = keys.create_key(rt.db, "k")[0].id
    batcher = GroupCommit(rt.db, window_s=0.05)
    commits = []
    real_execute = batcher._execute

    def counting_execute(session, batch):
        done = real_execute(session, batch)
        commits.append(len(done))
        return done

    batcher._execute = counting_execute

    def record(i: int):
        def fn(s):
            job_id = state.create_job(s, "master", f"object-{i}", owner)
            if i == 3:
                raise ValueError("request 3 is invalid")  # after its insert: only that row goes
            return job_id

        return fn

    async def main():
        return await asyncio.gather(*(batcher.run(record(i)) for i in range(8)), return_exceptions=True)

    results = asyncio.run(main())
    assert isinstance(results[3], ValueError)
    assert all(isinstance(r, str) for i, r in enumerate(results) if i != 3)
    assert commits == [7]  # one transaction for the seven that succeeded
    assert _count_jobs(rt) == 7
    assert rt.db.query_one("SELECT status FROM jobs WHERE id = {}", results[0]) == ("queued",)


def test_a_failed_commit_fails_every_request_of_the_batch(rt, monkeypatch):
    owner = keys.create_key(rt.db, "k")[0].id
    batcher = GroupCommit(rt.db, window_s=0.05)

    def insert(i: int):
        def fn(s):
            rawsql.insert_row(s, Job.__table__, id=f"job-{i}", kind="master", object_id=f"o{i}", owner_id=owner,
                              status="queued", attempts=0)
            if i == 0:  # the database refuses the commit (e.g. disk full)
                monkeypatch.setattr(s, "commit", lambda: (_ for _ in ()).throw(OSError("disk full")))

        return fn

    async def main():
        return await asyncio.gather(*(batcher.run(insert(i)) for i in range(4)), return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, OSError) for r in results)
    assert _count_jobs(rt) == 0
    # the locks were released: the next write goes through
    with rt.db.write() as s:
        state.create_job(s, "master", "after", owner)
    assert _count_jobs(rt) == 1
