"""`mastertape keys create|list|revoke`: API keys of the server whose data dir is given."""

from __future__ import annotations

from typing import Annotated

import typer

from mastertape.cli import app
from mastertape.cli.server import DataDirOption, load_settings

keys_app = typer.Typer(
    help="API keys (stored hashed; a key is shown only when created).", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")


def _db(data_dir):
    from mastertape.store.db import Database

    settings = load_settings(data_dir)
    db = Database.from_settings(settings)
    if settings.database_url is None:
        db.upgrade()
    return db


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="What the key is for (shown by `keys list`).")],
    data_dir: DataDirOption = None,
) -> None:
    """Create a key; the key itself is the last line of the output."""
    from mastertape.store.keys import create_key

    row, plaintext = create_key(_db(data_dir), name)
    typer.echo(f"created key {row.id} ({row.name}); store it now, it cannot be shown again:")
    typer.echo(plaintext)


@keys_app.command("list")
def list_(data_dir: DataDirOption = None) -> None:
    """List keys: id, name, prefix, created, revoked."""
    from mastertape.store.keys import list_keys

    rows = list_keys(_db(data_dir))
    if not rows:
        typer.echo("no keys yet: `mastertape keys create --name NAME` (or start `mastertape serve`)")
        return
    typer.echo(f"{'id':36}  {'prefix':12}  {'created (UTC)':19}  {'revoked (UTC)':19}  name")
    for r in rows:
        revoked = r.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if r.revoked_at else "-"
        typer.echo(
            f"{r.id:36}  {r.prefix + '...':12}  {r.created_at.strftime('%Y-%m-%d %H:%M:%S'):19}  "
            f"{revoked:19}  {r.name}"
        )


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[
        str, typer.Argument(metavar="KEY_ID", help="Key id (or a unique start of it, or its prefix).")
    ],
    data_dir: DataDirOption = None,
) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from mastertape.store.keys import revoke_key

    row = revoke_key(_db(data_dir), key_id)
    typer.echo(f"revoked key {row.id} ({row.name})")
