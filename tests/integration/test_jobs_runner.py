"""The job machinery: atomic claims, guarded completion, crash recovery, worker processes, kill -9."""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import time

import pytest
from sqlalchemy import select, update

from mastertape.client import Client
from mastertape.errors import ServiceUnavailable
from mastertape.jobs import state, tasks
from mastertape.jobs.embedded import EmbeddedRunner
from mastertape.jobs.runner import drain, run_job
from mastertape.store.models import COMPLETED, FAILED, PROCESSING, QUEUED, Asset, Job, utcnow
from tests.integration import server_process
from tests.integration.conftest import make_service
from tests.signals import music_like, sine


def _job_rows(svc) -> list[Job]:
    with svc.rt.db.read() as s:
        return list(s.execute(select(Job)).scalars())


def _crash_while_processing(svc, audio_id: str, *, lease_expired: bool = True) -> state.Claim:
    """Claim the import job as a worker that then 'dies' (its lease runs out)."""
    claim = state.claim_next(svc.rt.db, "ghost:1", svc.settings.job_lease_s)
    assert claim is not None and claim.object_id == audio_id
    if lease_expired:
        with svc.rt.db.write() as s:
            s.execute(
                update(Job)
                .where(Job.id == claim.job_id)
                .values(lease_expires_at=utcnow() - dt.timedelta(seconds=5))
            )
    return claim


def test_job_left_processing_is_requeued_at_start_and_completes(service):
    audio_id = service.upload(service.wav(sine(seconds=1.0)))
    stale = _crash_while_processing(service, audio_id)
    assert service.status("audio", audio_id)["status_details"]["state"] == PROCESSING

    runner = EmbeddedRunner(service.settings, workers=0)
    assert runner.start() == {"requeued": 1, "failed": 0}
    runner.stop()
    st = service.status("audio", audio_id)
    assert st["status_details"]["state"] == QUEUED and "interruption" in st["status_details"]["note"]

    assert service.run_jobs() == 1
    st = service.status("audio", audio_id)
    assert st["is_complete"] and "note" not in st["status_details"]
    (job,) = _job_rows(service)
    assert job.status == COMPLETED and job.attempts == 2
    with pytest.raises(state.ClaimLost):  # the dead worker's claim can no longer record anything
        state.complete(service.rt.db, stale, {"stage": "done"}, blob_key="x")
    assert service.status("audio", audio_id)["is_complete"]


def test_job_interrupted_too_often_fails_with_the_reason(service):
    audio_id = service.upload(service.wav(sine(seconds=1.0)))
    master_id = service.master(audio_id=audio_id, use_restored=False)
    _crash_while_processing(service, audio_id)
    with service.rt.db.write() as s:
        s.execute(
            update(Job).where(Job.object_id == audio_id).values(attempts=service.settings.job_max_attempts)
        )
    runner = EmbeddedRunner(service.settings, workers=0)
    assert runner.start() == {"requeued": 0, "failed": 1}
    runner.stop()
    st = service.status("audio", audio_id)
    assert st["is_failed"] and "interrupted" in st["error_message"]
    ms = service.status("mastered", master_id)  # the master that waited for it fails too, with the reason
    assert ms["is_failed"] and "could not be imported" in ms["error_message"]
    assert service.run_jobs() == 0


def test_a_second_runner_on_the_same_data_dir_is_refused(service):
    first = EmbeddedRunner(service.settings, workers=0)
    first.start()
    try:
        with pytest.raises(ServiceUnavailable, match="already running"):
            EmbeddedRunner(service.settings, workers=0).start()
    finally:
        first.stop()


def test_redelivery_never_produces_two_results(service):
    audio_id = service.upload(service.wav(sine(seconds=1.0)))
    (job,) = _job_rows(service)
    claim = state.claim_job(service.rt.db, job.id, "w1", 30)
    assert claim is not None
    assert state.claim_job(service.rt.db, job.id, "w2", 30) is None  # held under a live lease
    tasks.run_import(claim, service.rt)
    assert run_job(service.rt, job.id, "w3") == []  # completed: nothing to do
    (job,) = _job_rows(service)
    assert job.status == COMPLETED and job.attempts == 1
    with pytest.raises(state.ClaimLost):
        tasks.run_import(claim, service.rt)  # a late duplicate of the same delivery
    assert service.status("audio", audio_id)["is_complete"]


def test_concurrent_claimers_run_each_job_exactly_once(tmp_path, monkeypatch):
    svc = make_service(tmp_path, max_jobs_in_flight_per_key=1000)
    try:
        wav = svc.wav(sine(seconds=0.5))
        ids = [svc.upload(wav) for _ in range(60)]
        runs: list[str] = []
        lock = threading.Lock()
        real = tasks.TASKS["import"]

        def counting(claim, rt):
            with lock:
                runs.append(claim.object_id)
            return real(claim, rt)

        monkeypatch.setitem(tasks.TASKS, "import", counting)
        threads = [threading.Thread(target=drain, args=(svc.rt, f"t{i}")) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert sorted(runs) == sorted(ids)
        jobs = _job_rows(svc)
        assert len(jobs) == 60 and all(j.status == COMPLETED and j.attempts == 1 for j in jobs)
        assert len({j.worker for j in jobs}) > 1
        with svc.rt.db.read() as s:
            assert all(a.status == COMPLETED for a in s.execute(select(Asset)).scalars())
    finally:
        svc.client.close()
        svc.rt.close()


def test_worker_processes_run_jobs_and_restart_after_a_crash(tmp_path):
    svc = make_service(tmp_path)
    runner = EmbeddedRunner(svc.settings, workers=2)
    svc.client.app.state.queue = runner.queue
    runner.start()
    try:
        audio_id = svc.upload(svc.wav(music_like(seconds=3.0)))
        master_id = svc.master(audio_id=audio_id, use_restored=False)
        deadline = time.monotonic() + 90
        while not svc.status("mastered", master_id)["is_complete"]:
            assert time.monotonic() < deadline, svc.status("mastered", master_id)
            time.sleep(0.1)
        victim = runner.worker_pids[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while victim in runner.worker_pids or len(runner.worker_pids) != 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        second = svc.upload(svc.wav(sine(seconds=1.0), "b.wav"))
        deadline = time.monotonic() + 60
        while not svc.status("audio", second)["is_complete"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        runner.stop()
        svc.client.close()
        svc.rt.close()


@pytest.mark.slow
def test_kill_9_the_server_while_jobs_run_then_restart(tmp_path):
    """Every job ends completed or failed with a reason; none stays processing."""
    key = "mt_kill_test_key_0123456789abcdef"
    data = tmp_path / "data"
    src = tmp_path / "in.wav"
    from mastertape.audio import encode

    encode(music_like(seconds=12.0), src, "wav", bit_depth=16)
    server = server_process.start(data, workers=1, MASTERTAPE_API_KEY=key)
    try:
        with Client(server.url, key) as c:
            audio_id = c.upload(src)
            masters = [c.master(audio_id, use_restored=False, target_lufs=-20 + i) for i in range(4)]
            deadline = time.monotonic() + 60
            while c.status("mastered", masters[0])["status_details"].get("state") != PROCESSING:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        server_process.stop(server, signal.SIGKILL)
        time.sleep(1.5)  # workers notice their parent is gone within a second
        server = server_process.start(data, workers=1, MASTERTAPE_API_KEY=key)
        with Client(server.url, key) as c:
            for master_id in masters:
                st = c.wait("mastered", master_id, poll_s=0.2, timeout_s=180)
                assert st["is_complete"]
        assert "re-queued" in server.log()
    finally:
        server_process.stop(server)
    from mastertape.store.db import Database

    db = Database(f"sqlite:///{data / 'mastertape.sqlite3'}")
    with db.read() as s:
        jobs = list(s.execute(select(Job)).scalars())
    db.dispose()
    assert jobs and all(j.status in (COMPLETED, FAILED) for j in jobs)
    assert all(j.error_message for j in jobs if j.status == FAILED)


def _master_job(svc) -> tuple[str, Job]:
    audio_id = svc.upload(svc.wav(music_like(seconds=2.0)))
    assert svc.run_jobs() == 1
    mastered_id = svc.master(audio_id=audio_id, use_restored=False)
    (job,) = [j for j in _job_rows(svc) if j.kind == "master"]
    return mastered_id, job


def test_a_master_failing_after_storing_its_wav_leaves_no_file(service, monkeypatch):
    mastered_id, job = _master_job(service)
    real = tasks._store_encoded

    def wav_then_fail(rt, audio, key, fmt, **kw):
        if fmt != "wav":
            raise RuntimeError("preview encoder crashed")
        return real(rt, audio, key, fmt, **kw)

    monkeypatch.setattr(tasks, "_store_encoded", wav_then_fail)
    assert service.run_jobs() == 1
    st = service.status("mastered", mastered_id)
    assert st["is_failed"] and "preview encoder crashed" in st["error_message"]
    assert not service.rt.blobs.exists(tasks.master_key(mastered_id))


def test_a_job_failed_at_the_time_limit_while_storing_drops_its_files(service, monkeypatch):
    """The supervisor fails the job (time limit) while it runs; when the job then tries to record its
    result, the claim is gone and what it stored is deleted."""
    mastered_id, job = _master_job(service)
    real = tasks._store_encoded

    def store_then_time_out(rt, audio, key, fmt, **kw):
        size = real(rt, audio, key, fmt, **kw)
        with rt.db.write() as s:  # what fail_overdue does to a job past the limit
            state._fail_job(s, s.get(Job, job.id), "the job took longer than this server's limit", "time_limit")
        return size

    monkeypatch.setattr(tasks, "_store_encoded", store_then_time_out)
    claim = state.claim_job(service.rt.db, job.id, "w1", 30)
    assert run_job(service.rt, job.id, "w2") == [] and claim is not None  # held by w1
    from mastertape.jobs.runner import execute

    assert execute(service.rt, claim) == []
    assert service.status("mastered", mastered_id)["is_failed"]
    assert not service.rt.blobs.exists(tasks.master_key(mastered_id))
