"""Owner-scoped lookups shared by the routes. Every read of a user object filters by its owner, so
another key's id is indistinguishable from an unknown one (404).

The lookups on the per-request path of POST /master-audio (`require_columns`, `pending_job_id`,
`check_in_flight`) are plain SQL on the session's connection (store.rawsql): an ORM `get`
costs 0.2-0.4 ms, a Core statement ~15 us, the query itself 1-5 us.
"""

from __future__ import annotations

import collections
import functools

from sqlalchemy.orm import Session

from mastertape.errors import InvalidSetting, NotFound, TooManyJobs
from mastertape.store import rawsql
from mastertape.store.models import ARTIFACT_MODELS, PROCESSING, QUEUED

#: object types of the API that this server stores (`archive`: a zip made by POST /download-archive)
OBJECT_TYPES = ("audio", "upscaled", "mastered", "stem_split", "stem", "archive")
_NOUNS = {
    "audio": "audio asset",
    "upscaled": "restored version",
    "mastered": "master",
    "stem_split": "stem split",
    "stem": "stem",
    "archive": "archive",
}


def check_object_type(object_type: str) -> str:
    if object_type not in OBJECT_TYPES:
        raise InvalidSetting(
            f"unknown object type {object_type!r}; use one of {', '.join(OBJECT_TYPES)}", field="object_type"
        )
    return object_type


def require(session: Session, owner: str, object_type: str, object_id: str, field: str | None = None):
    """Like `find`, raising 404 (naming `field`) or 422 when the id is one of the owner's other objects."""
    row = find(session, owner, object_type, object_id)
    if row is not None:
        return row
    if field is not None:
        for other in ARTIFACT_MODELS:
            if other != object_type and find(session, owner, other, object_id) is not None:
                raise InvalidSetting(
                    f"{field} {object_id} is the id of a {_NOUNS[other]}, not of a "
                    f"{_NOUNS.get(object_type, object_type)}",
                    field=field,
                )
    noun = _NOUNS.get(object_type, object_type.replace("_", " "))
    raise NotFound(f"{noun} {object_id} not found", field=field)


def find(session: Session, owner: str, object_type: str, object_id: str):
    """The owner's artifact or None."""
    model = ARTIFACT_MODELS.get(object_type)
    if model is None:
        return None
    row = session.get(model, object_id)
    return row if row is not None and row.owner_id == owner else None


def require_columns(
    session: Session, owner: str, object_type: str, object_id: str, columns: tuple[str, ...], field: str | None = None
):
    """The owner's object as a row of `columns` (attribute access by name), or the errors of `require`."""
    sql, row_type = _owned_query(object_type, columns)
    found = rawsql.fetch_one(session, sql, object_id, owner)
    if found is None:
        return require(session, owner, object_type, object_id, field=field)
    return row_type(*found)


@functools.lru_cache(maxsize=32)
def _owned_query(object_type: str, columns: tuple[str, ...]) -> tuple[str, type]:
    """(SQL, row type) of `require_columns`, made once per object type and column set."""
    table = ARTIFACT_MODELS[object_type].__table__
    names = ", ".join(table.c[c].name for c in columns)  # unknown columns fail here
    return (f"SELECT {names} FROM {table.name} WHERE id = {{}} AND owner_id = {{}}",
            collections.namedtuple("Row", columns))


_ACTIVE = f"status IN ('{QUEUED}', '{PROCESSING}')"
_PENDING_JOB_SQL = f"SELECT id FROM jobs WHERE object_id = {{}} AND {_ACTIVE} ORDER BY created_at DESC LIMIT 1"
_IN_FLIGHT_SQL = f"SELECT count(*) FROM (SELECT owner_id FROM jobs WHERE owner_id = {{}} AND {_ACTIVE} LIMIT {{}}) AS n"


def pending_job_id(session: Session, object_id: str, status: str | None = None) -> str | None:
    """The id of the job still producing this artifact (queued or processing), or None when it is done.
    Pass the artifact's `status` when known: a completed or failed artifact needs no query."""
    if status is not None and status not in (QUEUED, PROCESSING):
        return None
    found = rawsql.fetch_one(session, _PENDING_JOB_SQL, object_id)
    return found[0] if found is not None else None


def check_in_flight(session: Session, owner: str, new_jobs: int, limit: int) -> None:
    """429 when this key already has `limit` jobs queued or running (counts at most limit + 1 rows; the
    inner select reads only the index on (owner_id, status)). Jobs added in this transaction count."""
    (count,) = rawsql.fetch_one(session, _IN_FLIGHT_SQL, owner, limit + 1)
    if count + new_jobs > limit:
        raise TooManyJobs(
            f"this key already has {count} jobs queued or running (limit {limit}); "
            f"retry when some have finished"
        )
