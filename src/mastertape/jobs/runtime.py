"""What a process needs to run jobs or answer requests: settings, the database and the blob store."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mastertape.config import Settings
from mastertape.store.blobs import BlobStore, make_blob_store
from mastertape.store.db import Database


@dataclass
class Runtime:
    settings: Settings
    db: Database
    blobs: BlobStore

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = False, api: bool = False) -> Runtime:
        """Connect to the database and blob store of `settings`; `migrate` applies pending migrations;
        `api`: this process answers requests (SQLite checkpoints move to a background thread)."""
        db = Database.from_settings(settings, background_checkpoint=api)
        if migrate:
            db.upgrade()
        return cls(settings=settings, db=db, blobs=make_blob_store(settings))

    def scratch_dir(self) -> Path:
        """A local folder for temporary files: beside the blobs when they are local (cheap rename)."""
        staging = self.blobs.staging_dir()
        if staging is not None:
            return staging
        path = Path(self.settings.data_dir) / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def temp_path(self, suffix: str = "") -> Path:
        fd, name = tempfile.mkstemp(suffix=suffix, dir=self.scratch_dir())
        os.close(fd)
        return Path(name)

    def close(self) -> None:
        self.db.dispose()
