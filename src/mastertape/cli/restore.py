"""`mastertape restore` and `mastertape presets`: the restoration presets on the command line.

Only typer is imported at load time; numpy, the codecs and the preset backends are imported inside the
commands. Bad input ends with a one-line message and a non-zero exit (a `MastertapeError`, printed by
`mastertape.cli.main`); usage errors become `InvalidSetting` through `_OneLineErrors`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from mastertape.cli import app
from mastertape.cli.engine import _check_input, _encode, _OneLineErrors, _print_json
from mastertape.errors import InvalidSetting, UnknownFormat

#: output format chosen by the extension of OUT
RESTORE_OUTPUT_FORMATS = {
    ".wav": "wav",
    ".flac": "flac",
    ".mp3": "mp3",
    ".m4a": "aac",
    ".mp4": "aac",
    ".aac": "aac",
    ".opus": "opus",
    ".ogg": "opus",
}
_PCM_BIT_DEPTHS = {"wav": (16, 24, 32), "flac": (16, 24)}


def restore_output_format(path: Path) -> str:
    """The output format for OUT, from its extension."""
    fmt = RESTORE_OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UnknownFormat(
            f"output must end in one of {', '.join(sorted(RESTORE_OUTPUT_FORMATS))}, got {path.name!r}",
            field="output",
        )
    return fmt


@app.command(cls=_OneLineErrors)
def restore(
    input_path: Annotated[
        Path, typer.Argument(metavar="IN", help="Audio file to restore (any supported format).")
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="OUT",
            help="Output file; the format follows the extension (.wav .flac .mp3 "
            ".m4a .opus). 24-bit WAV/FLAC by default.",
        ),
    ],
    preset: Annotated[
        str, typer.Option(help="Restoration preset (see `mastertape presets`).")
    ] = "universal_enhancer",
    stereo_mode: Annotated[
        str, typer.Option(help="single_pass | mid_sides | left_right | mono.")
    ] = "single_pass",
    frequency_cutoff: Annotated[float, typer.Option(help="Hz, clamped to 0..22000 (audiosr).")] = 13000.0,
    strength: Annotated[float, typer.Option(help="0..1, how strongly the preset acts.")] = 0.95,
    reconstruction_method: Annotated[
        str, typer.Option(help="original | original_signal (universr).")
    ] = "original_signal",
    model_name: Annotated[
        str, typer.Option(help="Model variant for the generative presets.")
    ] = "music_musedb",
    multiband_ensemble: Annotated[bool, typer.Option(help="Multiband ensemble (audiosr).")] = True,
    bit_depth: Annotated[int, typer.Option(help="WAV: 16, 24 or 32 (float); FLAC: 16 or 24.")] = 24,
    json_out: Annotated[bool, typer.Option("--json", help="Print the restoration report as JSON.")] = False,
) -> None:
    """Run one restoration preset on IN and write OUT (same sample rate and channels)."""
    import time

    t0 = time.perf_counter()
    fmt = restore_output_format(output)
    if fmt in _PCM_BIT_DEPTHS and bit_depth not in _PCM_BIT_DEPTHS[fmt]:
        allowed = ", ".join(str(b) for b in _PCM_BIT_DEPTHS[fmt])
        raise InvalidSetting(
            f"--bit-depth for {fmt.upper()} must be one of {allowed}, got {bit_depth}", field="bit_depth"
        )
    if not math.isfinite(frequency_cutoff):
        raise InvalidSetting("--frequency-cutoff must be a number of Hz", field="frequency_cutoff")
    _check_input(input_path)
    if not output.parent.is_dir():
        raise InvalidSetting(f"output folder does not exist: {output.parent}", field="output")
    if output.resolve() == input_path.resolve():
        raise InvalidSetting("refusing to overwrite the input file: choose another OUT", field="output")

    from mastertape.config import get_settings
    from mastertape.restoration import RestoreSettings, get
    from mastertape.restoration import restore as run_restore

    get(preset)  # UnknownPreset before decoding
    settings = RestoreSettings(
        preset=preset,
        stereo_mode=stereo_mode,
        frequency_cutoff_hz=frequency_cutoff,
        strength=strength,
        reconstruction_method=reconstruction_method,
        model_name=model_name,
        multiband_ensemble=multiband_ensemble,
        model_dir=get_settings().model_dir,
    )
    from mastertape.allocator import tune_for_batch_processing
    from mastertape.audio import decode

    tune_for_batch_processing()
    audio = decode(input_path)
    restored, report = run_restore(audio, settings)
    del audio
    peak = float(abs(restored.samples).max()) if restored.frames else 0.0
    warnings: list[str] = []
    if peak > 1.0 and not (fmt == "wav" and bit_depth == 32):
        warnings.append(
            f"output peak {20 * math.log10(peak):+.2f} dBFS is above full scale and will clip in "
            f"{fmt.upper()}; use a .wav OUT with --bit-depth 32 to keep it"
        )
    kwargs = {"bit_depth": bit_depth} if fmt in _PCM_BIT_DEPTHS else {}
    _encode(restored, output, fmt, **kwargs)
    elapsed_s = time.perf_counter() - t0

    if json_out:
        _print_json(
            {
                "input": str(input_path),
                "output": str(output),
                "format": fmt,
                "bit_depth": bit_depth if fmt in _PCM_BIT_DEPTHS else None,
                "duration_s": restored.duration_s,
                "sample_rate": restored.sample_rate,
                "channels": restored.channels,
                "elapsed_s": elapsed_s,
                "warnings": warnings,
                "report": {
                    "preset": report.preset,
                    "backend": report.backend,
                    "repairs": list(report.repairs),
                    "metrics": report.metrics,
                    "notes": list(report.notes),
                    "elapsed_s": report.elapsed_s,
                },
            }
        )
        return
    lines = [
        f"{input_path} -> {output} ({fmt.upper()}, {restored.duration_s:.1f} s, {restored.sample_rate} Hz, "
        f"{elapsed_s:.1f} s)",
        f"  preset     {report.preset} (backend: {report.backend})",
        f"  repairs    {', '.join(report.repairs) if report.repairs else 'none'}",
    ]
    lines += [f"  note       {n}" for n in report.notes]
    lines += [f"  warning    {w}" for w in warnings]
    typer.echo("\n".join(lines))


@app.command(cls=_OneLineErrors)
def presets(
    json_out: Annotated[bool, typer.Option("--json", help="Print the presets as JSON.")] = False,
) -> None:
    """List every restoration preset of the API: backend, fields used, whether it runs here (and why not)."""
    from mastertape.config import get_settings
    from mastertape.restoration import PRESET_NAMES, RestoreSettings, all_presets

    settings = RestoreSettings(model_dir=get_settings().model_dir)
    specs = {s.name: s for s in all_presets()}
    rows = []
    for name in PRESET_NAMES:
        spec = specs.get(name)
        if spec is None:
            rows.append(
                {
                    "name": name,
                    "backend": None,
                    "description": None,
                    "fields": [],
                    "available": False,
                    "reason": "no backend registered in this build",
                }
            )
            continue
        try:
            reason = spec.unavailable_reason(settings)
        except Exception as exc:  # an availability probe that fails is itself a reason not to run
            reason = f"availability check failed: {exc}"
        rows.append(
            {
                "name": name,
                "backend": spec.backend,
                "description": spec.description,
                "fields": list(spec.fields),
                "available": reason is None,
                "reason": reason,
            }
        )
    if json_out:
        _print_json({"presets": rows})
        return
    width = max(len(r["name"]) for r in rows)
    lines = []
    for r in rows:
        state = "yes" if r["available"] else f"no: {r['reason']}"
        lines.append(f"{r['name']:<{width}}  {r['backend'] or '-'}")
        lines.append(f"{'':<{width}}  runs here: {state}")
        if r["fields"]:
            lines.append(f"{'':<{width}}  fields: {', '.join(r['fields'])}")
        if r["description"]:
            lines.append(f"{'':<{width}}  {r['description']}")
    typer.echo("\n".join(lines))
