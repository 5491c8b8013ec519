"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, moto's server): `MASTERTAPE_STORAGE_URL=s3://bucket[/prefix]`.

- Uploads stream from a file or file object through boto3's managed transfer: one PUT below
  `MULTIPART_THRESHOLD_BYTES`, a multipart upload in `MULTIPART_CHUNK_BYTES` parts above it, so a large
  file never passes through memory whole. Both are atomic on the S3 side: an object appears complete
  or not at all (an interrupted multipart upload leaves no object, only parts that the bucket's
  lifecycle rule `AbortIncompleteMultipartUpload` should clean up), and writing a key twice replaces it.
- Reads go to a local temporary file (seekable, as the decoder wants), streamed in chunks.
- Downloads are presigned GET URLs (SigV4, expiring after `ttl_s`), optionally signed for a public
  endpoint (`s3_public_endpoint_url`) when clients reach the bucket under another address than the
  servers do (a compose network, a proxy).

Every botocore failure becomes a `StorageError` (HTTP 503, and a transient error for the job runners).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

from mastertape.config import Settings
from mastertape.errors import StorageError
from mastertape.store.blobs import BlobStore, check_key

MULTIPART_THRESHOLD_BYTES = 16 * 1024**2
MULTIPART_CHUNK_BYTES = 16 * 1024**2
#: reads are spooled to a temporary file in memory up to this size, to disk above it
READ_SPOOL_BYTES = 8 * 1024**2
_NOT_FOUND = ("404", "NoSuchKey", "NotFound")


def parse_s3_url(url: str) -> tuple[str, str]:
    """("bucket", "prefix/") of `s3://bucket[/prefix]` (prefix empty or ending in a slash)."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise StorageError(f"not an S3 storage URL: {url!r} (use s3://bucket[/prefix])")
    prefix = parsed.path.strip("/")
    return parsed.netloc, f"{prefix}/" if prefix else ""


def _client(settings: Settings, endpoint_url: str | None):
    import boto3
    from botocore.config import Config

    config = Config(
        signature_version="s3v4",
        retries={"max_attempts": 4, "mode": "standard"},  # brief hiccups retried here; longer ones by the job
        connect_timeout=5,
        read_timeout=60,
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=settings.s3_region or "us-east-1",
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key,
        config=config,
    )


class S3BlobStore(BlobStore):
    """One bucket (and optional key prefix) through boto3."""

    def __init__(self, client, bucket: str, prefix: str = "", *, presign_client=None) -> None:
        from boto3.s3.transfer import TransferConfig

        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self._presign = presign_client or client
        self._transfer = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD_BYTES,
            multipart_chunksize=MULTIPART_CHUNK_BYTES,
            max_concurrency=4,
            use_threads=True,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> S3BlobStore:
        bucket, prefix = parse_s3_url(settings.resolved_storage_url)
        client = _client(settings, settings.s3_endpoint_url)
        presign = None
        if settings.s3_public_endpoint_url and settings.s3_public_endpoint_url != settings.s3_endpoint_url:
            presign = _client(settings, settings.s3_public_endpoint_url)
        return cls(client, bucket, prefix, presign_client=presign)

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _error(self, action: str, key: str, exc: Exception) -> StorageError:
        return StorageError(f"cannot {action} blob {key} in bucket {self.bucket}: {exc}")

    def put_file(self, key: str, path: str | os.PathLike, *, move: bool = False) -> None:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.upload_file(str(path), self.bucket, self._key(key), Config=self._transfer)
        except (BotoCoreError, ClientError, S3UploadFailedError, OSError) as exc:
            raise self._error("store", key, exc) from exc
        if move:
            Path(path).unlink(missing_ok=True)

    def put_stream(self, key: str, stream: BinaryIO) -> int:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        counter = _CountingReader(stream)
        try:
            self.client.upload_fileobj(counter, self.bucket, self._key(key), Config=self._transfer)
        except (BotoCoreError, ClientError, S3UploadFailedError, OSError) as exc:
            raise self._error("store", key, exc) from exc
        return counter.count

    def open(self, key: str) -> BinaryIO:
        from botocore.exceptions import BotoCoreError, ClientError

        spool = tempfile.SpooledTemporaryFile(max_size=READ_SPOOL_BYTES)  # noqa: SIM115 - returned open
        try:
            self.client.download_fileobj(self.bucket, self._key(key), spool, Config=self._transfer)
        except ClientError as exc:
            spool.close()
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
                raise StorageError(f"blob {key} is missing from storage") from None
            raise self._error("read", key, exc) from exc
        except (BotoCoreError, OSError) as exc:
            spool.close()
            raise self._error("read", key, exc) from exc
        spool.seek(0)
        return spool

    def path_or_url(self, key: str, *, ttl_s: int, filename: str | None = None) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        params = {"Bucket": self.bucket, "Key": self._key(key)}
        if filename:
            safe = filename.replace('"', "").replace("\\", "")
            params["ResponseContentDisposition"] = f'attachment; filename="{safe}"'
        try:
            return self._presign.generate_presigned_url("get_object", Params=params, ExpiresIn=int(ttl_s))
        except (BotoCoreError, ClientError) as exc:
            raise self._error("sign a download of", key, exc) from exc

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._error("delete", key, exc) from exc

    def exists(self, key: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
                return False
            raise self._error("look up", key, exc) from exc
        except BotoCoreError as exc:
            raise self._error("look up", key, exc) from exc

    def list_keys(self, prefix: str = "") -> list[str]:
        """Every key under `prefix` (relative to this store's prefix): for operators and tests."""
        paginator = self.client.get_paginator("list_objects_v2")
        keys: list[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            keys.extend(obj["Key"][len(self.prefix) :] for obj in page.get("Contents", []))
        return keys


class _CountingReader:
    """A read-only file object that counts the bytes read through it."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.count += len(data)
        return data
