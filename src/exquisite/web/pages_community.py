"""The public community view: each community's reports next to its life-circle coverage.

Per community of each city served: reports by service, open and closed, overdue, median days to resolve
(:mod:`exquisite.governance.community_stats`, published reports only, no personal data), beside what its
residents reach within the 5-, 10- and 15-minute life circles according to the latest run
(:func:`exquisite.governance.communities.community_coverage`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from exquisite.governance import community_stats
from exquisite.governance.reports import now_utc
from exquisite.governance.service import Governance
from exquisite.web.ui import ui_for

router = APIRouter()


@router.get("/communities", include_in_schema=False)
def communities_page(request: Request) -> Response:
    """Every city's communities: reports (open, closed, overdue, median days to resolve) and coverage."""
    from exquisite.web.app import render

    gov: Governance = request.app.state.governance
    ui = ui_for(request)
    now = now_utc()
    cities = []
    with gov.store.session() as session:
        for jurisdiction in gov.jurisdictions().values():
            run = gov.catalogue.get(jurisdiction.run_id)
            figures = community_stats.jurisdiction_figures(
                session, jurisdiction.id, states=gov.states, now=now
            )
            names = [
                *jurisdiction.communities(),
                *sorted(n for n in figures if n and n not in jurisdiction.communities()),
            ]
            rows = [
                {
                    "name": name,
                    "href": f"/communities/{quote(jurisdiction.id, safe='')}/{quote(name, safe='')}",
                    "figures": figures.get(name, community_stats.Figures.empty()),
                    "completeness": _completeness(run, name, ui),
                }
                for name in names
            ]
            cities.append(
                {
                    "id": jurisdiction.id,
                    "name": jurisdiction.name,
                    "caveat": jurisdiction.caveat,
                    "rows": rows,
                    "outside": figures.get(None),
                    "tiers": [
                        row["tier_label"] for row in _coverage(run, None, ui) if row["kind"] == "completeness"
                    ],
                }
            )
    return render(
        request,
        "communities.html",
        {"title": ui.gettext("Reports by community"), "page": "communities", "cities": cities, "days": _days},
    )


def _coverage(run: Any, community: str | None, ui: Any) -> list[dict[str, Any]]:
    from exquisite.governance.communities import community_coverage

    try:
        return community_coverage(run, community, ui)
    except KeyError:
        return []


def _completeness(run: Any, community: str, ui: Any) -> list[str]:
    return [row["value_text"] for row in _coverage(run, community, ui) if row["kind"] == "completeness"]


def _days(value: float | None, ui: Any) -> str:
    """Days with one decimal (``–`` when unknown)."""
    if value is None:
        return "–"
    return ui.gettext("%(n)s days") % {"n": ui.fmt.number(value, 1)}


@router.get("/communities/{jurisdiction_id}/{community}", include_in_schema=False)
def community_page(request: Request, jurisdiction_id: str, community: str) -> Response:
    """One community: its reports by service, and what its residents can reach within their life circles."""
    from exquisite.web.app import render

    gov: Governance = request.app.state.governance
    ui = ui_for(request)
    jurisdiction = gov.jurisdictions().get(jurisdiction_id)
    if jurisdiction is None:
        raise HTTPException(status_code=404)
    with gov.store.session() as session:
        figures = community_stats.community_figures(
            session, jurisdiction.id, community, states=gov.states, now=now_utc()
        )
    if community not in jurisdiction.communities() and figures.total.reports == 0:
        raise HTTPException(status_code=404)
    run = gov.catalogue.get(jurisdiction.run_id)
    rows = [
        {"service": gov.services.name_of(code, ui.lang), "code": code, "figures": f}
        for code, f in figures.by_service.items()
    ]
    return render(
        request,
        "community.html",
        {
            "title": community,
            "page": "communities",
            "city": {"id": jurisdiction.id, "name": jurisdiction.name, "caveat": jurisdiction.caveat},
            "community": community,
            "rows": rows,
            "total": figures.total,
            "coverage": _coverage(run, community, ui),
            "run": None,
            "run_id": run.id,
            "days": _days,
        },
    )
