"""Model-folder plug-in for the generative presets (dacvae, acestep_15_xl, stable_audio_3): ONNX Runtime.

Nothing here downloads weights. The operator puts exported models in the folder named by
MASTERTAPE_MODEL_DIR (config.Settings.model_dir, passed down as RestoreSettings.model_dir):

    <model_dir>/<preset>/<model_name>/model.onnx    (a `model_name` variant, used when present)
    <model_dir>/<preset>/model.onnx                 (the preset's default model)
    ... /config.json                                (optional, next to model.onnx)

config.json (all keys optional):
    sample_rate  rate the model runs at (Hz); the audio is resampled to it and back (default: the input's)
    chunk        samples per inference call at the model rate (default: the model's fixed time axis, else 10 s)
    overlap      samples shared by consecutive chunks (default: chunk // 8)
    channels     channels the model takes, 1 or 2 (default: the model's fixed channel axis, else 1);
                 a mono model runs on each channel (or on mid/side etc. as stereo_mode says)

Input/output contract of model.onnx:
    input 0  (any name)  float32 [1, channels, chunk]   audio, full scale = 1.0
    "mask"   (optional)  float32 [1, 1, chunk]           1 where the audio is to be inpainted, else 0
    output 0             float32 [1, channels, chunk]   restored audio at the same rate, aligned with input
Chunks start every `chunk - overlap` samples (the last one zero-padded); each output chunk is weighted by
a window that is 1 in its middle and rises/falls as sin^2 over `overlap` samples, and the overlap-add is
divided by the summed weights, so a model that returns its input reproduces the input exactly.
With `inpaint_regions`, a model with a "mask" input gets the regions as the mask and only the regions
(plus a 10 ms crossfade) are taken from its output; `prompt` is not passed (no text encoder in this contract).

Without a model, these presets are unavailable with a reason naming the missing file; `stable_audio_3` with
`inpaint_regions` then falls back to DSP inpainting (inpaint.py), reported as such. They never return the
input as if restored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from mastertape.audio.resample import resample
from mastertape.audio.types import Audio
from mastertape.errors import PresetUnavailable
from mastertape.restoration import inpaint
from mastertape.restoration.settings import RestoreReport, RestoreSettings
from mastertape.restoration.stereo import apply_stereo_mode

MODEL_FILE = "model.onnx"
CONFIG_FILE = "config.json"
DEFAULT_CHUNK_S = 10.0
INPAINT_FADE_S = 0.01
MODEL_PRESETS = ("dacvae", "acestep_15_xl", "stable_audio_3")
DSP_INPAINT_BACKEND = "dsp_inpainting (no model weights)"


@dataclass(frozen=True)
class ModelConfig:
    """How to run one model.onnx (see the module docstring)."""

    path: Path
    sample_rate: int | None
    chunk: int
    overlap: int
    channels: int
    input_name: str
    mask_name: str | None
    output_name: str


def model_path(settings: RestoreSettings) -> Path | None:
    """The model.onnx for settings.preset (a model_name variant first), None if there is none."""
    if settings.model_dir is None:
        return None
    base = Path(settings.model_dir) / settings.preset
    for candidate in (base / settings.model_name / MODEL_FILE, base / MODEL_FILE):
        if candidate.is_file():
            return candidate
    return None


def _runtime_reason() -> str | None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "the 'onnxruntime' package is not installed"
    return None


def missing_reason(settings: RestoreSettings) -> str | None:
    """None when a model for settings.preset is installed and ONNX Runtime is present, else what is missing."""
    runtime = _runtime_reason()
    if runtime is not None:
        return runtime
    if settings.model_dir is None:
        return (f"needs generative model weights, and no model folder is configured: set MASTERTAPE_MODEL_DIR to a "
                f"folder holding {settings.preset}/{MODEL_FILE} (ONNX; see restoration/onnx_models.py)")
    if model_path(settings) is None:
        base = Path(settings.model_dir) / settings.preset
        return (f"needs generative model weights: neither {base / settings.model_name / MODEL_FILE} nor "
                f"{base / MODEL_FILE} exists (ONNX; see restoration/onnx_models.py)")
    return None


def unavailable_reason(settings: RestoreSettings | None = None) -> str | None:
    """Registry hook: None when the preset can run (weights present, or DSP inpainting applies)."""
    if settings is None:
        settings = RestoreSettings()
    reason = missing_reason(settings)
    if reason is not None and settings.preset == "stable_audio_3" and settings.inpaint_regions:
        return None  # DSP inpainting of the regions, reported as such
    return reason


def _hook(preset: str):
    """An `available` hook bound to one preset (the registry passes settings whose preset may differ)."""

    def reason(settings: RestoreSettings | None = None) -> str | None:
        return unavailable_reason(replace(settings or RestoreSettings(), preset=preset))

    reason.__name__ = f"{preset}_unavailable_reason"
    return reason


dacvae_unavailable = _hook("dacvae")
acestep_15_xl_unavailable = _hook("acestep_15_xl")
stable_audio_3_unavailable = _hook("stable_audio_3")


def _fixed(dim) -> int | None:
    return int(dim) if isinstance(dim, int) and dim > 0 else None


@lru_cache(maxsize=4)
def _session(path: str, mtime_ns: int):
    del mtime_ns  # part of the cache key: a replaced model file is reloaded
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


def load_model(path: Path) -> tuple[object, ModelConfig]:
    """(ONNX Runtime session, config) for a model.onnx (+ optional config.json beside it)."""
    try:
        sess = _session(str(path), path.stat().st_mtime_ns)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise PresetUnavailable(f"model {path} cannot be loaded by ONNX Runtime: {exc}") from exc
    cfg_file = path.with_name(CONFIG_FILE)
    cfg = json.loads(cfg_file.read_text()) if cfg_file.is_file() else {}
    inputs = sess.get_inputs()
    audio_in = next(i for i in inputs if i.name != "mask")
    mask = next((i.name for i in inputs if i.name == "mask"), None)
    shape = list(audio_in.shape) + [None] * 3
    sr = cfg.get("sample_rate")
    chunk = int(cfg.get("chunk") or _fixed(shape[2]) or 0)
    chunk_rate = int(sr) if sr else None
    if chunk <= 0:
        chunk = -1  # resolved against the run's rate (DEFAULT_CHUNK_S)
    overlap = cfg.get("overlap")
    channels = int(cfg.get("channels") or _fixed(shape[1]) or 1)
    if channels not in (1, 2):
        raise PresetUnavailable(f"model {path}: channels must be 1 or 2, got {channels}")
    config = ModelConfig(path=path, sample_rate=chunk_rate, chunk=chunk,
                         overlap=-1 if overlap is None else int(overlap), channels=channels,
                         input_name=audio_in.name, mask_name=mask, output_name=sess.get_outputs()[0].name)
    return sess, config


def chunk_starts(n: int, chunk: int, overlap: int) -> np.ndarray:
    """Start of every chunk covering n samples with `overlap` shared samples (the last may run past n)."""
    hop = chunk - overlap
    if hop <= 0:
        raise ValueError("overlap must be smaller than chunk")
    count = 1 if n <= chunk else 1 + int(np.ceil((n - chunk) / hop))
    return np.arange(count) * hop


def chunk_window(chunk: int, overlap: int, first: bool, last: bool) -> np.ndarray:
    """1 in the middle, sin^2 ramps of `overlap` samples at the ends that meet another chunk."""
    w = np.ones(chunk)
    if overlap > 0:
        ramp = np.sin(0.5 * np.pi * (np.arange(overlap) + 0.5) / overlap) ** 2
        if not first:
            w[:overlap] = ramp
        if not last:
            w[-overlap:] = ramp[::-1]
    return w


def run_chunked(sess, config: ModelConfig, x: np.ndarray, chunk: int, overlap: int,
                mask: np.ndarray | None = None) -> np.ndarray:
    """Model output for (channels == config.channels, frames) float32 audio by chunked overlap-add."""
    c, n = x.shape
    starts = chunk_starts(n, chunk, overlap)
    total = int(starts[-1]) + chunk
    pad = np.zeros((c, total), dtype=np.float32)
    pad[:, :n] = x
    mpad = None
    if config.mask_name is not None:
        mpad = np.zeros((1, total), dtype=np.float32)
        if mask is not None:
            mpad[0, :n] = mask
    acc = np.zeros((c, total))
    weight = np.zeros(total)
    for i, s in enumerate(starts):
        feed = {config.input_name: pad[None, :, s : s + chunk]}
        if mpad is not None:
            feed[config.mask_name] = mpad[None, :, s : s + chunk]
        y = np.asarray(sess.run([config.output_name], feed)[0], dtype=np.float64)
        if y.shape != (1, c, chunk):
            raise PresetUnavailable(
                f"model {config.path} returned shape {y.shape}, the contract needs (1, {c}, {chunk})")
        w = chunk_window(chunk, overlap, i == 0, i == len(starts) - 1)
        acc[:, s : s + chunk] += y[0] * w
        weight[s : s + chunk] += w
    return (acc[:, :n] / np.maximum(weight[:n], 1e-12)).astype(np.float32)


def apply_model(samples: np.ndarray, sr: int, path: Path, stereo_mode: str = "single_pass",
                mask: np.ndarray | None = None) -> np.ndarray:
    """Run the model at `path` on (channels, frames) audio at rate `sr`; same shape and rate out."""
    sess, config = load_model(path)
    model_sr = config.sample_rate or sr
    x = np.asarray(samples, dtype=np.float32)
    if model_sr != sr:
        x = resample(Audio(x, sr), model_sr).samples
    m = None
    if mask is not None:
        m = mask if model_sr == sr else (np.interp(np.arange(x.shape[1]) * sr / model_sr,
                                                   np.arange(mask.size), mask) > 0.5).astype(np.float32)
    chunk = config.chunk if config.chunk > 0 else int(DEFAULT_CHUNK_S * model_sr)
    overlap = config.overlap if config.overlap >= 0 else chunk // 8

    def process(block: np.ndarray) -> np.ndarray:
        if block.shape[0] == config.channels:
            return run_chunked(sess, config, block, chunk, overlap, m)
        if config.channels == 1:
            return np.concatenate([run_chunked(sess, config, block[i : i + 1], chunk, overlap, m)
                                   for i in range(block.shape[0])])
        # a stereo model on one signal: fed on both inputs, the two outputs averaged
        y = run_chunked(sess, config, np.repeat(block, 2, axis=0), chunk, overlap, m)
        return y.mean(axis=0, keepdims=True)

    y = apply_stereo_mode(x, stereo_mode, process)
    if model_sr != sr:
        y = resample(Audio(y, model_sr), sr).samples
        y = y[:, : samples.shape[1]] if y.shape[1] >= samples.shape[1] else np.pad(
            y, ((0, 0), (0, samples.shape[1] - y.shape[1])))
    return np.nan_to_num(y).astype(np.float32)


def _region_blend(n: int, spans: list[tuple[int, int]], fade: int) -> np.ndarray:
    """0 outside the regions, 1 inside, sin^2 crossfades of `fade` samples just outside each region."""
    w = np.zeros(n)
    ramp = np.sin(0.5 * np.pi * (np.arange(fade) + 0.5) / max(fade, 1)) ** 2
    for s, e in spans:
        w[s:e] = 1.0
        lo = max(0, s - fade)
        w[lo:s] = np.maximum(w[lo:s], ramp[fade - (s - lo):])
        hi = min(n, e + fade)
        w[e:hi] = np.maximum(w[e:hi], ramp[::-1][: hi - e])
    return w


def run_model_preset(audio: Audio, settings: RestoreSettings) -> tuple[Audio, RestoreReport]:
    """Presets dacvae, acestep_15_xl, stable_audio_3 (see the module docstring)."""
    x = np.asarray(audio.samples, dtype=np.float32)
    sr = audio.sample_rate
    path = model_path(settings) if _runtime_reason() is None else None
    spans = inpaint.region_samples(settings.inpaint_regions, sr, x.shape[1])
    regions = settings.preset == "stable_audio_3" and bool(settings.inpaint_regions)
    metrics: dict = {"inpaint_regions_samples": [list(s) for s in spans]} if regions else {}
    if path is None:
        if not regions:
            raise PresetUnavailable(f"preset '{settings.preset}' cannot run: {missing_reason(settings)}")
        out = inpaint.inpaint(x, sr, settings.inpaint_regions)
        notes = (f"no model weights ({missing_reason(settings)}): the {len(spans)} region(s) were rebuilt by "
                 "autoregressive extrapolation from both sides (DSP), the rest of the audio is unchanged",)
        return audio.with_samples(out), RestoreReport(
            preset=settings.preset, backend=DSP_INPAINT_BACKEND, repairs=("inpaint",), metrics=metrics, notes=notes)
    _, config = load_model(path)
    backend = f"onnx:{path.parent.name}/{path.name}"
    metrics.update({"model": str(path), "model_sample_rate": config.sample_rate, "chunk": config.chunk,
                    "overlap": config.overlap, "model_channels": config.channels})
    notes = [f"ONNX Runtime on {path}"]
    if settings.prompt and settings.preset in ("stable_audio_3", "acestep_15_xl"):
        notes.append("prompt not used: the model-folder contract has no text input")
    if regions:
        if config.mask_name is None:
            out = inpaint.inpaint(x, sr, settings.inpaint_regions)
            notes.append("the model has no 'mask' input: the regions were rebuilt by DSP inpainting instead")
            return audio.with_samples(out), RestoreReport(
                preset=settings.preset, backend=DSP_INPAINT_BACKEND, repairs=("inpaint",), metrics=metrics,
                notes=tuple(notes))
        mask = np.zeros(x.shape[1], dtype=np.float32)
        for s, e in spans:
            mask[s:e] = 1.0
        y = apply_model(x, sr, path, settings.stereo_mode, mask)
        blend = _region_blend(x.shape[1], spans, int(INPAINT_FADE_S * sr))
        out = (x + blend[None, :] * (y - x)).astype(np.float32)
        return audio.with_samples(out), RestoreReport(
            preset=settings.preset, backend=backend, repairs=("inpaint",), metrics=metrics, notes=tuple(notes))
    y = apply_model(x, sr, path, settings.stereo_mode)
    return audio.with_samples(y), RestoreReport(
        preset=settings.preset, backend=backend, repairs=("model",), metrics=metrics, notes=tuple(notes))
