"""POST /create-stems: validate, resolve the source, queue a stem separation (job kind `split`).

Source, in this order: `stem_id` (split a stem further), `mastered_id`, `upscaled_id`, else `audio_id`
(the original track). Every id must belong to the calling key (another key's id is a 404) and, when
`audio_id` is given beside another id, to that same track (else 422). A source still being imported,
restored or mastered is waited for: the split starts when it completes, and fails with it.

The preset must be able to run here: a contract preset that needs a model this server does not ship
answers 422 `preset_unavailable` "... needs a model that is not installed", and the model presets without
the optional extra answer "... cannot run here: install mastertape[stems]". Nothing is decoded here.

Poll GET /status/stem_split/{creation_id}; when complete, `status_details.stems` lists the stems
(`stem_id`, `name`), each downloadable with GET /download/stem/{stem_id} and usable as `stem_id` by
/master-audio, /upscale-audio and /create-stems; GET /download/stem_split/{creation_id} zips them all.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from mastertape import stems
from mastertape.api import objects
from mastertape.api.deps import Owner, QueueDep, RuntimeDep
from mastertape.api.schemas import CreateStemsRequest, CreateStemsResponse, ErrorResponse
from mastertape.errors import InvalidSetting, PresetUnavailable
from mastertape.jobs import state
from mastertape.store.models import FAILED, QUEUED, SPLIT, Asset, StemSplit, new_id

router = APIRouter(tags=["stems"])
_ERRORS = {code: {"model": ErrorResponse} for code in (401, 404, 422, 429)}
#: source fields in priority order, with the object type each one names
_SOURCES = (("stem_id", "stem"), ("mastered_id", "mastered"), ("upscaled_id", "upscaled"), ("audio_id", "audio"))


def check_preset(name: str) -> stems.StemPresetSpec:
    """The preset's entry; PresetUnavailable (422, field `preset`) with the reason when it cannot run here."""
    spec = stems.get(name)
    reason = spec.unavailable_reason()
    if reason is not None:
        if reason.startswith(stems.NOT_INSTALLED):
            runnable = [p.name for p in stems.all_presets() if p.unavailable_reason() is None]
            reason = f"{reason} on this server; stem presets that run here: {', '.join(runnable) or 'none'}"
        elif not reason.startswith("cannot"):
            reason = f"cannot run here: {reason}"
        raise PresetUnavailable(f"stem preset '{name}' {reason}", field="preset")
    return spec


def _source(s: Session, owner: str, body: CreateStemsRequest) -> tuple[str, object, str | None]:
    """(source type, source row, job to wait for) of the request."""
    field, object_type = next(((f, t) for f, t in _SOURCES if getattr(body, f) is not None), (None, None))
    if field is None:
        raise InvalidSetting(
            "give the source to split: audio_id, upscaled_id, mastered_id or stem_id", field="audio_id"
        )
    row = objects.require(s, owner, object_type, getattr(body, field), field=field)
    if row.status == FAILED:
        raise InvalidSetting(f"{field} {row.id} failed: {row.error_message}", field=field)
    audio_id = row.id if object_type == "audio" else row.audio_id
    if body.audio_id is not None and field != "audio_id":
        asset = objects.require(s, owner, "audio", body.audio_id, field="audio_id")
        if asset.id != audio_id:
            raise InvalidSetting(f"{field} {row.id} belongs to another track than audio_id {asset.id}", field=field)
    if object_type == "audio":
        asset = row
    else:
        asset = s.get(Asset, audio_id)
        if asset is None or asset.status == FAILED:
            raise InvalidSetting(f"the track of {field} {row.id} could not be imported", field=field)
    source_type = "original" if object_type == "audio" else object_type
    return source_type, row, objects.pending_job_id(s, row.id, row.status)


@router.post(
    "/create-stems",
    response_model=CreateStemsResponse,
    responses=_ERRORS,
    summary="Split a track, restored version, master or stem into stems",
    description=__doc__,
)
def create_stems(body: CreateStemsRequest, rt: RuntimeDep, queue: QueueDep, owner: Owner) -> JSONResponse:
    """Queue a stem separation; poll GET /status/stem_split/{creation_id}.

    Source priority: stem_id, mastered_id, upscaled_id, audio_id. Stems are WAV files at `bit_depth`
    (16, 24, or 32 = float) whose sum is the source. Errors: 404 for unknown or other keys' ids, 422 for
    a preset that cannot run on this server (with the reason) or ids of different tracks."""
    spec = check_preset(body.preset)
    with rt.db.write() as s:
        source_type, row, waits = _source(s, owner, body)
        objects.check_in_flight(s, owner, 1, rt.settings.max_jobs_in_flight_per_key)
        source = {"type": source_type, "id": row.id}
        if source_type == "stem":
            source["name"] = row.name
        split = StemSplit(
            id=new_id(),
            owner_id=owner,
            audio_id=row.id if source_type == "original" else row.audio_id,
            preset=spec.name,
            source_type=source_type,
            source_id=row.id,
            bit_depth=body.bit_depth,
            status=QUEUED,
            download_count=0,
            details={
                "stage": "waiting" if waits else "queued",
                "progress": 0.0,
                "preset": spec.name,
                "expected_stems": list(spec.stems),
                "source": source,
            },
        )
        s.add(split)
        job_id = state.create_job(s, SPLIT, split.id, owner, depends_on=waits)
    if waits is None:
        queue.enqueue(job_id, SPLIT)
    return JSONResponse({"creation_id": split.id, "status": "processing", "message": "Stem separation queued"})
