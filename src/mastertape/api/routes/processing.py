"""POST /upscale-audio (restoration) and POST /master-audio: validate, resolve the source, queue jobs.

Source of a master, in this order (DESIGN.md): `source_mastered_id`; else `upscaled_id`; else, with
`use_restored` (the default), a restored version of the track made with the same preset and the
same parameters (the ones that preset uses) — an existing completed one, or one still running, or
else a restoration queued now, with the master waiting for it; else the original track. Restoration
fields a preset does not use are ignored (GET /presets lists the ones each preset uses). When the
default preset cannot run on this server the original is mastered and status_details.restoration
says why; a preset asked for explicitly that cannot run is a 422.

`stem_id` (a stem from POST /create-stems, of the same track as `audio_id`, owned by the same key) makes
the stem the source in place of the original track, for /upscale-audio and /master-audio alike: the
restoration, reused or queued, is then a restoration of the stem. Another key's stem id is a 404.

Nothing here touches audio: a selection is checked against the track's length when the import has
already measured it, otherwise by the master job (which then fails with the reason).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mastertape.api import objects
from mastertape.api.deps import Owner, QueueDep, RuntimeDep
from mastertape.api.schemas import (
    ErrorResponse,
    MasterRequest,
    QueuedResponse,
    RestorationFields,
    UpscaleRequest,
)
from mastertape.errors import InvalidSetting, PresetUnavailable, UnknownGenre, UnknownPreset
from mastertape.jobs import state
from mastertape.jobs.tasks import check_selection, restore_settings
from mastertape.restoration import registry
from mastertape.store import rawsql
from mastertape.store.models import (
    COMPLETED,
    FAILED,
    MASTER,
    PROCESSING,
    QUEUED,
    RESTORE,
    Asset,
    Mastered,
    Stem,
    Upscaled,
    new_id,
)

router = APIRouter(tags=["processing"])
_ERRORS = {code: {"model": ErrorResponse} for code in (401, 404, 422, 429)}


def _queued(object_id: str, message: str) -> JSONResponse:
    """The {id, status, message} answer, built directly (the hot path skips re-validating it)."""
    return JSONResponse({"id": object_id, "status": "processing", "message": message})


def params_hash(preset: str, params: dict) -> str:
    canonical = json.dumps({"preset": preset, "params": params}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_ASSET_COLUMNS = ("id", "owner_id", "status", "error_message", "duration_s")


def _usable_asset(s: Session, owner: str, audio_id: str):
    """The owner's track (a row of _ASSET_COLUMNS); a 422 when its import failed."""
    asset = objects.require_columns(s, owner, "audio", audio_id, _ASSET_COLUMNS, field="audio_id")
    if asset.status == FAILED:
        raise InvalidSetting(
            f"audio {audio_id} could not be imported: {asset.error_message}", field="audio_id"
        )
    return asset


def _stem_of(s: Session, owner: str, stem_id: str | None, asset: Asset) -> Stem | None:
    """The owner's stem `stem_id` of this track (404 for an unknown or another key's id), or None."""
    if stem_id is None:
        return None
    stem = objects.require(s, owner, "stem", stem_id, field="stem_id")
    _same_track(stem, asset, "stem_id")
    return stem


def _stem_source(stem: Stem) -> dict:
    return {"type": "stem", "id": stem.id, "name": stem.name}


def _preset(body: RestorationFields, model_dir) -> tuple[dict, str | None]:
    """The parameters the preset uses (validated), and why it cannot run here (None if it can)."""
    try:
        spec = registry.get(body.preset)
    except UnknownPreset:  # a name of the contract that this installation does not provide
        return {}, "it is not installed in this version of mastertape"
    params = body.restoration_params(spec.fields)
    settings = restore_settings(body.preset, params, model_dir)  # raises InvalidSetting naming the field
    return params, spec.unavailable_reason(settings)


def _new_restoration(
    s: Session, owner: str, asset: Asset, preset: str, params: dict, stem: Stem | None = None
) -> tuple[Upscaled, str]:
    up = Upscaled(
        id=new_id(),
        owner_id=owner,
        audio_id=asset.id,
        preset=preset,
        params=params,
        params_hash=params_hash(preset, params),
        status=QUEUED,
        download_count=0,
        stem_id=stem.id if stem is not None else None,
    )
    waits = None if stem is not None else objects.pending_job_id(s, asset.id, asset.status)  # a stem is complete
    up.details = {
        "stage": "waiting" if waits else "queued",
        "progress": 0.0,
        "preset": preset,
        "parameters": params,
        "source": _stem_source(stem) if stem is not None else {"type": "audio", "id": asset.id},
    }
    s.add(up)
    return up, state.create_job(s, RESTORE, up.id, owner, depends_on=waits)


@router.post(
    "/upscale-audio",
    response_model=QueuedResponse,
    responses=_ERRORS,
    summary="Restore an audio asset with a preset",
)
def upscale_audio(body: UpscaleRequest, rt: RuntimeDep, queue: QueueDep, owner: Owner) -> JSONResponse:
    """Queue a restoration (of the track, or of its stem `stem_id`); poll GET /status/upscaled/{id}."""
    params, reason = _preset(body, rt.settings.model_dir)
    if reason is not None:
        raise PresetUnavailable(f"preset '{body.preset}' cannot run on this server: {reason}", field="preset")
    with rt.db.write() as s:
        asset = _usable_asset(s, owner, body.audio_id)
        stem = _stem_of(s, owner, body.stem_id, asset)
        objects.check_in_flight(s, owner, 1, rt.settings.max_jobs_in_flight_per_key)
        up, job_id = _new_restoration(s, owner, asset, body.preset, params, stem)
        ready = up.details["stage"] == "queued"
    if ready:
        queue.enqueue(job_id, RESTORE)
    return _queued(up.id, "Restoration queued")


_REUSABLE_SQL = (  # the restorations one may reuse; {} marks parameters (store.rawsql), %s the stem condition
    "SELECT id, status FROM upscaled WHERE owner_id = {} AND audio_id = {} AND params_hash = {} AND %s "
    f"AND status IN ('{COMPLETED}', '{QUEUED}', '{PROCESSING}') "
    f"ORDER BY CASE WHEN status = '{COMPLETED}' THEN 0 ELSE 1 END, created_at DESC LIMIT 1"
)
_REUSABLE_OF_TRACK_SQL = _REUSABLE_SQL % "stem_id IS NULL"
_REUSABLE_OF_STEM_SQL = _REUSABLE_SQL % "stem_id = {}"


def _reusable_restoration(
    s: Session, owner: str, asset_id: str, digest: str, stem_id: str | None = None
) -> tuple[str, str] | None:
    """(id, status) of a completed (preferred) or still running restoration of this track (or of its stem
    `stem_id`) with these parameters."""
    if stem_id is None:
        row = rawsql.fetch_one(s, _REUSABLE_OF_TRACK_SQL, owner, asset_id, digest)
    else:
        row = rawsql.fetch_one(s, _REUSABLE_OF_STEM_SQL, owner, asset_id, digest, stem_id)
    return (row[0], row[1]) if row is not None else None


def _source_of(
    s: Session, owner: str, body: MasterRequest, asset: Asset, preset_check, stem: Stem | None
) -> tuple[str, str, str | None, dict, str | None, str | None]:
    """(source_type, source_id, job to wait for, its description, id of a restore job queued for it,
    id of the stem the source descends from)."""
    if body.source_mastered_id is not None:
        src = objects.require(s, owner, "mastered", body.source_mastered_id, field="source_mastered_id")
        _same_track(src, asset, "source_mastered_id")
        waits = objects.pending_job_id(s, src.id, src.status)
        return "mastered", src.id, waits, {"type": "mastered", "id": src.id}, None, src.stem_id
    if body.upscaled_id is not None:
        up = objects.require(s, owner, "upscaled", body.upscaled_id, field="upscaled_id")
        _same_track(up, asset, "upscaled_id")
        waits = objects.pending_job_id(s, up.id, up.status)
        return "upscaled", up.id, waits, {"type": "upscaled", "id": up.id}, None, up.stem_id
    stem_id = stem.id if stem is not None else None
    if body.use_restored:
        params, reason = preset_check
        if reason is None:
            digest = params_hash(body.preset, params)
            found = _reusable_restoration(s, owner, asset.id, digest, stem_id)
            if found is not None:
                up_id, up_status = found
                info = {"type": "upscaled", "id": up_id, "preset": body.preset, "reused": True}
                return "upscaled", up_id, objects.pending_job_id(s, up_id, up_status), info, None, stem_id
            up, job_id = _new_restoration(s, owner, asset, body.preset, params, stem)
            info = {"type": "upscaled", "id": up.id, "preset": body.preset, "reused": False}
            return "upscaled", up.id, job_id, info, job_id, stem_id
        if "preset" in body.model_fields_set:
            raise PresetUnavailable(
                f"preset '{body.preset}' cannot run on this server: {reason}", field="preset"
            )
        skipped = {"preset": body.preset, "skipped": f"cannot run on this server: {reason}"}
        if stem is not None:
            return "stem", stem.id, None, {**_stem_source(stem), "restoration": skipped}, None, stem_id
        info = {"type": "original", "id": asset.id, "restoration": skipped}
        return "original", asset.id, objects.pending_job_id(s, asset.id, asset.status), info, None, None
    if stem is not None:
        return "stem", stem.id, None, _stem_source(stem), None, stem_id
    source = {"type": "original", "id": asset.id}
    return "original", asset.id, objects.pending_job_id(s, asset.id, asset.status), source, None, None


def _same_track(row, asset: Asset, field: str) -> None:
    if row.audio_id != asset.id:
        raise InvalidSetting(
            f"{field} {row.id} belongs to another track than audio_id {asset.id}", field=field
        )
    if row.status == FAILED:
        raise InvalidSetting(f"{field} {row.id} failed: {row.error_message}", field=field)


@dataclass(frozen=True)
class _QueuedMaster:
    master_id: str
    job_id: str
    ready: bool  # the master waits for nothing: hand it to the queue
    restore_job_id: str | None  # a restoration queued for it that waits for nothing


def _record_master(s: Session, owner: str, body: MasterRequest, preset_check, max_in_flight: int) -> _QueuedMaster:
    """The rows of a new master (and of the restoration it needs, if any), in the caller's transaction."""
    asset = _usable_asset(s, owner, body.audio_id)
    if body.selection is not None and asset.status == COMPLETED and asset.duration_s is not None:
        check_selection(body.selection.model_dump(), asset.duration_s)
    stem = _stem_of(s, owner, body.stem_id, asset)
    source_type, source_id, waits, source, new_restore_job, stem_id = _source_of(
        s, owner, body, asset, preset_check, stem
    )
    objects.check_in_flight(s, owner, 1, max_in_flight)  # counts a new restore
    master_id = new_id()
    rawsql.insert_row(
        s,
        Mastered.__table__,
        id=master_id,
        owner_id=owner,
        audio_id=asset.id,
        request=body.model_dump(mode="json"),
        source_type=source_type,
        source_id=source_id,
        stem_id=stem_id,
        status=QUEUED,
        download_count=0,
        details={"stage": "waiting" if waits else "queued", "progress": 0.0, "source": source},
    )
    job_id = state.create_job(s, MASTER, master_id, owner, depends_on=waits)
    restore_ready = new_restore_job is not None and not objects.pending_job_id(s, asset.id, asset.status)
    return _QueuedMaster(master_id, job_id, waits is None, new_restore_job if restore_ready else None)


def _record_master_in_transaction(rt, owner: str, body: MasterRequest, preset_check) -> _QueuedMaster:
    with rt.db.write() as s:
        return _record_master(s, owner, body, preset_check, rt.settings.max_jobs_in_flight_per_key)


@router.post(
    "/master-audio",
    response_model=QueuedResponse,
    responses=_ERRORS,
    summary="Master a track (optionally restoring it first)",
)
async def master_audio(body: MasterRequest, request: Request, owner: Owner) -> JSONResponse:
    """Queue a master; poll GET /status/mastered/{id}, then GET /download/mastered/{id}.

    On SQLite the rows are written on the event loop in a transaction shared with the requests of the
    same millisecond (store.group_commit); on other databases in a worker thread, one transaction each."""
    app_state = request.app.state  # read directly: each injected dependency costs ~10 us per request here
    rt, queue, genres = app_state.rt, app_state.queue, app_state.genres
    if body.genre not in genres:
        raise UnknownGenre(f"unknown genre {body.genre!r}; choose one of: {', '.join(genres)}", field="genre")
    needs_preset = body.use_restored and body.source_mastered_id is None and body.upscaled_id is None
    preset_check = _preset(body, rt.settings.model_dir) if needs_preset else None
    batcher = app_state.group_commit
    if batcher is not None:
        limit = rt.settings.max_jobs_in_flight_per_key
        queued = await batcher.run(lambda s: _record_master(s, owner, body, preset_check, limit))
    else:
        queued = await run_in_threadpool(_record_master_in_transaction, rt, owner, body, preset_check)
    if queued.ready:
        queue.enqueue(queued.job_id, MASTER)
    if queued.restore_job_id is not None:
        queue.enqueue(queued.restore_job_id, RESTORE)
    return _queued(queued.master_id, "Mastering queued")
