"""API keys: generated with 256 bits of entropy, stored only as their SHA-256, compared in constant time.

A plain SHA-256 (no salt, no slow KDF) is enough for keys this random: nobody can guess one from its
hash, and looking a key up by its hash needs no per-row work. Keys look like `mt_<43 base64url chars>`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mastertape.errors import InvalidSetting, NotFound
from mastertape.store.db import Database
from mastertape.store.models import ApiKey, utcnow

KEY_PREFIX = "mt_"
_DISPLAY_PREFIX_CHARS = 10


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def lookup(session: Session, key: str | None) -> ApiKey | None:
    """The active key row for `key`, or None (unknown, revoked or missing)."""
    if not key:
        return None
    digest = hash_key(key)
    row = session.execute(select(ApiKey).where(ApiKey.key_hash == digest)).scalar_one_or_none()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return row


def lookup_owner(db: Database, key: str | None) -> str | None:
    """The id of the active key `key`, or None: one indexed SELECT on the hash, compared in constant time."""
    if not key:
        return None
    digest = hash_key(key)
    row = db.query_one("SELECT id, key_hash, revoked_at FROM api_keys WHERE key_hash = {}", digest)
    if row is None or row[2] is not None or not hmac.compare_digest(str(row[1]), digest):
        return None
    return str(row[0])


def create_key(db: Database, name: str, key: str | None = None) -> tuple[ApiKey, str]:
    """Store a new key (random unless given) and return its row and the plaintext, shown only once."""
    name = name.strip()
    if not name:
        raise InvalidSetting("a key needs a non-empty --name", field="name")
    plaintext = key or generate_key()
    if len(plaintext) < 16:
        raise InvalidSetting("an API key must be at least 16 characters long", field="api_key")
    with db.write() as s:
        if s.execute(select(ApiKey.id).where(ApiKey.key_hash == hash_key(plaintext))).first():
            raise InvalidSetting("this key already exists", field="api_key")
        row = ApiKey(name=name, key_hash=hash_key(plaintext), prefix=plaintext[:_DISPLAY_PREFIX_CHARS])
        s.add(row)
    return row, plaintext


def list_keys(db: Database) -> list[ApiKey]:
    with db.read() as s:
        return list(s.execute(select(ApiKey).order_by(ApiKey.created_at)).scalars())


def revoke_key(db: Database, ident: str) -> ApiKey:
    """Revoke the key whose id, id prefix or displayed key prefix is `ident` (must match exactly one)."""
    ident = ident.strip()
    if len(ident) < 4:
        raise InvalidSetting("give the key id (or at least 4 leading characters of it)", field="key")
    with db.write() as s:
        rows = list(
            s.execute(
                select(ApiKey).where(
                    or_(
                        ApiKey.id.startswith(ident, autoescape=True),
                        ApiKey.prefix.startswith(ident, autoescape=True),
                    )
                )
            ).scalars()
        )
        if not rows:
            raise NotFound(f"no API key matches {ident!r}", field="key")
        if len(rows) > 1:
            raise InvalidSetting(f"{ident!r} matches {len(rows)} keys: give more of the id", field="key")
        row = rows[0]
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        return row


def ensure_initial_key(db: Database, configured_key: str | None) -> str | None:
    """At server start: make sure there is a key to use. Returns a new key to print once, else None.

    With `configured_key` (MASTERTAPE_API_KEY) that key is stored if it is not known yet (a revoked
    one stays revoked). Otherwise, on an empty key table, one random key named "default" is created.
    """
    with db.write() as s:
        if configured_key:
            known = s.execute(select(ApiKey.id).where(ApiKey.key_hash == hash_key(configured_key))).first()
            if known is None:
                s.add(
                    ApiKey(
                        name="default",
                        key_hash=hash_key(configured_key),
                        prefix=configured_key[:_DISPLAY_PREFIX_CHARS],
                    )
                )
            return None
        if s.execute(select(ApiKey.id).limit(1)).first() is not None:
            return None
        plaintext = generate_key()
        s.add(ApiKey(name="default", key_hash=hash_key(plaintext), prefix=plaintext[:_DISPLAY_PREFIX_CHARS]))
        return plaintext
