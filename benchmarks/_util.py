"""Shared helpers for the benchmark scripts: timed subprocesses with their peak RSS, ffmpeg runners.

Nothing here imports mastertape: the scripts time the `mastertape` process from outside, the way a user
runs it, and measure its output with ffmpeg (the reference meter) as well as with our own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
FFPROBE = shutil.which("ffprobe") or "/usr/bin/ffprobe"
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".aif", ".aiff")


# --- processes ---
@dataclass(frozen=True)
class ProcessRun:
    """One finished child process: wall time, peak resident memory and its output."""

    argv: tuple[str, ...]
    wall_s: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str

    def check(self) -> ProcessRun:
        if self.returncode != 0:
            tail = "\n".join(self.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"command failed ({self.returncode}): {' '.join(self.argv)}\n{tail}")
        return self


def pinned(argv: list[str], core: int | None) -> list[str]:
    """Prefix `taskset -c CORE` (taskset execs the command, so the pid and its rusage stay the same)."""
    if core is None:
        return list(argv)
    if shutil.which("taskset") is None:
        raise RuntimeError("taskset not found (util-linux): cannot pin to one core")
    return ["taskset", "-c", str(core), *argv]


def run_measured(
    argv: list[str], *, env: dict[str, str] | None = None, core: int | None = None
) -> ProcessRun:
    """Run a command to completion; wall time and peak RSS of exactly that process (os.wait4 rusage).

    `ru_maxrss` from wait4 covers the child and any descendants it waited for (Linux: kilobytes).
    stdout/stderr go to temporary files so that the parent never blocks on a full pipe.
    """
    full = pinned(argv, core)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(full, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall_s = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    return ProcessRun(tuple(full), wall_s, usage.ru_maxrss / 1024.0, proc.returncode, stdout, stderr)


def mastertape_env() -> dict[str, str]:
    """Environment for `python -m mastertape` that runs this working tree's sources."""
    env = dict(os.environ)
    src = str(REPO / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def mastertape_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "mastertape", *args]


# --- ffmpeg ---
@dataclass(frozen=True)
class FfmpegLoudness:
    """ffmpeg `ebur128=peak=true` measurements of one file (full precision from the filter's metadata)."""

    integrated_lufs: float
    loudness_range_lu: float
    true_peak_dbtp: float


def _db(linear: float) -> float:
    import math

    return 20.0 * math.log10(linear) if linear > 0 else float("-inf")


def ffmpeg_ebur128(path: Path) -> FfmpegLoudness:
    """Measure with ffmpeg's EBU R128 filter (BS.1770-4 + true peak), the reference meter of the benchmarks.

    The printed summary has one decimal only; the filter's per-frame metadata (`metadata=1`) carries three,
    and its last frame holds the whole-file integrated loudness, LRA and running maximum true peak (linear).
    """
    with tempfile.TemporaryDirectory(prefix="mt-ebur128-") as tmp:
        meta = Path(tmp) / "meta.txt"
        graph = f"ebur128=peak=true:metadata=1,ametadata=mode=print:file={_filter_path(meta)}"
        proc = subprocess.run(
            [FFMPEG, "-nostats", "-hide_banner", "-i", str(path), "-af", graph, "-f", "null", "-"],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg ebur128 failed on {path}: {proc.stderr.strip().splitlines()[-1:]}")
        last: dict[str, str] = {}
        for line in meta.read_text().splitlines():
            if line.startswith("lavfi.r128."):
                key, _, value = line[len("lavfi.r128.") :].partition("=")
                last[key] = value
    summary = _parse_ebur128_summary(proc.stderr)
    try:
        return FfmpegLoudness(float(last["I"]), float(last["LRA"]), _db(float(last["true_peak"])))
    except KeyError:  # no frame metadata (very short input): fall back to the one-decimal summary
        return summary


def _filter_path(path: Path) -> str:
    """Escape a path for use as a filter option value."""
    return str(path).replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'").replace(",", "\\,")


def _parse_ebur128_summary(stderr: str) -> FfmpegLoudness:
    text = stderr[stderr.rfind("Summary:") :]
    i = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", text)
    lra = re.search(r"LRA:\s+(-?[\d.]+) LU", text)
    peak = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", text)
    if not (i and lra and peak):
        raise RuntimeError("could not parse ffmpeg ebur128 summary")
    return FfmpegLoudness(float(i.group(1)), float(lra.group(1)), float(peak.group(1)))


@dataclass(frozen=True)
class LoudnormRun:
    """ffmpeg loudnorm two-pass: pass times (process wall clock), measured values, mode actually used."""

    pass1: ProcessRun
    pass2: ProcessRun
    measured: dict
    normalization_type: str

    @property
    def wall_s(self) -> float:
        return self.pass1.wall_s + self.pass2.wall_s

    @property
    def peak_rss_mb(self) -> float:
        return max(self.pass1.peak_rss_mb, self.pass2.peak_rss_mb)


def _last_json_object(text: str) -> dict:
    start = text.rfind("{")
    end = text.rfind("}")
    if start < 0 or end < start:
        raise RuntimeError("no JSON block in ffmpeg loudnorm output")
    return json.loads(text[start : end + 1])


def loudnorm_two_pass(
    src: Path,
    dest: Path,
    *,
    target_lufs: float,
    ceiling_dbtp: float = -1.0,
    lra_lu: float = 11.0,
    sample_rate: int,
    core: int | None = None,
) -> LoudnormRun:
    """The usual ffmpeg recipe: pass 1 measures, pass 2 applies linear gain with the measured values fed back.

    loudnorm works at 192 kHz internally; pass 2 resamples back to the source rate and writes 24-bit WAV,
    as our chain does. loudnorm falls back to its dynamic mode when linear gain would break the ceiling:
    `normalization_type` says which one ran.
    """
    base = f"loudnorm=I={target_lufs:g}:TP={ceiling_dbtp:g}:LRA={lra_lu:g}"
    p1 = run_measured(
        [
            FFMPEG,
            "-nostats",
            "-hide_banner",
            "-i",
            str(src),
            "-af",
            f"{base}:print_format=json",
            "-f",
            "null",
            "-",
        ],
        core=core,
    ).check()
    m = _last_json_object(p1.stderr)
    second = (
        f"{base}:measured_I={m['input_i']}:measured_TP={m['input_tp']}:measured_LRA={m['input_lra']}"
        f":measured_thresh={m['input_thresh']}:offset={m['target_offset']}:linear=true:print_format=json"
    )
    p2 = run_measured(
        [
            FFMPEG,
            "-y",
            "-nostats",
            "-hide_banner",
            "-i",
            str(src),
            "-af",
            second,
            "-ar",
            str(sample_rate),
            "-c:a",
            "pcm_s24le",
            str(dest),
        ],
        core=core,
    ).check()
    m2 = _last_json_object(p2.stderr)
    return LoudnormRun(p1, p2, m, str(m2.get("normalization_type", "?")))


def ffmpeg_copy(src: Path, dest: Path, *, core: int | None = None) -> ProcessRun:
    """The copy floor: decode and write 24-bit WAV, nothing else."""
    return run_measured(
        [FFMPEG, "-y", "-nostats", "-hide_banner", "-i", str(src), "-c:a", "pcm_s24le", str(dest)], core=core
    ).check()


def probe_audio(path: Path) -> tuple[float, int, int]:
    """(duration_s, sample_rate, channels) of the first audio stream, via ffprobe."""
    proc = subprocess.run(
        [
            FFPROBE,
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=sample_rate,channels:format=duration",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(proc.stdout)
    stream = info["streams"][0]
    return float(info["format"]["duration"]), int(stream["sample_rate"]), int(stream["channels"])


def concat_audio(files: list[Path], dest: Path, *, sample_rate: int) -> Path:
    """Concatenate `files` into one 24-bit stereo FLAC at `sample_rate` (inputs converted if they differ)."""
    argv = [FFMPEG, "-y", "-nostats", "-hide_banner", "-loglevel", "error"]
    for f in files:
        argv += ["-i", str(f)]
    fmt = f"aformat=sample_fmts=fltp:sample_rates={sample_rate}:channel_layouts=stereo"
    chains = "".join(f"[{k}:a]{fmt}[a{k}];" for k in range(len(files)))
    joined = "".join(f"[a{k}]" for k in range(len(files)))
    graph = f"{chains}{joined}concat=n={len(files)}:v=0:a=1"
    argv += [
        "-filter_complex",
        graph,
        "-c:a",
        "flac",
        "-sample_fmt",
        "s32",
        "-bits_per_raw_sample",
        "24",
        str(dest),
    ]
    subprocess.run(argv, check=True, capture_output=True)
    return dest


def loop_audio(src: Path, dest: Path, *, seconds: float) -> Path:
    """Repeat `src` (real audio) end to end and cut at `seconds`: a long 24-bit FLAC for memory runs."""
    subprocess.run(
        [
            FFMPEG,
            "-y",
            "-nostats",
            "-hide_banner",
            "-loglevel",
            "error",
            "-stream_loop",
            "-1",
            "-i",
            str(src),
            "-t",
            f"{seconds:g}",
            "-c:a",
            "flac",
            "-sample_fmt",
            "s32",
            "-bits_per_raw_sample",
            "24",
            str(dest),
        ],
        check=True,
        capture_output=True,
    )
    return dest


def audio_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise SystemExit(f"no audio files in {folder}")
    return files


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """A compact plain-text table, right-aligned except the first column."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])
