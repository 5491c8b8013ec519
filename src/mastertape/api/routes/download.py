"""GET /download/{object_type}/{object_id} (307 to a signed URL) and GET /files/{token} (the file itself).

What each format serves:
- `mastered`: no format or `wav` -> the WAV master at the requested bit depth; the request's
  `hq_streaming_format` (aac by default) -> the streaming preview written by the master job; any other
  format -> converted from the WAV master on first request (FLAC at up to 24 bits), then kept;
- `upscaled`: no format or `wav` -> the restored audio (32-bit float WAV); others converted and kept;
- `audio`: no format -> the file as uploaded; a format -> converted from it and kept;
- `stem`: no format or `wav` -> the stem's WAV at the split's bit depth; others converted and kept;
- `stem_split`: a zip of all its stems in the format (wav by default), made on first request and kept;
- `archive`: the zip built by POST /download-archive (`format` does not apply).
Conversions run in the request's worker thread (at most two at a time per server process).

The 307 goes to `/files/{token}`, a token signed with HMAC-SHA256 that names the blob and expires after
`download_url_ttl_s` (store/signing.py); a wrong or expired token is 403. With S3 storage the 307 goes
to a presigned URL of the bucket instead. `track=true` counts the download.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse
from sqlalchemy import select, update

from mastertape.api import objects
from mastertape.api.deps import Owner, RuntimeDep
from mastertape.api.schemas import ErrorResponse, OutputFormat
from mastertape.errors import Forbidden, NotFound, NotReady
from mastertape.jobs.archive_job import ZipPlan, safe_name, write_zip
from mastertape.jobs.tasks import blob_for_format, ensure_format
from mastertape.store import signing
from mastertape.store.models import ARTIFACT_MODELS, COMPLETED, FAILED, Asset, Stem

router = APIRouter(tags=["download"])

_CONVERSIONS = threading.BoundedSemaphore(2)
_SUFFIX = {"audio": "", "upscaled": "_restored", "mastered": "_master", "stem_split": "_stems"}
ZIP_MEDIA_TYPE = "application/zip"


def _stem(asset: Asset | None, fallback: str) -> str:
    return safe_name(asset.original_filename if asset is not None else None, fallback)


def _choose(rt, object_type: str, row, fmt: str | None) -> tuple[str, str, str]:
    """(blob key, file extension, media type) of what to serve, converting first when needed."""
    if object_type == "archive":
        return row.blob_key, ".zip", ZIP_MEDIA_TYPE
    if object_type == "stem_split":
        return _split_zip(rt, row, fmt or "wav"), ".zip", ZIP_MEDIA_TYPE
    choice = blob_for_format(object_type, row, fmt)
    if choice.convert_from is not None:
        with _CONVERSIONS:
            ensure_format(rt, choice.convert_from, choice.key, fmt, bit_depth=choice.bit_depth)
    return choice.key, choice.ext, choice.media_type


def _split_zip(rt, split, fmt: str) -> str:
    """Key of the zip of all stems of `split` in `fmt`, made on first request."""
    key = f"stem_split/{split.id}/stems-{fmt}.zip"
    if rt.blobs.exists(key):
        return key
    with rt.db.read() as s:
        stems = s.execute(select(Stem).where(Stem.split_id == split.id).order_by(Stem.position)).scalars().all()
        asset = s.get(Asset, split.audio_id)
        s.expunge_all()
    track = _stem(asset, split.audio_id)
    plan = ZipPlan()
    for stem in stems:
        plan.add("stem", stem, fmt, f"{track}_{safe_name(stem.name, stem.id)}", stem_name=stem.name)
    with _CONVERSIONS:
        write_zip(rt, plan.entries, key)
    return key


@router.get(
    "/download/{object_type}/{object_id}",
    name="download",
    status_code=307,
    responses={
        307: {"description": "Redirect to a temporary signed URL of the file"},
        **{code: {"model": ErrorResponse} for code in (401, 404, 409, 422)},
    },
    summary="Download a completed artifact (307 to a signed, expiring URL)",
)
def download(
    object_type: str,
    object_id: str,
    request: Request,
    rt: RuntimeDep,
    owner: Owner,
    format: OutputFormat | None = None,
    track: bool = False,
) -> RedirectResponse:
    objects.check_object_type(object_type)
    with rt.db.read() as s:
        row = objects.find(s, owner, object_type, object_id)
        if row is None:
            raise NotFound(f"{object_type} {object_id} not found")
        audio_id = row.id if object_type == "audio" else getattr(row, "audio_id", None)
        asset = s.get(Asset, audio_id) if audio_id is not None else None
        s.expunge_all()
    if row.status == FAILED:
        raise NotReady(f"{object_type} {object_id} failed and has nothing to download: {row.error_message}")
    if row.status != COMPLETED or not (row.blob_key or object_type == "stem_split"):
        raise NotReady(
            f"{object_type} {object_id} is not complete yet: poll /status/{object_type}/{object_id}"
        )
    key, ext, media_type = _choose(rt, object_type, row, format)
    if object_type == "stem":
        suffix = f"_{safe_name(row.name, row.id)}"
    elif object_type == "archive":
        suffix = "_archive"
    else:
        suffix = _SUFFIX[object_type]
    filename = f"{_stem(asset, row.id)}{suffix}{ext}"
    if track:
        model = ARTIFACT_MODELS[object_type]
        with rt.db.write() as s:
            s.execute(update(model).where(model.id == row.id).values(download_count=model.download_count + 1))
    ttl_s = rt.settings.download_url_ttl_s
    target = rt.blobs.path_or_url(key, ttl_s=ttl_s, filename=filename)
    if isinstance(target, str):
        return RedirectResponse(target, status_code=307)
    grant = signing.FileGrant(
        key=key, expires_at=time.time() + ttl_s, filename=filename, media_type=media_type
    )
    token = signing.sign(request.app.state.secret, grant)
    return RedirectResponse(str(request.url_for("files", token=token)), status_code=307)


@router.head("/files/{token}", include_in_schema=False)
@router.get(
    "/files/{token}",
    name="files",
    responses={
        200: {"content": {"audio/*": {}}, "description": "The file"},
        403: {"model": ErrorResponse},
        404: {"model": ErrorResponse},
    },
    summary="A file behind a signed download URL (no API key needed)",
)
def files(token: str, request: Request, rt: RuntimeDep) -> FileResponse:
    try:
        grant = signing.verify(request.app.state.secret, token)
    except signing.InvalidToken as exc:
        raise Forbidden(str(exc)) from None
    path = rt.blobs.path_or_url(grant.key, ttl_s=60)
    if not isinstance(path, Path) or not path.is_file():
        raise NotFound("this file no longer exists")
    return FileResponse(path, media_type=grant.media_type, filename=grant.filename)
