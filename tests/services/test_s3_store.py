"""`S3BlobStore` against an S3-compatible server over loopback (moto's standalone server)."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest

from mastertape.config import Settings
from mastertape.errors import StorageError
from mastertape.store.blobs import make_blob_store
from mastertape.store.s3 import MULTIPART_CHUNK_BYTES, MULTIPART_THRESHOLD_BYTES, S3BlobStore, parse_s3_url
from tests.services.conftest import S3_CREDENTIALS

pytestmark = pytest.mark.services


@pytest.fixture
def store(s3_bucket, tmp_path) -> S3BlobStore:
    endpoint, bucket = s3_bucket
    settings = Settings(
        data_dir=tmp_path, storage_url=f"s3://{bucket}/deploy-a", s3_endpoint_url=endpoint, **S3_CREDENTIALS
    )
    blobs = make_blob_store(settings)
    assert isinstance(blobs, S3BlobStore)
    return blobs


def test_parse_s3_url():
    assert parse_s3_url("s3://bucket") == ("bucket", "")
    assert parse_s3_url("s3://bucket/a/b/") == ("bucket", "a/b/")
    with pytest.raises(StorageError):
        parse_s3_url("s3:///nobucket")


def test_large_file_goes_up_in_parts_and_comes_back_identical(store, tmp_path):
    size = MULTIPART_THRESHOLD_BYTES + MULTIPART_CHUNK_BYTES // 2 + 12345  # two parts
    data = np.random.default_rng(7).integers(0, 256, size, dtype=np.uint8).tobytes()
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    store.put_file("audio/x/original", src, move=True)
    assert not src.exists()  # consumed
    head = store.client.head_object(Bucket=store.bucket, Key="deploy-a/audio/x/original")
    assert head["ContentLength"] == size
    assert head["ETag"].strip('"').endswith("-2")  # a multipart upload of two parts
    with store.open("audio/x/original") as fh:
        assert fh.read() == data
    assert store.list_keys() == ["audio/x/original"]


def test_stream_upload_counts_bytes_and_small_objects_take_one_put(store):
    payload = b"RIFF" + bytes(range(256)) * 40
    assert store.put_stream("mastered/m/master.wav", io.BytesIO(payload)) == len(payload)
    head = store.client.head_object(Bucket=store.bucket, Key="deploy-a/mastered/m/master.wav")
    assert "-" not in head["ETag"].strip('"')
    assert store.exists("mastered/m/master.wav")
    store.put_stream("mastered/m/master.wav", io.BytesIO(payload[:100]))  # same key again: replaced
    with store.open("mastered/m/master.wav") as fh:
        assert fh.read() == payload[:100]


def test_presigned_download_serves_the_bytes_with_the_file_name(store):
    store.put_stream("mastered/m/preview.m4a", io.BytesIO(b"abc" * 1000))
    url = store.path_or_url("mastered/m/preview.m4a", ttl_s=60, filename="My Song_mastered.m4a")
    assert isinstance(url, str) and "X-Amz-Expires=60" in url
    r = httpx.get(url, timeout=10)
    assert r.status_code == 200 and r.content == b"abc" * 1000
    # the file name travels as a signed response-content-disposition override (moto does not apply it;
    # AWS S3 and MinIO answer with it as the Content-Disposition header)
    assert "response-content-disposition=attachment%3B%20filename%3D%22My%20Song_mastered.m4a%22" in url
    assert "X-Amz-Signature=" in url and "X-Amz-Credential=testing" in url  # SigV4 (moto does not verify it)


def test_missing_blobs_and_bad_keys(store):
    assert not store.exists("audio/none/original")
    with pytest.raises(StorageError, match="missing"):
        store.open("audio/none/original")
    store.delete("audio/none/original")  # no error
    with pytest.raises(StorageError):
        store.put_stream("../escape", io.BytesIO(b"x"))


def test_unreachable_endpoint_is_a_storage_error(tmp_path):
    from tests.integration.server_process import free_port

    settings = Settings(
        data_dir=tmp_path,
        storage_url="s3://nowhere",
        s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
        **S3_CREDENTIALS,
    )
    blobs = make_blob_store(settings)
    with pytest.raises(StorageError, match="cannot"):
        blobs.exists("audio/a/original")
