"""`split(audio, settings)`: the one entry point of stem separation (CLI, embedded and Celery workers)."""

from __future__ import annotations

import time

import numpy as np

from mastertape.audio.types import Audio
from mastertape.errors import InvalidAudioValues, PresetUnavailable
from mastertape.stems import registry
from mastertape.stems.settings import StemReport, StemSettings


def _rms_dbfs(x: np.ndarray) -> float:
    power = float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0
    return float(10.0 * np.log10(max(power, 1e-30)))


def _sum_residual_db(mix: np.ndarray, stems: list[np.ndarray], block: int = 1 << 18) -> float:
    """Level of `mix - sum(stems)` relative to the mix (dB), in float64 block by block (bounded memory)."""
    err = ref = 0.0
    for start in range(0, mix.shape[1], block):
        m = mix[:, start : start + block].astype(np.float64)
        r = m.copy()
        for stem in stems:
            r -= stem[:, start : start + block]
        err += float(np.sum(r * r))
        ref += float(np.sum(m * m))
    return float(10.0 * np.log10(max(err, 1e-300) / max(ref, 1e-300)))


def split(audio: Audio, settings: StemSettings) -> tuple[dict[str, Audio], StemReport]:
    """Split `audio` into the stems of `settings.preset`: `({name: Audio}, StemReport)`.

    Every stem has the input's rate, channels and length, and the stems (with the complement of a
    single-stem preset) sum back to the input. Raises UnknownPreset (via StemSettings), PresetUnavailable
    with the reason for a preset that cannot run here, InvalidAudioValues for NaN/Inf input.
    """
    spec = registry.get(settings.preset)
    reason = spec.unavailable_reason()
    if reason is not None:
        raise PresetUnavailable(f"stem preset '{spec.name}' {_phrase(reason)}", field="preset")
    if audio.frames and not np.all(np.isfinite(audio.samples)):
        raise InvalidAudioValues("the audio holds NaN or infinite samples")

    t0 = time.perf_counter()
    if audio.frames == 0:
        names = spec.stems + ((spec.complement,) if spec.complement else ())
        zeros = np.zeros((audio.channels, 0), dtype=np.float32)
        sep = registry.Separation({n: zeros for n in names}, (spec.backend,), {}, {})
    else:
        sep = spec.function()(audio, settings)
    elapsed = time.perf_counter() - t0

    residual_db = _sum_residual_db(audio.samples, list(sep.stems.values())) if audio.frames else -300.0

    names = spec.stems + ((spec.complement,) if settings.with_complement and spec.complement else ())
    stems = {n: Audio(np.ascontiguousarray(sep.stems[n], dtype=np.float32), audio.sample_rate) for n in names}
    report = StemReport(
        preset=spec.name,
        backends=sep.backends,
        stems=names,
        notes={n: sep.notes[n] for n in names if n in sep.notes},
        timings_s=dict(sep.timings_s),
        metrics={
            "sum_residual_db": float(residual_db),
            "rms_dbfs": {n: _rms_dbfs(s.samples) for n, s in stems.items()},
            "duration_s": audio.duration_s,
            "x_realtime": audio.duration_s / elapsed if elapsed > 0 else float("inf"),
        },
        elapsed_s=elapsed,
    )
    return stems, report


def _phrase(reason: str) -> str:
    # reasons read either as "cannot run here: ..." or as "needs a model that is not installed"
    return reason if reason.startswith(("cannot", "needs")) else f"cannot run here: {reason}"
