"""Mastering benchmark: loudness accuracy, speed and memory of `mastertape master` against ffmpeg loudnorm.

    python benchmarks/mastering.py FOLDER [--targets -8 -14 -23]            # per-file table
    python benchmarks/mastering.py FOLDER --speed-file [--concat-minutes 3]  # whole process vs ffmpeg, 1 core
    python benchmarks/mastering.py FOLDER --memory [--memory-minutes 10]     # peak RSS on a long file

Per file and target, the file is mastered through the library (in this process) and through the CLI (a fresh
`python -m mastertape master` process: wall time and peak RSS), and through ffmpeg `loudnorm` in two passes
(linear mode, measured values fed back). Every output is measured by ffmpeg's `ebur128=peak=true` filter
(the reference) and by our own meter. Outputs live in a temporary folder that is deleted at the end.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _util as u  # noqa: E402

sys.path.insert(0, str(u.REPO / "src"))

LUFS_TOLERANCE_LU = 0.1
SPEED_TARGET_RATIO = 4.0
MEMORY_LIMIT_MB = 1024.0


def _fmt(value: float | None, spec: str = ".2f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def _our_meter(path: Path) -> tuple[float, float]:
    from mastertape.audio import decode
    from mastertape.dsp.loudness import measure

    audio = decode(path)
    stats = measure(audio.samples, audio.sample_rate)
    return float(stats.integrated_lufs), float(stats.true_peak_dbtp)


def _identical(a: Path, b: Path) -> bool:
    import numpy as np

    from mastertape.audio import decode

    x, y = decode(a), decode(b)
    return x.samples.shape == y.samples.shape and bool(np.array_equal(x.samples, y.samples))


def _stage_times(report: dict) -> dict[str, float]:
    """Per-stage seconds from a report dict, whatever the key is called (`stage_times_s`, `timings_s`...)."""
    for key, value in report.items():
        if isinstance(value, dict) and ("time" in key or key.endswith("_s")) and value:
            if all(isinstance(v, (int, float)) for v in value.values()):
                return {str(k): float(v) for k, v in value.items()}
    return {}


def master_cli(
    src: Path, dest: Path, target_lufs: float, args: argparse.Namespace, core: int | None = None
) -> tuple[u.ProcessRun, dict]:
    argv = u.mastertape_argv(
        "master",
        str(src),
        "-o",
        str(dest),
        "--target-lufs",
        f"{target_lufs:g}",
        "--ceiling",
        f"{args.ceiling:g}",
        "--genre",
        args.genre,
        "--json",
    )
    run = u.run_measured(argv, env=u.mastertape_env(), core=core).check()
    return run, json.loads(run.stdout)


# --- per-file mode ---
def per_file(folder: Path, work: Path, args: argparse.Namespace) -> list[dict]:
    from mastertape.audio import decode, encode
    from mastertape.mastering import MasteringSettings, master

    rows: list[dict] = []
    for path in u.audio_files(folder):
        duration_s, sample_rate, _ = u.probe_audio(path)
        audio = decode(path)
        for target in args.targets:
            tag = f"{path.stem}_{target:g}"
            settings = MasteringSettings(target_lufs=target, ceiling_dbtp=args.ceiling, genre=args.genre)
            t0 = time.perf_counter()
            lib_out, _ = master(audio, settings)
            lib_s = time.perf_counter() - t0
            lib_path = work / f"{tag}_lib.wav"
            encode(lib_out, lib_path, "wav", bit_depth=settings.bit_depth)
            del lib_out

            cli_path = work / f"{tag}_cli.wav"
            run, report = master_cli(path, cli_path, target, args)
            ff = u.ffmpeg_ebur128(cli_path)
            ours_i, ours_tp = _our_meter(cli_path)

            ln_path = work / f"{tag}_loudnorm.wav"
            ln = u.loudnorm_two_pass(
                path, ln_path, target_lufs=target, ceiling_dbtp=args.ceiling, sample_rate=sample_rate
            )
            ln_ff = u.ffmpeg_ebur128(ln_path)
            rows.append(
                {
                    "file": path.name,
                    "target_lufs": target,
                    "duration_s": duration_s,
                    "library_master_s": lib_s,
                    "library_x_realtime": duration_s / lib_s,
                    "cli_wall_s": run.wall_s,
                    "cli_x_realtime": duration_s / run.wall_s,
                    "cli_peak_rss_mb": run.peak_rss_mb,
                    "ffmpeg_lufs": ff.integrated_lufs,
                    "ffmpeg_lufs_error": ff.integrated_lufs - target,
                    "ffmpeg_true_peak_dbtp": ff.true_peak_dbtp,
                    "ours_lufs_error": ours_i - target,
                    "ours_true_peak_dbtp": ours_tp,
                    "library_equals_cli": _identical(lib_path, cli_path),
                    "stage_times_s": _stage_times(report.get("report", {})),
                    "loudnorm_wall_s": ln.wall_s,
                    "loudnorm_x_realtime": duration_s / ln.wall_s,
                    "loudnorm_lufs_error": ln_ff.integrated_lufs - target,
                    "loudnorm_true_peak_dbtp": ln_ff.true_peak_dbtp,
                    "loudnorm_mode": ln.normalization_type,
                    "loudnorm_peak_rss_mb": ln.peak_rss_mb,
                    "ratio_ffmpeg_over_ours": ln.wall_s / run.wall_s,
                }
            )
            for p in (lib_path, cli_path, ln_path):
                p.unlink(missing_ok=True)
            if not args.json:
                print(f"  done {path.name} at {target:g} LUFS", file=sys.stderr)
    return rows


def print_per_file(rows: list[dict], ceiling: float) -> None:
    headers = [
        "file",
        "target",
        "lib xRT",
        "cli s",
        "cli xRT",
        "RSS MB",
        "dI ff",
        "TP ff",
        "dI ours",
        "TP ours",
        "lib=cli",
        "ffmpeg s",
        "ff dI",
        "ff TP",
        "ff mode",
        "ff/ours",
    ]
    table = [
        [
            r["file"],
            _fmt(r["target_lufs"], "g"),
            _fmt(r["library_x_realtime"], ".0f"),
            _fmt(r["cli_wall_s"]),
            _fmt(r["cli_x_realtime"], ".0f"),
            _fmt(r["cli_peak_rss_mb"], ".0f"),
            _fmt(r["ffmpeg_lufs_error"], "+.3f"),
            _fmt(r["ffmpeg_true_peak_dbtp"]),
            _fmt(r["ours_lufs_error"], "+.3f"),
            _fmt(r["ours_true_peak_dbtp"]),
            "yes" if r["library_equals_cli"] else "NO",
            _fmt(r["loudnorm_wall_s"]),
            _fmt(r["loudnorm_lufs_error"], "+.2f"),
            _fmt(r["loudnorm_true_peak_dbtp"]),
            r["loudnorm_mode"],
            _fmt(r["ratio_ffmpeg_over_ours"], ".1f"),
        ]
        for r in rows
    ]
    print(u.format_table(headers, table))
    worst_i = max(abs(r["ffmpeg_lufs_error"]) for r in rows)
    worst_tp = max(r["ffmpeg_true_peak_dbtp"] for r in rows)
    ok = worst_i <= LUFS_TOLERANCE_LU and worst_tp <= ceiling
    print(
        f"\nffmpeg-measured: max |LUFS error| {worst_i:.3f} LU (<= {LUFS_TOLERANCE_LU}), max true peak "
        f"{worst_tp:+.2f} dBTP (<= {ceiling:g})  ->  {'PASS' if ok else 'FAIL'}"
    )
    print(
        "columns: xRT = x realtime; cli = whole `python -m mastertape master` process "
        "(wall clock, unpinned); dI = output LUFS - target; TP in dBTP;\n"
        "ff = ffmpeg loudnorm two-pass; ff/ours = time ratio"
    )


# --- speed mode ---
def speed(folder: Path, work: Path, args: argparse.Namespace) -> dict:
    files = u.audio_files(folder)
    _, sample_rate, _ = u.probe_audio(files[0])
    src = u.concat_audio(files, work / "concat.flac", sample_rate=sample_rate)
    duration_s = u.probe_audio(src)[0]
    want_s = args.concat_minutes * 60.0
    if abs(duration_s - want_s) > 0.5:
        src = u.loop_audio(src, work / "speed.flac", seconds=want_s)
        duration_s = u.probe_audio(src)[0]
    out, ln_out, copy_out = work / "speed_ours.wav", work / "speed_loudnorm.wav", work / "speed_copy.wav"
    core = args.core
    import_argv = [
        sys.executable,
        "-c",
        "import mastertape.cli, mastertape.audio, mastertape.mastering, mastertape.dsp.loudness",
    ]
    # warm-up, not timed: page cache, and the bytecode an installed package has (pip compiles it at
    # install time; an editable checkout under PYTHONDONTWRITEBYTECODE=1 would recompile every run)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(u.REPO / "src")], check=True)
    master_cli(src, out, args.speed_target, args, core=core)
    u.loudnorm_two_pass(
        src,
        ln_out,
        target_lufs=args.speed_target,
        ceiling_dbtp=args.ceiling,
        sample_rate=sample_rate,
        core=core,
    )
    ours, ffmpeg, imports, copies, stages = [], [], [], [], []
    for _ in range(args.reps):  # interleaved, so that load from other processes hits both alike
        run, report = master_cli(src, out, args.speed_target, args, core=core)
        ours.append(run.wall_s)
        stages.append(_stage_times(report.get("report", {})))
        ffmpeg.append(
            u.loudnorm_two_pass(
                src,
                ln_out,
                target_lufs=args.speed_target,
                ceiling_dbtp=args.ceiling,
                sample_rate=sample_rate,
                core=core,
            ).wall_s
        )
        imports.append(u.run_measured(import_argv, env=u.mastertape_env(), core=core).check().wall_s)
        copies.append(u.ffmpeg_copy(src, copy_out, core=core).wall_s)
    ff = u.ffmpeg_ebur128(out)
    stage_median = {k: u.median([s[k] for s in stages if k in s]) for k in (stages[0] if stages else {})}
    ours_s, ffmpeg_s = u.median(ours), u.median(ffmpeg)
    return {
        "file_s": duration_s,
        "reps": args.reps,
        "core": core,
        "target_lufs": args.speed_target,
        "ours_s": ours_s,
        "ours_all_s": ours,
        "ours_x_realtime": duration_s / ours_s,
        "loudnorm_two_pass_s": ffmpeg_s,
        "loudnorm_all_s": ffmpeg,
        "loudnorm_x_realtime": duration_s / ffmpeg_s,
        "ratio_ffmpeg_over_ours": ffmpeg_s / ours_s,
        "import_s": u.median(imports),
        "ffmpeg_copy_s": u.median(copies),
        "stage_times_s": stage_median,
        "ours_ffmpeg_lufs_error": ff.integrated_lufs - args.speed_target,
        "ours_ffmpeg_true_peak_dbtp": ff.true_peak_dbtp,
    }


def print_speed(r: dict) -> None:
    core = "unpinned" if r["core"] is None else f"taskset -c {r['core']}"
    print(f"speed: {r['file_s']:.1f} s file, median of {r['reps']} interleaved runs, {core}")
    rows = [
        ["mastertape master (whole process)", _fmt(r["ours_s"]), _fmt(r["ours_x_realtime"], ".1f")],
        [
            "ffmpeg loudnorm two-pass (both passes)",
            _fmt(r["loudnorm_two_pass_s"]),
            _fmt(r["loudnorm_x_realtime"], ".1f"),
        ],
        ["  python start + mastertape imports", _fmt(r["import_s"]), "-"],
        [
            "  ffmpeg copy floor (decode + WAV)",
            _fmt(r["ffmpeg_copy_s"]),
            _fmt(r["file_s"] / r["ffmpeg_copy_s"], ".0f"),
        ],
    ]
    for stage, secs in r["stage_times_s"].items():
        rows.append([f"  chain stage: {stage}", _fmt(secs), "-"])
    print(u.format_table(["", "seconds", "x realtime"], rows))
    verdict = "PASS" if r["ratio_ffmpeg_over_ours"] >= SPEED_TARGET_RATIO else "FAIL"
    print(
        f"ratio ffmpeg / ours: {r['ratio_ffmpeg_over_ours']:.2f}x (target >= {SPEED_TARGET_RATIO:g}x)"
        f"  ->  {verdict}   [our output: {r['ours_ffmpeg_lufs_error']:+.3f} LU, "
        f"{r['ours_ffmpeg_true_peak_dbtp']:+.2f} dBTP by ffmpeg]"
    )


# --- memory mode ---
def memory(folder: Path, work: Path, args: argparse.Namespace) -> dict:
    files = u.audio_files(folder)
    _, sample_rate, _ = u.probe_audio(files[0])
    joined = u.concat_audio(files, work / "concat_mem.flac", sample_rate=sample_rate)
    src = u.loop_audio(joined, work / "long.flac", seconds=args.memory_minutes * 60.0)
    duration_s, sample_rate, channels = u.probe_audio(src)
    out = work / "long_out.wav"
    run, _ = master_cli(src, out, args.speed_target, args)
    ff = u.ffmpeg_ebur128(out)
    return {
        "file_s": duration_s,
        "sample_rate": sample_rate,
        "channels": channels,
        "peak_rss_mb": run.peak_rss_mb,
        "wall_s": run.wall_s,
        "x_realtime": duration_s / run.wall_s,
        "ffmpeg_lufs_error": ff.integrated_lufs - args.speed_target,
        "ffmpeg_true_peak_dbtp": ff.true_peak_dbtp,
    }


def print_memory(r: dict) -> None:
    verdict = "PASS" if r["peak_rss_mb"] < MEMORY_LIMIT_MB else "FAIL"
    print(
        f"memory: {r['file_s'] / 60:.1f} min {r['sample_rate']} Hz {r['channels']} ch -> peak RSS of "
        f"`mastertape master` {r['peak_rss_mb']:.0f} MB (< {MEMORY_LIMIT_MB:.0f} MB)  ->  {verdict}; "
        f"{r['wall_s']:.1f} s ({r['x_realtime']:.0f}x realtime, unpinned); "
        f"output {r['ffmpeg_lufs_error']:+.3f} LU, "
        f"{r['ffmpeg_true_peak_dbtp']:+.2f} dBTP by ffmpeg"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="folder of audio files (e.g. ../shared/audio/music)")
    ap.add_argument("--targets", type=float, nargs="+", default=[-8.0, -14.0, -23.0], help="LUFS targets")
    ap.add_argument("--ceiling", type=float, default=-1.0, help="true-peak ceiling, dBTP")
    ap.add_argument("--genre", default="modern")
    ap.add_argument(
        "--speed-file",
        action="store_true",
        help="time the whole CLI process on the folder concatenated, pinned to one core, vs ffmpeg",
    )
    ap.add_argument("--concat-minutes", type=float, default=3.0, help="length of the --speed-file file")
    ap.add_argument("--speed-target", type=float, default=-14.0, help="LUFS target for --speed-file/--memory")
    ap.add_argument("--reps", type=int, default=5, help="repetitions for --speed-file (median reported)")
    ap.add_argument("--core", type=int, default=0, help="CPU core for --speed-file (taskset -c)")
    ap.add_argument("--memory", action="store_true", help="peak RSS of the CLI on a long file")
    ap.add_argument("--memory-minutes", type=float, default=10.0)
    ap.add_argument(
        "--files", action="store_true", help="also run the per-file table with --speed-file/--memory"
    )
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    if not args.folder.is_dir():
        ap.error(f"not a folder: {args.folder}")

    result: dict = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "ffmpeg": u.FFMPEG}
    }
    with tempfile.TemporaryDirectory(prefix="mastertape-bench-") as tmp:
        work = Path(tmp)
        if args.files or not (args.speed_file or args.memory):
            result["files"] = per_file(args.folder, work, args)
            if not args.json:
                print_per_file(result["files"], args.ceiling)
        if args.speed_file:
            result["speed"] = speed(args.folder, work, args)
            if not args.json:
                print()
                print_speed(result["speed"])
        if args.memory:
            result["memory"] = memory(args.folder, work, args)
            if not args.json:
                print()
                print_memory(result["memory"])
    if args.json:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
