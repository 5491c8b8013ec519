"""The `mastertape` command line. Each verb group lives in its own module and registers on `app`.

Heavy imports (numpy, scipy, FastAPI, SQLAlchemy) happen inside the commands, so that
`mastertape master` does not pay for the server's imports.
"""

from __future__ import annotations

import importlib
import sys

import typer

from mastertape.errors import MastertapeError

app = typer.Typer(
    name="mastertape",
    help="Audio mastering and restoration: library, CLI and HTTP service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# modules that register commands on `app`; a module missing (not yet written) is skipped
_COMMAND_MODULES = ("engine", "restore", "server", "keys", "remote", "worker", "stems_cmd")

for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(f"mastertape.cli.{_name}")
    except ModuleNotFoundError as exc:  # pragma: no cover - only while a module is absent
        if exc.name != f"mastertape.cli.{_name}":
            raise


def main() -> None:
    """Console entry point: domain errors become a one-line message and exit code 2."""
    try:
        app()
    except MastertapeError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(2)
