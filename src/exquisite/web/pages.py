"""The HTML pages: the list of runs, a run's planners' dashboard, its downloads, the service finder.

Every page is rendered on the server and works without JavaScript; scripts under ``/static`` only enhance
(a Leaflet map of the city's streets on the finder, "my location"). The finder's routes live in
:mod:`exquisite.web.pages_finder`.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from exquisite.web.app import render
from exquisite.web.catalogue import Run, RunCatalogue
from exquisite.web.pages_dashboard import GAP_SORTS, Dashboard, GapQuery
from exquisite.web.pages_finder import router as finder_router
from exquisite.web.pages_maps import streets_geojson
from exquisite.web.ui import ui_for

router = APIRouter(include_in_schema=False)
router.include_router(finder_router)

#: Media types of the downloadable files.
MEDIA_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".parquet": "application/vnd.apache.parquet",
    ".html": "text/html; charset=utf-8",
}


def catalogue_of(request: Request) -> RunCatalogue:
    """The app's run catalogue."""
    return request.app.state.catalogue


def run_or_404(request: Request, region: str, stamp: str) -> Run:
    """The run ``region/stamp``, or a friendly 404 page."""
    try:
        return catalogue_of(request).get(f"{region}/{stamp}")
    except KeyError:
        ui = ui_for(request)
        raise HTTPException(
            404,
            ui.gettext("There is no run called %(run)s. Choose one from the list of cities.")
            % {"run": f"{region}/{stamp}"},
        ) from None


@router.get("/", response_model=None)
def index(request: Request) -> Response:
    """The runs of the runs folder (a city switch); straight to the dashboard when there is only one."""
    runs = catalogue_of(request).runs()
    if len(runs) == 1 and "list" not in request.query_params:
        return RedirectResponse(f"/runs/{runs[0].id}", status_code=307)
    return render(request, "index.html", {"title": ui_for(request).gettext("Cities and runs")})


@router.get("/runs", response_model=None)
def choose_run(request: Request, run: str = "") -> Response:
    """The run switch form: go to the chosen run's dashboard."""
    if not run:
        return RedirectResponse("/?list", status_code=303)
    region, _, stamp = run.partition("/")
    found = run_or_404(request, region, stamp)
    return RedirectResponse(f"/runs/{found.id}", status_code=303)


@router.get("/runs/{region}/{stamp}", response_model=None)
def dashboard(
    request: Request,
    region: str,
    stamp: str,
    tier: str | None = Query(None, max_length=20),
    profile: str | None = Query(None, max_length=40),
    sort: str = Query("lacking", max_length=20),
    order: str = Query("desc", max_length=4),
) -> Response:
    """The planners' dashboard of a run."""
    run = run_or_404(request, region, stamp)
    ui = ui_for(request)
    board = Dashboard(run, ui)
    default_tier, default_profile, profiles = board.gap_choices()
    tiers = board.tiers()
    if tier is not None and tier not in tiers:
        raise HTTPException(400, ui.gettext("Unknown life-circle tier: %(value)s.") % {"value": tier})
    if profile is not None and profile not in profiles:
        raise HTTPException(400, ui.gettext("Unknown walking profile: %(value)s.") % {"value": profile})
    if sort not in GAP_SORTS or order not in {"asc", "desc"}:
        raise HTTPException(400, ui.gettext("The table cannot be sorted that way."))
    query = GapQuery(tier or default_tier, profile or default_profile, sort, order == "desc")
    context = {
        "title": ui.gettext("Dashboard: %(city)s") % {"city": run.name},
        "run": run,
        "summary": board.summary(),
        "cards": board.sdg_cards(),
        "lifecircles": board.lifecircles(query.tier),
        "equity": [] if ui.elders else board.equity(),
        "gaps": board.gaps(query, ui.elders),
        "gap_profiles": [{"value": p, "label": board.profile_label(p)} for p in profiles],
        "districts": None if ui.elders else board.districts(),
        "downloads": board.downloads(),
    }
    return render(request, "dashboard.html", context)


@router.get("/runs/{region}/{stamp}/files/{name}", response_model=None)
def download(request: Request, region: str, stamp: str, name: str) -> Response:
    """A file of the run folder (CSV, JSON, GeoParquet, the report)."""
    run = run_or_404(request, region, stamp)
    try:
        path = run.file(name)
    except KeyError:
        ui = ui_for(request)
        raise HTTPException(
            404, ui.gettext("This run has no file called %(name)s.") % {"name": name}
        ) from None
    media = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
    disposition = "inline" if path.suffix == ".html" else "attachment"
    return FileResponse(path, media_type=media, filename=name, content_disposition_type=disposition)


@router.get("/runs/{region}/{stamp}/streets.geojson", response_model=None)
def streets(request: Request, region: str, stamp: str) -> Response:
    """The run's streets in longitude/latitude, for the finder's optional map."""
    run = run_or_404(request, region, stamp)
    return Response(
        streets_geojson(run),
        media_type="application/geo+json",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/settings", response_model=None)
def settings_page(request: Request, back: str = Query("/", alias="next", max_length=500)) -> Response:
    """The language and view settings as a page of their own (the header holds the same two switches)."""
    from exquisite.web.ui import safe_next

    ui = ui_for(request)
    return render(
        request, "settings.html", {"title": ui.gettext("Language and text size"), "back": safe_next(back)}
    )
