"""Stem separation quality and speed on voice-over-music mixes with known sources.

Usage (from the repository root):

    PYTHONPATH=src python3 benchmarks/stems.py ../shared/audio [--ratios 0 -6] [--speed-minutes 3] [--json]

FOLDER holds `music/` (instrumental clips) and `speech/voices-default.flac` (a recorded voice; another with
`--voice`). For every music clip and every voice-to-music ratio (dB, by RMS over the clip), the voice is
resampled to 44.1 kHz, put in the centre of the stereo field and added to the first seconds of the clip (as
long as the voice), also at 44.1 kHz; if the mix would clip, mix and sources are scaled down together.
`2_tracks` then splits the mix and the script prints the SI-SDR (Le Roux et al. 2019) of the vocal stem
against the voice and of the instrumental stem against the music, beside the SI-SDR of the unprocessed
mix against each source (the baseline), and the speed as x realtime of `split()` with torch limited to
one thread (`torch.set_num_threads(1)`, model already loaded). `--speed-minutes` also times one longer
file (the clips concatenated) for a steady-state figure, for 2_tracks and 4_tracks.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from mastertape.audio import Audio, decode, resample  # noqa: E402
from mastertape.stems import StemSettings, split  # noqa: E402

try:
    from mastertape.dsp.metrics import si_sdr_db  # noqa: E402
except ImportError:  # pragma: no cover - older trees

    def si_sdr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
        """Scale-invariant SDR in dB (Le Roux et al. 2019, eqs. 4-5), all channels as one signal."""
        ref = np.asarray(reference, dtype=np.float64).ravel()
        est = np.asarray(estimate, dtype=np.float64).ravel()
        ref, est = ref - ref.mean(), est - est.mean()
        target = np.dot(est, ref) / (np.dot(ref, ref) + 1e-20) * ref
        return float(10 * np.log10((np.sum(target**2) + 1e-20) / (np.sum((est - target) ** 2) + 1e-20)))


RATE_HZ = 44100
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".aif", ".aiff")


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _stereo_44k(path: Path) -> np.ndarray:
    audio = resample(decode(path), RATE_HZ)
    x = audio.samples.astype(np.float32)
    return x if x.shape[0] == 2 else np.repeat(x[:1], 2, axis=0)


def make_mix(
    voice: np.ndarray, music: np.ndarray, ratio_db: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mix, voice, music) at the ratio, all (2, n) float32 at 44.1 kHz, scaled together below full scale."""
    n = min(voice.shape[1], music.shape[1])
    m = music[:, :n].astype(np.float64)
    v = voice[:, :n].astype(np.float64)
    v *= _rms(m) / _rms(v) * 10 ** (ratio_db / 20.0)
    mix = v + m
    peak = float(np.max(np.abs(mix)))
    if peak > 0.999:
        g = 0.999 / peak
        mix, v, m = mix * g, v * g, m * g
    return mix.astype(np.float32), v.astype(np.float32), m.astype(np.float32)


def timed_split(samples: np.ndarray, preset: str) -> tuple[dict, float, object]:
    t0 = time.perf_counter()
    stems, report = split(Audio(samples, RATE_HZ), StemSettings(preset=preset, threads=1))
    return stems, time.perf_counter() - t0, report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument(
        "--voice", type=Path, default=None, help="voice recording (default FOLDER/speech/voices-default.flac)"
    )
    ap.add_argument("--ratios", type=float, nargs="+", default=[0.0, -6.0], help="voice-to-music ratios, dB")
    ap.add_argument("--speed-minutes", type=float, default=0.0, help="also time a file this long (0: skip)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    voice_path = args.voice or args.folder / "speech" / "voices-default.flac"
    music_dir = args.folder / "music" if (args.folder / "music").is_dir() else args.folder
    music_files = sorted(
        p for p in music_dir.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS and p != voice_path
    )
    voice = _stereo_44k(voice_path)
    split(
        Audio(np.zeros((2, RATE_HZ), np.float32), RATE_HZ), StemSettings("2_tracks")
    )  # load the weights once

    rows = []
    for path in music_files:
        music = _stereo_44k(path)
        for ratio in args.ratios:
            mix, v, m = make_mix(voice, music, ratio)
            stems, elapsed, report = timed_split(mix, "2_tracks")
            rows.append(
                {
                    "music": path.name,
                    "ratio_db": ratio,
                    "seconds": mix.shape[1] / RATE_HZ,
                    "vocals_si_sdr_db": si_sdr_db(v, stems["vocals"].samples),
                    "instrumental_si_sdr_db": si_sdr_db(m, stems["instrumental"].samples),
                    "vocals_baseline_db": si_sdr_db(v, mix),
                    "instrumental_baseline_db": si_sdr_db(m, mix),
                    "x_realtime_1_thread": mix.shape[1] / RATE_HZ / elapsed,
                    "sum_residual_db": report.metrics["sum_residual_db"],
                }
            )

    speed = {}
    if args.speed_minutes > 0:
        clips = np.concatenate([_stereo_44k(p) for p in music_files], axis=1)
        n = int(args.speed_minutes * 60 * RATE_HZ)
        long = np.tile(clips, (1, int(np.ceil(n / clips.shape[1]))))[:, :n]
        for preset in ("2_tracks", "4_tracks"):
            _, elapsed, report = timed_split(long, preset)
            speed[preset] = {
                "seconds": n / RATE_HZ,
                "elapsed_s": elapsed,
                "x_realtime_1_thread": n / RATE_HZ / elapsed,
                "timings_s": report.timings_s,
            }
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    if args.json:
        print(json.dumps({"mixes": rows, "speed": speed, "peak_rss_mib": peak_rss_mib}, indent=2))
        return 0
    print(f"voice: {voice_path}   model: spleeter_2stems   torch threads: 1")
    print(f"{'music':<24} {'ratio':>6} {'vocals':>8} {'(mix)':>7} {'instr':>8} {'(mix)':>7} {'x rt':>6}")
    for r in rows:
        print(
            f"{r['music']:<24} {r['ratio_db']:>5.0f}  {r['vocals_si_sdr_db']:7.2f}"
            f"  {r['vocals_baseline_db']:6.2f}  {r['instrumental_si_sdr_db']:7.2f}"
            f"  {r['instrumental_baseline_db']:6.2f}  {r['x_realtime_1_thread']:5.1f}"
        )
    for ratio in args.ratios:
        sel = [r for r in rows if r["ratio_db"] == ratio]
        print(
            f"mean at {ratio:+.0f} dB: vocals {np.mean([r['vocals_si_sdr_db'] for r in sel]):.2f} dB, "
            f"instrumental {np.mean([r['instrumental_si_sdr_db'] for r in sel]):.2f} dB SI-SDR; "
            f"min vocals {min(r['vocals_si_sdr_db'] for r in sel):.2f}, "
            f"min instrumental {min(r['instrumental_si_sdr_db'] for r in sel):.2f}"
        )
    for preset, s in speed.items():
        print(
            f"speed {preset}: {s['seconds']:.0f} s in {s['elapsed_s']:.1f} s"
            f" = {s['x_realtime_1_thread']:.1f}x realtime "
            f"(1 torch thread; stages {', '.join(f'{k} {v:.1f} s' for k, v in s['timings_s'].items())})"
        )
    print(f"peak RSS {peak_rss_mib:.0f} MiB (SI-SDR in dB; '(mix)' = the unprocessed mix as the estimate)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
