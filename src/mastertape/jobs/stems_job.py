"""The `split` job of POST /create-stems: decode the source, `stems.split`, store each stem as an artifact.

Each stem is a `Stem` row whose id is derived from the split id and the stem name (UUID5), written as a
WAV at the requested bit depth under `tasks.stem_key(stem_id)`. A job delivered twice therefore writes the
same files under the same keys and updates the same rows, never a second set of stems. The stem rows are
written (completed) while our claim still holds, then the split itself is completed with the list of
stems in `status_details.stems`.

Stages reported: decoding, separating, encoding (one stem after another), done.
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy import exists, select

from mastertape.errors import InvalidSetting
from mastertape.jobs import state
from mastertape.jobs.runtime import Runtime
from mastertape.jobs.state import Claim, ClaimLost, ReadyJob
from mastertape.jobs.tasks import (
    Progress,
    _decode_blob,
    _load,
    _store_encoded,
    _timings,
    loudness_metrics,
    original_key,
    stem_key,
)
from mastertape.store.models import (
    COMPLETED,
    PROCESSING,
    Asset,
    Job,
    Mastered,
    Stem,
    StemSplit,
    Upscaled,
    utcnow,
)

_SOURCE_MODELS = {"upscaled": Upscaled, "mastered": Mastered, "stem": Stem}
_SOURCE_FIELDS = {"original": "audio_id", "upscaled": "upscaled_id", "mastered": "mastered_id", "stem": "stem_id"}


def stem_id_for(split_id: str, name: str) -> str:
    """The id of stem `name` of split `split_id` (UUID5 in the split's namespace: stable across re-runs)."""
    return str(uuid.uuid5(uuid.UUID(split_id), name))


def _source(rt: Runtime, split: StemSplit) -> tuple[str, dict]:
    """Blob key of the audio to split and a description of it."""
    if split.source_type == "original":
        asset = _load(rt, Asset, split.source_id)
        return asset.blob_key or original_key(asset.id), {"type": "original", "id": asset.id}
    row = _load(rt, _SOURCE_MODELS[split.source_type], split.source_id)
    if row.status != COMPLETED or row.blob_key is None:
        raise InvalidSetting(
            f"the {split.source_type} source {row.id} is not available ({row.status})",
            field=_SOURCE_FIELDS[split.source_type],
        )
    info = {"type": split.source_type, "id": row.id}
    if split.source_type == "stem":
        info["name"] = row.name
    return row.blob_key, info


def _write_stems(rt: Runtime, claim: Claim, split: StemSplit, rows: list[dict]) -> None:
    """Insert or update the stem rows (completed), only while our claim on the job holds."""
    with rt.db.write() as s:
        held = s.execute(
            select(exists().where(Job.id == claim.job_id, Job.status == PROCESSING, Job.claim_token == claim.token))
        ).scalar()
        if not held:
            raise ClaimLost(f"job {claim.job_id} is no longer claimed by this worker")
        for values in rows:
            stem = s.get(Stem, values["id"])
            if stem is None:
                stem = Stem(id=values["id"], owner_id=split.owner_id, download_count=0, created_at=utcnow())
                s.add(stem)
            stem.audio_id = split.audio_id
            stem.split_id = split.id
            stem.name = values["name"]
            stem.position = values["position"]
            stem.status = COMPLETED
            stem.blob_key = values["blob_key"]
            stem.details = state.json_safe(values["details"])
            stem.error_message = stem.error_code = None
            stem.updated_at = utcnow()


def run_split(claim: Claim, rt: Runtime) -> list[ReadyJob]:
    """Split the chosen source with the stored preset; store every stem; complete the split."""
    from mastertape.stems import StemSettings, split

    t0 = time.monotonic()
    steps: dict[str, float] = {}
    job = _load(rt, StemSplit, claim.object_id)
    progress = Progress(rt, claim)
    key, source = _source(rt, job)
    progress("decoding", 0.02)
    t = time.monotonic()
    audio = _decode_blob(rt, key)
    steps["decode_s"] = time.monotonic() - t
    settings = StemSettings(preset=job.preset)  # the API checked the preset can run here
    progress("separating", 0.1)
    t = time.monotonic()
    stems, report = split(audio, settings)
    steps["separate_s"] = time.monotonic() - t

    rows: list[dict] = []
    listed: list[dict] = []
    t = time.monotonic()
    for position, (name, stem_audio) in enumerate(stems.items()):
        progress("encoding", 0.8 + 0.15 * position / max(len(stems), 1), stem=name)
        sid = stem_id_for(job.id, name)
        skey = stem_key(sid)
        _store_encoded(rt, stem_audio, skey, "wav", bit_depth=job.bit_depth)
        metrics = loudness_metrics(stem_audio)
        rows.append(
            {
                "id": sid,
                "name": name,
                "position": position,
                "blob_key": skey,
                "details": {
                    "stage": "done",
                    "progress": 1.0,
                    "name": name,
                    "split_id": job.id,
                    "preset": report.preset,
                    "backend": " + ".join(report.backends),
                    "note": report.notes.get(name),
                    "source": source,
                    "bit_depth": job.bit_depth,
                    "metrics": metrics,
                },
            }
        )
        listed.append({"stem_id": sid, "name": name, "rms_dbfs": report.metrics["rms_dbfs"].get(name)})
    steps["encode_s"] = time.monotonic() - t
    _write_stems(rt, claim, job, rows)

    details = dict(job.details or {})
    details.pop("note", None)
    details.update(
        stage="done",
        progress=1.0,
        preset=report.preset,
        source={**details.get("source", {}), **source},
        backend=" + ".join(report.backends),
        backends=list(report.backends),
        bit_depth=job.bit_depth,
        stems=listed,
        notes=dict(report.notes),
        separation_timings=dict(report.timings_s),
        metrics={
            "sum_residual_db": report.metrics["sum_residual_db"],
            "x_realtime": report.metrics["x_realtime"],
            **loudness_metrics(audio),
        },
        timings=_timings(job.created_at, t0, steps),
    )
    return state.complete(rt.db, claim, details)
