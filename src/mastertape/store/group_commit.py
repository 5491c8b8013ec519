"""Group commit for the API's hot write path on SQLite: many requests, one transaction, one commit.

On SQLite every commit appends the pages it changed to the WAL, and the requests of POST /master-audio
all change the same few pages (the tail of each table and index): committing them one by one cost about
half of the request's CPU time (measured: ~1.1 ms per request, 900 requests/s at 32 clients). Here the
requests that arrive within `window_s` of each other share one write transaction:

- `async with batcher.write() as session:` runs the request's statements at once, inside a SAVEPOINT of
  the shared transaction (a request that raises rolls back only its own statements, and sees the others'
  rows as it would after their commits: the requests are serialised, not interleaved, since none awaits
  inside the block), then waits for the shared commit; a failure that cannot be undone alone (a failed
  ORM flush) fails the whole batch;
- the transaction commits `window_s` after it opened, or as soon as `max_requests` joined; a failed
  commit raises in every request of the batch (nothing of it was stored, nothing was answered as done).

Only for code running on the event loop of a process that uses SQLite. The database's write lock
(`Database.write_lock`) is held from the batch's first statement to its commit, so the threads of the
same process queue behind it as behind any writer; other processes wait in SQLite's busy handler.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.orm import Session

from mastertape.store.db import Database

#: how long the first request of a batch waits for others to join it
WINDOW_S = 0.001
MAX_REQUESTS = 128


class _Batch:
    def __init__(self, db: Database, loop: asyncio.AbstractEventLoop) -> None:
        self.session: Session = db.write_session()
        self.done: asyncio.Future = loop.create_future()
        self.requests = 0
        self.poisoned = False  # a request's failure could not be undone alone: roll the batch back


class GroupCommit:
    """Batches the write transactions of one process's event loop (see the module docstring)."""

    def __init__(self, db: Database, window_s: float = WINDOW_S, max_requests: int = MAX_REQUESTS) -> None:
        if not db.is_sqlite:
            raise ValueError("group commit is for SQLite (elsewhere, concurrent transactions commit on their own)")
        self.db = db
        self.window_s = window_s
        self.max_requests = max_requests
        self._batch: _Batch | None = None

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[Session]:
        batch = self._batch if self._batch is not None else self._open()
        session = batch.session
        # a plain SQL savepoint: SQLAlchemy's begin_nested() cost ~110 us per request, SQLite's ~5 us
        cur = session.connection().connection.cursor()
        try:
            cur.execute("SAVEPOINT mt_request")
            try:
                yield session
                session.flush()
            except BaseException:
                try:
                    if not session.is_active:  # a failed flush: the session's own state is unusable
                        raise RuntimeError("session inactive")
                    cur.execute("ROLLBACK TO mt_request")
                    cur.execute("RELEASE mt_request")
                    session.expunge_all()  # ORM objects of the rolled-back part must not linger
                except Exception:  # noqa: BLE001 - then nothing of the batch may be committed
                    batch.poisoned = True
                raise
            cur.execute("RELEASE mt_request")
        finally:
            cur.close()
        batch.requests += 1
        if batch.requests >= self.max_requests:
            self._flush(batch)
        await asyncio.shield(batch.done)

    def _open(self) -> _Batch:
        loop = asyncio.get_running_loop()
        self.db.write_lock.acquire()
        try:
            batch = _Batch(self.db, loop)
        except BaseException:
            self.db.write_lock.release()
            raise
        self._batch = batch
        loop.call_later(self.window_s, self._flush, batch)
        return batch

    def _flush(self, batch: _Batch) -> None:
        if self._batch is not batch:
            return  # already committed (full before its window ended)
        self._batch = None
        try:
            if batch.poisoned:
                raise RuntimeError("a request of this batch failed in a way that left the transaction unusable")
            if batch.requests:
                batch.session.commit()
            else:
                batch.session.rollback()
        except Exception as exc:  # noqa: BLE001 - handed to every request of the batch
            with contextlib.suppress(Exception):
                batch.session.rollback()
            batch.done.set_exception(exc)
        else:
            batch.done.set_result(None)
        finally:
            batch.session.close()
            self.db.write_lock.release()
