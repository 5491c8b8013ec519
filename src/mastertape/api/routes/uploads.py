"""POST /from-file and POST /from-link: create an audio asset and queue its import job.

The upload is streamed straight from the socket into a temporary file beside the blobs, counting
bytes: a Content-Length above the limit is refused before reading anything, and a body that grows
past it is cut off, its temporary file deleted, with 413; nothing is stored. Decoding and analysis
happen in the import job, never in the request.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from mastertape.api import objects
from mastertape.api.deps import Owner, QueueDep, RuntimeDep
from mastertape.api.schemas import ErrorResponse, LinkRequest, UploadResponse
from mastertape.errors import InvalidSetting, PayloadTooLarge, StorageError
from mastertape.jobs import state
from mastertape.jobs.fetch import check_url
from mastertape.jobs.tasks import original_key, storage_failed
from mastertape.store.models import IMPORT, Asset, new_id

router = APIRouter(tags=["import"])

#: multipart framing allowed on top of the file itself (boundaries, part headers, file_source)
MULTIPART_OVERHEAD_BYTES = 64 * 1024
_MAX_TEXT_FIELD = 200

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["audio"],
                    "properties": {
                        "audio": {"type": "string", "format": "binary", "description": "The audio file."},
                        "file_source": {
                            "type": "string",
                            "description": 'Source label (default "from_file").',
                        },
                    },
                }
            }
        },
    }
}
_ERRORS = {code: {"model": ErrorResponse} for code in (401, 413, 422, 429, 503)}


class _UploadSink:
    """Callbacks for python-multipart: the `audio` part goes to a file, `file_source` to memory."""

    def __init__(self, tmp: Path, limit: int) -> None:
        self.tmp, self.limit = tmp, limit
        self.fh = None
        self.size = 0
        self.filename: str | None = None
        self.file_source = b""
        self.got_audio = False
        self._name: str | None = None
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._hfield,
            "on_header_value": self._hvalue,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done,
            "on_part_data": self._data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers, self._name = {}, None

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _hvalue(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = self._header_value = b""

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name == "audio" and not self.got_audio:
            self.got_audio = True
            raw = options.get(b"filename")
            self.filename = os.path.basename(raw.decode("utf-8", "replace"))[:200] if raw else None
            self.fh = open(self.tmp, "wb")  # noqa: SIM115 - closed in _part_end / close()

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._name == "audio" and self.fh is not None:
            self.size += end - start
            if self.size > self.limit:
                raise PayloadTooLarge(
                    f"the file is larger than this server's upload limit of {self.limit:,} bytes",
                    field="audio",
                )
            self.fh.write(data[start:end])
        elif self._name == "file_source" and len(self.file_source) <= _MAX_TEXT_FIELD:
            self.file_source += data[start:end]

    def _part_end(self) -> None:
        if self._name == "audio" and self.fh is not None:
            self.fh.close()
            self.fh = None
        self._name = None

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


def _create_asset(rt, queue, owner: str, **fields) -> str:
    asset_id = fields.pop("id")
    with rt.db.write() as s:
        objects.check_in_flight(s, owner, 1, rt.settings.max_jobs_in_flight_per_key)
        s.add(
            Asset(
                id=asset_id,
                owner_id=owner,
                status="queued",
                details={"stage": "queued", "progress": 0.0},
                download_count=0,
                **fields,
            )
        )
        job_id = state.create_job(s, IMPORT, asset_id, owner)
    queue.enqueue(job_id, IMPORT)
    return asset_id


@router.post(
    "/from-file",
    response_model=UploadResponse,
    openapi_extra=_UPLOAD_BODY,
    responses=_ERRORS,
    summary="Upload an audio file (multipart field `audio`)",
)
async def from_file(request: Request, rt: RuntimeDep, queue: QueueDep, owner: Owner) -> UploadResponse:
    """Store the upload and queue its import (decode, check, measure). Poll GET /status/audio/{audio_id}."""
    limit = rt.settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD_BYTES:
        raise PayloadTooLarge(
            f"the file is larger than this server's upload limit of {limit:,} bytes", field="audio"
        )
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise InvalidSetting("send the file as multipart/form-data in a field named 'audio'", field="audio")
    with rt.db.read() as s:  # refuse early, before reading a large body for nothing
        objects.check_in_flight(s, owner, 1, rt.settings.max_jobs_in_flight_per_key)
    tmp = rt.temp_path(".upload")
    sink = _UploadSink(tmp, limit)
    try:
        parser = MultipartParser(boundary, sink.callbacks())
        try:
            async for chunk in request.stream():
                parser.write(chunk)
            parser.finalize()
        except MultipartParseError as exc:
            raise InvalidSetting(f"malformed multipart/form-data body: {exc}", field="audio") from None
        sink.close()
        if not sink.got_audio:
            raise InvalidSetting("the form has no file field named 'audio'", field="audio")
        asset_id = new_id()
        rt.blobs.put_file(original_key(asset_id), tmp, move=True)
        file_source = sink.file_source.decode("utf-8", "replace").strip()[:_MAX_TEXT_FIELD] or "from_file"
        _create_asset(
            rt,
            queue,
            owner,
            id=asset_id,
            file_source=file_source,
            original_filename=sink.filename,
            size_bytes=sink.size,
            blob_key=original_key(asset_id),
        )
    except (OSError, StorageError) as exc:  # a full disk while receiving or storing: 503, nothing kept
        raise storage_failed("store the upload", exc) from exc
    finally:
        sink.close()
        tmp.unlink(missing_ok=True)
    return UploadResponse(audio_id=asset_id, status="in_progress", message="File uploaded successfully")


@router.post(
    "/from-link",
    response_model=UploadResponse,
    responses=_ERRORS,
    summary="Import an audio file from an http(s) link",
)
def from_link(body: LinkRequest, rt: RuntimeDep, queue: QueueDep, owner: Owner) -> UploadResponse:
    """Queue the download and import of `url` (size and time limits; no private addresses unless allowed)."""
    url = check_url(body.url, allow_private=rt.settings.allow_private_links)
    asset_id = _create_asset(rt, queue, owner, id=new_id(), file_source="from_link", source_url=url)
    return UploadResponse(audio_id=asset_id, status="in_progress", message="Link import queued")
