"""The Celery wiring, without a broker: queues per kind, delivery guarantees per task, backoff bounds."""

from __future__ import annotations

import pytest

from mastertape.config import Settings
from mastertape.errors import InvalidSetting

celery_app = pytest.importorskip("mastertape.jobs.celery_app", reason="the distributed extra is not installed")


def test_each_kind_has_its_own_queue_and_late_acknowledgement(tmp_path):
    settings = Settings(
        data_dir=tmp_path, broker_url="redis://127.0.0.1:1/0", queue_prefix="pfx", job_time_limit_s=90.0
    )
    app = celery_app.make_celery(settings)
    app.finalize()
    queues = {q.name: q for q in app.conf.task_queues}
    kinds = ("import", "restore", "master", "split", "archive")
    assert set(queues) == {f"pfx.{kind}" for kind in kinds}
    for kind in kinds:
        task = app.tasks[f"mastertape.job.{kind}"]
        queue = app.conf.task_routes[task.name]["queue"]
        assert queue == f"pfx.{kind}"
        assert queues[queue].routing_key == queue  # a kind's messages reach only its own queue
        assert task.acks_late and task.reject_on_worker_lost
        assert task.time_limit == pytest.approx(90.0 + celery_app.TIME_LIMIT_GRACE_S)
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.broker_transport_options["global_keyprefix"] == "pfx:"


def test_backoff_grows_exponentially_with_bounded_jitter():
    for retries in range(12):
        step = min(celery_app.BACKOFF_CAP_S, 2.0**retries)
        samples = [celery_app.backoff_s(retries) for _ in range(200)]
        assert all(step / 2 <= s <= step for s in samples)
        if step >= 4:
            assert max(samples) - min(samples) > step / 8  # jittered, so retries of many jobs spread out


def test_worker_queue_option_is_checked():
    from mastertape.cli.worker import parse_kinds

    assert parse_kinds("import, master") == ["import", "master"]
    with pytest.raises(InvalidSetting, match="unknown queue stems"):
        parse_kinds("import,stems")
