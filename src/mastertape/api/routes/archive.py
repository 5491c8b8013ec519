"""POST /download-archive: a zip of chosen versions of tracks and stems, built by a job (kind `archive`).

Request fields (those of the Neural Analog contract):
- `versions` (required): `original` (the track as uploaded), `restored` (every completed restoration of the
  full track), `mastered` (every completed master of the full track), `original_stems` (every stem of the
  track's completed splits), `restored_stems` / `mastered_stems` (every completed restoration / master of
  those stems). Unlike the hosted service, track and stem versions may be mixed in one request;
- `id` and/or `ids`: the tracks (audio ids); `stem_ids`: only these stems for the `*_stems` versions (their
  tracks are implied, so `stem_ids` alone is enough); `stem_selections`: exact stem versions
  (`{stem_id, version: original|restored|mastered, upscaled_id?, mastered_id?}`; without an explicit id the
  latest completed restoration / master of the stem), added whatever `versions` says;
- `format` (default wav): format of stem files and of restored / mastered files without their own;
  `original_format` (default: the file as uploaded), `restored_format`, `mastered_format`.

Everything is resolved here, in the request (database only): each id must belong to the calling key
(404 naming the field otherwise), and each requested version must give at least one file (a track that
lacks a version is skipped for it when other tracks have it). A version with something still running for
a track answers 409 (retry when it is done); a version with nothing at all, 422 naming `versions`.

The answer is `{id, status: "processing", message, download_url, files, email_notification_queued:
false}`; poll GET /status/archive/{id}, then GET `download_url` (= /download/archive/{id}: 409 until
complete, then 307 to the zip). The zip holds one folder per track (`<track>/`, stems under
`<track>/stems/`) and a `manifest.json` listing every file with its object type, id, version and format.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from mastertape.api import objects
from mastertape.api.deps import Owner, QueueDep, RuntimeDep
from mastertape.api.schemas import ArchiveRequest, ArchiveResponse, ErrorResponse
from mastertape.errors import InvalidSetting, NotReady
from mastertape.jobs import state
from mastertape.jobs.archive_job import ZipPlan, safe_name
from mastertape.store.models import (
    ARCHIVE,
    COMPLETED,
    FAILED,
    PROCESSING,
    QUEUED,
    Archive,
    Asset,
    Mastered,
    Stem,
    StemSplit,
    Upscaled,
    new_id,
)

router = APIRouter(tags=["archive"])
_ERRORS = {code: {"model": ErrorResponse} for code in (401, 404, 409, 422, 429)}
_RUNNING = (QUEUED, PROCESSING)


def _completed(s: Session, model, where: list, what: str) -> list:
    """Completed rows of `model` matching `where`, oldest first; 409 if none is complete but some are
    running, 422 (field `versions`) if there are none."""
    rows = s.execute(select(model).where(*where).order_by(model.created_at, model.id)).scalars().all()
    done = [r for r in rows if r.status == COMPLETED]
    if done:
        return done
    if any(r.status in _RUNNING for r in rows):
        raise NotReady(f"{what} is not complete yet: request the archive when it is")
    raise InvalidSetting(f"there is no {what}", field="versions")


class _Resolver:
    """Turns a request into a `ZipPlan`: folders per track, entries per version, no duplicates."""

    def __init__(self, s: Session, owner: str, body: ArchiveRequest) -> None:
        self.s, self.owner, self.body = s, owner, body
        self.plan = ZipPlan()
        self._folders: dict[str, str] = {}
        self._seen: set[tuple[str, str]] = set()
        self.found: set[str] = set()  # versions that gave at least one file
        self.missing: dict[str, str] = {}  # why a version gave nothing for some track

    def rows(self, version: str, model, where: list, what: str) -> list:
        """Completed rows for `version`, or [] (remembering why) when this track has none (409 if running)."""
        try:
            return _completed(self.s, model, where, what)
        except InvalidSetting as exc:
            self.missing.setdefault(version, exc.message)
            return []

    def folder(self, asset: Asset) -> str:
        if asset.id not in self._folders:
            name = safe_name(asset.original_filename, asset.id)
            if name.lower() in {f.lower() for f in self._folders.values()}:
                name = f"{name}_{asset.id[:8]}"
            self._folders[asset.id] = name
        return self._folders[asset.id]

    def add(self, object_type: str, row, fmt: str | None, name: str, folder: str, **info) -> None:
        self.found.add(info["version"])
        if (object_type, row.id) in self._seen:
            return
        self._seen.add((object_type, row.id))
        self.plan.add(object_type, row, fmt, name, folder, **info)

    def asset(self, audio_id: str, field: str) -> Asset:
        asset = objects.require(self.s, self.owner, "audio", audio_id, field=field)
        if asset.status == FAILED:
            raise InvalidSetting(f"audio {asset.id} could not be imported: {asset.error_message}", field=field)
        if asset.status != COMPLETED:
            raise NotReady(f"audio {asset.id} is still being imported: poll /status/audio/{asset.id}")
        return asset

    def track_versions(self, asset: Asset) -> None:
        body, folder = self.body, self.folder(asset)
        track = folder
        if "original" in body.versions:
            self.add("audio", asset, body.original_format, f"{track}_original", folder, version="original")
        if "restored" in body.versions:
            where = [Upscaled.owner_id == self.owner, Upscaled.audio_id == asset.id, Upscaled.stem_id.is_(None)]
            for up in self.rows("restored", Upscaled, where, f"restored version of audio {asset.id}"):
                fmt = body.restored_format or body.format
                self.add("upscaled", up, fmt, f"{track}_restored", folder, version="restored", preset=up.preset)
        if "mastered" in body.versions:
            where = [Mastered.owner_id == self.owner, Mastered.audio_id == asset.id, Mastered.stem_id.is_(None)]
            for m in self.rows("mastered", Mastered, where, f"master of audio {asset.id}"):
                self.add(
                    "mastered", m, body.mastered_format or body.format, f"{track}_master", folder, version="mastered"
                )

    def stem_versions(self, asset: Asset, only: set[str] | None) -> None:
        body, folder = self.body, self.folder(asset)
        stems_folder = f"{folder}/stems"
        wanted = [v for v in ("original_stems", "restored_stems", "mastered_stems") if v in body.versions]
        if not wanted:
            return
        where = [Stem.owner_id == self.owner, Stem.audio_id == asset.id]
        if only is not None:
            where.append(Stem.id.in_(only))
        stems = self.s.execute(select(Stem).where(*where).order_by(Stem.created_at, Stem.position)).scalars().all()
        if not stems:
            running = self.s.execute(
                select(StemSplit.id).where(
                    StemSplit.owner_id == self.owner, StemSplit.audio_id == asset.id, StemSplit.status.in_(_RUNNING)
                )
            ).first()
            if running is not None and only is None:
                raise NotReady(f"the stem split of audio {asset.id} is not complete yet: request the archive later")
            for version in wanted:
                self.missing.setdefault(version, f"audio {asset.id} has no stems (POST /create-stems first)")
            return
        by_id = {st.id: st for st in stems}
        if "original_stems" in wanted:
            for st in stems:
                self.add(
                    "stem",
                    st,
                    body.format,
                    f"{folder}_{safe_name(st.name, st.id)}",
                    stems_folder,
                    version="original_stems",
                    stem_name=st.name,
                )
        for version, object_type, model, suffix in (
            ("restored_stems", "upscaled", Upscaled, "restored"),
            ("mastered_stems", "mastered", Mastered, "master"),
        ):
            if version not in wanted:
                continue
            where = [model.owner_id == self.owner, model.stem_id.in_(list(by_id))]
            for row in self.rows(version, model, where, f"{suffix} of a stem of audio {asset.id}"):
                st = by_id[row.stem_id]
                self.add(
                    object_type,
                    row,
                    body.format,
                    f"{folder}_{safe_name(st.name, st.id)}_{suffix}",
                    stems_folder,
                    version=version,
                    stem_id=st.id,
                    stem_name=st.name,
                )

    def selection(self, index: int, sel) -> None:
        field = f"stem_selections.{index}"
        st = objects.require(self.s, self.owner, "stem", sel.stem_id, field=f"{field}.stem_id")
        asset = self.asset(st.audio_id, f"{field}.stem_id")
        folder = self.folder(asset)
        name = f"{folder}_{safe_name(st.name, st.id)}"
        info = {"version": f"{sel.version}_stems", "stem_id": st.id, "stem_name": st.name}
        if sel.version == "original":
            self.add("stem", st, self.body.format, name, f"{folder}/stems", **info)
            return
        object_type, model, given, suffix = (
            ("upscaled", Upscaled, sel.upscaled_id, "restored")
            if sel.version == "restored"
            else ("mastered", Mastered, sel.mastered_id, "master")
        )
        if given is not None:
            id_field = f"{field}.{'upscaled_id' if object_type == 'upscaled' else 'mastered_id'}"
            row = objects.require(self.s, self.owner, object_type, given, field=id_field)
            if row.stem_id != st.id:
                raise InvalidSetting(f"{object_type} {row.id} is not made from stem {st.id}", field=id_field)
            if row.status != COMPLETED:
                raise NotReady(f"{object_type} {row.id} is not complete yet")
        else:
            where = [model.owner_id == self.owner, model.stem_id == st.id]
            row = _completed(self.s, model, where, f"{suffix} of stem {st.id}")[-1]
        self.add(object_type, row, self.body.format, f"{name}_{suffix}", f"{folder}/stems", **info)


def _resolve(s: Session, owner: str, body: ArchiveRequest) -> tuple[ZipPlan, str | None]:
    r = _Resolver(s, owner, body)
    audio_ids: list[tuple[str, str]] = []
    if body.id is not None:
        audio_ids.append((body.id, "id"))
    audio_ids += [(a, f"ids.{i}") for i, a in enumerate(body.ids or [])]
    only: set[str] | None = None
    if body.stem_ids:
        only = set()
        for i, sid in enumerate(body.stem_ids):
            st = objects.require(s, owner, "stem", sid, field=f"stem_ids.{i}")
            only.add(st.id)
            audio_ids.append((st.audio_id, f"stem_ids.{i}"))
    if not audio_ids and not body.stem_selections:
        raise InvalidSetting("name what to package: id, ids, stem_ids or stem_selections", field="id")
    assets: list[Asset] = []
    for audio_id, field in audio_ids:
        if all(a.id != audio_id for a in assets):
            assets.append(r.asset(audio_id, field))
    for asset in assets:
        r.track_versions(asset)
        r.stem_versions(asset, only)
    for i, sel in enumerate(body.stem_selections or []):
        r.selection(i, sel)
    for version in body.versions:  # a version may be missing for some tracks, not for all of them
        if version not in r.found:
            raise InvalidSetting(r.missing.get(version, f"nothing to package as {version}"), field="versions")
    if not r.plan.entries:
        raise InvalidSetting("nothing to package: the versions asked for hold no files", field="versions")
    return r.plan, assets[0].id if assets else None


@router.post(
    "/download-archive",
    response_model=ArchiveResponse,
    responses=_ERRORS,
    summary="Package versions of tracks and stems into one zip",
    description=__doc__,
)
def download_archive(
    body: ArchiveRequest, request: Request, rt: RuntimeDep, queue: QueueDep, owner: Owner
) -> JSONResponse:
    """Queue the zip; poll GET /status/archive/{id}, then GET download_url (307 to the zip).

    See the module description (and the field descriptions) for what each version holds."""
    with rt.db.write() as s:
        plan, audio_id = _resolve(s, owner, body)
        objects.check_in_flight(s, owner, 1, rt.settings.max_jobs_in_flight_per_key)
        archive = Archive(
            id=new_id(),
            owner_id=owner,
            audio_id=audio_id,
            request={"request": body.model_dump(mode="json"), "entries": plan.entries},
            status=QUEUED,
            download_count=0,
            details={"stage": "queued", "progress": 0.0, "files": [e["path"] for e in plan.entries]},
        )
        s.add(archive)
        job_id = state.create_job(s, ARCHIVE, archive.id, owner)
    queue.enqueue(job_id, ARCHIVE)
    return JSONResponse(
        {
            "id": archive.id,
            "status": "processing",
            "message": "Archive queued",
            "download_url": str(request.url_for("download", object_type="archive", object_id=archive.id)),
            "files": len(plan.entries),
            "email_notification_queued": False,
        }
    )
