"""Request-size limit for every body that is not an upload: 413 before the app reads it into memory.

`POST /from-file` streams its body to disk under `max_upload_bytes` (routes/uploads.py) and is left alone.
Every other body is JSON of a few hundred bytes; one larger than `max_json_body_bytes` is refused by its
Content-Length before anything is read, or, sent chunked without a length, once it grows past the limit,
so that a client cannot make the server buffer gigabytes of JSON.
"""

from __future__ import annotations

import json

#: paths whose handler streams and limits its own body
STREAMED_PATHS = ("/from-file",)


class BodySizeLimit:
    """Pure ASGI middleware (no buffering beyond `limit` bytes, no response streaming changes)."""

    def __init__(self, app, limit: int, streamed_paths: tuple[str, ...] = STREAMED_PATHS) -> None:
        self.app, self.limit, self.streamed_paths = app, limit, streamed_paths

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.streamed_paths:
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                declared = value
                break
        if declared is not None:
            if declared.isdigit() and int(declared) > self.limit:
                await self._too_large(send)
                return
            await self.app(scope, receive, send)  # the server delivers no more than the declared length
            return
        # no length (chunked): read up to the limit here, then hand the body on
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._too_large(send)
                return
            if not message.get("more_body", False):
                break

        async def replay():
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": "payload_too_large",
                    "message": f"the request body is larger than this server's limit of {self.limit:,} bytes",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
