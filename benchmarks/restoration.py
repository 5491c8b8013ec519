"""Restoration benchmark: degrade clean recordings in known ways, restore, and measure quality and speed.

    python benchmarks/restoration.py FOLDER [FOLDER ...] [--seconds 20] [--speed-seconds 20] [--json]
    taskset -c 0 python benchmarks/restoration.py ../shared/audio/music ../shared/audio/speech   # one core
    python benchmarks/restoration.py ../shared/audio/music --bwe-only   # bandwidth extension table only

For every audio file (a `--seconds` excerpt from its middle) and every degradation, each preset that
addresses it runs through `mastertape.restoration.restore` in this process, and the script prints the metric
before (degraded vs clean) and after (restored vs clean), the improvement, and the speed in x realtime
(excerpt duration / wall time of the call; "/ch" divides by the channel count):

| degradation | presets | metric |
|---|---|---|
| clip: hard clipping to an input SDR of 8 dB | declip, universal_enhancer | SDR (dB) |
| lowpass8k: brick-wall low-pass at 8 kHz (FFT) | audiosr, flashsr, aero, universr, universal_enhancer | LSD |
| white10, pink15 (music), white5 (speech): noise at that SNR | denoise(_debleed), enhancer | SI-SDR |
| reverb: room response RT60 0.6 s, DRR 0 dB (direct path + decaying noise from 5 ms) | dereverb | SI-SDR |
| diffuse10: own pink noise per channel at 10 dB SNR (mono: voice panned 60/40 first) | decrowd | SI-SDR |
| clean: the file itself | universal_enhancer | SI-SDR of output vs input (no harm: >= 30 dB) |

LSD is the log-spectral distance of issue 7 (STFT 2048, RMS over bins of the log10-power difference,
mean over frames; lower is better: the "gain" column is the relative reduction). Presets not registered
in this build, or unavailable here, are listed as skipped. Finally every available preset runs on a 44.1 kHz
stereo excerpt (`--speed-seconds`, the first stereo file) carrying the damage it repairs (declip: 5 % of the
samples clipped; bandwidth: low-passed; denoise and voice: white noise; ...) for its speed (target: >= 5x
realtime on one core for the DSP presets); run the whole script under `taskset -c 0` to measure on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _util as u  # noqa: E402

sys.path.insert(0, str(u.REPO / "src"))
sys.path.insert(0, str(u.REPO))

import numpy as np  # noqa: E402

CLIP_SDR_DB = 8.0
LOWPASS_HZ = 8000.0
RT60_S = 0.6
BWE_PRESETS = ("audiosr", "flashsr", "aero", "universr", "universal_enhancer")
NOISE_PRESETS = ("denoise", "denoise_debleed", "universal_enhancer")
SPEED_TARGET_XRT = 5.0


def _excerpt(samples: np.ndarray, sr: int, seconds: float) -> np.ndarray:
    n = int(seconds * sr)
    if samples.shape[1] <= n:
        return samples
    start = (samples.shape[1] - n) // 2
    return samples[:, start : start + n]


def _lowpass(x: np.ndarray, sr: int, cutoff_hz: float) -> np.ndarray:
    spec = np.fft.rfft(x, axis=1)
    spec[:, np.fft.rfftfreq(x.shape[1], 1 / sr) > cutoff_hz] = 0.0
    return np.fft.irfft(spec, n=x.shape[1], axis=1).astype(np.float32)


def _pan(x: np.ndarray) -> np.ndarray:
    return np.concatenate([0.6 * x, 0.4 * x]).astype(np.float32)


def _diffuse(x: np.ndarray, snr_db: float, seed: int = 21) -> np.ndarray:
    from tests.unit.restoration.cleanup_signals import add_noise

    return add_noise(x, snr_db, "pink", seed=seed)  # independent per channel: decorrelated


def degradations(
    x: np.ndarray, sr: int, is_speech: bool
) -> list[tuple[str, np.ndarray, tuple[str, ...], str]]:
    """(name, degraded samples, presets, metric) for one clean excerpt."""
    from tests.unit.restoration.cleanup_signals import add_noise, clip_to_sdr
    from tests.unit.restoration.space_signals import reverberate, room_response

    out = []
    clipped, _ = clip_to_sdr(x, CLIP_SDR_DB)
    out.append(("clip", clipped, ("declip", "universal_enhancer"), "sdr"))
    if sr >= 2 * 16000:
        out.append(("lowpass8k", _lowpass(x, sr, LOWPASS_HZ), BWE_PRESETS, "lsd"))
    if is_speech:
        out.append(("white5", add_noise(x, 5.0, "white"), NOISE_PRESETS, "si_sdr"))
    else:
        out.append(("white10", add_noise(x, 10.0, "white"), NOISE_PRESETS, "si_sdr"))
        out.append(("pink15", add_noise(x, 15.0, "pink"), NOISE_PRESETS, "si_sdr"))
    wet = reverberate(x, room_response(RT60_S, sr, drr_db=0.0)).astype(np.float32)
    out.append(("reverb0.6", wet, ("dereverb",), "si_sdr"))
    if x.shape[0] == 2:
        out.append(("diffuse10", _diffuse(x, 10.0), ("decrowd",), "si_sdr"))
    else:  # a mono voice panned 60/40 into stereo (a coherent source) in diffuse noise; scored on that scene
        out.append(("pan+diff10", _diffuse(_pan(x), 10.0), ("decrowd",), "si_sdr_pan"))
    out.append(("clean", x, ("universal_enhancer",), "si_sdr"))
    return out


def metric(kind: str, ref: np.ndarray, est: np.ndarray, sr: int) -> float:
    from mastertape.dsp.metrics import log_spectral_distance, sdr_db, si_sdr_db

    if kind == "sdr":
        return sdr_db(ref, est)
    if kind == "si_sdr":
        return si_sdr_db(ref, est)
    if kind == "si_sdr_pan":
        return si_sdr_db(_pan(ref), est)
    return log_spectral_distance(ref, est, sr, low_hz=8000.0, high_hz=16000.0)


def _preset_state(name: str) -> str | None:
    from mastertape.errors import MastertapeError
    from mastertape.restoration import RestoreSettings, get

    try:
        spec = get(name)
    except MastertapeError:
        return "not registered in this build"
    try:
        return spec.unavailable_reason(RestoreSettings(preset=name))
    except Exception as exc:  # noqa: BLE001 - a failing probe is reported, not fatal
        return f"availability check failed: {exc}"


def run_preset(name: str, samples: np.ndarray, sr: int):
    from mastertape.audio import Audio
    from mastertape.restoration import RestoreSettings, restore

    t0 = time.perf_counter()
    out, report = restore(
        Audio(np.ascontiguousarray(samples, dtype=np.float32), sr), RestoreSettings(preset=name)
    )
    return out.samples, report, time.perf_counter() - t0


def quality(files: list[Path], seconds: float) -> list[dict]:
    from mastertape.audio import decode

    rows = []
    for path in files:
        audio = decode(path)
        sr = audio.sample_rate
        x = _excerpt(audio.samples, sr, seconds).astype(np.float32)
        is_speech = "speech" in path.parts[-2] or "voice" in path.stem
        dur = x.shape[1] / sr
        for deg, y, presets, kind in degradations(x, sr, is_speech):
            before = metric(kind, x, y, sr) if deg != "clean" else None
            for name in presets:
                state = _preset_state(name)
                if state is not None:
                    print(f"{path.name[:28]:<28} {deg:<10} {name:<18} skipped: {state}", flush=True)
                    rows.append(
                        {
                            "file": path.name,
                            "degradation": deg,
                            "preset": name,
                            "metric": kind,
                            "skipped": state,
                        }
                    )
                    continue
                est, report, wall = run_preset(name, y, sr)
                after = metric(kind, x, est, sr)
                gain = None
                if before is not None:
                    gain = (before - after) / before * 100.0 if kind == "lsd" else after - before
                rows.append(
                    {
                        "file": path.name,
                        "degradation": deg,
                        "preset": name,
                        "metric": kind,
                        "before": before,
                        "after": after,
                        "gain": gain,
                        "xrt": dur / wall,
                        "xrt_per_channel": dur * y.shape[0] / wall,
                        "channels": y.shape[0],
                        "sr": sr,
                        "backend": report.backend,
                        "repairs": list(report.repairs),
                        "speech_probability": report.metrics.get("speech_probability"),
                    }
                )
                print(_row_line(rows[-1]), flush=True)
    return rows


def _f(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def _row_line(r: dict) -> str:
    if "skipped" in r:
        return f"{r['file'][:28]:<28} {r['degradation']:<10} {r['preset']:<18} skipped: {r['skipped']}"
    unit = "%" if r["metric"] == "lsd" else "dB"
    gain = f"{r['gain']:+.2f}{unit}" if r["gain"] is not None else "-"
    return (
        f"{r['file'][:28]:<28} {r['degradation']:<10} {r['preset']:<18} {r['metric']:<6} "
        f"{_f(r['before']):>7} -> {_f(r['after']):>7}  {gain:>9}  "
        f"{r['xrt']:6.1f}x ({r['xrt_per_channel']:.1f}x/ch)"
        f"  {r['backend']}"
    )


def speed(files: list[Path], seconds: float) -> list[dict]:
    from mastertape.audio import decode, resample
    from mastertape.restoration import PRESET_NAMES

    stereo = None
    for path in files:
        a = decode(path)
        if a.channels == 2:
            stereo = (path, a)
            break
    if stereo is None:
        print("speed: no stereo file in the folders", flush=True)
        return []
    path, audio = stereo
    if audio.sample_rate != 44100:
        audio = resample(audio, 44100)
    x = _excerpt(audio.samples, 44100, seconds).astype(np.float32)
    dur = x.shape[1] / 44100
    rows = []
    for name in PRESET_NAMES:
        state = _preset_state(name)
        if state is not None:
            rows.append({"preset": name, "skipped": state})
            print(f"speed {name:<18} skipped: {state}", flush=True)
            continue
        label, y = _speed_input(name, x, 44100)
        _, report, wall = run_preset(name, y, 44100)
        rows.append(
            {
                "preset": name,
                "input": label,
                "file": path.name,
                "seconds": dur,
                "wall_s": wall,
                "xrt": dur / wall,
                "xrt_per_channel": 2 * dur / wall,
                "backend": report.backend,
                "meets_target": _meets_speed(name, dur / wall),
            }
        )
        goal = "2x per channel" if name == "declip" else f"{SPEED_TARGET_XRT:g}x"
        print(
            f"speed {name:<18} {label:<22} {dur / wall:6.1f}x realtime ({2 * dur / wall:.1f}x per channel)  "
            f"{'ok' if _meets_speed(name, dur / wall) else 'below ' + goal}  {report.backend}",
            flush=True,
        )
    return rows


def _meets_speed(name: str, xrt_stereo: float) -> bool:
    """Issue 7's speed goals: declip >= 2x realtime per channel (5 % clipped), the other DSP presets >= 5x."""
    return xrt_stereo * 2 >= 2.0 if name == "declip" else xrt_stereo >= SPEED_TARGET_XRT


def _speed_input(name: str, x: np.ndarray, sr: int) -> tuple[str, np.ndarray]:
    """The excerpt with the damage `name` repairs, so that the speed is that of the repair (a preset that
    finds nothing to do on clean audio would look fast): (label, samples)."""
    from tests.unit.restoration.cleanup_signals import add_noise, hard_clip
    from tests.unit.restoration.space_signals import reverberate, room_response

    if name == "declip":  # issue 7's speed case: 5 % of the samples clipped
        return "5% of samples clipped", hard_clip(x, float(np.quantile(np.abs(x), 0.95))).astype(np.float32)
    if name in BWE_PRESETS[:-1]:
        return f"low-passed {LOWPASS_HZ / 1000:g} kHz", _lowpass(x, sr, LOWPASS_HZ)
    if name in ("denoise", "denoise_debleed", "universal_enhancer", "novasr", "lavasr", "reuse", "apollo_voice"):
        return "white noise 10 dB", add_noise(x, 10.0, "white")
    if name == "dereverb":
        return f"room RT60 {RT60_S:g} s", reverberate(x, room_response(RT60_S, sr, drr_db=0.0)).astype(np.float32)
    if name == "decrowd":
        return "diffuse noise 10 dB", _diffuse(x, 10.0)
    return "clean", x


def _oracle_high_band(x: np.ndarray, sr: int, cutoff_hz: float, seed: int = 0) -> np.ndarray:
    """The clean excerpt's band above `cutoff_hz` rebuilt from its own exact STFT magnitudes (2048, hop 512)
    with random phases: what a method that knew every magnitude but no phase could reach, a yardstick for
    the LSD reductions (not something a real extension can do)."""
    from scipy.signal import istft, stft

    freqs, _, z = stft(x.astype(np.float64), fs=sr, nperseg=2048, noverlap=1536)
    high = freqs > cutoff_hz
    rng = np.random.default_rng(seed)
    rebuilt = np.zeros_like(z)
    rebuilt[:, high] = np.abs(z[:, high]) * np.exp(2j * np.pi * rng.random(z[:, high].shape))
    _, h = istft(rebuilt, fs=sr, nperseg=2048, noverlap=1536)
    return h[:, : x.shape[1]]


def bandwidth_extension(files: list[Path], seconds: float) -> list[dict]:
    """Bandwidth extension on music low-passed at LOWPASS_HZ: cutoff found, LSD 8-16 kHz, exactness, speed.

    Per music file (stereo, >= 32 kHz): the detected cutoff of the low-passed excerpt, then per preset the LSD
    (issue 7: STFT 2048, 8-16 kHz) of low-passed and restored against the clean excerpt and its reduction
    (target >= 30 %), the speed, and for universr both reconstruction methods with the energy of
    (output - low-passed input) below the crossover relative to the input's (original_signal: float32
    rounding, i.e. exact to float32). "bound": the LSD with the clean band's exact magnitudes but random
    phases added (`_oracle_high_band`).
    """
    from tests.unit.restoration.bw_signals import band_energy_db

    from mastertape.audio import Audio, decode
    from mastertape.restoration import RestoreSettings, restore
    from mastertape.restoration.bandwidth import crossover_hz, detect_cutoff_hz

    runs = (
        ("audiosr", {}),
        ("audiosr", {"frequency_cutoff_hz": 20000.0}),
        ("audiosr", {"frequency_cutoff_hz": 20000.0, "multiband_ensemble": False}),
        ("flashsr", {}),
        ("aero", {}),
        ("universr", {"reconstruction_method": "original_signal"}),
        ("universr", {"reconstruction_method": "original"}),
    )
    rows = []
    print(f"# bandwidth extension: music low-passed at {LOWPASS_HZ:.0f} Hz (FFT brick-wall), LSD 8-16 kHz")
    for path in files:
        if "music" not in path.parts[-2]:
            continue
        audio = decode(path)
        sr = audio.sample_rate
        if sr < 32000:
            continue
        x = _excerpt(audio.samples, sr, seconds).astype(np.float32)
        y = _lowpass(x, sr, LOWPASS_HZ)
        before = metric("lsd", x, y, sr)
        found = detect_cutoff_hz(y, sr)
        found_clean = detect_cutoff_hz(x, sr)
        bound = metric("lsd", x, y + _oracle_high_band(x, sr, LOWPASS_HZ), sr)
        print(f"{path.name[:28]:<28} cutoff found: low-passed {_f(found, '.0f')} Hz, clean "
              f"{_f(found_clean, '.0f')} Hz; LSD before {before:.3f}; bound {bound:.3f} "
              f"({(before - bound) / before * 100.0:+.1f}%)", flush=True)
        for name, extra in runs:
            t0 = time.perf_counter()
            out, report = restore(Audio(y, sr), RestoreSettings(preset=name, **extra))
            wall = time.perf_counter() - t0
            after = metric("lsd", x, out.samples, sr)
            row = {"file": path.name, "preset": name, "settings": extra, "cutoff_hz": found,
                   "before": before, "after": after, "reduction_pct": (before - after) / before * 100.0,
                   "xrt": x.shape[1] / sr / wall, "backend": report.backend}
            label = name + "".join(f" {k.replace('_hz', '').replace('reconstruction_method', 'rm')}={v}"
                                   for k, v in extra.items())
            line = (f"  {label:<58} LSD {before:.3f} -> {after:.3f}  {row['reduction_pct']:+6.1f}%  "
                    f"{row['xrt']:5.1f}x")
            if name == "universr" and found is not None:
                xo = crossover_hz(found)
                diff = out.samples.astype(np.float64) - y
                row["below_crossover_db"] = band_energy_db(diff, sr, 0.0, xo) - band_energy_db(y, sr, 0.0, xo)
                line += f"  (out - in) below {xo:.0f} Hz: {row['below_crossover_db']:.1f} dB re input"
            rows.append(row)
            print(line, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--seconds", type=float, default=20.0, help="excerpt length per file (s)")
    ap.add_argument("--speed-seconds", type=float, default=20.0, help="excerpt for the speed table (s)")
    ap.add_argument("--no-quality", action="store_true", help="speed table only")
    ap.add_argument("--no-speed", action="store_true", help="quality table only")
    ap.add_argument("--json", action="store_true", help="also print all rows as JSON at the end")
    ap.add_argument("--bwe-only", action="store_true", help="only the bandwidth-extension table (music files)")
    args = ap.parse_args()
    files = [f for folder in args.folders for f in u.audio_files(folder)]
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    print(f"# restoration benchmark: {len(files)} files, {args.seconds:g} s excerpts; cores allowed: {cores}")
    print(
        f"{'file':<28} {'degraded':<10} {'preset':<18} {'metric':<6} {'before':>7}    {'after':>7}  "
        f"{'gain':>9}  speed"
    )
    if args.bwe_only:
        b = bandwidth_extension(files, args.seconds)
        if args.json:
            print(json.dumps({"bandwidth_extension": b}, indent=1, default=str))
        return
    q = [] if args.no_quality else quality(files, args.seconds)
    s = [] if args.no_speed else speed(files, args.speed_seconds)
    clean = [r for r in q if r.get("degradation") == "clean" and "after" in r]
    if clean:
        worst = min(r["after"] for r in clean)
        print(
            f"# universal_enhancer no-harm: worst SI-SDR(output, clean input) {worst:.1f} dB "
            f"({'ok' if worst >= 30 else 'BELOW 30 dB'}) over {len(clean)} files"
        )
    if args.json:
        print(json.dumps({"quality": q, "speed": s}, indent=1, default=str))


if __name__ == "__main__":
    main()
