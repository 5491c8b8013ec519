"""Run the `mastertape` console entry point in-process, as a shell would."""

from __future__ import annotations

import sys

import pytest

from mastertape.cli import main


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run `mastertape ARGS` as the console entry point does; returns (exit code, stdout, stderr)."""
    old_argv = sys.argv
    sys.argv = ["mastertape", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old_argv
    out, err = capsys.readouterr()
    return code, out, err
