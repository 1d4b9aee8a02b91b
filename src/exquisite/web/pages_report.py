"""The residents' pages of the governance service: report a problem, confirm it, follow it.

FixMyStreet's flow (civic-services.md §2.1–2.2), with plain links and forms so that it needs no JavaScript:

1. ``/report`` — the city (when several are served) and the problem (services grouped by department);
2. ``/report/place`` — where: search an address or a place name, choose a neighbourhood, or give a point
   (typed, or clicked on the optional map; never dragged);
3. ``/report/details`` — the chosen place said back (address, community), open reports of the same problem
   nearby ("this is my problem too"), then the form: the service's questions, description, photo, email,
   public name (anonymous by default), updates by email; ``POST /report`` checks it through
   :func:`~exquisite.governance.reports.read_submission` (the one path every channel takes) and stores it
   unpublished with the confirmation email in one transaction;
4. ``/report/sent`` — "check your email"; ``/report/confirm/{secret}`` publishes it;
5. ``/reports/{id}`` — the public status page; ``/reports`` — the public list with a map and the same
   content as a table.

No page shows a reporter's email, phone or (unless they chose to show it) name.
"""

from __future__ import annotations

import math
import re
import threading
from datetime import datetime, timedelta
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pyproj
import shapely
import yaml
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData, UploadFile

from exquisite.governance import notices
from exquisite.governance.communities import Jurisdiction
from exquisite.governance.models import Photo, Report
from exquisite.governance.photos import PhotoError, in_bytes, process_photo
from exquisite.governance.reports import (
    SHORT_MAX_CHARS,
    SubmissionError,
    confirm,
    nearby_open,
    read_submission,
    submit,
)
from exquisite.governance.service import Governance, UnknownJurisdictionError
from exquisite.governance.services import STRING_MAX_CHARS, Attribute, Problem, Service
from exquisite.web.app import render
from exquisite.web.catalogue import Run
from exquisite.web.csrf import FIELD as CSRF_FIELD
from exquisite.web.csrf import check_csrf, csrf_token, set_csrf_cookie
from exquisite.web.pages_finder import place_id
from exquisite.web.pages_maps import base_map
from exquisite.web.places import PlaceHit, PlaceIndex, place_index_for
from exquisite.web.ui import UI, ui_for

router = APIRouter(include_in_schema=False)

#: The form's honeypot field: hidden from people (and assistive technology), filled only by bots.
HONEYPOT = "homepage"
#: Longest answer of a ``text`` attribute (as :meth:`Attribute.check` allows).
TEXT_MAX_CHARS = 4000
#: The longest public name (as :func:`~exquisite.governance.reports.read_submission` allows).
NAME_MAX_CHARS = 100
#: Chinese characters (a name in them carries ``lang="zh-Hans"``).
_CJK = re.compile(r"[\u3400-\u9fff]")
#: ``attribute[code]``, ``attribute[code][]`` and ``attribute[code][zone]`` form fields.
_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]{1,64})\](\[\]|\[zone\])?$")
#: "at most N" in a core problem's message (the limit of an overlong field).
_LIMIT = re.compile(r"at most (\d+)")


@cache
def page_settings() -> dict[str, Any]:
    """The report pages' numbers (``data/report_pages.yml``)."""
    text = files("exquisite").joinpath("data/report_pages.yml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text))


def _governance(request: Request) -> Governance:
    return request.app.state.governance


# --------------------------------------------------------------------------------------------------------
# The city, its run, its places
# --------------------------------------------------------------------------------------------------------


def _city(request: Request, city: str | None) -> Jurisdiction:
    """The city reported to (the only one when one is served), or a friendly 404 / 400."""
    ui = ui_for(request)
    try:
        return _governance(request).jurisdiction(city or None)
    except UnknownJurisdictionError as error:
        if error.status == 404 and city:
            raise HTTPException(
                404,
                ui.gettext("We take no reports for %(city)s here. Choose a city from the list.")
                % {"city": city},
            ) from None
        if error.status == 404:
            raise HTTPException(404, ui.gettext("No city takes reports here yet.")) from None
        raise HTTPException(400, ui.gettext("Choose the city the problem is in.")) from None


def _run(request: Request, city: Jurisdiction) -> Run:
    return request.app.state.catalogue.get(city.run_id)


def _name_lang(ui: UI, name: str, run: Run) -> str:
    """The ``lang`` of a place name of the city."""
    if _CJK.search(name):
        return ui.text_lang("zh")
    return ui.place_lang(run.manifest.get("region", {}).get("country"))


_lock = threading.Lock()
_places: dict[str, dict[str, PlaceHit]] = {}
_addresses: dict[str, tuple[np.ndarray, list[str]]] = {}
_community_points: dict[str, dict[str, tuple[float, float]]] = {}


def _place_by_id(run: Run, places: PlaceIndex) -> dict[str, PlaceHit]:
    """Every place of the run's index by the finder's :func:`place_id` (made once per run)."""
    with _lock:
        found = _places.get(run.id)
        if found is None:
            found = {}
            for label, lon, lat, kind, _variants in places.entries:
                hit = PlaceHit(label, lon, lat, kind)
                found.setdefault(place_id(hit), hit)
            _places[run.id] = found
        return found


def nearest_address(run: Run, places: PlaceIndex, lon: float, lat: float) -> str | None:
    """The address or street nearest a point, within ``nearest_address_max_m`` (None when none is as near)."""
    with _lock:
        cached = _addresses.get(run.id)
        if cached is None:
            rows = [
                (lon_, lat_, label)
                for label, lon_, lat_, kind, _v in places.entries
                if kind in ("address", "street")
            ]
            xy = np.array([(r[0], r[1]) for r in rows], dtype=float).reshape(-1, 2)
            cached = _addresses[run.id] = (xy, [r[2] for r in rows])
    xy, labels = cached
    if not len(labels):
        return None
    dx = np.radians(xy[:, 0] - lon) * math.cos(math.radians(lat))
    dy = np.radians(xy[:, 1] - lat)
    metres = 6_371_008.8 * np.hypot(dx, dy)
    best = int(np.argmin(metres))
    return labels[best] if metres[best] <= float(page_settings()["nearest_address_max_m"]) else None


def community_points(city: Jurisdiction) -> dict[str, tuple[float, float]]:
    """A point surely inside each community (``(lon, lat)``), by name, in the run's order."""
    with _lock:
        found = _community_points.get(city.run_id)
        if found is None:
            found = {}
            for name, polygon in city.community_areas:
                point = shapely.point_on_surface(polygon)
                found[name] = (float(point.x), float(point.y))
            _community_points[city.run_id] = found
        return found


# --------------------------------------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------------------------------------


def _when(ui: UI, moment: datetime | None) -> str:
    """``29 November 2026, 08:30 UTC``."""
    if moment is None:
        return ""
    return ui.gettext("%(date)s, %(time)s UTC") % {
        "date": ui.fmt.date(moment.date()),
        "time": moment.strftime("%H:%M"),
    }


def _state_label(request: Request, ui: UI, state: str) -> str:
    return ui.pick(_governance(request).states[state].label, state)


def _field_labels(ui: UI, service: Service | None) -> dict[str, str]:
    """The label of each field as the form shows it (an error names its field so)."""
    _ = ui.gettext
    labels = {
        "service_code": _("Problem"),
        "lat": _("Place"),
        "long": _("Place"),
        "address_string": _("Place"),
        "address_id": _("Place"),
        "description": _("Description"),
        "email": _("Your email address"),
        "public_name": _("Your name"),
        "first_name": _("Your name"),
        "photo": _("Photo"),
    }
    if service is not None:
        for attribute in service.questions:
            labels[f"attribute[{attribute.code}]"] = ui.pick(attribute.description, attribute.code)
    return labels


#: The anchor each field's error links to (its control on the form).
def _anchor(field: str) -> str:
    if field in ("lat", "long", "address_string", "address_id"):
        return "where"
    if field == "service_code":
        return "service"
    if field in ("public_name", "first_name", "last_name"):
        return "name"
    match = _ATTRIBUTE.match(field)
    if match:
        return f"q-{match.group(1)}"
    return field.replace("_", "-")


def problem_text(ui: UI, problem: Problem, city: str) -> str:
    """What is wrong with one field and what to do, in the reader's language (never the value sent)."""
    _ = ui.gettext
    code, field = problem.code, problem.field
    limit = _LIMIT.search(problem.message)
    if code == "missing" and field == "email":
        return _("Enter your email address: the link that publishes your report is sent there.")
    if code == "missing" and field == "service_code":
        return _("Choose the problem you are reporting.")
    if code in ("missing", "no_location") and field in ("lat", "long"):
        return _(
            "Choose where the problem is: search for an address, choose a neighbourhood or give a point."
        )
    messages = {
        "missing": _("Answer this question."),
        "unknown": _("Choose one of the problems listed.")
        if field == "service_code"
        else _("This question does not belong to the problem chosen. Reload the form."),
        "not_a_latitude": _("The latitude must be a number between -90 and 90, such as 60.1699."),
        "not_a_longitude": _("The longitude must be a number between -180 and 180, such as 24.9384."),
        "outside": _("That place lies outside %(city)s. Choose a place inside the city.") % {"city": city},
        "markup": _("Write plain text, without HTML tags (such as <b> or <script>) or entities."),
        "control_characters": _("Remove the control characters; write plain text."),
        "one_line": _("Write this on one line."),
        "not_an_email": _("Enter an email address such as name@example.org."),
        "one_value": _("Choose one answer only."),
        "not_a_choice": _("Choose one of the answers listed."),
        "not_a_number": _("Enter a number, such as 12 or 3.5."),
        "not_a_datetime": _("Enter a date and a time, and choose the time zone."),
    }
    if code == "too_long":
        if limit:
            return _("This is too long: write at most %(limit)s characters.") % {
                "limit": ui.fmt.number(float(limit.group(1)), 0)
            }
        return _("This is too long: shorten it.")
    return messages.get(code, _("Check this field."))


# --------------------------------------------------------------------------------------------------------
# Step 1: the city and the problem
# --------------------------------------------------------------------------------------------------------


def _service_groups(request: Request, ui: UI, chosen: str | None) -> list[dict[str, Any]]:
    """The services grouped by department (in the catalogue's order), in the reader's language."""
    catalogue = _governance(request).services
    groups: list[dict[str, Any]] = []
    for code, names in catalogue.departments.items():
        members = [
            {
                "code": s.code,
                "name": ui.pick(s.name, s.code),
                "description": ui.pick(s.description),
                "checked": s.code == chosen,
            }
            for s in catalogue
            if s.department == code
        ]
        if members:
            groups.append({"id": code, "name": ui.pick(names, code), "services": members})
    return groups


def _cities(request: Request) -> list[dict[str, str]]:
    return [{"id": j.id, "name": j.name} for j in _governance(request).jurisdictions().values()]


@router.get("/report", response_model=None)
def report_start(
    request: Request,
    city: str | None = Query(None, max_length=100),
    service: str | None = Query(None, max_length=64),
) -> Response:
    """Step 1: which city (when several are served) and which problem."""
    if not _cities(request):
        raise HTTPException(404, ui_for(request).gettext("No city takes reports here yet."))
    return _start_page(request, city, service)


def _start_page(request: Request, city: str | None, service: str | None, *, again: bool = False) -> Response:
    """Step 1; ``again``: once more (400), saying that a problem must be chosen."""
    ui = ui_for(request)
    cities = _cities(request)
    context = {
        "title": ui.gettext("Report a problem"),
        "page": "report",
        "cities": cities,
        "city": city or (cities[0]["id"] if len(cities) == 1 else ""),
        "groups": _service_groups(request, ui, service),
        "problem": ui.gettext("Choose the problem you are reporting from the list.") if again else None,
    }
    return render(request, "report_start.html", context, status_code=400 if again else 200)


def _city_and_service(
    request: Request, city: str | None, service: str | None
) -> tuple[Jurisdiction, Service, Run] | Response:
    """The city, the problem chosen and the city's run of steps 2 and 3; step 1 again without a problem."""
    jurisdiction = _city(request, city)
    chosen = _governance(request).services.get(service) if service else None
    if chosen is None:
        return _start_page(request, jurisdiction.id, service, again=True)
    return jurisdiction, chosen, _run(request, jurisdiction)


# --------------------------------------------------------------------------------------------------------
# Step 2: where
# --------------------------------------------------------------------------------------------------------


@router.get("/report/place", response_model=None)
def report_place(
    request: Request,
    city: str | None = Query(None, max_length=100),
    service: str | None = Query(None, max_length=64),
    q: str | None = Query(None, max_length=200),
) -> Response:
    """Step 2: where the problem is — a search, a neighbourhood, or a point (typed or on the map)."""
    found = _city_and_service(request, city, service)
    if isinstance(found, Response):
        return found
    jurisdiction, chosen, run = found
    return _place_page(request, ui_for(request), jurisdiction, run, chosen, q)


def _place_page(
    request: Request,
    ui: UI,
    city: Jurisdiction,
    run: Run,
    service: Service,
    q: str | None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    _ = ui.gettext
    places = place_index_for(run)
    matches = None
    if q is not None and problem is None:
        query = q.strip()
        if not query:
            problem, status = _("Type an address or a place name, then search."), 400
        else:
            hits = places.search(query, limit=int(page_settings()["search_limit"]))
            matches = [
                {"id": place_id(h), "name": h.label, "lang": _name_lang(ui, h.label, run)} for h in hits
            ]
            if not matches:
                problem = _(
                    "No place in %(city)s matches “%(q)s”. Check the spelling, try part of the name or a "
                    "street, or choose a neighbourhood from the list."
                ) % {"city": city.name, "q": query}
                status = 404
    west, south, east, north = city.bbox
    context = {
        "title": _("Where is the problem?"),
        "page": "report",
        "city": city,
        "city_lang": ui.place_lang(run.manifest.get("region", {}).get("country")),
        "service": {"code": service.code, "name": ui.pick(service.name, service.code)},
        "q": q or "",
        "matches": matches,
        "communities": [{"name": name, "lang": _name_lang(ui, name, run)} for name in community_points(city)],
        "bounds": f"{west:.6f},{south:.6f},{east:.6f},{north:.6f}",
        "streets": f"/runs/{run.id}/streets.geojson",
        "problem": problem,
    }
    return render(request, "report_place.html", context, status_code=status)


# --------------------------------------------------------------------------------------------------------
# Step 3: the details form
# --------------------------------------------------------------------------------------------------------


def _where(
    ui: UI, city: Jurisdiction, run: Run, lon: float, lat: float, address: str | None
) -> dict[str, Any]:
    """The chosen place as the form says it back: address (or nearest one), community, coordinates."""
    community = city.community_of(lon, lat)
    return {
        "lat": f"{lat:.6f}",
        "long": f"{lon:.6f}",
        "address": address or "",
        "address_lang": _name_lang(ui, address, run) if address else "",
        "community": community or "",
        "community_lang": _name_lang(ui, community, run) if community else "",
        "lat_text": ui.fmt.number(lat, 5),
        "lon_text": ui.fmt.number(lon, 5),
    }


def _finite(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@router.get("/report/details", response_model=None)
def report_details(
    request: Request,
    city: str | None = Query(None, max_length=100),
    service: str | None = Query(None, max_length=64),
    place: str | None = Query(None, max_length=80),
    community: str | None = Query(None, max_length=200),
    lat: str | None = Query(None, max_length=40),
    long: str | None = Query(None, max_length=40),
) -> Response:
    """Step 3: the place said back, possible duplicates, and the form."""
    ui = ui_for(request)
    _ = ui.gettext
    found = _city_and_service(request, city, service)
    if isinstance(found, Response):
        return found
    jurisdiction, chosen, run = found

    def place_again(problem: str, status: int) -> Response:
        return _place_page(request, ui, jurisdiction, run, chosen, None, problem, status)

    places = place_index_for(run)
    address: str | None = None
    if place:
        hit = _place_by_id(run, places).get(place)
        if hit is None:
            return place_again(
                _("We do not know that place. Search for it again, or choose a neighbourhood."), 404
            )
        lon_value, lat_value, address = hit.lon, hit.lat, hit.label
    elif community:
        point = community_points(jurisdiction).get(community)
        if point is None:
            return place_again(_("We do not know that neighbourhood. Choose one from the list."), 404)
        lon_value, lat_value = point
    else:
        lat_number, lon_number = _finite(lat), _finite(long)
        if lat_number is None or lon_number is None:
            if lat or long:
                text = _("The latitude and longitude must be numbers, such as 60.1699 and 24.9384.")
            else:
                text = problem_text(ui, Problem("lat", "no_location", ""), jurisdiction.name)
            return place_again(text, 400)
        lon_value, lat_value = lon_number, lat_number
    if not jurisdiction.contains(lon_value, lat_value):
        outside = _("That place lies outside %(city)s. Choose a place inside the city.")
        return place_again(outside % {"city": jurisdiction.name}, 422)
    if address is None:
        address = nearest_address(run, places, lon_value, lat_value)
        described = _("Near %(address)s") % {"address": address} if address else None
    else:
        described = address
    where = _where(ui, jurisdiction, run, lon_value, lat_value, address)
    where["described"] = described or ""
    values = {"wants_updates": False, "show_name": False}
    return _details_page(request, ui, jurisdiction, run, chosen, where, values, [], 200)


def _zones(default: str) -> list[dict[str, Any]]:
    """UTC offsets from −12:00 to +14:00 in half hours (ISO 8601), ``default`` selected."""
    out = []
    for half_hours in range(-24, 29):
        minutes = half_hours * 30
        sign = "+" if minutes >= 0 else "-"
        text = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        out.append({"value": text, "label": f"UTC{text}", "selected": text == default})
    return out


def _city_offset(city: Jurisdiction) -> str:
    """A first guess of the city's UTC offset from its longitude (15° an hour); the resident can change it."""
    hours = max(-12, min(14, round(city.centre()[0] / 15)))
    return f"{'+' if hours >= 0 else '-'}{abs(hours):02d}:00"


def _questions(ui: UI, service: Service, answers: dict[str, Any], city: Jurisdiction) -> list[dict[str, Any]]:
    """The service's attributes as form controls, with the resident's answers kept."""
    out = []
    for attribute in sorted(service.attributes, key=lambda a: a.order):
        answer = answers.get(attribute.code)
        item: dict[str, Any] = {
            "code": attribute.code,
            "datatype": attribute.datatype,
            "variable": attribute.variable,
            "required": attribute.required,
            "label": ui.pick(attribute.description, attribute.code),
            "id": f"q-{attribute.code}",
            "name": f"attribute[{attribute.code}]",
        }
        if attribute.datatype in ("singlevaluelist", "multivaluelist"):
            picked = answer if isinstance(answer, list) else ([answer] if answer else [])
            item["values"] = [
                {"key": v.key, "label": ui.pick(v.name, v.key), "checked": v.key in picked}
                for v in attribute.values
            ]
        elif attribute.datatype == "datetime":
            raw = answer if isinstance(answer, dict) else {}
            item["date"] = raw.get("date", "")
            item["zones"] = _zones(raw.get("zone") or _city_offset(city))
        else:
            item["value"] = answer if isinstance(answer, str) else ""
            item["max"] = STRING_MAX_CHARS if attribute.datatype == "string" else TEXT_MAX_CHARS
        out.append(item)
    return out


def _duplicates(
    request: Request, ui: UI, city: Jurisdiction, service: Service, where: dict[str, Any]
) -> list[dict[str, Any]]:
    """Open, published reports of the same problem near the place, nearest first (nothing personal)."""
    lat, lon = _finite(where.get("lat")), _finite(where.get("long"))
    if lat is None or lon is None:
        return []
    gov = _governance(request)
    with gov.store.session() as session:
        found = nearby_open(
            session,
            jurisdiction=city.id,
            service_code=service.code,
            lat=lat,
            lon=lon,
            radius_m=gov.settings.reports.duplicate_radius_m,
        )
        return [
            {
                "id": report.id,
                "state": _state_label(request, ui, report.state),
                "date": _when(ui, report.confirmed_at or report.created_at),
                "distance": ui.distance(metres),
                "community": report.community or "",
                "excerpt": _excerpt(report.description),
            }
            for report, metres in found[: int(page_settings()["duplicates_shown"])]
        ]


def _excerpt(text: str, limit: int = 140) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _details_page(
    request: Request,
    ui: UI,
    city: Jurisdiction,
    run: Run,
    service: Service | None,
    where: dict[str, Any],
    values: dict[str, Any],
    problems: list[Problem],
    status: int,
) -> Response:
    """The details form (again, with the problems next to their fields and in a summary)."""
    _ = ui.gettext
    gov = _governance(request)
    labels = _field_labels(ui, service)
    errors: dict[str, str] = {}
    summary: list[dict[str, str]] = []
    for problem in problems:
        anchor = _anchor(problem.field)
        text = problem_text(ui, problem, city.name) if problem.code != "photo" else problem.message
        if anchor in errors:
            continue
        errors[anchor] = text
        summary.append({"anchor": anchor, "label": labels.get(problem.field, problem.field), "text": text})
    token = csrf_token(request, None, gov.secret)
    context = {
        "title": (_("Error: ") if problems else "") + _("Describe the problem"),
        "page": "report",
        "city": city,
        "service": (
            {
                "code": service.code,
                "name": ui.pick(service.name, service.code),
                "description": ui.pick(service.description),
            }
            if service is not None
            else None
        ),
        "groups": _service_groups(request, ui, None) if service is None else [],
        "questions": _questions(ui, service, values.get("answers", {}), city) if service is not None else [],
        "where": where,
        "duplicates": _duplicates(request, ui, city, service, where) if service is not None else [],
        "radius": ui.distance(gov.settings.reports.duplicate_radius_m),
        "values": values,
        "errors": errors,
        "summary": summary,
        "csrf_field": CSRF_FIELD,
        "csrf_token": token,
        "honeypot": HONEYPOT,
        "description_max": gov.settings.reports.description_max_chars,
        "description_max_text": ui.fmt.number(gov.settings.reports.description_max_chars, 0),
        "email_max": SHORT_MAX_CHARS["email"],
        "name_max": NAME_MAX_CHARS,
        "photo_formats": ", ".join(gov.settings.photos.formats),
        "photo_max": ui.fmt.number(gov.settings.photos.max_bytes / 1_000_000, 0),
        "confirmation_hours": gov.settings.reports.confirmation_hours,
        "place_query": urlencode({"city": city.id, "service": service.code if service else ""}),
    }
    response = render(request, "report_details.html", context, status_code=status)
    set_csrf_cookie(request, response)
    response.headers["Cache-Control"] = "no-store"
    return response


# --------------------------------------------------------------------------------------------------------
# Sending the form
# --------------------------------------------------------------------------------------------------------


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _answers(form: FormData) -> tuple[dict[str, str | list[str]], dict[str, Any]]:
    """The service's answers as read_submission takes them, and as the form shows them again."""
    checked: dict[str, str | list[str]] = {}
    shown: dict[str, Any] = {}
    dates: dict[str, dict[str, str]] = {}
    for key in form:
        match = _ATTRIBUTE.match(key)
        if not match:
            continue
        code, suffix = match.group(1), match.group(2)
        if suffix == "[]":
            values = [v for v in form.getlist(key) if isinstance(v, str)]
            checked[code] = values
            shown[code] = values
        elif suffix == "[zone]":
            dates.setdefault(code, {})["zone"] = _text(form, key).strip()
        else:
            checked[code] = _text(form, key)
            shown[code] = _text(form, key)
    for code, parts in dates.items():
        date = str(checked.get(code, "") or "").strip()
        parts["date"] = date
        shown[code] = parts
        if date and re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?", date):
            checked[code] = date + parts.get("zone", "")
    return checked, shown


async def _photos(form: FormData, request: Request) -> tuple[list[Any], list[Problem]]:
    """The uploaded photo, re-written without metadata, or the problem with it (in the reader's language)."""
    upload = form.get("photo")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return [], []
    gov = _governance(request)
    rules = gov.settings.photos
    data = await upload.read(rules.max_bytes + 1)
    try:
        return [process_photo(data, rules, upload.filename)], []
    except PhotoError as error:
        ui = ui_for(request)
        text = " ".join(
            (
                ui.gettext("We could not use this photo."),
                # only max_bytes + 1 bytes were read: the size the upload had in all is the multipart's
                photo_problem(ui, error, whole_size=upload.size),
                ui.gettext("You can also leave the photo out."),
            )
        )
        return [], [Problem("photo", "photo", text)]


def photo_problem(ui: UI, error: PhotoError, *, whole_size: int | None = None) -> str:
    """Why a photo was refused and what to do, in the reader's language, with the numbers of the refusal.

    Parameters
    ----------
    ui
        The reader's language and number formats.
    error
        The refusal of :func:`~exquisite.governance.photos.process_photo` (its ``reason`` and ``values``).
    whole_size
        The upload's size in bytes when only its first ``max_bytes + 1`` were given to the check.
    """
    _ = ui.gettext
    values = error.values
    if error.reason == "empty":
        return _("The file is empty (0 bytes). Choose the photo again and send it again.")
    if error.reason == "too_large":
        size, limit = max(values["size"], whole_size or 0), values["limit"]
        if in_bytes(size, limit):
            shown = {"size": ui.fmt.number(size, 0), "limit": ui.fmt.number(limit, 0)}
            return (
                _(
                    "The photo is %(size)s bytes; the limit is %(limit)s bytes. Send a smaller photo, "
                    "or take it at a lower size."
                )
                % shown
            )
        shown = {"size": ui.fmt.compact(size / 1_000_000, 1), "limit": ui.fmt.compact(limit / 1_000_000, 1)}
        return (
            _(
                "The photo is %(size)s MB; the limit is %(limit)s MB. Send a smaller photo, or take it at a "
                "lower size."
            )
            % shown
        )
    if error.reason == "too_many_pixels":
        limit = ui.fmt.compact(values["limit"] / 1_000_000, 1)
        if values["pixels"] is None:
            return _(
                "The photo has more pixels than the limit of %(limit)s megapixels. Send a smaller photo."
            ) % {"limit": limit}
        return _(
            "The photo is %(width)s × %(height)s pixels (%(megapixels)s megapixels); the limit is "
            "%(limit)s megapixels. Send a smaller photo."
        ) % {
            "width": ui.fmt.number(values["width"], 0),
            "height": ui.fmt.number(values["height"], 0),
            "megapixels": ui.fmt.compact(values["pixels"] / 1_000_000, 1),
            "limit": limit,
        }
    formats = ", ".join(values.get("accepted", ()))
    if error.reason == "not_accepted_type":
        return _("The file is a %(format)s image, which is not accepted. Send a photo as %(formats)s.") % {
            "format": values["format"],
            "formats": formats,
        }
    if error.reason == "not_an_image":
        return _("The file is not an image this service can read. Send a photo as %(formats)s.") % {
            "formats": formats
        }
    return _(
        "The photo is damaged or incomplete. Send it again; if it still fails, save it again on your "
        "device first."
    )


@router.post("/report", response_model=None)
async def report_send(request: Request) -> Response:
    """Check the form through the core's one path, store the report unpublished and queue the link."""
    ui = ui_for(request)
    _ = ui.gettext
    gov = _governance(request)
    form = await request.form()
    check_csrf(request, _text(form, CSRF_FIELD), gov.secret)
    if _text(form, HONEYPOT).strip():
        # a bot filled the field people never see: it gets the ordinary answer, and nothing is stored
        return RedirectResponse("/report/sent", status_code=303)
    city = _city(request, _text(form, "jurisdiction_id"))
    run = _run(request, city)
    code = _text(form, "service_code").strip()
    service = gov.services.get(code) if code else None
    name = _text(form, "name").strip()
    show_name = _text(form, "show_name") == "yes"
    wants_updates = _text(form, "wants_updates") == "yes"
    email = _text(form, "email").strip()
    checked, shown = _answers(form)
    fields = {
        "service_code": _text(form, "service_code"),
        "lat": _text(form, "lat"),
        "long": _text(form, "long"),
        "address_string": _text(form, "address_string"),
        "description": _text(form, "description"),
        "email": email,
        "first_name": name,
        "public_name": name if show_name else "",
        "wants_updates": "true" if wants_updates else "false",
    }
    ip = gov.ip_hash(request.client.host if request.client else None)
    problems: list[Problem] = []
    submission = None
    try:
        submission = read_submission(
            fields,
            checked,
            jurisdiction=city,
            catalogue=gov.services,
            rules=gov.settings.reports,
            channel="web",
            ip_hash=ip,
            require_email=True,
        )
    except SubmissionError as error:
        problems.extend(error.problems)
    photos, photo_problems = await _photos(form, request)
    problems.extend(photo_problems)
    if problems or submission is None:
        lat, lon = _finite(fields["lat"]), _finite(fields["long"])
        if lat is not None and lon is not None and city.contains(lon, lat):
            address = fields["address_string"].strip() or None
            where = _where(ui, city, run, lon, lat, address)
            where["described"] = address or ""
        else:
            where = {"lat": "", "long": "", "address": "", "community": "", "described": "", "missing": True}
        values = {
            "description": fields["description"],
            "email": email,
            "name": name,
            "show_name": show_name,
            "wants_updates": wants_updates,
            "answers": shown,
            "had_photo": bool(photos or photo_problems),
        }
        return _details_page(request, ui, city, run, service, where, values, problems, 400)

    with gov.store.session() as session:
        refused = gov.limits.allow_report(session, ip_hash=ip or "unknown", account=submission.email)
        if refused is None:
            report, secret = submit(session, submission, photos=photos, needs_confirmation=True)
            notices.notify_confirmation(
                session,
                report,
                secret or "",
                gov.settings,
                email=submission.email or email,
                services=gov.services,
            )
    if refused is not None:
        return _refused(request, ui, refused)
    gov.queued_mail()
    return RedirectResponse("/report/sent", status_code=303)


def _refused(request: Request, ui: UI, reason: str) -> Response:
    """The friendly answer when a rate limit is reached (nothing stored)."""
    _ = ui.gettext
    if reason == "global":
        text = _("Very many reports are arriving right now. Please wait a few minutes and send it again.")
    else:
        text = _(
            "You have sent many reports in a short time. Please wait an hour and send it again, or call the "
            "city's service desk if it is urgent."
        )
    context = {"title": _("Please wait before sending another report"), "page": "report", "message": text}
    response = render(request, "report_refused.html", context, status_code=429)
    response.headers["Retry-After"] = "3600" if reason != "global" else "60"
    return response


@router.get("/report/sent", response_model=None)
def report_sent(request: Request) -> Response:
    """Step 4: check your email."""
    gov = _governance(request)
    ui = ui_for(request)
    context = {
        "title": ui.gettext("Check your email"),
        "page": "report",
        "hours": gov.settings.reports.confirmation_hours,
    }
    return render(request, "report_sent.html", context)


@router.get("/report/confirm/{secret}", response_model=None)
def report_confirm(request: Request, secret: str) -> Response:
    """The email's link: publish the report, then show its status page (a used or old link: a kind page)."""
    gov = _governance(request)
    ui = ui_for(request)
    report_id = None
    if len(secret) <= 200:
        with gov.store.session() as session:
            report = confirm(
                session, secret, max_age=timedelta(hours=gov.settings.reports.confirmation_hours)
            )
            if report is not None:
                notices.notify_published(session, report, gov.settings, services=gov.services)
                report_id = report.id
    if report_id is None:
        context = {
            "title": ui.gettext("This link no longer works"),
            "page": "report",
            "hours": gov.settings.reports.confirmation_hours,
        }
        return render(request, "report_link.html", context, status_code=404)
    gov.queued_mail()
    return RedirectResponse(f"/reports/{report_id}?published=1", status_code=303)


# --------------------------------------------------------------------------------------------------------
# Following reports: the status page and the public list
# --------------------------------------------------------------------------------------------------------


def _public_report(request: Request, session: Any, report_id: int) -> Report:
    ui = ui_for(request)
    report = session.get(Report, report_id)
    if report is None or report.state not in _governance(request).states.public():
        raise HTTPException(404, ui.gettext("There is no public report number %(id)s.") % {"id": report_id})
    return report


def _event_text(ui: UI, request: Request, kind: str, state_to: str | None, state_from: str | None) -> str:
    _ = ui.gettext
    if kind == "created":
        return _("Report received")
    if kind == "confirmed":
        return _("Published")
    if state_to and state_to != state_from:
        return _("State changed to: %(state)s") % {"state": _state_label(request, ui, state_to)}
    return _("Update from the city")


def answers_shown(ui: UI, service: Service | None, stored: dict[str, Any]) -> list[dict[str, str]]:
    """The service's questions and the reporter's answers, in the reader's language.

    Shown on the residents' status page and on the staff's report page.
    """
    if service is None:
        return []
    out = []
    for attribute in service.questions:
        if attribute.code not in stored:
            continue
        out.append(
            {
                "question": ui.pick(attribute.description, attribute.code),
                "answer": _answer_text(ui, attribute, stored[attribute.code]),
            }
        )
    return out


def _answer_text(ui: UI, attribute: Attribute, value: Any) -> str:
    if attribute.datatype in ("singlevaluelist", "multivaluelist"):
        names = {v.key: ui.pick(v.name, v.key) for v in attribute.values}
        keys = value if isinstance(value, list) else [value]
        return ", ".join(names.get(str(k), str(k)) for k in keys)
    if attribute.datatype == "number" and isinstance(value, int | float):
        return ui.fmt.auto(float(value))
    return str(value)


@router.get("/reports/{report_id}", response_model=None)
def report_status(
    request: Request, report_id: int, published: str | None = Query(None, max_length=4)
) -> Response:
    """A report's public status page: the problem, its state, place, dates, public history and photos."""
    gov = _governance(request)
    ui = ui_for(request)
    _ = ui.gettext
    with gov.store.session() as session:
        report = _public_report(request, session, report_id)
        service = gov.services.get(report.service_code)
        city = gov.jurisdictions().get(report.jurisdiction)
        run = _run(request, city) if city is not None else None
        state = gov.states[report.state]
        view = {
            "id": report.id,
            "service": gov.services.name_of(report.service_code, ui.lang),
            "state": ui.pick(state.label, report.state),
            "closed": state.closed,
            "community": report.community or "",
            "community_lang": _name_lang(ui, report.community, run) if run and report.community else "",
            "address": report.address or "",
            "address_lang": _name_lang(ui, report.address, run) if run and report.address else "",
            "description": report.description,
            "public_name": report.public_name or "",
            "reported": _when(ui, report.created_at),
            "published": _when(ui, report.confirmed_at),
            "updated": _when(ui, report.updated_at),
            "closed_at": _when(ui, report.closed_at),
            "expected": _when(ui, report.expected_at) if not state.closed else "",
            "status_notes": report.status_notes or "",
            "answers": answers_shown(ui, service, dict(report.attributes or {})),
            "duplicate_of": report.duplicate_of,
            "lat_text": ui.fmt.number(report.lat, 5) if report.lat is not None else "",
            "lon_text": ui.fmt.number(report.lon, 5) if report.lon is not None else "",
            "history": [
                {
                    "when": _when(ui, e.at),
                    "what": _event_text(ui, request, e.kind, e.state_to, e.state_from),
                    "text": e.text or "",
                }
                for e in report.events
                if e.public
            ],
            "photos": [
                {"url": f"/reports/{report.id}/photos/{p.id}.jpg", "width": p.width, "height": p.height}
                for p in report.photos
                if not p.hidden
            ],
        }
        points = (
            [(report.lon, report.lat, view["service"])]
            if report.lon is not None and report.lat is not None
            else []
        )
    context = {
        "title": _("Report %(id)s: %(service)s") % {"id": report_id, "service": view["service"]},
        "page": "reports",
        "report": view,
        "just_published": published == "1",
        "map": _report_map(run, ui, points, "map-report", _("Where report %(id)s is") % {"id": report_id})
        if run
        else "",
        "list_link": "/reports" + (f"?city={report.jurisdiction}" if len(gov.jurisdictions()) > 1 else ""),
    }
    return render(request, "report_status.html", context)


@router.get("/reports/{report_id}/photos/{photo_id}.jpg", response_model=None)
def report_photo(request: Request, report_id: int, photo_id: int) -> Response:
    """A public report's photo (re-encoded, no metadata); hidden photos and other reports' are 404."""
    gov = _governance(request)
    ui = ui_for(request)
    with gov.store.session() as session:
        report = _public_report(request, session, report_id)
        photo = session.get(Photo, photo_id)
        if photo is None or photo.report_id != report.id or photo.hidden:
            raise HTTPException(404, ui.gettext("This report has no such photo."))
        data, media = photo.data, photo.content_type
    return Response(data, media_type=media, headers={"Cache-Control": "public, max-age=300"})


def _report_map(
    run: Run | None, ui: UI, points: list[tuple[float, float, str]], ident: str, title: str
) -> str:
    """An SVG map of the city's streets with the reports as dots (their titles say what they are)."""
    if run is None:
        return ""
    svg = base_map(
        run,
        ident,
        title,
        ui.gettext("The city's streets; each dot is a report. The list on this page holds the same reports."),
        ui,
    )
    if points:
        to_xy = pyproj.Transformer.from_crs("EPSG:4326", run.network.crs, always_xy=True)
        x, y = to_xy.transform(np.array([p[0] for p in points]), np.array([p[1] for p in points]))
        unit = svg.frame.width / 1000.0
        svg.add_circles(
            np.column_stack([x, y]), [7.0 * unit] * len(points), "report-marker", [p[2] for p in points]
        )
    return svg.svg()


@router.get("/reports", response_model=None)
def report_list(
    request: Request,
    city: str | None = Query(None, max_length=100),
    service: str | None = Query(None, max_length=64),
    state: str | None = Query(None, max_length=32),
    community: str | None = Query(None, max_length=200),
) -> Response:
    """The city's recent public reports, filtered by problem, state and community: a map and a table."""
    gov = _governance(request)
    ui = ui_for(request)
    _ = ui.gettext
    jurisdiction = _city(request, city)
    run = _run(request, jurisdiction)
    public = gov.states.public()
    if service and gov.services.get(service) is None:
        raise HTTPException(400, _("There is no such problem to filter by. Choose one from the list."))
    if state and state not in public:
        raise HTTPException(400, _("There is no such state to filter by. Choose one from the list."))
    if community and community not in jurisdiction.communities():
        raise HTTPException(400, _("There is no such community to filter by. Choose one from the list."))
    query = select(Report).where(Report.jurisdiction == jurisdiction.id, Report.state.in_(public))
    if service:
        query = query.where(Report.service_code == service)
    if state:
        query = query.where(Report.state == state)
    if community:
        query = query.where(Report.community == community)
    limit = int(page_settings()["list_limit"])
    query = query.order_by(Report.created_at.desc(), Report.id.desc()).limit(limit)
    rows = []
    with gov.store.session() as session:
        for report in session.scalars(query):
            found = gov.services.get(report.service_code)
            rows.append(
                {
                    "id": report.id,
                    "service": ui.pick(found.name, report.service_code) if found else report.service_code,
                    "state": _state_label(request, ui, report.state),
                    "community": report.community or "",
                    "community_lang": _name_lang(ui, report.community, run) if report.community else "",
                    "date": _when(ui, report.confirmed_at or report.created_at),
                    "lon": report.lon,
                    "lat": report.lat,
                }
            )
    points = [
        (r["lon"], r["lat"], f"{r['id']}: {r['service']}")
        for r in rows
        if r["lon"] is not None and r["lat"] is not None
    ]
    context = {
        "title": _("Reports in %(city)s") % {"city": jurisdiction.name},
        "page": "reports",
        "city": jurisdiction,
        "cities": _cities(request),
        "rows": rows,
        "limit": limit,
        "filters": {"service": service or "", "state": state or "", "community": community or ""},
        "services": [{"code": s.code, "name": ui.pick(s.name, s.code)} for s in gov.services],
        "states": [{"name": s, "label": _state_label(request, ui, s)} for s in public],
        "communities": [{"name": c, "lang": _name_lang(ui, c, run)} for c in jurisdiction.communities()],
        "map": _report_map(
            run, ui, points, "map-reports", _("Reports on the map of %(city)s") % {"city": jurisdiction.name}
        ),
    }
    return render(request, "report_list.html", context)
