"""GET /analysis/{object_type}/{object_id}: plot data and meters of a completed audio | upscaled | mastered.

The web page draws its waveform, short-term loudness, 1/3-octave spectrum, metrics table and platform
gains from this (see `mastertape.web.analysis`). It is computed once per object, on the first request,
and kept as a JSON blob beside the object's audio (`<object_type>/<id>/analysis-v1.json`, a key derived
from the id only); later requests serve that blob. Ownership works as everywhere: another key's id is
404. An object that is not complete yet is 409, like a download.

The first request decodes the audio in the request's worker thread (at most two at a time per process,
and one computation per object however many requests arrive together): a few seconds for a track of a
few minutes.
"""

from __future__ import annotations

import io
import json
import threading
import weakref
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field

from mastertape.api import objects
from mastertape.api.deps import Owner, RuntimeDep
from mastertape.api.schemas import ErrorResponse
from mastertape.errors import InvalidSetting, NotFound, NotReady, StorageError
from mastertape.jobs.runtime import Runtime
from mastertape.store.models import COMPLETED, FAILED

router = APIRouter(tags=["analysis"])

ANALYSIS_TYPES = ("audio", "upscaled", "mastered")
#: bump when the JSON changes shape: old cached blobs are then simply not found and recomputed
ANALYSIS_VERSION = 1
_COMPUTE = threading.BoundedSemaphore(2)
_LOCKS: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
_LOCKS_GUARD = threading.Lock()


class AnalysisMetrics(BaseModel):
    integrated_lufs: float | None = Field(description="Integrated loudness, LUFS (ITU-R BS.1770-4).")
    true_peak_dbtp: float | None = Field(description="True peak, dBTP (BS.1770-4 Annex 2, 4x oversampling).")
    loudness_range_lu: float | None = Field(description="Loudness range, LU (EBU Tech 3342).")
    plr_db: float | None = Field(description="Peak to loudness ratio: true peak minus integrated loudness.")
    sample_peak_dbfs: float | None
    max_short_term_lufs: float | None = Field(description="Loudest 3 s window, LUFS (EBU Tech 3341).")
    max_momentary_lufs: float | None = Field(description="Loudest 400 ms window, LUFS (EBU Tech 3341).")
    max_gain_reduction_db: float | None = Field(
        description="Largest gain reduction of the master's true-peak limiter, dB (mastered objects only)."
    )


class WaveformOverview(BaseModel):
    columns: int = Field(description="Number of time slices (about 1000; fewer for very short audio).")
    seconds_per_column: float
    min: list[float | None] = Field(description="Lowest sample of any channel per slice (full scale = 1).")
    max: list[float | None] = Field(description="Highest sample of any channel per slice.")
    rms: list[float | None] = Field(description="RMS of all channels per slice.")


class LoudnessSeries(BaseModel):
    window_s: float = Field(description="Window of the short-term loudness (3 s, EBU Tech 3341).")
    first_end_s: float = Field(description="Value j is the window ending at first_end_s + j * step_s.")
    step_s: float
    values: list[float | None] = Field(description="LUFS; null in silence. Empty for audio under 3 s.")


class SpectrumBands(BaseModel):
    bands: str
    centers_hz: list[float] = Field(description="Nominal 1/3-octave centres, 20 Hz - 20 kHz, below Nyquist.")
    levels_db: list[float | None] = Field(description="Band power, dB re full scale (a full sine: -3.01).")


class PlatformPlayback(BaseModel):
    name: str
    reference_lufs: float = Field(description="The platform's normalisation level.")
    gain_db: float | None = Field(description="Gain the platform applies at playback (< 0: turned down).")
    playback_lufs: float | None = Field(description="Loudness the track then plays at.")
    limited_by_peak: bool = Field(description="A quiet track is not turned up all the way (or not at all).")
    turns_up: bool = Field(description="Whether the platform turns quiet tracks up at all.")
    rule: str = Field(description="Where the rule comes from (published, measured or assumed).")


class AnalysisResponse(BaseModel):
    """Everything the web page plots for one completed object."""

    object_type: str
    object_id: str
    duration_s: float
    sample_rate: int
    channels: int
    metrics: AnalysisMetrics
    waveform: WaveformOverview
    short_term_lufs: LoudnessSeries
    spectrum: SpectrumBands
    platforms: list[PlatformPlayback]


def analysis_key(object_type: str, object_id: str) -> str:
    return f"{object_type}/{object_id}/analysis-v{ANALYSIS_VERSION}.json"


def _lock_for(key: str) -> threading.Lock:
    with _LOCKS_GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = threading.Lock()
            _LOCKS[key] = lock
        return lock


def _read_cached(rt: Runtime, key: str) -> bytes | None:
    if not rt.blobs.exists(key):
        return None
    try:
        with rt.blobs.open(key) as fh:
            return fh.read()
    except StorageError:
        return None


def _decode(rt: Runtime, blob_key: str):
    from mastertape.audio import decode

    if not rt.blobs.exists(blob_key):
        raise StorageError(f"the stored file {blob_key} is missing")
    where = rt.blobs.path_or_url(blob_key, ttl_s=600)
    if isinstance(where, Path):
        return decode(where, max_duration_s=rt.settings.max_duration_s)
    with rt.blobs.open(blob_key) as fh:
        return decode(fh, max_duration_s=rt.settings.max_duration_s)


def _compute(rt: Runtime, object_type: str, row) -> bytes:
    from mastertape.web.analysis import analyze

    report = (row.details or {}).get("report") if object_type == "mastered" else None
    with _COMPUTE:
        audio = _decode(rt, row.blob_key)
        data = analyze(audio, report=report).to_dict()
    body = {"object_type": object_type, "object_id": row.id, **data}
    return json.dumps(body, allow_nan=False, separators=(",", ":")).encode()


@router.get(
    "/analysis/{object_type}/{object_id}",
    response_model=AnalysisResponse,
    responses={code: {"model": ErrorResponse} for code in (401, 404, 409, 422)},
    summary="Plot data and meters of a completed audio | upscaled | mastered object",
)
def get_analysis(object_type: str, object_id: str, rt: RuntimeDep, owner: Owner) -> Response:
    """Waveform overview (min/max/RMS in ~1000 slices), short-term loudness every 100 ms, 1/3-octave
    spectrum, LUFS-I / true peak / LRA / PLR (and the limiter's largest gain reduction for a master), and
    the playback gain of Spotify, Apple Music, YouTube, Amazon Music, Tidal and Deezer. Levels that do
    not exist (silence, audio shorter than a window) are null."""
    if object_type not in ANALYSIS_TYPES:
        raise InvalidSetting(
            f"no analysis for object type {object_type!r}; use one of {', '.join(ANALYSIS_TYPES)}",
            field="object_type",
        )
    with rt.db.read() as s:
        row = objects.find(s, owner, object_type, object_id)
        if row is None:
            raise NotFound(f"{object_type} {object_id} not found")
        s.expunge(row)
    if row.status == FAILED:
        raise NotReady(f"{object_type} {object_id} failed and has nothing to analyse: {row.error_message}")
    if row.status != COMPLETED or not row.blob_key:
        raise NotReady(
            f"{object_type} {object_id} is not complete yet: poll /status/{object_type}/{object_id}"
        )
    key = analysis_key(object_type, row.id)
    body = _read_cached(rt, key)
    if body is None:
        with _lock_for(key):
            body = _read_cached(rt, key)
            if body is None:
                body = _compute(rt, object_type, row)
                rt.blobs.put_stream(key, io.BytesIO(body))
    return Response(body, media_type="application/json", headers={"Cache-Control": "private, max-age=3600"})
