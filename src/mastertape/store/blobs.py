"""Blob storage behind a narrow interface: a local folder by default, other backends by URL scheme.

Keys are relative, slash-separated and derived from artifact ids by the caller (`audio/<id>/original.wav`,
`mastered/<id>/master.wav`), never from anything a client chose. Writes are atomic: a blob appears
complete or not at all (temporary file + rename for the local folder), so a failed job never leaves
a half-written artifact behind, and writing the same key twice (a redelivered job) just replaces it.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from abc import ABC, abstractmethod
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

from mastertape.config import Settings
from mastertape.errors import StorageError

_KEY_RE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_COPY_CHUNK = 1 << 20


def check_key(key: str) -> str:
    """Reject keys that could escape the store (absolute, `..`, empty parts, odd characters)."""
    if not _KEY_RE.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise StorageError(f"invalid blob key {key!r}")
    return key


class BlobStore(ABC):
    """What the service needs from a blob store; S3 and local folders both fit it."""

    @abstractmethod
    def put_file(self, key: str, path: str | os.PathLike, *, move: bool = False) -> None:
        """Store the file at `path` under `key` (atomically). `move=True` lets the store consume the file."""

    @abstractmethod
    def put_stream(self, key: str, stream: BinaryIO) -> int:
        """Store everything read from `stream` under `key` (atomically); returns the byte count."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A binary file object reading the blob (the caller closes it)."""

    @abstractmethod
    def path_or_url(self, key: str, *, ttl_s: int, filename: str | None = None) -> Path | str:
        """A local `Path` the app serves behind a signed token, or a presigned `str` URL to redirect to."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the blob; no error if it does not exist."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    def staging_dir(self) -> Path | None:
        """A local folder on the blobs' filesystem for uploads to land in before `put_file(move=True)`."""
        return None


class LocalBlobStore(BlobStore):
    """Blobs as files under one root folder (the embedded default: `<data_dir>/blobs`)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / ".tmp"
        self._tmp.mkdir(exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _tmp_path(self) -> Path:
        return self._tmp / f"{secrets.token_hex(12)}.part"

    def _commit(self, tmp: Path, key: str) -> None:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)

    def put_file(self, key: str, path: str | os.PathLike, *, move: bool = False) -> None:
        src = Path(path)
        try:
            if move and src.parent.resolve() == self._tmp:
                self._commit(src, key)
                return
            tmp = self._tmp_path()
            try:
                shutil.copyfile(src, tmp)
                self._commit(tmp, key)
            finally:
                tmp.unlink(missing_ok=True)
            if move:
                src.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot store blob {key}: {exc.strerror or exc}") from exc

    def put_stream(self, key: str, stream: BinaryIO) -> int:
        tmp = self._tmp_path()
        total = 0
        try:
            with open(tmp, "wb") as out:
                while chunk := stream.read(_COPY_CHUNK):
                    out.write(chunk)
                    total += len(chunk)
            self._commit(tmp, key)
        except OSError as exc:
            raise StorageError(f"cannot store blob {key}: {exc.strerror or exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return total

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError:
            raise StorageError(f"blob {key} is missing from storage") from None
        except OSError as exc:
            raise StorageError(f"cannot read blob {key}: {exc.strerror or exc}") from exc

    def path_or_url(self, key: str, *, ttl_s: int, filename: str | None = None) -> Path:
        return self._path(key)

    def local_path(self, key: str) -> Path:
        return self._path(key)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def staging_dir(self) -> Path:
        return self._tmp


def make_blob_store(settings: Settings) -> BlobStore:
    """The store named by `Settings.resolved_storage_url` (`file://...` here, `s3://...` by S3 backend)."""
    url = settings.resolved_storage_url
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalBlobStore(Path(parsed.path))
    if parsed.scheme == "s3":
        try:
            from mastertape.store.s3 import S3BlobStore  # added by the distributed-mode work
        except ModuleNotFoundError as exc:
            if exc.name != "mastertape.store.s3":
                raise
            raise StorageError("S3 storage is not available in this installation") from None
        return S3BlobStore.from_settings(settings)
    raise StorageError(f"unsupported storage URL scheme {parsed.scheme!r} (use file:// or s3://)")
