"""`mastertape remote master IN -o OUT --url URL --key KEY`: master a file on a mastertape server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mastertape.cli import app

remote_app = typer.Typer(
    help="Use a mastertape server (or any Neural Analog compatible API).", no_args_is_help=True
)
app.add_typer(remote_app, name="remote")

_FORMATS = {".wav": None, ".flac": "flac", ".mp3": "mp3", ".m4a": "aac", ".aac": "aac", ".opus": "opus"}


@remote_app.command("master")
def remote_master(
    input_path: Annotated[
        Path, typer.Argument(metavar="IN", exists=True, dir_okay=False, help="Audio file.")
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="OUT",
            help="Where to write the master (.wav, or .flac/.mp3/.m4a/.opus).",
        ),
    ],
    url: Annotated[str, typer.Option(help="Base URL of the server, e.g. http://127.0.0.1:8000.")],
    key: Annotated[str, typer.Option(help="API key.")],
    target_lufs: Annotated[float, typer.Option(help="Integrated loudness target (LUFS).")] = -14.0,
    genre: Annotated[str, typer.Option(help="Mastering profile (GET /genres).")] = "modern",
    bit_depth: Annotated[int, typer.Option(help="16, 24 or 32 (float) for the WAV master.")] = 24,
    preset: Annotated[
        str | None, typer.Option(help="Restoration preset to run first (GET /presets).")
    ] = None,
    restore: Annotated[
        bool, typer.Option("--restore/--no-restore", help="Restore before mastering (use_restored).")
    ] = True,
    poll: Annotated[float, typer.Option(help="Seconds between status polls.")] = 1.0,
) -> None:
    """Upload IN, master it on the server, wait (showing progress) and download the result to OUT."""
    import httpx

    from mastertape.client import ApiError, Client, JobFailed
    from mastertape.errors import MastertapeError

    suffix = output.suffix.lower()
    if suffix not in _FORMATS:
        raise MastertapeError(f"OUT must end in {', '.join(_FORMATS)}, not {suffix or 'nothing'}")
    fields: dict = {
        "target_lufs": target_lufs,
        "genre": genre,
        "bit_depth": bit_depth,
        "use_restored": restore,
    }
    if preset:
        fields["preset"] = preset
    last = [""]

    def show(st: dict) -> None:
        d = st.get("status_details") or {}
        percent = 100 * float(d.get("progress") or 0)
        line = f"{st['object_type']}: {st['status']} {d.get('stage', '')} {percent:.0f}%"
        if line != last[0]:
            last[0] = line
            print(line, file=sys.stderr)

    try:
        with Client(url, key) as client:
            st = client.master_file(
                input_path, output, progress=show, poll_s=poll, format=_FORMATS[suffix], **fields
            )
    except ApiError as exc:
        where = f" ({exc.field})" if exc.field else ""
        raise MastertapeError(f"server refused the request{where}: {exc.message}") from None
    except JobFailed as exc:
        raise MastertapeError(f"mastering failed: {exc}") from None
    except httpx.HTTPError as exc:
        raise MastertapeError(f"cannot talk to {url}: {exc}") from None
    m = (st.get("status_details") or {}).get("metrics") or {}
    typer.echo(
        f"wrote {output}: {m.get('integrated_lufs')} LUFS, true peak {m.get('true_peak_dbtp')} dBTP, "
        f"LRA {m.get('loudness_range_lu')} LU"
    )
