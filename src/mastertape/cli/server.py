"""`mastertape serve` (API + embedded worker pool) and `mastertape db upgrade`.

Every command touching stored data takes `--data-dir` (default: MASTERTAPE_DATA_DIR, else
./mastertape-data), so `keys create` and `serve` agree on where keys live.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mastertape.cli import app

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder of the database and files (default: MASTERTAPE_DATA_DIR or ./mastertape-data).",
    ),
]


def load_settings(data_dir: Path | None = None, **overrides):
    """Settings from the environment, with the command-line options that were given on top."""
    from mastertape.config import Settings

    given = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        given["data_dir"] = data_dir
    return Settings(**given)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    data_dir: DataDirOption = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes for jobs (default: number of cores; 0 = API only).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the HTTP API with its pool of worker processes (embedded mode)."""
    import logging

    import uvicorn

    from mastertape.api.app import create_app
    from mastertape.jobs.embedded import EmbeddedRunner
    from mastertape.jobs.runtime import Runtime
    from mastertape.store.keys import ensure_initial_key

    settings = load_settings(data_dir, host=host, port=port, workers=workers)
    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    rt = Runtime.open(settings, migrate=settings.database_url is None, api=True)
    new_key = ensure_initial_key(rt.db, settings.api_key)
    if new_key is not None:
        typer.echo("Created the first API key (shown only this once; `mastertape keys create` makes more):")
        typer.echo(new_key)
    runner = EmbeddedRunner(settings) if not settings.broker_url else None
    application = create_app(settings, runtime=rt, runner=runner)
    n = runner.n_workers if runner is not None else 0
    typer.echo(
        f"mastertape {settings.data_dir.resolve()} on http://{settings.host}:{settings.port} "
        f"({n} worker process{'es' if n != 1 else ''}); API docs at /docs",
        err=True,
    )
    if runner is not None:
        recovered = runner.start()  # before listening: a second server on the same data dir stops here
        if recovered.get("requeued") or recovered.get("failed"):
            typer.echo(
                f"interrupted jobs: {recovered['requeued']} re-queued, {recovered['failed']} failed", err=True
            )
    try:
        uvicorn.run(
            application, host=settings.host, port=settings.port, log_level=log_level, access_log=False
        )
    finally:
        if runner is not None:
            runner.stop()


db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDirOption = None) -> None:
    """Apply the database migrations (needed once per release on PostgreSQL; automatic on SQLite)."""
    from mastertape.store.db import Database
    from mastertape.store.migrate import current_revision

    settings = load_settings(data_dir)
    db = Database.from_settings(settings)
    db.upgrade()
    typer.echo(f"database at revision {current_revision(db.engine)}")
