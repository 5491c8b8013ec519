"""The `archive` job of POST /download-archive: a zip of chosen versions of tracks and stems.

The API resolves the request into a list of entries (object type, id, format, path inside the zip) with
`ZipPlan`, so the job only packages: for each entry it takes the stored blob in that format (converting
it first when that format is not stored yet, with the same `ensure_format` as /download, so the conversion
is kept for later downloads too), and streams it into the zip (stored, not deflated: audio barely
compresses). A `manifest.json` at the root lists every file with the id, version and format it holds.
The zip is written to a temporary file and moved under `tasks.archive_key(id)`, so a re-run overwrites
it atomically with the same content.

The same `write_zip` serves GET /download/stem_split/{id} (all stems of a split in one zip).
"""

from __future__ import annotations

import json
import re
import shutil
import time
import zipfile
from pathlib import Path

from mastertape.errors import InvalidSetting
from mastertape.jobs import state
from mastertape.jobs.runtime import Runtime
from mastertape.jobs.state import Claim, ReadyJob
from mastertape.jobs.tasks import Progress, _load, _timings, archive_key, blob_for_format, ensure_format
from mastertape.store.models import ARTIFACT_MODELS, COMPLETED, Archive

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")
MANIFEST = "manifest.json"
COPY_CHUNK_BYTES = 1 << 20


def safe_name(name: str | None, fallback: str) -> str:
    """A file-name-safe version of `name` (its stem if it has an extension), else `fallback`[:8]."""
    stem = _SAFE_NAME.sub("_", Path(name or "").stem).strip(" ._")[:120]
    return stem or fallback[:8]


class ZipPlan:
    """Entries of a zip with unique paths: `add(object_type, row, fmt, name, folder)`.

    The extension comes from the format actually served (`tasks.blob_for_format`); a path already taken
    gets the first 8 characters of the artifact id appended."""

    def __init__(self) -> None:
        self.entries: list[dict] = []
        self._taken: set[str] = {MANIFEST}

    def add(self, object_type: str, row, fmt: str | None, name: str, folder: str = "", **info) -> dict:
        ext = blob_for_format(object_type, row, fmt).ext
        base = f"{folder}/{name}" if folder else name
        path = f"{base}{ext}"
        if path.lower() in self._taken:
            path = f"{base}_{row.id[:8]}{ext}"
        self._taken.add(path.lower())
        entry = {"path": path, "object_type": object_type, "id": row.id, "format": fmt, **info}
        self.entries.append(entry)
        return entry


def write_zip(rt: Runtime, entries: list[dict], key: str, progress=None) -> int:
    """Zip the blobs of `entries` (see `ZipPlan`) plus a manifest into blob `key`; returns the zip's size.

    Raises InvalidSetting when an entry's artifact is no longer complete."""
    tmp = rt.temp_path(".zip")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for i, entry in enumerate(entries):
                if progress is not None:
                    progress("packaging", 0.05 + 0.9 * i / max(len(entries), 1), file=entry["path"])
                object_type, fmt = entry["object_type"], entry["format"]
                row = _load(rt, ARTIFACT_MODELS[object_type], entry["id"])
                if row.status != COMPLETED or not row.blob_key:
                    raise InvalidSetting(
                        f"{object_type} {row.id} is not available any more ({row.status})", field="versions"
                    )
                choice = blob_for_format(object_type, row, fmt)
                if choice.convert_from is not None:
                    ensure_format(rt, choice.convert_from, choice.key, fmt, bit_depth=choice.bit_depth)
                with rt.blobs.open(choice.key) as src, zf.open(entry["path"], "w", force_zip64=True) as dst:
                    shutil.copyfileobj(src, dst, COPY_CHUNK_BYTES)
            zf.writestr(MANIFEST, json.dumps({"files": entries}, indent=2))
        size = tmp.stat().st_size
        rt.blobs.put_file(key, tmp, move=True)
        return size
    finally:
        tmp.unlink(missing_ok=True)


def run_archive(claim: Claim, rt: Runtime) -> list[ReadyJob]:
    """Package the entries resolved by the API into the archive's zip."""
    t0 = time.monotonic()
    archive = _load(rt, Archive, claim.object_id)
    entries = list((archive.request or {}).get("entries", []))
    progress = Progress(rt, claim)
    progress("packaging", 0.02)
    key = archive_key(archive.id)
    size = write_zip(rt, entries, key, progress)
    details = dict(archive.details or {})
    details.pop("note", None)
    details.update(
        stage="done",
        progress=1.0,
        backend="zip (stored)",
        files=[e["path"] for e in entries] + [MANIFEST],
        size_bytes=size,
        timings=_timings(archive.created_at, t0, {}),
    )
    return state.complete(rt.db, claim, details, blob_key=key, size_bytes=size)
