"""Alembic environment: always run with a connection handed in by `mastertape.store.migrate`."""

from alembic import context

from mastertape.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by running the alembic CLI by hand
    raise RuntimeError("run migrations through `mastertape db upgrade` (mastertape.store.migrate.upgrade)")

# render_as_batch: ALTERs on SQLite go through table copies, so later migrations stay portable
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
