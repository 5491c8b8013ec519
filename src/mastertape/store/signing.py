"""Signed, expiring download tokens: `GET /files/{token}` serves a blob only with a valid token.

A token is `base64url(payload) "." base64url(HMAC-SHA256(secret, payload))` where payload is compact JSON
`{"k": blob key, "e": expiry (unix seconds), "n": download file name, "t": media type}` (RFC 2104 HMAC,
RFC 4648 section 5 base64url without padding). The blob key inside is chosen by the server, never by
the client, and verification uses a constant-time comparison.

The secret is `Settings.secret_key`, or 32 random bytes generated once into `<data_dir>/secret_key`
(created with mode 0600 and never rewritten), so that tokens survive restarts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from mastertape.config import Settings

SECRET_FILE = "secret_key"


class InvalidToken(Exception):
    """Malformed, forged or expired token (the API answers 403)."""


@dataclass(frozen=True)
class FileGrant:
    key: str
    expires_at: float
    filename: str
    media_type: str


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_secret(settings: Settings) -> bytes:
    """The signing secret: from settings, else from (or newly into) `<data_dir>/secret_key`."""
    if settings.secret_key:
        return settings.secret_key.encode("utf-8")
    path = Path(settings.data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    for _ in range(50):  # another process may be between create and write
        text = path.read_text().strip()
        if text:
            return text.encode("ascii")
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty: delete it to generate a new download-signing secret")


def sign(secret: bytes, grant: FileGrant) -> str:
    payload = json.dumps(
        {"k": grant.key, "e": int(grant.expires_at), "n": grant.filename, "t": grant.media_type},
        separators=(",", ":"),
        sort_keys=True,
    ).encode("utf-8")
    mac = hmac.new(secret, payload, hashlib.sha256).digest()
    return f"{_b64e(payload)}.{_b64e(mac)}"


def verify(secret: bytes, token: str, *, now: float | None = None) -> FileGrant:
    try:
        payload_b64, mac_b64 = token.split(".")
        payload, mac = _b64d(payload_b64), _b64d(mac_b64)
    except (ValueError, binascii.Error):
        raise InvalidToken("malformed download token") from None
    expected = hmac.new(secret, payload, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise InvalidToken("invalid download token")
    try:
        data = json.loads(payload)
        grant = FileGrant(
            key=str(data["k"]),
            expires_at=float(data["e"]),
            filename=str(data["n"]),
            media_type=str(data["t"]),
        )
    except (ValueError, KeyError, TypeError):
        raise InvalidToken("malformed download token") from None
    if (time.time() if now is None else now) >= grant.expires_at:
        raise InvalidToken("this download link has expired: request a new one from /download")
    return grant
