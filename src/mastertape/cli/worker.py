"""`mastertape worker`: a Celery worker of the distributed deployment (needs MASTERTAPE_BROKER_URL).

Run as many as you like, on as many machines as you like, each on the queues it should serve:
`mastertape worker --queues restore` for a restoration pool, `--queues import,master` for mastering.
`mastertape db upgrade` (cli/server.py) applies the migrations once before the first start.
"""

from __future__ import annotations

import os
import socket
from typing import Annotated

import typer

from mastertape.cli import app
from mastertape.cli.server import DataDirOption, load_settings

ALL_KINDS = "import,restore,master,split,archive"


def parse_kinds(text: str) -> list[str]:
    from mastertape.errors import InvalidSetting
    from mastertape.jobs.celery_app import KINDS

    kinds = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise InvalidSetting(
            f"unknown queue {', '.join(unknown) or '(none)'}; use a comma-separated list of {', '.join(KINDS)}",
            field="queues",
        )
    return kinds


@app.command()
def worker(
    queues: Annotated[
        str,
        typer.Option(help="Job kinds this worker takes, comma-separated (import, restore, master, split, archive)."),
    ] = ALL_KINDS,
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs run at once, one process each (default: number of cores).")
    ] = None,
    data_dir: DataDirOption = None,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
) -> None:
    """Run a Celery worker for the distributed deployment (API: `mastertape serve` with the same settings)."""
    import logging

    from celery import signals

    from mastertape.errors import InvalidSetting
    from mastertape.jobs.celery_app import Reaper, make_celery, preload, queue_name, warm_pool_process
    from mastertape.jobs.celery_queue import broker_display

    settings = load_settings(data_dir)
    if not settings.broker_url:
        raise InvalidSetting("set MASTERTAPE_BROKER_URL (redis://... or amqp://...) to run a worker")
    kinds = parse_kinds(queues)
    n = concurrency if concurrency is not None else settings.workers
    if n < 1:
        raise InvalidSetting("--concurrency must be at least 1", field="concurrency")
    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(processName)s %(name)s %(levelname)s %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    preload()
    celery_app = make_celery(settings)
    reaper = Reaper(celery_app, settings, kinds=tuple(kinds))

    @signals.worker_ready.connect(weak=False)
    def _start_reaper(**_kwargs) -> None:
        reaper.start()

    @signals.worker_process_init.connect(weak=False)
    def _warm(**_kwargs) -> None:
        warm_pool_process(settings)

    @signals.worker_shutting_down.connect(weak=False)
    def _stop_reaper(**_kwargs) -> None:
        reaper.stop()

    names = [queue_name(settings, k) for k in kinds]
    typer.echo(
        f"mastertape worker: {n} process{'es' if n != 1 else ''} on {', '.join(names)} "
        f"via {broker_display(settings.broker_url)}",
        err=True,
    )
    celery_app.worker_main(
        [
            "worker",
            f"--queues={','.join(names)}",
            f"--concurrency={n}",
            f"--loglevel={log_level.upper()}",
            f"--hostname=mastertape-{os.getpid()}@{socket.gethostname()}",
            "--without-gossip",
            "--without-mingle",
        ]
    )
