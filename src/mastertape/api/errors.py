"""The one place errors become HTTP answers: `{"error": {"code", "message", "field"?}}`.

- `MastertapeError` subclasses carry their own `code` and `http_status` (errors.py);
- request validation errors (pydantic) are 422 naming the offending field (`selection.end`,
  `inpaint_regions.0.start`), with the domain code for the fields that have one (unknown preset,
  genre or format);
- HTTP errors of the framework (unknown route, wrong method) keep their status;
- anything else is a 500 with a generic message (the details go to the log, not to the client).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mastertape.errors import MastertapeError, TooManyJobs

log = logging.getLogger("mastertape.api")

#: domain codes for validation errors of particular fields
_FIELD_CODES = {
    "preset": "unknown_preset",
    "genre": "unknown_genre",
    "hq_streaming_format": "unknown_format",
    "format": "unknown_format",
    "object_type": "unknown_object_type",
}
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "not_ready",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_setting",
    429: "too_many_jobs",
}
RETRY_AFTER_S = 5


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: dict | None = None
) -> JSONResponse:
    body: dict = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _field_of(loc: tuple) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    # a failing member of a tagged/literal union adds its type name to the location: drop it
    parts = [p for p in parts if not p.startswith(("function-", "literal["))]
    return ".".join(parts) or None


async def _mastertape_error(_request: Request, exc: MastertapeError) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_S)} if isinstance(exc, TooManyJobs) else None
    return error_response(exc.http_status, exc.code, exc.message, exc.field, headers)


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = _field_of(tuple(first.get("loc", ())))
    kind = first.get("type", "")
    if kind == "json_invalid":
        return error_response(422, "invalid_json", "the request body is not valid JSON")
    if kind == "model_attributes_type" or (kind == "missing" and field is None):
        return error_response(422, "invalid_body", "the request needs a JSON object body")
    top = field.split(".")[0] if field else None
    code = (
        _FIELD_CODES.get(top, "invalid_setting") if kind in ("literal_error", "enum") else "invalid_setting"
    )
    msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    message = f"{field}: {msg}" if field else msg
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return error_response(422, code, message, field)


async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        # FastAPI's answer to a body it cannot decode (not UTF-8, say): the same 422 as invalid JSON
        return error_response(422, "invalid_json", "the request body is not valid JSON (or not UTF-8)")
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = "no such endpoint"
    return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(MastertapeError, _mastertape_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
