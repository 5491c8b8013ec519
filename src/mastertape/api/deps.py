"""Injected dependencies: settings, runtime (database + blobs), job queue, DB session and the current key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

from mastertape.config import Settings
from mastertape.errors import Unauthorized
from mastertape.jobs.queue import JobQueue
from mastertape.jobs.runtime import Runtime
from mastertape.store import keys

_api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="An API key made by `mastertape keys create` (or printed by "
    "`mastertape serve` on first start).",
)


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.rt


async def get_settings(request: Request) -> Settings:
    return request.app.state.rt.settings


async def get_queue(request: Request) -> JobQueue:
    return request.app.state.queue


def read_session(rt: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
    """A read-only session for the request (writes go through `rt.db.write()` in the route itself)."""
    with rt.db.read() as session:
        yield session


async def current_owner(
    rt: Annotated[Runtime, Depends(get_runtime)], api_key: Annotated[str | None, Depends(_api_key_header)]
) -> str:
    """The id of the API key making the request; 401 when it is missing, unknown or revoked.

    Runs on the event loop: one indexed SELECT of some 15 us (`keys.lookup_owner`), cheaper than a
    hand-off to a thread on every request."""
    if not api_key:
        raise Unauthorized("missing API key: send it in the X-API-Key header")
    owner = keys.lookup_owner(rt.db, api_key)
    if owner is None:
        raise Unauthorized("invalid or revoked API key")
    return owner


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
QueueDep = Annotated[JobQueue, Depends(get_queue)]
ReadSession = Annotated[Session, Depends(read_session)]
Owner = Annotated[str, Depends(current_owner)]
