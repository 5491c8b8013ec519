"""`mastertape master`, `mastertape analyze` and `mastertape genres`: the engine on the command line.

The whole `mastertape master` process is benchmarked against ffmpeg, so this module imports only
typer at load time; numpy, the codecs, the meter and the chain are imported inside the commands.
Bad input ends with a one-line message and a non-zero exit: domain errors are `MastertapeError`s
(printed by `mastertape.cli.main`), and command-line usage errors of these commands are turned into
`InvalidSetting` by `_OneLineErrors` so that they print the same way.
"""

from __future__ import annotations

import math
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from mastertape.cli import app
from mastertape.errors import InvalidSetting, MastertapeError, UnknownFormat

try:  # typer >= 0.20 vendors click as typer._click
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - older typer uses click itself
    from click.exceptions import UsageError

if TYPE_CHECKING:
    from mastertape.audio import Audio

#: output container chosen by the extension of OUT
OUTPUT_FORMATS = {".wav": "wav", ".flac": "flac"}
#: lossy preview format -> file extension of the preview written next to OUT
PREVIEW_EXTENSIONS = {"aac": ".m4a", "mp3": ".mp3", "opus": ".opus"}
BIT_DEPTHS = (16, 24, 32)
#: files longer than this get a progress bar (on a terminal, on stderr)
PROGRESS_MIN_DURATION_S = 60.0


class PreviewFormat(StrEnum):
    aac = "aac"
    mp3 = "mp3"
    opus = "opus"


class _OneLineErrors(TyperCommand):
    """A command whose usage errors (bad option value, missing argument) become one-line `InvalidSetting`s.

    Typer would otherwise print a multi-line usage panel; `mastertape.cli.main` prints a
    `MastertapeError` as `error: <message>` on one line and exits with code 2 (click's usage code too).
    """

    def make_context(self, info_name, args, parent=None, **extra):  # type: ignore[override]
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except UsageError as exc:
            message = " ".join(exc.format_message().split())
            raise InvalidSetting(f"{info_name}: {message}") from None


# --- small parsers and helpers (pure, no heavy imports) ---
def parse_selection(text: str | None) -> tuple[float, float | None] | None:
    """Parse `START:END` (seconds; END may be empty for "to the end") into `(start_s, end_s)`."""
    if text is None:
        return None
    start_txt, sep, end_txt = text.strip().partition(":")
    try:
        if not sep:
            raise ValueError
        start_s = float(start_txt) if start_txt.strip() else 0.0
        end_s = float(end_txt) if end_txt.strip() else None
    except ValueError:
        raise InvalidSetting(
            f"--selection must be START:END in seconds (e.g. 30:75.5), got {text!r}", field="selection"
        ) from None
    if not math.isfinite(start_s) or start_s < 0:
        raise InvalidSetting(f"--selection start must be >= 0 s, got {start_txt}", field="selection")
    if end_s is not None and (not math.isfinite(end_s) or end_s <= start_s):
        raise InvalidSetting(
            f"--selection end ({end_txt} s) must be after its start ({start_txt or 0} s)", field="selection"
        )
    return start_s, end_s


def output_format(path: Path) -> str:
    """The container for OUT, from its extension (.wav or .flac)."""
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UnknownFormat(
            f"output must end in .wav or .flac, got {path.name!r} "
            "(use --preview aac|mp3|opus for a lossy copy)",
            field="output",
        )
    return fmt


def preview_path(out: Path, preview: str) -> Path:
    """The lossy preview sits next to OUT with its own extension: song.wav -> song.m4a for aac."""
    return out.with_suffix(PREVIEW_EXTENSIONS[preview])


def _check_input(path: Path) -> None:
    if not path.exists():
        raise InvalidSetting(f"no such file: {path}", field="input")
    if not path.is_file():
        raise InvalidSetting(f"not a file: {path}", field="input")


def _jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars/arrays become numbers/lists, non-finite floats become null."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (bool, str, int)) or value is None:
        return value
    if hasattr(value, "tolist"):  # numpy scalar or array
        return _jsonable(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def _print_json(data: dict) -> None:
    import json

    sys.stdout.write(json.dumps(_jsonable(data), indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()


def _fmt_db(value: Any, unit: str, width: int = 6) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return f"{'-inf':>{width}} {unit}"
    return f"{float(value):{width}.1f} {unit}"


class StageProgress:
    """A rich progress bar on stderr, fed by the chain's `progress(stage, fraction)` callback.

    Fractions are clamped to [0, 1] and never move the bar backwards, so that a callback that reports
    per-stage fractions still gives a sensible bar; the stage name is shown beside it.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress = None
        self._task = None
        self._done = 0.0

    def __enter__(self) -> StageProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description:<18}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("master", total=1.0)
        return self

    def __call__(self, stage: str, fraction: float) -> None:
        if self._progress is None:
            return
        if not math.isfinite(fraction):
            fraction = 0.0
        self._done = max(self._done, min(1.0, max(0.0, float(fraction))))
        self._progress.update(self._task, description=str(stage), completed=self._done)

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _want_progress(duration_s: float, json_out: bool) -> bool:
    """Progress bar only for files over a minute, only on an interactive stderr (never pollutes stdout)."""
    del json_out  # the bar goes to stderr, so --json on stdout is safe either way
    return duration_s > PROGRESS_MIN_DURATION_S and sys.stderr.isatty()


def _encode(audio: Audio, dest: Path, fmt: str, **kwargs: Any) -> None:
    from mastertape.audio import encode

    try:
        encode(audio, dest, fmt, **kwargs)
    except MastertapeError:
        raise
    except OSError as exc:
        from mastertape.errors import EncodeError

        raise EncodeError(f"cannot write {dest}: {exc.strerror or exc}", field="output") from None


# --- commands ---
@app.command(cls=_OneLineErrors)
def master(
    input_path: Annotated[
        Path, typer.Argument(metavar="IN", help="Audio file to master (any supported format).")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="OUT", help="Output file: .wav or .flac.")
    ],
    target_lufs: Annotated[float, typer.Option(help="Integrated loudness target (LUFS).")] = -14.0,
    genre: Annotated[
        str, typer.Option(help="Genre profile (see `mastertape genres`), or auto: chosen from the analysis.")
    ] = "modern",
    bit_depth: Annotated[int, typer.Option(help="16 or 24 (PCM, TPDF dither) or 32 (float).")] = 24,
    ceiling: Annotated[float, typer.Option(help="True-peak ceiling (dBTP).")] = -1.0,
    reference: Annotated[
        Path | None,
        typer.Option(metavar="REF", help="A finished track whose tonal balance, width and dynamics to match."),
    ] = None,
    match_tone: Annotated[float, typer.Option(help="How much of the reference's tone to take (0-1).")] = 1.0,
    match_width: Annotated[float, typer.Option(help="How much of the reference's width to take (0-1).")] = 1.0,
    match_dynamics: Annotated[
        float, typer.Option(help="How much of the reference's dynamics to take (0-1).")
    ] = 1.0,
    intensity: Annotated[
        float, typer.Option(help="How far EQ, compression, saturation and width go: 0 none, 0.5 standard, 1 strong.")
    ] = 0.5,
    selection: Annotated[
        str | None, typer.Option(metavar="START:END", help="Process and return only this range (seconds).")
    ] = None,
    preview: Annotated[
        PreviewFormat | None, typer.Option(help="Also write a lossy preview next to OUT (.m4a/.mp3/.opus).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Dither seed: same input + settings = bit-identical output.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print the mastering report as JSON.")] = False,
) -> None:
    """Master IN to the loudness target with true peak at or below the ceiling, and write OUT."""
    import time

    t0 = time.perf_counter()
    # cheap checks first, before any heavy import or decoding
    fmt = output_format(output)
    if bit_depth not in BIT_DEPTHS:
        raise InvalidSetting(f"--bit-depth must be 16, 24 or 32 (float), got {bit_depth}", field="bit_depth")
    if fmt == "flac" and bit_depth == 32:
        raise InvalidSetting(
            "FLAC cannot hold 32-bit float: use a .wav output or --bit-depth 24", field="bit_depth"
        )
    sel = parse_selection(selection)
    _check_input(input_path)
    if not output.parent.is_dir():
        raise InvalidSetting(f"output folder does not exist: {output.parent}", field="output")
    if output.resolve() == input_path.resolve():
        raise InvalidSetting("refusing to overwrite the input file: choose another OUT", field="output")
    preview_fmt = preview.value if preview is not None else None
    preview_dest = preview_path(output, preview_fmt) if preview_fmt else None
    if preview_dest is not None and preview_dest.resolve() == input_path.resolve():
        raise InvalidSetting(f"the preview would overwrite the input file {input_path}", field="preview")

    from mastertape.allocator import tune_for_batch_processing
    from mastertape.mastering import MasteringSettings, ReferenceMatch, analyze_reference
    from mastertape.mastering import master as run_master

    tune_for_batch_processing()
    match = ReferenceMatch(tone=match_tone, width=match_width, dynamics=match_dynamics)
    if reference is not None:
        _check_input(reference)

    def settings_for(selection_s: tuple[float, float] | None) -> MasteringSettings:
        return MasteringSettings(
            target_lufs=target_lufs,
            ceiling_dbtp=ceiling,
            genre=genre,
            bit_depth=bit_depth,
            selection=selection_s,
            dither_seed=seed,
            intensity=intensity,
            reference_match=match,
        )

    settings = settings_for(None)  # validates target, ceiling, genre and bit depth before decoding

    from mastertape.audio import decode

    ref = analyze_reference(decode(reference)) if reference is not None else None

    audio = decode(input_path)
    if sel is not None:
        start_s, end_s = sel
        if start_s >= audio.duration_s:
            raise InvalidSetting(
                f"--selection starts at {start_s:g} s, after the end of the audio ({audio.duration_s:.2f} s)",
                field="selection",
            )
        end_s = audio.duration_s if end_s is None else min(end_s, audio.duration_s)
        settings = settings_for((start_s, end_s))

    with StageProgress(_want_progress(audio.duration_s, json_out)) as progress:
        progress("master", 0.0)
        mastered, report = run_master(audio, settings, progress=progress, reference=ref, overwrite_input=True)
        del audio
        progress("encode", 1.0)
        _encode(mastered, output, fmt, bit_depth=bit_depth)
        if preview_dest is not None:
            _encode(mastered, preview_dest, preview_fmt)
    elapsed_s = time.perf_counter() - t0

    report_dict = report.to_dict()
    if json_out:
        _print_json(
            {
                "input": str(input_path),
                "output": str(output),
                "preview": str(preview_dest) if preview_dest is not None else None,
                "format": fmt,
                "bit_depth": bit_depth,
                "duration_s": mastered.duration_s,
                "sample_rate": mastered.sample_rate,
                "channels": mastered.channels,
                "elapsed_s": elapsed_s,
                "report": report_dict,
            }
        )
        return
    _print_master_summary(input_path, output, preview_dest, fmt, bit_depth, mastered, report_dict, elapsed_s)


def _print_master_summary(
    input_path: Path,
    output: Path,
    preview_dest: Path | None,
    fmt: str,
    bit_depth: int,
    mastered: Audio,
    report: dict,
    elapsed_s: float,
) -> None:
    kind = "32-bit float" if bit_depth == 32 else f"{bit_depth}-bit"
    lines = [
        f"{input_path} -> {output} ({kind} {fmt.upper()}, {mastered.duration_s:.1f} s, "
        f"{mastered.sample_rate} Hz, {elapsed_s:.1f} s)"
    ]
    rows = (
        ("integrated", "input_lufs", "output_lufs", "LUFS"),
        ("true peak", "input_true_peak_dbtp", "output_true_peak_dbtp", "dBTP"),
        ("LRA", "input_lra_lu", "output_lra_lu", "LU"),
        ("PLR", "input_plr_db", "output_plr_db", "dB"),
    )
    for label, key_in, key_out, unit in rows:
        if key_in in report or key_out in report:
            lines.append(
                f"  {label:<11}{_fmt_db(report.get(key_in), unit)} -> {_fmt_db(report.get(key_out), unit)}"
            )
    gr = report.get("max_gain_reduction_db", report.get("limiter_max_gain_reduction_db"))
    if gr is not None:
        lines.append(f"  limiter    {_fmt_db(gr, 'dB')} max gain reduction")
    if preview_dest is not None:
        lines.append(f"  preview    {preview_dest}")
    typer.echo("\n".join(lines))


@app.command(cls=_OneLineErrors)
def analyze(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Audio file to measure.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the measurements as JSON.")] = False,
) -> None:
    """Measure loudness (BS.1770-4 / EBU R128): LUFS-I, LRA, true and sample peak, PLR, max M/S."""
    _check_input(file)
    from mastertape.allocator import tune_for_batch_processing
    from mastertape.audio import decode, probe
    from mastertape.dsp.loudness import measure

    tune_for_batch_processing()

    info = probe(file)
    audio = decode(file)
    stats = measure(audio.samples, audio.sample_rate)
    data = {
        "path": str(file),
        "duration_s": audio.duration_s,
        "sample_rate": audio.sample_rate,
        "channels": audio.channels,
        "codec": info.codec,
        "format_name": info.format_name,
        "integrated_lufs": stats.integrated_lufs,
        "loudness_range_lu": stats.loudness_range_lu,
        "true_peak_dbtp": stats.true_peak_dbtp,
        "sample_peak_dbfs": stats.sample_peak_dbfs,
        "plr_db": stats.plr_db,
        "max_momentary_lufs": stats.max_momentary_lufs,
        "max_short_term_lufs": stats.max_short_term_lufs,
    }
    if json_out:
        _print_json(data)
        return
    typer.echo(
        "\n".join(
            [
                f"{file}: {audio.duration_s:.2f} s, {audio.sample_rate} Hz, {audio.channels} ch, "
                f"{info.codec}",
                f"  integrated        {_fmt_db(stats.integrated_lufs, 'LUFS')}",
                f"  loudness range    {_fmt_db(stats.loudness_range_lu, 'LU')}",
                f"  true peak         {_fmt_db(stats.true_peak_dbtp, 'dBTP')}",
                f"  sample peak       {_fmt_db(stats.sample_peak_dbfs, 'dBFS')}",
                f"  PLR               {_fmt_db(stats.plr_db, 'dB')}",
                f"  max momentary     {_fmt_db(stats.max_momentary_lufs, 'LUFS')}",
                f"  max short-term    {_fmt_db(stats.max_short_term_lufs, 'LUFS')}",
            ]
        )
    )


@app.command(cls=_OneLineErrors)
def genres(
    json_out: Annotated[bool, typer.Option("--json", help="Print the profiles as JSON.")] = False,
) -> None:
    """List the genre profiles of the mastering chain, each with its description."""
    from mastertape.mastering import GENRES

    if json_out:
        _print_json(
            {"genres": [{"name": name, "description": prof.description} for name, prof in GENRES.items()]}
        )
        return
    width = max(len(name) for name in GENRES)
    typer.echo("\n".join(f"{name:<{width}}  {prof.description}" for name, prof in GENRES.items()))
