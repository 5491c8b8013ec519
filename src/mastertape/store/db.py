"""Database engine and sessions: SQLite in WAL mode by default, any SQLAlchemy URL otherwise.

SQLite serialises writers. pysqlite's own implicit transactions start as DEFERRED, and a deferred
transaction that reads and then writes can fail at once with "database is locked" when another
writer committed in between (the busy timeout does not apply to that case). So pysqlite's
transaction handling is switched off and every transaction is begun explicitly: `read()` sessions
with BEGIN (deferred: WAL readers never block), `write()` sessions with BEGIN IMMEDIATE (the write
lock is taken first, waiting up to the busy timeout), which makes read-check-write sequences such
as claiming a job atomic. On PostgreSQL both are ordinary transactions; the guarded updates
(`UPDATE ... WHERE status = ...`) keep them correct there.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from mastertape.config import Settings
from mastertape.store.rawsql import first_row

#: how long a SQLite writer waits for the lock before "database is locked"
SQLITE_BUSY_TIMEOUT_MS = 30_000


#: background checkpoint period of a process that checkpoints off its request path
CHECKPOINT_EVERY_S = 1.0
#: scheduling priority of that checkpoint thread (higher = yields the CPU more)
CHECKPOINT_NICENESS = 10


class _WriteLock:
    """The lock every SQLite write transaction of this data dir holds: a threading.Lock for the threads of
    this process, then an exclusive flock() on a file beside the database for the other processes (API,
    workers). SQLite serialises writers itself, but a writer that finds the database locked sleeps in its
    busy handler (1, 2, 5, 10... ms between tries); a process waiting on flock() is woken the moment the
    lock is free, which keeps the API's answers fast while workers record their progress."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        try:
            if self._pid != os.getpid():  # a forked child shares the parent's open file: flock would not
                self._fd, self._pid = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()  # tell
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, *exc) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


def _configure_sqlite(engine: Engine, autocheckpoint: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # pragma: no cover - exercised by every test
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see module docstring)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe against corruption in WAL
        cur.execute("PRAGMA foreign_keys=ON")
        if not autocheckpoint:
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


class Database:
    """One engine per process, with `read()` and `write()` session scopes (commit on success).

    `background_checkpoint` (the API server): on SQLite, the WAL is copied back into the database by
    a thread of this process every second (PRAGMA wal_checkpoint(PASSIVE), which never blocks readers
    or writers) instead of by whichever commit crosses the auto-checkpoint size, so that the fsync of
    a checkpoint never lands in the latency of a request. Other processes keep auto-checkpointing.
    """

    def __init__(self, url: str, *, background_checkpoint: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": 30},
                pool_size=20,
                max_overflow=20,
                pool_pre_ping=False,
            )
            _configure_sqlite(self.engine, autocheckpoint=not background_checkpoint)
            write_engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
            write_engine = self.engine
        # SQLite lets one writer in at a time and makes the others retry with sleeps (the busy handler):
        # threads of this process queue on a lock instead, so only other processes ever hit that path
        self._write_lock = (
            _WriteLock(self.lock_path) if self.is_sqlite and self.lock_path is not None
            else threading.Lock() if self.is_sqlite else contextlib.nullcontext()
        )
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(write_engine, expire_on_commit=False)
        self._closed = threading.Event()
        if self.is_sqlite and background_checkpoint:
            threading.Thread(target=self._checkpointer, name="sqlite-checkpoint", daemon=True).start()

    def _checkpointer(self) -> None:
        # Linux schedules threads individually: this one yields the CPU to the request loop (copying WAL
        # frames into the database file can wait; answering cannot)
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CHECKPOINT_NICENESS)
        while not self._closed.wait(CHECKPOINT_EVERY_S):
            try:
                self.query_one("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception:  # noqa: BLE001 - retried next round; a failing checkpoint only grows the WAL
                pass

    @classmethod
    def from_settings(cls, settings: Settings, *, background_checkpoint: bool = False) -> Database:
        return cls(settings.resolved_database_url, background_checkpoint=background_checkpoint)

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading (no commit)."""
        with self._read() as session:
            yield session

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A session holding the write lock from its first statement; commit on success, rollback on error."""
        with self._write_lock, self._write() as session, session.begin():
            yield session

    @property
    def lock_path(self) -> Path | None:
        """A file beside the SQLite database for locks between processes (None: not a file database)."""
        parsed = make_url(self.url)
        if not self.is_sqlite or not parsed.database or parsed.database == ":memory:":
            return None
        return Path(parsed.database).with_suffix(".writelock")

    @property
    def write_lock(self):
        """The lock `write()` holds (SQLite: `_WriteLock`; other databases: a no-op context)."""
        return self._write_lock

    def write_session(self) -> Session:
        """A bare write session (BEGIN IMMEDIATE on SQLite), for callers that hold `write_lock` and
        commit themselves (store.group_commit)."""
        return self._write()

    def query_one(self, sql: str, *params) -> tuple | None:
        """First row of a read-only query on a pooled DBAPI connection: no ORM, no explicit transaction.

        For the per-request hot path (the API key lookup costs ~15 us this way against ~400 us through
        an ORM session). `sql` marks parameters with `{}`; they become the driver's placeholder style.
        """
        conn = self.engine.raw_connection()
        try:
            return first_row(conn, self.engine.dialect, sql, params)
        finally:
            conn.close()  # back to the pool (which rolls back whatever the driver began)

    def upgrade(self) -> None:
        """Apply the Alembic migrations shipped in the package up to head."""
        from mastertape.store.migrate import upgrade

        upgrade(self.engine)

    def dispose(self) -> None:
        self._closed.set()
        self.engine.dispose()
