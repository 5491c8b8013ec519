"""Fixtures of the services suite: real PostgreSQL, Redis, RabbitMQ, and the S3 protocol over loopback.

Each service fixture checks that the service answers; when it does not, the test is skipped with the
reason, except under `CI=true`, where a missing service fails the test instead. Every test gets its own
PostgreSQL schema, its own queue/key prefix on the broker and its own bucket, and removes them after.

Addresses (overridable for other machines): MT_TEST_POSTGRES_URL (SQLAlchemy URL of a database where
schemas may be created), MT_TEST_REDIS_URL, MT_TEST_RABBITMQ_URL. The S3 server is moto's standalone
server (`ThreadedMotoServer`), started by the tests on a free loopback port.
"""

from __future__ import annotations

import logging
import os
import secrets
from urllib.parse import quote

import pytest

from tests.services.cluster import Cluster

PG_URL = os.environ.get("MT_TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("MT_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")

pytestmark = pytest.mark.services


def unavailable(reason: str):
    """Skip (locally) or fail (CI=true) a test whose service is missing."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"service required in CI: {reason}")
    pytest.skip(reason)


def _psycopg_dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def pg_url():
    """A SQLAlchemy URL whose connections use a fresh schema (search_path), dropped after the test."""
    try:
        import psycopg
    except ImportError:
        unavailable("psycopg is not installed (pip install -e '.[distributed]')")
    try:
        admin = psycopg.connect(_psycopg_dsn(PG_URL), connect_timeout=3, autocommit=True)
    except Exception as exc:  # noqa: BLE001 - whatever the reason, the service is not usable
        unavailable(f"PostgreSQL is not reachable at {PG_URL}: {exc}")
    schema = f"mt_test_{secrets.token_hex(6)}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


@pytest.fixture
def queue_prefix() -> str:
    return f"mt-test-{secrets.token_hex(5)}"


@pytest.fixture
def redis_broker(queue_prefix):
    """(broker URL, prefix); every Redis key under the prefix (queues, unacked messages) deleted after."""
    try:
        import redis
    except ImportError:
        unavailable("redis-py is not installed (pip install -e '.[distributed]')")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001
        unavailable(f"Redis is not reachable at {REDIS_URL}: {exc}")
    try:
        yield REDIS_URL, queue_prefix
    finally:
        keys = list(client.scan_iter(match=f"{queue_prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def rabbitmq_broker(queue_prefix):
    """(broker URL, prefix); the run's queues deleted after."""
    from kombu import Connection

    try:
        with Connection(RABBITMQ_URL, connect_timeout=3) as conn:
            conn.connect()
    except Exception as exc:  # noqa: BLE001
        unavailable(f"RabbitMQ is not reachable at {RABBITMQ_URL}: {exc}")
    try:
        yield RABBITMQ_URL, queue_prefix
    finally:
        with Connection(RABBITMQ_URL, connect_timeout=3) as conn:
            channel = conn.channel()
            for kind in ("import", "restore", "master"):
                try:
                    channel.queue_delete(f"{queue_prefix}.{kind}")
                    channel.exchange_delete(f"{queue_prefix}.{kind}")
                except Exception:  # noqa: BLE001 - not declared in this run
                    channel = conn.channel()


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3-compatible server on a free loopback port, for the whole session: its endpoint URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        unavailable("moto[server] is not installed (pip install -e '.[test]')")
    from tests.integration.server_process import free_port

    port = free_port()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per S3 request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


S3_CREDENTIALS = {"s3_access_key_id": "testing", "s3_secret_access_key": "testing", "s3_region": "us-east-1"}


@pytest.fixture
def s3_bucket(s3_server):
    """A new bucket on the S3 server: (endpoint URL, bucket name); emptied and deleted after the test."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = f"mt-test-{secrets.token_hex(5)}"
    client.create_bucket(Bucket=bucket)
    try:
        yield s3_server, bucket
    finally:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=obj["Key"])
        for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        client.delete_bucket(Bucket=bucket)


@pytest.fixture
def cluster_env(pg_url, s3_bucket):
    """MASTERTAPE_* settings shared by API and workers (the broker is added per test)."""
    endpoint, bucket = s3_bucket
    return {
        "MASTERTAPE_DATABASE_URL": pg_url,
        "MASTERTAPE_STORAGE_URL": f"s3://{bucket}",
        "MASTERTAPE_S3_ENDPOINT_URL": endpoint,
        "MASTERTAPE_S3_REGION": S3_CREDENTIALS["s3_region"],
        "MASTERTAPE_S3_ACCESS_KEY_ID": S3_CREDENTIALS["s3_access_key_id"],
        "MASTERTAPE_S3_SECRET_ACCESS_KEY": S3_CREDENTIALS["s3_secret_access_key"],
        "MASTERTAPE_API_KEY": "mt_services_test_key_" + secrets.token_hex(8),
        # short leases: a killed worker's job is taken over within seconds
        "MASTERTAPE_JOB_LEASE_S": "3",
    }


@pytest.fixture
def redis_cluster(tmp_path, cluster_env, redis_broker):
    url, prefix = redis_broker
    env = {**cluster_env, "MASTERTAPE_BROKER_URL": url, "MASTERTAPE_QUEUE_PREFIX": prefix}
    cluster = Cluster(tmp_path, env)
    try:
        yield cluster
    finally:
        cluster.close()
