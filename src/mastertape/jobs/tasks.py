"""What each kind of job does: `run_import`, `run_restore`, `run_master` (one function per kind; stem
separation and archives live in `jobs/stems_job.py` and `jobs/archive_job.py`).

Every runner (the embedded worker pool, a Celery worker, a test running jobs inline) calls these same
functions with a `Claim` (the job's ids and claim token) and a `Runtime`. Each one loads what it needs
by id, calls the pure processing function (`audio.decode`, `restoration.restore`, `mastering.master`),
writes its outputs under keys derived from the artifact id (atomically: temp file + rename), and
records status, metrics and timings through the guarded updates of `jobs.state`, so that running a
job twice can never produce two results. Failures are raised (typed `MastertapeError`s with a
message for the user) and recorded by `jobs.runner.execute`.

Stages reported in `status_details.stage`: queued, waiting (for an import/restoration it depends on),
starting, fetching, decoding, analysing, restoring, mastering stages (named by the mastering chain),
encoding, preview, storing, done (or failed).
"""

from __future__ import annotations

import logging
import mimetypes
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mastertape.errors import InvalidSetting, NotFound, StorageError
from mastertape.jobs import state
from mastertape.jobs.runtime import Runtime
from mastertape.jobs.state import Claim, ReadyJob
from mastertape.store.models import ARCHIVE, COMPLETED, MASTER, RESTORE, Asset, Mastered, Stem, Upscaled

#: extension of each output format's file (AAC goes in an MPEG-4 audio file)
FORMAT_EXTENSIONS = {"wav": ".wav", "flac": ".flac", "mp3": ".mp3", "aac": ".m4a", "opus": ".opus"}
MEDIA_TYPES = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "aac": "audio/mp4",
    "opus": "audio/ogg",
}
#: how often a running job writes its progress to the database
PROGRESS_INTERVAL_S = 0.5
#: a selection may end this much past the decoded length (rounding of durations in a UI)
SELECTION_TOLERANCE_S = 0.05


log = logging.getLogger("mastertape.jobs")


# --- blob keys: derived from artifact ids only ---------------------------------------------------
def original_key(asset_id: str) -> str:
    return f"audio/{asset_id}/original"


def restored_key(upscaled_id: str) -> str:
    return f"upscaled/{upscaled_id}/restored.wav"


def master_key(mastered_id: str) -> str:
    return f"mastered/{mastered_id}/master.wav"


def preview_key(mastered_id: str, fmt: str) -> str:
    return f"mastered/{mastered_id}/preview{FORMAT_EXTENSIONS[fmt]}"


def derived_key(object_type: str, object_id: str, fmt: str) -> str:
    """Key of a format conversion made on request (see `ensure_format`)."""
    return f"{object_type}/{object_id}/as-{fmt}{FORMAT_EXTENSIONS[fmt]}"


def stem_key(stem_id: str) -> str:
    return f"stem/{stem_id}/stem.wav"


def archive_key(archive_id: str) -> str:
    return f"archive/{archive_id}/archive.zip"


def output_keys(kind: str, object_id: str) -> list[str]:
    """The blobs a job of `kind` writes for its artifact before it records completion (an import writes
    none: the uploaded original is its input; a split's stems are rows of their own)."""
    if kind == MASTER:
        return [master_key(object_id), *(preview_key(object_id, fmt) for fmt in FORMAT_EXTENSIONS)]
    if kind == RESTORE:
        return [restored_key(object_id)]
    if kind == ARCHIVE:
        return [archive_key(object_id)]
    return []


def discard_outputs(rt: Runtime, kind: str, object_id: str) -> None:
    """Delete what a failed job of `kind` may have written (missing blobs are fine): a failed job leaves no
    half-made artifact behind, also when it was killed between storing its files and recording them."""
    for key in output_keys(kind, object_id):
        try:
            rt.blobs.delete(key)
        except (OSError, StorageError):  # noqa: PERF203 - best effort, per key
            log.warning("could not delete %s of a failed %s job", key, kind)


@dataclass(frozen=True)
class BlobChoice:
    """The blob to serve for an artifact in a format. When `convert_from` is set, `key` is a conversion of
    that blob, made by `ensure_format(rt, convert_from, key, fmt, bit_depth=bit_depth)` if not there yet."""

    key: str
    ext: str
    media_type: str
    convert_from: str | None = None
    bit_depth: int = 24


def blob_for_format(object_type: str, row, fmt: str | None) -> BlobChoice:
    """Which blob holds `row` (an artifact of `object_type`) in `fmt` (None: its stored form).

    - `audio`: no format -> the file as uploaded; any format -> a conversion of it;
    - `mastered`: none or wav -> the WAV master at the requested bit depth; the request's streaming format
      -> the preview written by the master job; others -> a conversion (FLAC at up to 24 bits);
    - `upscaled`, `stem`: none or wav -> the stored WAV; others -> a conversion.
    """
    if object_type == "audio":
        if fmt is None:
            ext = Path(row.original_filename or "").suffix.lower()[:10]
            media = mimetypes.guess_type(f"x{ext}")[0] or "application/octet-stream"
            return BlobChoice(row.blob_key, ext, media)
        bit_depth = 24
    elif fmt in (None, "wav"):
        return BlobChoice(row.blob_key, ".wav", MEDIA_TYPES["wav"])
    elif object_type == "mastered":
        if fmt == row.preview_format and row.preview_key:
            return BlobChoice(row.preview_key, FORMAT_EXTENSIONS[fmt], MEDIA_TYPES[fmt])
        bit_depth = min(int((row.request or {}).get("bit_depth", 24)), 24)
    elif object_type == "stem":
        bit_depth = min(int((row.details or {}).get("bit_depth", 24)), 24)
    else:
        bit_depth = 24
    return BlobChoice(
        derived_key(object_type, row.id, fmt), FORMAT_EXTENSIONS[fmt], MEDIA_TYPES[fmt], row.blob_key, bit_depth
    )


# --- helpers --------------------------------------------------------------------------------------
class Progress:
    """Throttled progress writer `progress(stage, fraction)`; raises ClaimLost once the job is not ours."""

    def __init__(self, rt: Runtime, claim: Claim, interval_s: float = PROGRESS_INTERVAL_S) -> None:
        self._rt, self._claim, self._interval_s = rt, claim, interval_s
        self._last_t = 0.0
        self._last_stage: str | None = None

    def __call__(self, stage: str, fraction: float, **extra) -> None:
        now = time.monotonic()
        if stage == self._last_stage and now - self._last_t < self._interval_s and fraction < 1.0:
            return
        self._last_t, self._last_stage = now, stage
        fraction = round(min(max(float(fraction), 0.0), 1.0), 3)
        if not state.set_progress(self._rt.db, self._claim, stage=stage, progress=fraction, **extra):
            raise state.ClaimLost(f"job {self._claim.job_id} is no longer claimed by this worker")

    def scaled(self, start: float, end: float) -> Callable[[str, float], None]:
        """A callback for a sub-step: its fraction 0..1 maps to start..end of the job."""
        return lambda stage, fraction: self(stage, start + (end - start) * float(fraction))


def _load(rt: Runtime, model, object_id: str):
    with rt.db.read() as s:
        row = s.get(model, object_id)
        if row is None:
            raise NotFound(f"{model.__tablename__} {object_id} no longer exists")
        s.expunge(row)
        return row


def _decode_blob(rt: Runtime, key: str):
    from mastertape.audio import decode

    if not rt.blobs.exists(key):
        raise StorageError("the stored audio file is missing from the server's storage")
    try:
        fh = rt.blobs.open(key)
    except (OSError, StorageError) as exc:
        raise storage_failed("read the stored audio", exc) from exc
    with fh:  # a file object, so that messages never show our storage names
        return decode(fh, max_duration_s=rt.settings.max_duration_s)


def _store_encoded(rt: Runtime, audio, key: str, fmt: str, *, bit_depth: int = 24) -> int:
    """Encode `audio` as `fmt` into a temporary file, then move it under `key` (atomic). Returns its size."""
    from mastertape.audio import encode

    tmp = rt.temp_path(FORMAT_EXTENSIONS[fmt])
    try:
        encode(audio, tmp, fmt, bit_depth=bit_depth)
        size = tmp.stat().st_size
        rt.blobs.put_file(key, tmp, move=True)
        return size
    except (OSError, StorageError) as exc:  # a full disk, a failing volume or bucket: retried, then failed
        raise storage_failed("save the result", exc) from exc
    finally:
        tmp.unlink(missing_ok=True)


def storage_failed(action: str, exc: BaseException) -> StorageError:
    """A StorageError whose message tells the user it is the server's storage, not their file, that failed
    (without naming blob keys or paths)."""
    cause = exc if isinstance(exc, OSError) else exc.__cause__
    reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else "the storage refused the write"
    return StorageError(
        f"the server could not {action} ({reason}): a problem with the server's storage, not with your "
        f"file. Try again later; if it persists, tell the server's operator"
    )


def loudness_metrics(audio) -> dict:
    """LUFS-I, true peak, LRA (ITU-R BS.1770-4 / EBU Tech 3342 via dsp.loudness), duration, rate, channels."""
    from mastertape.dsp.loudness import measure

    stats = measure(audio.samples, audio.sample_rate)
    return {
        "integrated_lufs": round(stats.integrated_lufs, 2),
        "true_peak_dbtp": round(stats.true_peak_dbtp, 2),
        "loudness_range_lu": round(stats.loudness_range_lu, 2),
        "sample_peak_dbfs": round(stats.sample_peak_dbfs, 2),
        "duration_s": round(audio.duration_s, 3),
        "sample_rate": audio.sample_rate,
        "channels": audio.channels,
    }


def _timings(queued_at, t_start: float, steps: dict[str, float]) -> dict:
    from mastertape.store.models import utcnow

    out = {k: round(v, 3) for k, v in steps.items()}
    out["processing_s"] = round(time.monotonic() - t_start, 3)
    if queued_at is not None:
        out["total_s"] = round((utcnow() - queued_at).total_seconds(), 3)
    return out


# --- import ---------------------------------------------------------------------------------------
def run_import(claim: Claim, rt: Runtime) -> list[ReadyJob]:
    """Fetch (from-link) if needed, then decode the original to validate it and measure it."""
    from mastertape.audio import probe

    t0 = time.monotonic()
    steps: dict[str, float] = {}
    asset = _load(rt, Asset, claim.object_id)
    progress = Progress(rt, claim)
    key = original_key(asset.id)
    values: dict = {"blob_key": key}
    details = dict(asset.details or {})
    if asset.blob_key is None:
        if not asset.source_url:
            raise StorageError("the uploaded file is missing")
        from mastertape.jobs.fetch import fetch_to_file

        progress("fetching", 0.0)
        tmp = rt.temp_path(".part")
        try:
            result = fetch_to_file(
                asset.source_url,
                tmp,
                allow_private=rt.settings.allow_private_links,
                max_bytes=rt.settings.link_max_bytes,
                timeout_s=rt.settings.link_timeout_s,
                progress=lambda done, total: progress(
                    "fetching", 0.3 * done / total if total else 0.0, fetched_bytes=done
                ),
            )
            try:
                rt.blobs.put_file(key, tmp, move=True)
            except (OSError, StorageError) as exc:
                raise storage_failed("store the downloaded file", exc) from exc
        finally:
            tmp.unlink(missing_ok=True)
        values.update(
            size_bytes=result.size_bytes, original_filename=asset.original_filename or result.filename
        )
        details["fetched"] = {"final_url": result.url, "content_type": result.content_type}
        steps["fetch_s"] = time.monotonic() - t0
    progress("decoding", 0.3)
    t = time.monotonic()
    audio = _decode_blob(rt, key)
    with rt.blobs.open(key) as fh:
        info = probe(fh)
    steps["decode_s"] = time.monotonic() - t
    progress("analysing", 0.7)
    t = time.monotonic()
    metrics = loudness_metrics(audio)
    steps["analysis_s"] = time.monotonic() - t
    details.update(
        stage="done",
        progress=1.0,
        backend="ffmpeg (PyAV) decoder",
        format={"codec": info.codec, "container": info.format_name},
        metrics=metrics,
        timings=_timings(asset.created_at, t0, steps),
    )
    details.pop("note", None)
    return state.complete(
        rt.db,
        claim,
        details,
        duration_s=audio.duration_s,
        sample_rate=audio.sample_rate,
        channels=audio.channels,
        **values,
    )


# --- restoration ------------------------------------------------------------------------------------
def restore_settings(preset: str, params: dict, model_dir=None):
    """The RestoreSettings of a stored restoration request (field names as in the API)."""
    from mastertape.restoration import InpaintRegion, RestoreSettings

    kwargs: dict = {"preset": preset, "model_dir": model_dir}
    names = {"frequency_cutoff": "frequency_cutoff_hz"}
    for field, value in params.items():
        if field == "inpaint_regions":
            kwargs["inpaint_regions"] = tuple(
                InpaintRegion(float(r["start"]), float(r["end"])) for r in value
            )
        else:
            kwargs[names.get(field, field)] = value
    return RestoreSettings(**kwargs)


def run_restore(claim: Claim, rt: Runtime) -> list[ReadyJob]:
    """Restore the original of an asset with the stored preset and parameters; store a 32-bit float WAV."""
    from mastertape.restoration import restore

    t0 = time.monotonic()
    steps: dict[str, float] = {}
    up = _load(rt, Upscaled, claim.object_id)
    asset = _load(rt, Asset, up.audio_id)
    source: dict = {"type": "audio", "id": asset.id}
    src_key = asset.blob_key or original_key(asset.id)
    if up.stem_id is not None:  # a stem of the track is restored
        stem = _load(rt, Stem, up.stem_id)
        source, src_key = {"type": "stem", "id": stem.id, "name": stem.name}, stem.blob_key or stem_key(stem.id)
    progress = Progress(rt, claim)
    progress("decoding", 0.02)
    t = time.monotonic()
    audio = _decode_blob(rt, src_key)
    steps["decode_s"] = time.monotonic() - t
    settings = restore_settings(up.preset, up.params, rt.settings.model_dir)
    progress("restoring", 0.1)
    t = time.monotonic()
    out, report = restore(audio, settings)
    steps["restore_s"] = time.monotonic() - t
    progress("encoding", 0.85)
    t = time.monotonic()
    key = restored_key(up.id)
    _store_encoded(rt, out, key, "wav", bit_depth=32)
    steps["encode_s"] = time.monotonic() - t
    progress("analysing", 0.95)
    details = dict(up.details or {})
    details.pop("note", None)
    details.update(
        stage="done",
        progress=1.0,
        source=source,
        preset=report.preset,
        backend=report.backend,
        parameters=up.params,
        repairs=list(report.repairs),
        notes=list(report.notes),
        restoration_metrics=report.metrics,
        metrics=loudness_metrics(out),
        timings=_timings(up.created_at, t0, steps),
    )
    return state.complete(rt.db, claim, details, blob_key=key)


# --- mastering --------------------------------------------------------------------------------------
def _master_source(rt: Runtime, m: Mastered) -> tuple[str, dict]:
    """Blob key of the audio to master and a description of it."""
    if m.source_type == "original":
        asset = _load(rt, Asset, m.source_id)
        return asset.blob_key or original_key(asset.id), {"type": "original", "id": asset.id}
    if m.source_type == "upscaled":
        up = _load(rt, Upscaled, m.source_id)
        if up.status != COMPLETED or up.blob_key is None:
            raise InvalidSetting(
                f"the restored version {up.id} is not available ({up.status})", field="upscaled_id"
            )
        return up.blob_key, {
            "type": "upscaled",
            "id": up.id,
            "preset": up.preset,
            "backend": (up.details or {}).get("backend"),
        }
    if m.source_type == "mastered":
        src = _load(rt, Mastered, m.source_id)
        if src.status != COMPLETED or src.blob_key is None:
            raise InvalidSetting(
                f"the master {src.id} is not available ({src.status})", field="source_mastered_id"
            )
        return src.blob_key, {"type": "mastered", "id": src.id}
    if m.source_type == "stem":
        stem = _load(rt, Stem, m.source_id)
        if stem.status != COMPLETED or stem.blob_key is None:
            raise InvalidSetting(f"the stem {stem.id} is not available ({stem.status})", field="stem_id")
        return stem.blob_key, {"type": "stem", "id": stem.id, "name": stem.name}
    raise NotFound(f"unknown source type {m.source_type!r} of master {m.id}")


def check_selection(selection: dict | None, duration_s: float) -> tuple[float, float] | None:
    """(start_s, end_s) of a request's selection, checked against the track length (else InvalidSetting)."""
    if not selection:
        return None
    start, end = float(selection["start"]), float(selection["end"])
    if start < 0 or end <= start:
        raise InvalidSetting("selection needs 0 <= start < end (seconds)", field="selection")
    if start >= duration_s or end > duration_s + SELECTION_TOLERANCE_S:
        raise InvalidSetting(
            f"selection {start:g}-{end:g} s is outside the track, which is {duration_s:.2f} s long",
            field="selection",
        )
    return start, min(end, duration_s)


def run_master(claim: Claim, rt: Runtime) -> list[ReadyJob]:
    """Master the chosen source with the request's settings; store the WAV and the streaming preview."""
    from mastertape.mastering import MasteringSettings, master

    t0 = time.monotonic()
    steps: dict[str, float] = {}
    m = _load(rt, Mastered, claim.object_id)
    req = m.request
    progress = Progress(rt, claim)
    key, source = _master_source(rt, m)
    progress("decoding", 0.02)
    t = time.monotonic()
    audio = _decode_blob(rt, key)
    steps["decode_s"] = time.monotonic() - t
    selection = check_selection(req.get("selection"), audio.duration_s)
    settings = MasteringSettings(
        target_lufs=float(req["target_lufs"]),
        genre=req["genre"],
        bit_depth=int(req["bit_depth"]),
        selection=selection,
    )
    t = time.monotonic()
    out, report = master(audio, settings, progress=progress.scaled(0.1, 0.85), overwrite_input=True)
    del audio
    steps["master_s"] = time.monotonic() - t
    progress("encoding", 0.86)
    t = time.monotonic()
    wav_key = master_key(m.id)
    _store_encoded(rt, out, wav_key, "wav", bit_depth=int(req["bit_depth"]))
    steps["encode_s"] = time.monotonic() - t
    fmt = req.get("hq_streaming_format") or "aac"
    progress("preview", 0.93)
    t = time.monotonic()
    prev_key = preview_key(m.id, fmt)
    _store_encoded(rt, out, prev_key, fmt, bit_depth=24)
    steps["preview_s"] = time.monotonic() - t
    progress("analysing", 0.97)
    details = dict(m.details or {})
    details.pop("note", None)
    details.update(
        stage="done",
        progress=1.0,
        source={**details.get("source", {}), **source},
        backend=f"mastertape chain ({settings.genre})",
        genre=settings.genre,
        target_lufs=settings.target_lufs,
        bit_depth=settings.bit_depth,
        selection=list(selection) if selection else None,
        hq_streaming_format=fmt,
        metrics=loudness_metrics(out),
        report=_report_dict(report),
        timings=_timings(m.created_at, t0, steps),
    )
    return state.complete(rt.db, claim, details, blob_key=wav_key, preview_key=prev_key, preview_format=fmt)


def _report_dict(report) -> dict:
    to_dict = getattr(report, "to_dict", None)
    return to_dict() if callable(to_dict) else {}


# --- format conversion on request ---------------------------------------------------------------
def ensure_format(rt: Runtime, src_key: str, dest_key: str, fmt: str, *, bit_depth: int = 24) -> str:
    """Convert the blob `src_key` to `fmt` under `dest_key` unless it is already there; returns dest_key.

    Used by `/download?format=` for formats not written by the job. Idempotent: two concurrent
    requests both write the same bytes to the same key, atomically.
    """
    if not rt.blobs.exists(dest_key):
        audio = _decode_blob(rt, src_key)
        _store_encoded(rt, audio, dest_key, fmt, bit_depth=bit_depth)
    return dest_key


def _run_split(claim: Claim, rt: Runtime) -> list[ReadyJob]:
    from mastertape.jobs.stems_job import run_split  # imports this module: loaded on first use

    return run_split(claim, rt)


def _run_archive(claim: Claim, rt: Runtime) -> list[ReadyJob]:
    from mastertape.jobs.archive_job import run_archive

    return run_archive(claim, rt)


TASKS: dict[str, Callable[[Claim, Runtime], list[ReadyJob]]] = {
    "import": run_import,
    "restore": run_restore,
    "master": run_master,
    "split": _run_split,
    "archive": _run_archive,
}
