"""The resident service finder pages: choose a place and a walking profile, see what lies within a walk.

The flow works with plain links and forms (GET), so it needs no JavaScript:

1. ``/runs/<run>/finder`` — type an address or a place name, or choose a neighbourhood, and a profile;
2. ``…/finder?q=<text>`` — the places that match, as a list to choose from;
3. ``…/finder?place=<id>`` (or ``?area=<id>``, or ``?lon=&lat=`` from the optional map or "my location") —
   the answer: services within 5, 10 and 15 minutes with walking times, the nearest of each essential kind
   even beyond, and a map with the route lines, with the same content as a list.

Answers come from :class:`exquisite.web.finder.Finder` (exact along the network); places from
:mod:`exquisite.web.places`.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from typing import Any

import numpy as np
import pyproj
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from exquisite.taxonomy import default_taxonomy
from exquisite.web import finder as engine
from exquisite.web.app import render
from exquisite.web.catalogue import Run
from exquisite.web.pages_maps import base_map, window_svg
from exquisite.web.places import PlaceHit, PlaceIndex, place_index_for
from exquisite.web.ui import UI, ui_for

router = APIRouter(include_in_schema=False)

#: Most matches of a place search listed (a short list is easier to choose from).
SEARCH_LIMIT = 10


def _run(request: Request, region: str, stamp: str) -> Run:
    from exquisite.web.pages import run_or_404

    return run_or_404(request, region, stamp)


@router.get("/runs/{region}/{stamp}/finder", response_model=None)
def finder_page(
    request: Request,
    region: str,
    stamp: str,
    q: str | None = Query(None, max_length=200),
    place: str | None = Query(None, max_length=80),
    area: str | None = Query(None, max_length=80),
    lon: float | None = Query(None, ge=-180, le=180),
    lat: float | None = Query(None, ge=-90, le=90),
    profile: str = Query("adult", max_length=40),
) -> Response:
    """The finder: the form, the matches of a search, or the answer for a place."""
    run = _run(request, region, stamp)
    ui = ui_for(request)
    _ = ui.gettext
    finder = engine.finder_for(run)
    places = place_index_for(run)
    if profile not in finder.profiles:
        raise HTTPException(400, _("Unknown walking profile: %(value)s.") % {"value": profile})
    context: dict[str, Any] = {
        "run": run,
        "page": "finder",
        "title": _("Service finder"),
        "profiles": _profile_choices(finder, ui),
        "profile": profile,
        "q": q or "",
        "areas": [_choice(a, ui, run) for a in places.neighbourhoods],
        "place_lang": ui.place_lang(run.manifest.get("region", {}).get("country")),
        "bounds": ",".join(f"{v:.6f}" for v in finder.bounds),
        "matches": None,
        "answer": None,
        "problem": None,
    }
    chosen: dict[str, Any] | None = None
    if place or area:
        ident = place or area or ""
        found = _places_by_id(run, places).get(ident)
        if found is None:
            raise HTTPException(
                404,
                _(
                    "We do not know the place %(place)s. Search for it by name or address, or choose a "
                    "neighbourhood."
                )
                % {"place": ident},
            )
        chosen = _choice(found, ui, run)
    elif lon is not None and lat is not None:
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise HTTPException(400, _("The location is not valid."))
        chosen = {
            "id": "",
            "name": _("the point you chose (%(lat)s, %(lon)s)")
            % {"lat": ui.fmt.number(lat, 5), "lon": ui.fmt.number(lon, 5)},
            "lang": "",
            "kind": "",
            "lon": lon,
            "lat": lat,
        }
    elif q is not None:
        query = q.strip()
        if not query:
            context["problem"] = _("Type an address or a place name, then search.")
            return render(request, "finder.html", context, status_code=400)
        matches = [_choice(m, ui, run) for m in places.search(query, limit=SEARCH_LIMIT)]
        context["matches"] = matches
        context["title"] = _("Places matching “%(q)s”") % {"q": query}
        if not matches:
            context["problem"] = _(
                "No place in %(city)s matches “%(q)s”. Check the spelling, try part of the name or a street, "
                "or choose a neighbourhood from the list."
            ) % {"city": run.name, "q": query}
            return render(request, "finder.html", context, status_code=404)
        return render(request, "finder.html", context)
    else:
        return render(request, "finder.html", context)

    try:
        services = finder.services(chosen["lon"], chosen["lat"], profile)
    except engine.OutsideAreaError:
        raise HTTPException(
            422,
            _("That point lies outside %(city)s. Choose a place inside the city, or search for it by name.")
            % {"city": run.name},
        ) from None
    except engine.FarFromStreetError:
        raise HTTPException(
            422,
            _(
                "That point is too far from any street we know. Choose a point on or near a street, or "
                "search for "
                "a place by name."
            ),
        ) from None
    except engine.FinderError as error:  # any other question the finder cannot answer
        raise HTTPException(422, str(error)) from None
    context["answer"] = _answer(run, ui, chosen, services)
    context["title"] = _("Services near %(place)s") % {"place": chosen["name"]}
    return render(request, "finder.html", context)


def _profile_choices(finder: Any, ui: UI) -> list[dict[str, str]]:
    out = []
    for name, prof in finder.profiles.items():
        out.append(
            {
                "value": name,
                "label": prof.label_zh if ui.lang == "zh" else prof.label_en,
                "speed": ui.gettext("%(value)s km/h")
                % {"value": ui.fmt.number(float(prof.speed_m_s) * 3.6, 1)},
            }
        )
    return out


def place_id(hit: PlaceHit) -> str:
    """A short id of a place that stays the same across restarts (its kind and where it is)."""
    key = f"{hit.kind}|{hit.lon:.6f}|{hit.lat:.6f}"
    return hashlib.sha1(key.encode("utf-8"), usedforsecurity=False).hexdigest()[:12]


_ids_lock = threading.Lock()
_ids: dict[str, dict[str, PlaceHit]] = {}


def _places_by_id(run: Run, places: PlaceIndex) -> dict[str, PlaceHit]:
    """Every place of a run's index and every neighbourhood, by :func:`place_id` (made once per run)."""
    with _ids_lock:
        found = _ids.get(run.id)
        if found is None:
            found = {}
            for label, lon, lat, kind, _variants in places.entries:
                hit = PlaceHit(label, lon, lat, kind)
                found.setdefault(place_id(hit), hit)
            for hit in places.neighbourhoods:
                found.setdefault(place_id(hit), hit)
            _ids[run.id] = found
        return found


#: Chinese characters (a name in them carries ``lang="zh-Hans"``).
_CJK = re.compile(r"[\u3400-\u9fff]")


def _choice(place: PlaceHit, ui: UI, run: Run) -> dict[str, Any]:
    """A place of the index as the templates show it: id, name, its language, kind, position."""
    name = place.label
    country = run.manifest.get("region", {}).get("country")
    if place.kind == "grid" and name.startswith("Near "):
        street = name.removeprefix("Near ")
        name = ui.gettext("Near %(street)s") % {"street": street}
        lang = ""  # the sentence is the page's; the street name inside is the city's
        return {
            "id": place_id(place),
            "name": name,
            "street": street,
            "street_lang": ui.place_lang(country),
            "lang": lang,
            "kind": _kind_label(place.kind, ui),
            "lon": place.lon,
            "lat": place.lat,
        }
    lang = ui.text_lang("zh") if _CJK.search(name) else ui.place_lang(country)
    return {
        "id": place_id(place),
        "name": name,
        "lang": lang,
        "kind": _kind_label(place.kind, ui),
        "lon": place.lon,
        "lat": place.lat,
    }


def _kind_label(kind: str, ui: UI) -> str:
    """What kind of place a search result is, in the reader's language."""
    _ = ui.gettext
    category = default_taxonomy().categories.get(kind)
    if category is not None:
        return category.label_zh if ui.lang == "zh" else category.label_en
    return {
        "address": _("address"),
        "street": _("street"),
        "neighbourhood": _("neighbourhood"),
        "suburb": _("neighbourhood"),
        "quarter": _("neighbourhood"),
        "district": _("district"),
        "grid": _("area"),
        "place": _("place"),
        "amenity": _("service"),
        "shop": _("shop"),
        "tourism": _("sight"),
        "leisure": _("leisure"),
        "railway": _("railway"),
        "public_transport": _("public transport"),
        "office": _("office"),
        "historic": _("historic place"),
        "building": _("building"),
    }.get(kind, _("place"))


def _answer(run: Run, ui: UI, chosen: dict[str, Any], services: engine.Services) -> dict[str, Any]:
    """The answer: places by walking band, the nearest of each essential kind, and the map."""
    _ = ui.gettext
    prof = services.profile
    labels = list(prof.thresholds)
    bands: dict[str, list[dict[str, Any]]] = {label: [] for label in labels}
    essentials = []
    routes: list[tuple[int, list[tuple[float, float]]]] = []
    markers: list[tuple[float, float, str]] = []
    number = 0
    for cat in services.categories:
        label = cat.label_zh if ui.lang == "zh" else cat.label_en
        for p in cat.places:
            if p.within in bands:
                bands[p.within].append(_place_row(p, label, ui, run))
        if cat.essential:
            nearest = cat.nearest
            row: dict[str, Any] = {"category": label, "place": None}
            if nearest is not None:
                number += 1
                row["place"] = _place_row(nearest, label, ui, run)
                row["number"] = number
                row["beyond"] = nearest.within is None
                if nearest.route:
                    routes.append((number, nearest.route))
                markers.append((nearest.lon, nearest.lat, f"{number}. {label}: {row['place']['name']}"))
            else:
                row["none"] = _("none within %(minutes)s minutes") % {
                    "minutes": ui.fmt.number(cat.none_within_minutes or prof.search_minutes, 0)
                }
            essentials.append(row)
    for label in labels:
        bands[label].sort(key=lambda r: r["sort"])
    band_list = [
        {
            "id": f"within-{label}",
            "title": _("Within %(minutes)s minutes on foot")
            % {"minutes": ui.fmt.number(prof.thresholds[label]["minutes"], 0)},
            "distance": ui.distance(prof.thresholds[label]["distance_m"]),
            "places": bands[label],
        }
        for label in labels
    ]
    return {
        "place": chosen,
        "profile_label": prof.label_zh if ui.lang == "zh" else prof.label_en,
        "speed": _("%(value)s km/h") % {"value": ui.fmt.number(prof.speed_m_s * 3.6, 1)},
        "snap": ui.distance(services.point.snap_m),
        "bands": band_list,
        "essentials": essentials,
        "map": _answer_map(run, ui, chosen, services, routes, markers),
    }


def _place_row(p: Any, category: str, ui: UI, run: Run) -> dict[str, Any]:
    _ = ui.gettext
    return {
        "category": category,
        "name": p.name or _("unnamed %(kind)s") % {"kind": category},
        "lang": (
            (
                ui.text_lang("zh")
                if _CJK.search(p.name)
                else ui.place_lang(run.manifest.get("region", {}).get("country"))
            )
            if p.name
            else ""
        ),
        "minutes": ui.minutes(p.minutes),
        "distance": ui.distance(p.distance_m),
        "sort": p.distance_m,
    }


def _answer_map(
    run: Run,
    ui: UI,
    chosen: dict[str, Any],
    services: engine.Services,
    routes: list[tuple[int, list[tuple[float, float]]]],
    markers: list[tuple[float, float, str]],
) -> str:
    """The answer's map: the streets, the routes to the nearest essential places, the places and the start."""
    _ = ui.gettext
    to_xy = pyproj.Transformer.from_crs("EPSG:4326", run.network.crs, always_xy=True)
    svg = base_map(
        run,
        "map-answer",
        _("Walking routes from %(place)s") % {"place": chosen["name"]},
        _(
            "Routes along the streets to the nearest place of each essential kind; the numbers match the "
            "list "
            "“Nearest of each kind”."
        ),
        ui,
        decorate=False,
    )
    frame = svg.frame
    sx, sy = to_xy.transform(chosen["lon"], chosen["lat"])
    shown = [np.array([[sx, sy]])]
    for _number, route in routes:
        lon, lat = np.asarray(route, dtype=float).T
        x, y = to_xy.transform(lon, lat)
        xy = np.column_stack([x, y])
        shown.append(xy)
        pts = frame.project(xy)
        d = "M" + " ".join(f"{px:.1f} {py:.1f}" for px, py in pts)
        svg.layers.append(f'<path class="route" d="{d}"/>')
    marker_xy = np.empty((0, 2))
    if markers:
        x, y = to_xy.transform(np.array([m[0] for m in markers]), np.array([m[1] for m in markers]))
        marker_xy = np.column_stack([x, y])
        shown.append(marker_xy)
    # sizes are set after the window is known (units of the whole-city frame per pixel of the window)
    everything = np.vstack(shown)
    probe = base_map(run, "probe", "", "", ui, decorate=False)
    _text, unit = window_svg(probe, everything, ui)
    if len(marker_xy):
        svg.add_circles(marker_xy, [9.0 * unit] * len(markers), "place-marker", [m[2] for m in markers])
        pts = frame.project(marker_xy)
        labels = "".join(
            f'<text x="{px:.1f}" y="{py + 4 * unit:.1f}" font-size="{11 * unit:.1f}" text-anchor="middle">'
            f"{i + 1}</text>"
            for i, (px, py) in enumerate(pts)
        )
        svg.layers.append(f'<g class="marker-numbers" aria-hidden="true">{labels}</g>')
    svg.add_circles(
        np.array([[sx, sy]]),
        [10.0 * unit],
        "start-marker",
        [_("Start: %(place)s") % {"place": chosen["name"]}],
    )
    text, _unit = window_svg(svg, everything, ui)
    return text
