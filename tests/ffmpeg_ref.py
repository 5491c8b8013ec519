"""Reference loudness figures from the FFmpeg CLI (``-af ebur128=peak=true``), for tests to compare with.

FFmpeg's summary prints one decimal; the filter's frame metadata (``metadata=1``) carries I and LRA with
three, so those are read from the last frame, and the summary values are checked to agree with them. The
true peak comes from the summary (dBFS, one decimal: +-0.05 dB), because the metadata gives it as a
linear value with three decimals, too coarse for quiet signals.

`require_ffmpeg()` skips a test when ffmpeg is missing, except under ``CI=true`` where it fails: the test
script installs ffmpeg, so a missing binary there is a broken environment, not an optional extra.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

_FLOAT_RE = r"(-?(?:inf|nan|\d+(?:\.\d*)?))"


def ffmpeg_path() -> str | None:
    return shutil.which("ffmpeg")


def require_ffmpeg() -> str:
    """Path of the ffmpeg binary; skip the test if absent (fail instead when CI == "true")."""
    path = ffmpeg_path()
    if path is None:
        reason = "ffmpeg CLI not found on PATH (scripts/test.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def write_wav_float32(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write (channels, frames) samples as a 32-bit IEEE float WAV (format tag 3) with the stdlib only."""
    x = np.asarray(samples, dtype="<f4")
    if x.ndim == 1:
        x = x[None, :]
    channels = x.shape[0]
    data = np.ascontiguousarray(x.T).tobytes()
    block_align = 4 * channels
    fmt = struct.pack("<HHIIHHH", 3, channels, int(sample_rate), int(sample_rate) * block_align,
                      block_align, 32, 0)
    fact = struct.pack("<I", x.shape[1])
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<I", 4) + fact
            + b"data" + struct.pack("<I", len(data)) + data)
    path = Path(path)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@dataclass(frozen=True)
class Ebur128Reference:
    """What FFmpeg's ebur128 filter reports for one file (LUFS / LU / dBTP; -inf for I when gated out)."""

    integrated_lufs: float
    loudness_range_lu: float
    true_peak_dbtp: float
    summary_integrated_lufs: float
    summary_loudness_range_lu: float


def _last(pattern: str, text: str) -> float:
    found = re.findall(pattern, text)
    if not found:
        raise AssertionError(f"ffmpeg output lacks {pattern!r}:\n{text[-2000:]}")
    return float(found[-1])


def ebur128_file(path: str | Path, *, dual_mono: bool = False) -> Ebur128Reference:
    """Run ``ffmpeg -nostats -i path -af ebur128=peak=true -f null -`` and parse its figures."""
    ffmpeg = require_ffmpeg()
    with tempfile.TemporaryDirectory() as tmp:
        meta = Path(tmp) / "meta.txt"
        graph = (f"ebur128=peak=true:metadata=1:dualmono={int(dual_mono)},"
                 f"ametadata=mode=print:file={meta.as_posix()}")
        proc = subprocess.run([ffmpeg, "-nostdin", "-nostats", "-hide_banner", "-i", str(path), "-af", graph,
                               "-f", "null", "-"], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise AssertionError(f"ffmpeg failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        metadata = meta.read_text() if meta.exists() else ""
    summary = proc.stderr[proc.stderr.rfind("Summary:"):]
    s_i = _last(r"I:\s+" + _FLOAT_RE + r" LUFS", summary)
    s_lra = _last(r"LRA:\s+" + _FLOAT_RE + r" LU", summary)
    s_peak = _last(r"Peak:\s+" + _FLOAT_RE + r" dBFS", summary)
    m_i = _last(r"lavfi\.r128\.I=" + _FLOAT_RE, metadata) if "lavfi.r128.I=" in metadata else s_i
    m_lra = _last(r"lavfi\.r128\.LRA=" + _FLOAT_RE, metadata) if "lavfi.r128.LRA=" in metadata else s_lra
    if not (math.isclose(m_i, s_i, abs_tol=0.051) and math.isclose(m_lra, s_lra, abs_tol=0.051)):
        raise AssertionError(f"ffmpeg metadata (I {m_i}, LRA {m_lra}) disagrees with its summary "
                             f"(I {s_i}, LRA {s_lra})")
    gated_out = -70.0 + 1e-9  # ffmpeg prints -70.0 LUFS when every block is gated out
    return Ebur128Reference(
        integrated_lufs=float("-inf") if m_i <= gated_out else m_i,
        loudness_range_lu=m_lra,
        true_peak_dbtp=s_peak,
        summary_integrated_lufs=s_i,
        summary_loudness_range_lu=s_lra,
    )


def ebur128_samples(samples: np.ndarray, sample_rate: int, directory: str | Path, *,
                    dual_mono: bool = False) -> Ebur128Reference:
    """Write `samples` as a float WAV in `directory` and measure it with FFmpeg."""
    path = write_wav_float32(Path(directory) / "ebur128_input.wav", samples, sample_rate)
    return ebur128_file(path, dual_mono=dual_mono)
