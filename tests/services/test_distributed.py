"""The distributed deployment end to end: API + Celery workers + PostgreSQL + Redis (RabbitMQ) + S3 protocol.

What is asserted is what a user relies on: every submitted job ends exactly once with its outputs in the
bucket (no duplicates, no orphans), a worker killed with SIGKILL in the middle of a job or an API process
killed and restarted loses nothing, a broker that cannot be reached answers 503 and leaves nothing
queued, and a job past the hard time limit fails with the reason.
"""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from mastertape.audio import decode
from mastertape.dsp.loudness import measure
from mastertape.store.models import COMPLETED, FAILED, PROCESSING, QUEUED, Asset, Mastered
from tests.integration.server_process import free_port
from tests.services.cluster import Cluster
from tests.signals import music_like

pytestmark = pytest.mark.services

TRACK_S = 2.0
TARGETS_LUFS = (-16.0, -14.0, -12.0, -10.0)


def _expected_keys(cluster: Cluster) -> set[str]:
    """The blobs the completed artifacts own: the original of each asset, master + preview of each master."""
    keys: set[str] = set()
    with cluster.rt.db.read() as s:
        for asset in s.query(Asset).all():
            if asset.blob_key:
                keys.add(asset.blob_key)
        for m in s.query(Mastered).all():
            if m.status == COMPLETED:
                keys.update({m.blob_key, m.preview_key})
    return keys


def _download_master(cluster: Cluster, mastered_id: str):
    r = httpx.get(f"{cluster.api.url}/download/mastered/{mastered_id}", headers=cluster.headers, timeout=30)
    assert r.status_code == 307, r.text
    url = r.headers["location"]
    assert "X-Amz-Signature=" in url  # a presigned URL straight to the bucket
    body = httpx.get(url, timeout=30)
    assert body.status_code == 200
    return decode(body.content)


def _submit(cluster: Cluster, n_tracks: int, masters_per_track: int) -> tuple[list[str], list[tuple[str, float]]]:
    audio_ids, masters = [], []
    for i in range(n_tracks):
        r = cluster.upload(cluster.wav_bytes(music_like(seconds=TRACK_S, seed=i + 1), f"t{i}.wav"), f"t{i}.wav")
        assert r.status_code == 200, r.text
        audio_ids.append(r.json()["audio_id"])
    for i, audio_id in enumerate(audio_ids):
        for k in range(masters_per_track):
            target = TARGETS_LUFS[(i + k) % len(TARGETS_LUFS)]
            r = cluster.master(audio_id, target_lufs=target)
            assert r.status_code == 200, r.text
            masters.append((r.json()["id"], target))
    return audio_ids, masters


def _running_on(cluster: Cluster, pids: set[int], kind: str) -> list:
    return [
        j
        for j in cluster.jobs()
        if j.status == PROCESSING and j.kind == kind and j.worker and int(j.worker.rsplit(":", 1)[1]) in pids
    ]


def _kill_mid_job(cluster: Cluster, worker, kind: str, timeout_s: float = 120.0):
    """SIGKILL `worker` (main and pool process) while it runs a job of `kind`; that job, or None if the
    job finished in the instant between seeing it run and the kill."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pids = worker.pool_pids()
        if _running_on(cluster, pids, kind):
            worker.kill(signal.SIGKILL)  # as when a machine is lost
            assert worker.process.poll() is not None
            # a dead worker's job stays `processing` until its lease (3 s) runs out: read it now
            caught = _running_on(cluster, pids, kind)
            return caught[0] if caught else None
        time.sleep(0.02)
    raise AssertionError(f"no {kind} job was seen running on worker {worker.pid}")


def test_sigkill_of_a_worker_mid_job_loses_nothing_and_duplicates_nothing(redis_cluster):
    cluster = redis_cluster
    cluster.start_api()
    victim = cluster.start_worker(concurrency=1)
    cluster.start_worker(concurrency=1)
    audio_ids, masters = _submit(cluster, n_tracks=8, masters_per_track=4)  # 8 imports + 32 masters = 40 jobs
    job = _kill_mid_job(cluster, victim, "master")
    for _ in range(3):  # the job ended just before the kill landed: kill a fresh worker, mid-job this time
        if job is not None:
            break
        job = _kill_mid_job(cluster, cluster.start_worker(concurrency=1), "master")
    assert job is not None, "no worker could be killed in the middle of a job"

    jobs = cluster.wait_until_done(timeout_s=240)
    assert len(jobs) == 40
    assert [j for j in jobs if j.status != COMPLETED] == []
    killed = next(j for j in jobs if j.id == job.id)
    assert killed.attempts == 2  # interrupted once, then run again to completion on the other worker
    # one result per job: the outputs in the bucket are exactly those the completed artifacts name
    keys = cluster.bucket_keys()
    assert keys == _expected_keys(cluster)
    assert len(keys) == len(audio_ids) + 2 * len(masters)
    for mastered_id, _ in masters:
        assert cluster.status("mastered", mastered_id)["status"] == "completed"
    # the job that was killed produced a correct master: its measured loudness is on target
    target = dict(masters)[killed.object_id]
    out = _download_master(cluster, killed.object_id)
    assert abs(measure(out.samples, out.sample_rate).integrated_lufs - target) < 0.2
    assert abs(out.duration_s - TRACK_S) < 0.01


def test_api_killed_and_restarted_mid_run_loses_nothing(redis_cluster):
    cluster = redis_cluster
    cluster.start_api()
    cluster.start_worker(concurrency=1)
    audio_ids, masters = _submit(cluster, n_tracks=4, masters_per_track=2)
    cluster.stop_api(signal.SIGKILL)  # a crash: jobs in flight stay with the broker and the workers
    assert any(j.status in (QUEUED, PROCESSING) for j in cluster.jobs())
    cluster.start_api()
    more_ids, more_masters = _submit(cluster, n_tracks=1, masters_per_track=2)
    jobs = cluster.wait_until_done(timeout_s=180)
    assert len(jobs) == 5 + 10
    assert all(j.status == COMPLETED for j in jobs)
    for mastered_id, target in masters + more_masters:
        st = cluster.status("mastered", mastered_id)
        assert st["is_complete"] and abs(st["status_details"]["metrics"]["integrated_lufs"] - target) < 0.2
    assert cluster.bucket_keys() == _expected_keys(cluster)
    out = _download_master(cluster, masters[0][0])
    assert abs(measure(out.samples, out.sample_rate).integrated_lufs - masters[0][1]) < 0.2


def test_unreachable_broker_answers_503_and_leaves_nothing_queued(redis_cluster):
    cluster = redis_cluster
    cluster.start_api()
    cluster.start_worker(concurrency=1)
    r = cluster.upload(cluster.wav_bytes(music_like(seconds=TRACK_S)))
    audio_id = r.json()["audio_id"]
    cluster.wait_until_done(timeout_s=120)
    cluster.stop_api()
    # the same deployment, but the API's broker address answers nothing
    cluster.start_api(MASTERTAPE_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0")
    up = cluster.upload(cluster.wav_bytes(music_like(seconds=TRACK_S, seed=3)))
    assert up.status_code == 503
    error = up.json()["error"]
    assert error["code"] == "service_unavailable"
    assert "broker" in error["message"] and "try again" in error["message"]
    m = cluster.master(audio_id)
    assert m.status_code == 503 and m.json()["error"]["code"] == "service_unavailable"
    jobs = cluster.jobs()
    assert [j for j in jobs if j.status in (QUEUED, PROCESSING)] == []
    failed = [j for j in jobs if j.status == FAILED]
    assert {j.kind for j in failed} == {"import", "master"}
    with cluster.rt.db.read() as s:
        for job in failed:
            row = s.get(Asset if job.kind == "import" else Mastered, job.object_id)
            assert row.status == FAILED and "broker" in row.error_message


def test_hard_time_limit_fails_the_job_with_the_reason(redis_cluster):
    cluster = redis_cluster
    cluster.start_api()
    cluster.start_worker(concurrency=1, queues="import")
    # a mastering pool whose time limit no master of this track can meet
    cluster.env["MASTERTAPE_JOB_TIME_LIMIT_S"] = "0.2"
    cluster.start_worker(concurrency=1, queues="master")
    r = cluster.upload(cluster.wav_bytes(music_like(seconds=60.0)))
    audio_id = r.json()["audio_id"]
    mastered_id = cluster.master(audio_id).json()["id"]
    jobs = cluster.wait_until_done(timeout_s=120)
    by_kind = {j.kind: j for j in jobs}
    assert by_kind["import"].status == COMPLETED
    assert by_kind["master"].status == FAILED
    st = cluster.status("mastered", mastered_id)
    assert st["is_failed"] and "limit of 0.2 s" in st["error_message"]
    assert not any(k.startswith(f"mastered/{mastered_id}/") for k in cluster.bucket_keys())


def test_rabbitmq_broker_smoke(tmp_path, cluster_env, rabbitmq_broker):
    url, prefix = rabbitmq_broker
    cluster = Cluster(tmp_path, {**cluster_env, "MASTERTAPE_BROKER_URL": url, "MASTERTAPE_QUEUE_PREFIX": prefix})
    try:
        cluster.start_api()
        cluster.start_worker(concurrency=1)
        _, masters = _submit(cluster, n_tracks=1, masters_per_track=2)
        jobs = cluster.wait_until_done(timeout_s=120)
        assert len(jobs) == 3 and all(j.status == COMPLETED for j in jobs)
        mastered_id, target = masters[0]
        out = _download_master(cluster, mastered_id)
        assert abs(measure(out.samples, out.sample_rate).integrated_lufs - target) < 0.2
        assert cluster.bucket_keys() == _expected_keys(cluster)
    finally:
        cluster.close()


def test_stem_split_and_archive_jobs_run_on_celery_workers(redis_cluster):
    """The job kinds of stems (split) and archives (archive) have their own queues and run on workers."""
    cluster = redis_cluster
    cluster.start_api()
    cluster.start_worker(concurrency=1, queues="import,split,archive")
    up = cluster.upload(cluster.wav_bytes(music_like(seconds=TRACK_S)))
    audio_id = up.json()["audio_id"]
    cluster.wait_until_done(timeout_s=120)
    r = httpx.post(f"{cluster.api.url}/create-stems", headers=cluster.headers,
                   json={"audio_id": audio_id, "preset": "denoise"}, timeout=60)  # a DSP preset: no model needed
    assert r.status_code == 200, r.text
    split_id = r.json()["creation_id"]
    cluster.wait_until_done(timeout_s=180)
    split = cluster.status("stem_split", split_id)
    assert split["is_complete"], split
    stem_ids = [s["stem_id"] for s in split["status_details"]["stems"]]
    assert len(stem_ids) == 2
    r = httpx.post(f"{cluster.api.url}/download-archive", headers=cluster.headers,
                   json={"id": audio_id, "versions": ["original"], "stem_ids": stem_ids}, timeout=60)
    assert r.status_code == 200, r.text
    archive_id = r.json()["id"]
    jobs = cluster.wait_until_done(timeout_s=180)
    assert {j.kind for j in jobs} == {"import", "split", "archive"}
    assert all(j.status == COMPLETED for j in jobs)
    assert cluster.status("archive", archive_id)["is_complete"]
