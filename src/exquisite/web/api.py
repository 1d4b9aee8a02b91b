"""The JSON API under ``/api``: runs, indicators, access and services near a point, place search.

Handlers are thin: they find the run in the app's catalogue (``app.state.catalogue``) and call the same
functions as the HTML pages (:class:`~exquisite.web.finder.Finder` and
:class:`~exquisite.web.places.PlaceIndex`).
Every error is a JSON body ``{"detail": "<what is wrong and what to do>"}`` with a 4xx status.
"""

from __future__ import annotations

import gc
import logging
import math
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field, TypeAdapter

from exquisite.web.catalogue import Run, RunCatalogue
from exquisite.web.finder import (
    Access,
    Finder,
    FinderError,
    Services,
    built_finder,
    finder_for,
    finder_settings,
)
from exquisite.web.places import PlaceHit, place_index_for

router = APIRouter(prefix="/api", tags=["api"])

#: The walking profiles of the finder (``data/finder.yml``), as a type, so the OpenAPI document lists them.
ProfileName = Enum("ProfileName", {name: name for name in finder_settings().profiles}, type=str)  # type: ignore[misc]

#: The profile asked for when none is given.
DEFAULT_PROFILE = ProfileName("adult")  # type: ignore[call-arg]

#: Most results a place search returns.
MAX_PLACES = 100

_SERVICES = TypeAdapter(Services)
_ACCESS = TypeAdapter(Access)

Lat = Annotated[float, Query(ge=-90, le=90, description="Latitude, WGS84 degrees.")]
Lon = Annotated[float, Query(ge=-180, le=180, description="Longitude, WGS84 degrees.")]


class RunInfo(BaseModel):
    """A run the server holds."""

    id: str = Field(description='"<region>/<stamp>"')
    region: str
    stamp: str
    name: str = Field(description="The region's name.")
    created: str = Field(description="UTC timestamp of the run.")
    indicators: int = Field(description="Number of indicator records.")
    profiles: list[str] = Field(description="Walking profiles of the run's indicators.")
    bounds: list[float] | None = Field(description="Study area [west, south, east, north], WGS84.")


class Indicator(BaseModel):
    """An indicator record of ``indicators.json``."""

    id: str
    value: float | None
    unit: str | None = None
    numerator: float | None = None
    denominator: float | None = None
    group: str
    area: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    sources: list[dict[str, Any]] = Field(default_factory=list)
    method_version: str | None = None
    caveats: list[str] = Field(default_factory=list)


class Place(BaseModel):
    """A place found by name, or a neighbourhood."""

    label: str
    lon: float
    lat: float
    kind: str
    score: float = Field(description="How well it matches the query, 0–100.")


class ErrorBody(BaseModel):
    """An error: what is wrong and what to do."""

    detail: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A parameter that cannot be used (the detail says what to do)."},
    404: {"model": ErrorBody, "description": "No such run."},
}


def _catalogue(request: Request) -> RunCatalogue:
    return request.app.state.catalogue


def _run(request: Request, region: str, stamp: str) -> Run:
    try:
        return _catalogue(request).get(f"{region}/{stamp}")
    except KeyError:
        raise HTTPException(
            404, f"there is no run {region}/{stamp} on this server: GET /api/runs lists the runs it has"
        ) from None


async def _finder(run: Run) -> Finder:
    """The run's finder; built in a worker thread the first time, so that the server keeps answering.

    A question to a built finder takes a few milliseconds of CPU and holds the GIL for most of it: it is
    answered on the event loop, one at a time, rather than in a thread pool whose threads would contend for
    the GIL and lengthen every answer.
    """
    return built_finder(run) or await run_in_threadpool(finder_for, run)


def warm_up(catalogue: RunCatalogue, freeze_gc: bool = True) -> None:
    """Build every run's finder and place index now, and (by default) freeze what is alive for the GC.

    Call it once when a server starts (after the app is made, before it answers): the first resident then
    waits for no index, and ``gc.freeze()`` moves the hundreds of thousands of objects loaded by then
    (libraries, run tables, indexes) out of the garbage collector's reach, so that the collections the
    answers' short-lived objects trigger stay short — in ``benchmarks/web_load.py`` this halves p95.

    Parameters
    ----------
    catalogue
        The app's run catalogue (``app.state.catalogue``).
    freeze_gc
        Whether to call ``gc.collect()`` then ``gc.freeze()`` at the end.
    """
    for run in catalogue.runs():
        try:
            finder_for(run)
            place_index_for(run)
        except Exception:  # a broken run folder must not stop the server: its pages say so when asked
            logging.getLogger(__name__).exception("run %s could not be prepared", run.id)
    if freeze_gc:
        gc.collect()
        gc.freeze()


def _json(body: bytes) -> Response:
    return Response(content=body, media_type="application/json")


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None, recursively (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


@router.get("/runs", response_model=list[RunInfo], summary="The runs (cities and dates) this server holds")
def runs(request: Request) -> list[RunInfo]:
    """Every run of the runs folder, newest first."""
    out = []
    for run in _catalogue(request).runs():
        params = run.manifest.get("parameters", {})
        region, _, stamp = run.id.partition("/")
        out.append(
            RunInfo(
                id=run.id,
                region=region,
                stamp=stamp,
                name=run.name,
                created=run.created,
                indicators=int(run.manifest.get("indicators", len(run.indicators))),
                profiles=list(params.get("profiles", {})),
                bounds=params.get("boundary_wgs84_bounds"),
            )
        )
    return out


@router.get(
    "/runs/{region}/{stamp}/indicators",
    response_model=list[Indicator],
    responses=_ERRORS,
    summary="The indicator records of a run",
)
def indicators(
    request: Request,
    region: str,
    stamp: str,
    id: Annotated[str | None, Query(description="Only this indicator id.")] = None,
    area: Annotated[str | None, Query(description='Only this area ("city" or a district).')] = None,
    group: Annotated[str | None, Query(description="Only this group (all, child, older …).")] = None,
) -> list[dict[str, Any]]:
    """Indicator records, each with value, unit, numerator, denominator, parameters, sources and caveats."""
    records = _run(request, region, stamp).indicators
    return [
        _finite(r)
        for r in records
        if (id is None or r.get("id") == id)
        and (area is None or r.get("area") == area)
        and (group is None or r.get("group") == group)
    ]


@router.get(
    "/runs/{region}/{stamp}/access",
    response_model=Access,
    responses=_ERRORS,
    summary="Access at a point: nearest distance and counts within thresholds, per category",
)
async def access(request: Request, region: str, stamp: str, lat: Lat, lon: Lon) -> Response:
    """Per category, the walking distance to the nearest place and the counts within each threshold."""
    finder = await _finder(_run(request, region, stamp))
    try:
        return _json(_ACCESS.dump_json(finder.access_at(lon, lat)))
    except FinderError as error:
        raise HTTPException(400, str(error)) from None


@router.get(
    "/runs/{region}/{stamp}/services",
    response_model=Services,
    responses=_ERRORS,
    summary="Services near a point within 5 / 10 / 15 minutes' walk, with route lines",
)
async def services(
    request: Request,
    region: str,
    stamp: str,
    lat: Lat,
    lon: Lon,
    profile: Annotated[ProfileName, Query(description="Who walks.")] = DEFAULT_PROFILE,
) -> Response:
    """Per category, the places within the profile's thresholds and the nearest essential places, routed."""
    finder = await _finder(_run(request, region, stamp))
    try:
        return _json(_SERVICES.dump_json(finder.services(lon, lat, profile.value)))
    except FinderError as error:
        raise HTTPException(400, str(error)) from None


@router.get(
    "/runs/{region}/{stamp}/places",
    response_model=list[Place],
    responses=_ERRORS,
    summary="Search the city's places, streets and addresses by name (typos, Chinese and Latin)",
)
def places(
    request: Request,
    region: str,
    stamp: str,
    q: Annotated[str, Query(min_length=1, max_length=200, description="A name, street or address.")],
    limit: Annotated[int, Query(ge=1, le=MAX_PLACES, description="Largest number of results.")] = 10,
) -> list[PlaceHit]:
    """Places whose name, street or address matches ``q``, best first."""
    run = _run(request, region, stamp)
    if not q.strip():
        raise HTTPException(400, "the search text is empty: type a name, a street or an address")
    return place_index_for(run).search(q, limit)


@router.get(
    "/runs/{region}/{stamp}/neighbourhoods",
    response_model=list[Place],
    responses=_ERRORS,
    summary="The city's neighbourhoods, to choose a place from a list",
)
def neighbourhoods(request: Request, region: str, stamp: str) -> list[PlaceHit]:
    """Districts of the run, else the OSM suburbs and neighbourhoods, else grid squares named by a street."""
    return place_index_for(_run(request, region, stamp)).neighbourhoods
