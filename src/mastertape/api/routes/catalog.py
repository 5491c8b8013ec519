"""GET /genres, GET /presets and GET /healthz: what this server offers (no user data, no key needed)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text

from mastertape import __version__
from mastertape.api.deps import RuntimeDep
from mastertape.api.schemas import (
    GenreInfo,
    GenresResponse,
    HealthResponse,
    PresetInfo,
    PresetsResponse,
    StemPresetInfo,
)
from mastertape.errors import MastertapeError, ServiceUnavailable
from mastertape.restoration import RestoreSettings, all_presets

router = APIRouter(tags=["catalog"])


@router.get("/genres", response_model=GenresResponse, summary="Mastering profiles (the `genre` field)")
def genres(request: Request) -> GenresResponse:
    return GenresResponse(
        default="modern",
        genres=[GenreInfo(name=name, description=desc) for name, desc in request.app.state.genres.items()],
    )


@router.get(
    "/presets", response_model=PresetsResponse, summary="Restoration and stem presets, and whether they run here"
)
def presets(rt: RuntimeDep) -> PresetsResponse:
    out = []
    for spec in all_presets():
        try:
            reason = spec.unavailable_reason(
                RestoreSettings(preset=spec.name, model_dir=rt.settings.model_dir)
            )
        except MastertapeError as exc:
            reason = exc.message
        out.append(
            PresetInfo(
                name=spec.name,
                description=spec.description,
                backend=spec.backend,
                fields=list(spec.fields),
                available=reason is None,
                unavailable_reason=reason,
            )
        )
    from mastertape.stems import registry as stem_registry

    stems = [StemPresetInfo(**spec.to_dict()) for spec in stem_registry.all_presets()]
    return PresetsResponse(default="universal_enhancer", presets=out, stem_presets=stems)


@router.get("/healthz", response_model=HealthResponse, summary="Liveness and database check")
def healthz(rt: RuntimeDep) -> HealthResponse:
    try:
        with rt.db.read() as s:
            s.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - reported as 503
        raise ServiceUnavailable(f"the database is not reachable: {type(exc).__name__}") from None
    return HealthResponse(status="ok", version=__version__, database="ok")
