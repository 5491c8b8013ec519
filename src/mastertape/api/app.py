"""`create_app(settings) -> FastAPI`: the Neural Analog compatible API, OpenAPI at /docs and /openapi.json.

The app gets everything it needs from `settings` (read once by the entry point) or from the caller:
a `Runtime` (database + blobs), a job queue, and optionally the embedded runner whose worker processes
it starts and stops with its lifespan (`mastertape serve`). On the embedded default database the
migrations are applied at start.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from mastertape import __version__
from mastertape.api import errors
from mastertape.api.limits import BodySizeLimit
from mastertape.api.routes import catalog, download, processing, status, uploads
from mastertape.config import Settings
from mastertape.jobs.queue import JobQueue, make_queue
from mastertape.jobs.runtime import Runtime
from mastertape.store import signing
from mastertape.store.group_commit import GroupCommit

log = logging.getLogger("mastertape.api")

#: routers added by other features when their module exists (each exposes `router`)
OPTIONAL_ROUTERS = (
    "mastertape.api.routes.analysis",
    "mastertape.api.routes.stems",
    "mastertape.api.routes.archive",
    "mastertape.api.routes.web",
)
WEB_STATIC = Path(__file__).resolve().parent.parent / "web" / "static"

DESCRIPTION = """Self-hosted audio mastering and restoration, compatible with the Neural Analog mastering API.

Send your key in the `X-API-Key` header. Flow: `POST /from-file` -> poll `GET /status/audio/{audio_id}` ->
`POST /master-audio` -> poll `GET /status/mastered/{id}` -> `GET /download/mastered/{id}` (307 to the file).
Errors are `{"error": {"code", "message", "field"?}}`."""


def _genres() -> dict[str, str]:
    from mastertape.mastering import GENRES

    return {name: getattr(profile, "description", "") for name, profile in GENRES.items()}


def create_app(
    settings: Settings, *, runtime: Runtime | None = None, queue: JobQueue | None = None, runner=None
) -> FastAPI:
    """Build the app. `runner` (an `EmbeddedRunner`) is started and stopped with the app's lifespan."""
    rt = runtime or Runtime.open(settings, migrate=settings.database_url is None, api=True)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        gc.collect()
        gc.freeze()  # start-up objects (modules, routes, models) leave the collector's generations
        if runner is not None:
            runner.start()
        try:
            yield
        finally:
            if runner is not None:
                runner.stop()

    app = FastAPI(title="mastertape", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.rt = rt
    app.state.group_commit = GroupCommit(rt.db) if rt.db.is_sqlite else None
    app.state.queue = queue or (runner.queue if runner is not None else make_queue(settings))
    app.state.secret = signing.load_secret(settings)
    app.state.genres = _genres()
    errors.install(app)
    app.add_middleware(BodySizeLimit, limit=settings.max_json_body_bytes)
    for module in (uploads, processing, status, download, catalog):
        app.include_router(module.router)
    included = set()
    for name in OPTIONAL_ROUTERS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        app.include_router(module.router)
        included.add(name)
    if "mastertape.api.routes.web" not in included and (WEB_STATIC / "index.html").is_file():
        app.mount("/static", StaticFiles(directory=WEB_STATIC), name="static")

        @app.get("/", include_in_schema=False)
        def index() -> FileResponse:
            return FileResponse(WEB_STATIC / "index.html", media_type="text/html")

    return app
