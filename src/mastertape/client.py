"""Python client of the mastertape (Neural Analog compatible) HTTP API, on httpx.

    from mastertape.client import Client

    with Client("http://127.0.0.1:8000", api_key) as c:
        audio_id = c.upload("mix.wav")
        c.wait("audio", audio_id)
        master_id = c.master(audio_id, target_lufs=-14, genre="modern")
        c.wait("mastered", master_id, progress=lambda st: print(st["status_details"].get("stage")))
        c.download("mastered", master_id, "mix_master.wav")

Errors of the API raise `ApiError` (status, code, message, field); a failed job raises `JobFailed`.
Downloads follow the 307 by hand, so the API key is never sent to the signed URL's host.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

_CHUNK = 1 << 16


class ApiError(Exception):
    """An error answer of the API: `{"error": {"code", "message", "field"?}}`."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.field = status, code, message, field


class JobFailed(Exception):
    """The object being waited for ended `failed`."""

    def __init__(self, status: dict) -> None:
        super().__init__(status.get("error_message") or "the job failed")
        self.status = status


class Client:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"X-API-Key": api_key},
            timeout=timeout_s,
            transport=transport,
            follow_redirects=False,
        )
        self._transport = transport

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- plumbing ---
    @staticmethod
    def _check(resp: httpx.Response) -> httpx.Response:
        if resp.status_code < 400:
            return resp
        try:
            err = resp.json()["error"]
            raise ApiError(
                resp.status_code, err.get("code", "error"), err.get("message", ""), err.get("field")
            )
        except (ValueError, KeyError, TypeError):
            raise ApiError(resp.status_code, "http_error", resp.text[:500]) from None

    def _post(self, path: str, **kwargs) -> dict:
        return self._check(self._http.post(path, **kwargs)).json()

    # --- API ---
    def upload(self, path: str | os.PathLike, *, file_source: str | None = None) -> str:
        """POST /from-file; returns the audio_id."""
        path = Path(path)
        data = {"file_source": file_source} if file_source else None
        with open(path, "rb") as fh:
            body = self._post(
                "/from-file",
                files={"audio": (path.name, fh, "application/octet-stream")},
                data=data,
                timeout=None,
            )
        return body["audio_id"]

    def from_link(self, url: str) -> str:
        """POST /from-link; returns the audio_id."""
        return self._post("/from-link", json={"url": url})["audio_id"]

    def master(self, audio_id: str, **fields: Any) -> str:
        """POST /master-audio with any of its fields (target_lufs, genre, bit_depth, preset, use_restored,
        upscaled_id, source_mastered_id, selection={"start","end"}, ...); returns the id."""
        return self._post("/master-audio", json={"audio_id": audio_id, **fields})["id"]

    def upscale(self, audio_id: str, **fields: Any) -> str:
        """POST /upscale-audio (restoration); returns the id."""
        return self._post("/upscale-audio", json={"audio_id": audio_id, **fields})["id"]

    def status(self, object_type: str, object_id: str) -> dict:
        return self._check(self._http.get(f"/status/{object_type}/{object_id}")).json()

    def genres(self) -> dict:
        return self._check(self._http.get("/genres")).json()

    def presets(self) -> dict:
        return self._check(self._http.get("/presets")).json()

    def wait(
        self,
        object_type: str,
        object_id: str,
        *,
        progress: Callable[[dict], None] | None = None,
        poll_s: float = 1.0,
        timeout_s: float | None = None,
    ) -> dict:
        """Poll the status until complete (returned) or failed (`JobFailed`); `progress` gets every status."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            st = self.status(object_type, object_id)
            if progress is not None:
                progress(st)
            if st["is_complete"]:
                return st
            if st["is_failed"]:
                raise JobFailed(st)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{object_type} {object_id} not done after {timeout_s:g} s")
            time.sleep(poll_s)

    def download_url(
        self,
        object_type: str,
        object_id: str,
        *,
        format: str | None = None,  # noqa: A002
        track: bool = False,
    ) -> str:
        """The signed, temporary URL that GET /download redirects to."""
        params: dict = {}
        if format:
            params["format"] = format
        if track:
            params["track"] = "true"
        resp = self._check(self._http.get(f"/download/{object_type}/{object_id}", params=params))
        if resp.status_code not in (301, 302, 303, 307, 308) or "location" not in resp.headers:
            raise ApiError(resp.status_code, "unexpected_response", "expected a redirect to the file")
        return str(resp.url.join(resp.headers["location"]))

    def download(
        self,
        object_type: str,
        object_id: str,
        dest: str | os.PathLike,
        *,
        format: str | None = None,
        track: bool = False,
    ) -> Path:  # noqa: A002
        """Follow the 307 to the signed URL and write the file to `dest` (atomically). Returns the path."""
        url = self.download_url(object_type, object_id, format=format, track=track)
        dest = Path(dest)
        tmp = dest.with_name(f".{dest.name}.part")
        with httpx.Client(timeout=self._http.timeout, transport=self._transport) as plain:
            with plain.stream("GET", url) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    self._check(resp)
                with open(tmp, "wb") as out:
                    for chunk in resp.iter_bytes(_CHUNK):
                        out.write(chunk)
        os.replace(tmp, dest)
        return dest

    def master_file(
        self,
        src: str | os.PathLike,
        dest: str | os.PathLike,
        *,
        progress: Callable[[dict], None] | None = None,
        poll_s: float = 1.0,
        format: str | None = None,
        **fields: Any,
    ) -> dict:  # noqa: A002
        """Upload `src`, master it with `fields`, wait, download to `dest`; returns the final status."""
        audio_id = self.upload(src)  # the master waits for the import on the server
        master_id = self.master(audio_id, **fields)
        st = self.wait("mastered", master_id, progress=progress, poll_s=poll_s)
        self.download("mastered", master_id, dest, format=format)
        return st
