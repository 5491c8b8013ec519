"""Hand-written SQL on a session's DBAPI connection, for the API's per-request hot path.

SQLAlchemy's Core costs about 15 us per statement on top of SQLite's own 1-5 us (execution context,
events, result objects), and a POST /master-audio runs six statements: on a loaded server that was a
third of the request. These helpers send the SQL straight to the driver inside the session's current
transaction (same connection, so the session's rows and savepoints apply), with values converted by
the columns' own SQLAlchemy types (`TypeEngine.bind_processor`), so the stored form is the ORM's
(UTC timestamps, JSON). SQL is written with `{}` for each parameter; it becomes the driver's style.
Only for simple, portable statements (no dialect-specific syntax).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence

from sqlalchemy import JSON, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def to_driver_sql(sql: str, dialect: Dialect, n_params: int) -> str:
    """`sql` with its `{}` marks in the dialect's positional parameter style."""
    style = dialect.paramstyle
    if style in _MARKS:
        return sql.format(*([_MARKS[style]] * n_params))
    if style == "numeric":
        return sql.format(*(f":{i + 1}" for i in range(n_params)))
    raise ValueError(f"parameter style {style!r} is not positional")


def _cursor(session: Session):
    return session.connection().connection.cursor()


def first_row(dbapi_connection, dialect: Dialect, sql: str, params: Sequence) -> tuple | None:
    """First row of `sql` (`{}` marks) on a DBAPI connection."""
    cur = dbapi_connection.cursor()
    try:
        cur.execute(to_driver_sql(sql, dialect, len(params)), params)
        return cur.fetchone()
    finally:
        cur.close()


def fetch_one(session: Session, sql: str, *params) -> tuple | None:
    """First row of `sql` run in the session's transaction (pending ORM objects are flushed first)."""
    session.flush()
    return first_row(session.connection().connection, session.get_bind().dialect, sql, params)


def _converter(column, dialect: Dialect):
    """The column type's bind processor; JSON as text where the dialect leaves it to the driver's adapters
    (psycopg), which only SQLAlchemy's own execution path sets up."""
    processor = column.type.bind_processor(dialect)
    if processor is None and isinstance(column.type, JSON):
        dumps = getattr(dialect, "_json_serializer", None) or json.dumps
        return lambda value: None if value is None else dumps(value)
    return processor


class RowInsert:
    """INSERT of one row into `table`: column defaults applied as the ORM would, values converted by the
    column types. The statement and converters are prepared once per dialect and column set."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._plans: dict[tuple[str, tuple[str, ...]], tuple[str, list]] = {}

    def _plan(self, dialect: Dialect, names: Sequence[str]) -> tuple[str, list]:
        key = (dialect.name, tuple(names))
        plan = self._plans.get(key)
        if plan is None:
            cols = [self.table.c[name] for name in names]
            marks = ", ".join(["{}"] * len(cols))
            sql = f"INSERT INTO {self.table.name} ({', '.join(c.name for c in cols)}) VALUES ({marks})"
            plan = (to_driver_sql(sql, dialect, len(cols)), [_converter(c, dialect) for c in cols])
            self._plans[key] = plan
        return plan

    def __call__(self, session: Session, **values) -> None:
        for column in self.table.columns:
            if column.name not in values and column.default is not None:
                default = column.default
                values[column.name] = default.arg(None) if default.is_callable else default.arg
        session.flush()
        dialect = session.get_bind().dialect
        sql, processors = self._plan(dialect, list(values))
        args = [p(v) if p is not None else v for p, v in zip(processors, values.values(), strict=True)]
        cur = _cursor(session)
        try:
            cur.execute(sql, args)
        finally:
            cur.close()


@functools.cache
def _row_insert(table: Table) -> RowInsert:
    return RowInsert(table)


def insert_row(session: Session, table: Table, **values) -> None:
    """INSERT one row into `table` in the session's transaction (see RowInsert)."""
    _row_insert(table)(session, **values)
