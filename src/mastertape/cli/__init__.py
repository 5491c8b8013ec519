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
    """Console entry point: domain errors and usage errors become a one-line message and exit code 2."""
    try:  # typer >= 0.20 vendors click as typer._click; its usage errors are that module's classes
        from typer._click import exceptions as click_exc
    except ImportError:  # pragma: no cover - older typer on plain click
        from click import exceptions as click_exc

    try:
        code = app(standalone_mode=False)
    except click_exc.NoArgsIsHelpError as exc:
        print(exc.format_message(), file=sys.stderr)
        sys.exit(2)
    except click_exc.ClickException as exc:  # unknown command or option, bad value: one line, not a box
        print(f"error: {exc.format_message()}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(1)
    except MastertapeError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
