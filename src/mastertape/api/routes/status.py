"""GET /status/{object_type}/{object_id}.

Status vocabulary. Internally an artifact is queued -> processing -> completed | failed. The API
answers as the contract's POST answers do: an `audio` asset is `in_progress` until imported, an
`upscaled` or `mastered` object is `processing` until done (whether it waits in the queue, for a
restoration or import it depends on, or runs); then `completed` or `failed` (with `error_message`).
`status_details.state` gives the internal state, `stage` and `progress` (0..1) the step in progress.
A `stem_split`, `stem` or `archive` answers `processing` until done, like a master. A completed
`stem_split` lists its stems in `status_details.stems` (`stem_id`, `name`, `rms_dbfs`, `status_url`,
`download_url`); its own `download_url` gives all the stems in one zip.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from mastertape.api import objects
from mastertape.api.deps import Owner, ReadSession
from mastertape.api.schemas import ErrorResponse, StatusResponse
from mastertape.errors import NotFound
from mastertape.store.models import COMPLETED, FAILED

router = APIRouter(tags=["status"])

_RUNNING = {"audio": "in_progress", "upscaled": "processing", "mastered": "processing"}


def api_status(object_type: str, internal: str) -> str:
    if internal in (COMPLETED, FAILED):
        return internal
    return _RUNNING.get(object_type, "processing")


def status_of(request: Request, object_type: str, row) -> StatusResponse:
    complete = row.status == COMPLETED
    details = dict(row.details or {})
    details["state"] = row.status
    if row.error_code:
        details["error_code"] = row.error_code
    if object_type == "stem_split" and complete:
        details["stems"] = [
            {
                **entry,
                "status_url": str(request.url_for("get_status", object_type="stem", object_id=entry["stem_id"])),
                "download_url": str(request.url_for("download", object_type="stem", object_id=entry["stem_id"])),
            }
            for entry in details.get("stems", [])
        ]
    return StatusResponse(
        object_type=object_type,
        object_id=row.id,
        status=api_status(object_type, row.status),
        is_complete=complete,
        is_failed=row.status == FAILED,
        error_message=row.error_message,
        download_url=str(request.url_for("download", object_type=object_type, object_id=row.id))
        if complete
        else None,
        audio_id=row.id if object_type == "audio" else getattr(row, "audio_id", None),
        status_details=details,
    )


@router.get(
    "/status/{object_type}/{object_id}",
    response_model=StatusResponse,
    responses={code: {"model": ErrorResponse} for code in (401, 404, 422)},
    summary="Poll an artifact: audio | upscaled | mastered | stem_split | stem | archive",
)
def get_status(
    object_type: str, object_id: str, request: Request, session: ReadSession, owner: Owner
) -> StatusResponse:
    objects.check_object_type(object_type)
    row = objects.find(session, owner, object_type, object_id)
    if row is None:
        raise NotFound(f"{object_type} {object_id} not found")
    return status_of(request, object_type, row)
