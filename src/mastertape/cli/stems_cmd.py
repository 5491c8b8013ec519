"""`mastertape stems IN -o OUTDIR --preset 2_tracks`: split a file into stems, one file per stem.

Only typer is imported at load time; numpy, the codecs and the separation engine (torch for the model
presets) are imported inside the command.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mastertape.cli import app
from mastertape.errors import InvalidSetting, MastertapeError

STEM_FORMATS = ("wav", "flac")
BIT_DEPTHS = (16, 24, 32)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, str, int)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    return str(value)


@app.command("stems")
def stems_command(
    input_path: Annotated[
        Path, typer.Argument(metavar="IN", help="Audio file to split (any supported format).")
    ],
    output_dir: Annotated[
        Path,
        typer.Option("--output", "-o", metavar="OUTDIR", help="Folder for the stems (created if missing)."),
    ],
    preset: Annotated[
        str, typer.Option(help="Stem preset, e.g. 2_tracks, acapella, 4_tracks, denoise.")
    ] = "2_tracks",
    fmt: Annotated[str, typer.Option("--format", help="wav or flac.")] = "wav",
    bit_depth: Annotated[int, typer.Option(help="16 or 24 (PCM) or 32 (float, WAV only).")] = 24,
    with_complement: Annotated[
        bool,
        typer.Option(help="For acapella/instrumental, also write the other stem (the set then sums to IN)."),
    ] = False,
    threads: Annotated[int | None, typer.Option(help="Threads for the model (default: torch's).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the stem report as JSON.")] = False,
) -> None:
    """Split IN into the stems of PRESET and write OUTDIR/<IN name>_<stem>.<format>."""
    if fmt not in STEM_FORMATS:
        raise InvalidSetting(
            f"--format must be one of {', '.join(STEM_FORMATS)}, got {fmt!r}", field="format"
        )
    if bit_depth not in BIT_DEPTHS or (fmt == "flac" and bit_depth == 32):
        raise InvalidSetting(
            f"--bit-depth must be 16 or 24 (or 32 for WAV), got {bit_depth}", field="bit_depth"
        )
    if not input_path.is_file():
        raise InvalidSetting(f"no such file: {input_path}", field="input")

    from mastertape.stems import StemSettings, split

    settings = StemSettings(
        preset=preset, with_complement=with_complement, threads=threads
    )  # validates first

    from mastertape.audio import decode, encode

    audio = decode(input_path)
    stems, report = split(audio, settings)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidSetting(f"cannot create {output_dir}: {exc.strerror or exc}", field="output") from None
    written: dict[str, str] = {}
    for name, stem in stems.items():
        dest = output_dir / f"{input_path.stem}_{name}.{fmt}"
        if dest.resolve() == input_path.resolve():
            raise InvalidSetting(f"refusing to overwrite the input file {input_path}", field="output")
        try:
            encode(stem, dest, fmt, bit_depth=bit_depth)
        except MastertapeError:
            raise
        except OSError as exc:
            from mastertape.errors import EncodeError

            raise EncodeError(f"cannot write {dest}: {exc.strerror or exc}", field="output") from None
        written[name] = str(dest)

    if json_out:
        data = {
            "input": str(input_path),
            "output_dir": str(output_dir),
            "preset": report.preset,
            "stems": written,
            "backends": report.backends,
            "notes": report.notes,
            "timings_s": report.timings_s,
            "metrics": report.metrics,
            "elapsed_s": report.elapsed_s,
        }
        sys.stdout.write(json.dumps(_jsonable(data), indent=2, allow_nan=False) + "\n")
        return
    print(
        f"{report.preset}: {audio.duration_s:.1f} s split by {' + '.join(report.backends)} "
        f"in {report.elapsed_s:.1f} s "
        f"(stems sum to the input within {report.metrics['sum_residual_db']:.0f} dB)"
    )
    for name, path in written.items():
        print(f"  {name:<16} {report.metrics['rms_dbfs'][name]:7.1f} dBFS RMS  {path}")
