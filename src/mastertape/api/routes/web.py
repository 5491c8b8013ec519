"""The web page: `GET /` (index.html) and `GET /static/{name}` (its script and style sheet).

The files ship inside the package (`mastertape/web/static`, found with importlib.resources) and are read
once into memory, with a gzip copy and an ETag each. Only files that exist in that folder at start-up can
be served: the name in the URL is looked up in that table, never joined onto a path. The page itself
needs no key; it asks for one and sends it as X-API-Key on every API call.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mastertape.errors import NotFound

router = APIRouter(include_in_schema=False)

_PACKAGE = "mastertape.web"
_FOLDER = "static"
_INDEX = "index.html"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}
_COMPRESSIBLE = (".html", ".js", ".css", ".svg", ".json")
# Browsers revalidate on every load (cheap: a 304 against the ETag), so a new release is never stale.
_CACHE_CONTROL = "no-cache"
_SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


@dataclass(frozen=True)
class _Asset:
    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


@lru_cache(maxsize=1)
def _assets() -> dict[str, _Asset]:
    """Every file of the packaged static folder, by name (read once per process)."""
    table: dict[str, _Asset] = {}
    folder = resources.files(_PACKAGE).joinpath(_FOLDER)
    for entry in folder.iterdir():
        if not entry.is_file() or entry.name.startswith("."):
            continue
        body = entry.read_bytes()
        suffix = "." + entry.name.rsplit(".", 1)[-1].lower() if "." in entry.name else ""
        media_type = _TYPES.get(suffix) or mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
        gzipped = gzip.compress(body, compresslevel=9, mtime=0) if suffix in _COMPRESSIBLE else None
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        table[entry.name] = _Asset(body, gzipped, media_type, etag)
    return table


def _serve(name: str, request: Request) -> Response:
    asset = _assets().get(name)
    if asset is None:
        raise NotFound(f"no such file: {name}")
    headers = {
        "ETag": asset.etag,
        "Cache-Control": _CACHE_CONTROL,
        "Vary": "Accept-Encoding",
        **_SECURITY_HEADERS,
    }
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", "").lower():
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.api_route("/", methods=["GET", "HEAD"])
def index(request: Request) -> Response:
    """The page: upload, master, compare and download."""
    return _serve(_INDEX, request)


@router.api_route("/static/{name}", methods=["GET", "HEAD"])
def static_file(name: str, request: Request) -> Response:
    """One file of the page (script, style sheet)."""
    return _serve(name, request)
