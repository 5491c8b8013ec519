"""The one place configuration is read: `Settings` (env prefix `MASTERTAPE_`), read once at start-up.

No other module reads the environment; entry points call `get_settings()` (or build a `Settings`
explicitly, as tests do) and pass it down.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MASTERTAPE_", extra="ignore")

    # where the embedded deployment keeps its SQLite file and blobs
    data_dir: Path = Path("./mastertape-data")
    # SQLAlchemy URL; default: SQLite under data_dir
    database_url: str | None = None
    # blob storage: default a folder under data_dir; "s3://bucket[/prefix]" for S3-compatible storage
    storage_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    # address clients use to reach the bucket, when it differs from s3_endpoint_url (presigned URLs)
    s3_public_endpoint_url: str | None = None
    # Celery broker (Redis or RabbitMQ); unset = embedded in-process workers
    broker_url: str | None = None
    # Celery queues are "<queue_prefix>.<kind>" (kind: import, restore, master, split, archive)
    queue_prefix: str = "mastertape"
    # Redis broker: an unacknowledged message (its worker died) is redelivered after this long; the
    # workers' own lease check (job_lease_s) usually re-runs the job much sooner
    broker_visibility_timeout_s: float = 7200.0
    # API key to create on an empty database instead of a random one
    api_key: str | None = None
    # secret for signing download URLs; default: generated once and kept under data_dir
    secret_key: str | None = None

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1)

    # limits
    max_upload_bytes: int = 2 * 1024**3
    # every request body other than a /from-file upload (JSON of a few hundred bytes): 413 above this
    max_json_body_bytes: int = 1024**2
    max_duration_s: float = 3 * 3600.0
    link_max_bytes: int = 2 * 1024**3
    link_timeout_s: float = 120.0
    allow_private_links: bool = False
    download_url_ttl_s: int = 3600
    max_jobs_in_flight_per_key: int = 50
    job_time_limit_s: float = 3600.0
    # embedded runner: a claimed job's lease (renewed by a heartbeat every lease/3), the number of
    # times a job interrupted by a crash is retried before it fails, and how often an idle worker polls
    job_lease_s: float = 30.0
    job_max_attempts: int = 3
    worker_poll_s: float = 0.5

    # folder of operator-provided model weights (ONNX) for generative restoration presets
    model_dir: Path | None = None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'mastertape.sqlite3').resolve()}"

    @property
    def resolved_storage_url(self) -> str:
        if self.storage_url:
            return self.storage_url
        return f"file://{(self.data_dir / 'blobs').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, read once per process."""
    return Settings()
