"""Runner of the restoration-based stem presets: the restoration output and what it removed.

`denoise`, `denoise_debleed`, `dereverb`, `decrowd` and `phantom_center` run the restoration preset of the
same name (`mastertape.restoration.restore`) and return two stems: the processed audio, brought back to
the input's rate, channels and length, and the residual `input - processed`, so the pair sums to the mix
exactly (up to float32 rounding).
"""

from __future__ import annotations

import time

import numpy as np

from mastertape.audio.resample import resample
from mastertape.audio.types import Audio
from mastertape.errors import PresetUnavailable, UnknownPreset
from mastertape.stems.registry import Separation, get
from mastertape.stems.settings import StemSettings

_PROCESSED_NOTE = "output of the restoration preset '{name}' (backend {backend})"
_RESIDUAL_NOTE = "the input minus the '{first}' stem: what the restoration preset '{name}' removed"


def availability(preset: str) -> str | None:
    """Registry hook: None when the restoration preset of that name is registered and can run here."""
    from mastertape.restoration import registry as restoration

    try:
        spec = restoration.get(preset)
    except UnknownPreset:
        return "its restoration backend is not installed on this server"
    reason = spec.unavailable_reason(None)
    return None if reason is None else f"its restoration backend cannot run here: {reason}"


def _conform(processed: Audio, like: Audio) -> np.ndarray:
    """`processed` at the rate, channel count and length of `like`, float32."""
    if processed.sample_rate != like.sample_rate:
        processed = resample(processed, like.sample_rate)
    y = np.asarray(processed.samples, dtype=np.float32)
    if y.shape[0] != like.channels:
        y = np.repeat(y.mean(axis=0, keepdims=True), like.channels, axis=0)
    out = np.zeros((like.channels, like.frames), dtype=np.float32)
    m = min(like.frames, y.shape[1])
    out[:, :m] = y[:, :m]
    return out


def run_restoration_pair(audio: Audio, settings: StemSettings) -> Separation:
    """Stems {processed, residual} named by the preset's entry, e.g. {"dry", "reverb"} for dereverb."""
    from mastertape.restoration import RestoreSettings, restore

    first, second = get(settings.preset).stems
    t0 = time.perf_counter()
    try:
        processed, report = restore(
            audio,
            RestoreSettings(
                preset=settings.preset, strength=settings.strength, stereo_mode=settings.stereo_mode
            ),
        )
    except UnknownPreset:  # listed by the contract but its restoration backend is not registered (yet)
        raise PresetUnavailable(
            f"stem preset '{settings.preset}' cannot run here: its restoration backend is not installed",
            field="preset",
        ) from None
    timings = {"restoration": time.perf_counter() - t0}
    kept = _conform(processed, audio)
    residual = np.subtract(audio.samples, kept, dtype=np.float32)
    notes = {
        first: _PROCESSED_NOTE.format(name=settings.preset, backend=report.backend),
        second: _RESIDUAL_NOTE.format(first=first, name=settings.preset),
    }
    if report.notes:
        notes[first] += "; " + "; ".join(report.notes)
    return Separation({first: kept, second: residual}, (report.backend,), notes, timings)
