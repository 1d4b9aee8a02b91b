"""Open311 GeoReport v2 at ``/open311/v2/``: discovery, services, definitions, requests, tokens.

Every resource is ``…/{resource}.{format}`` with ``format`` ``xml`` (the spec's required one) or
``json``; lists are ``<services><service>``, ``<service_requests><request>`` and ``<errors><error>`` in XML
and top-level arrays in JSON. Errors are the spec's ``[{code, description}]`` with HTTP 400, 403 or 404 —
also for a path or a method that does not exist under ``/open311/v2`` (404, 405), so no client ever meets
another error shape here.

What is served is public: only confirmed reports that are not hidden, never a reporter's name, email, phone or
device. Reports posted with a valid ``api_key`` are published at once (the client's operator answers for it);
they go through the same checks as the resident's web form
(:func:`exquisite.governance.reports.read_submission`) and the same rate limits. Photos come as the v2.1
draft's ``media`` files and are re-written without metadata. Datetimes are W3C ones in the city's own time
zone with that moment's offset (``time_zones`` in the settings; ``Z`` for a city not listed); ``start_date``
and ``end_date`` may carry any offset.

Extensions to the spec (all optional, documented in ``open311_openapi.yml``, served at ``openapi.json``):
``lang`` (``en`` or ``zh``) for names and notices; ``extensions=true`` on the request lists for ``community``
and the public ``notes`` of a report's history; ``media`` uploads; ``media_url`` pointing at
``/open311/v2/media/{report}/{photo}.jpg``.
"""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Message

from exquisite.errors import InputError
from exquisite.governance import apikeys
from exquisite.governance.models import Photo, Report, ReportEvent
from exquisite.governance.photos import ProcessedPhoto, process_photo
from exquisite.governance.reports import SubmissionError, now_utc, read_submission, submit
from exquisite.governance.service import Governance, UnknownJurisdictionError
from exquisite.governance.services import Service
from exquisite.outputs.i18n import pick

log = logging.getLogger(__name__)

PREFIX = "/open311/v2"
#: The response content types of the two formats (UTF-8 everywhere, as the spec says).
CONTENT_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
#: The MIME types discovery announces.
FORMAT_TYPES = {"xml": "text/xml", "json": "application/json"}
#: The item element of each list, for the XML form (the spec's plural → singular).
ITEM_TAGS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "notes": "note",
}
#: The fields of a post as GeoReport v2 names them (other fields, but attributes and media, are ignored).
POST_FIELDS = (
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "email",
    "device_id",
    "account_id",
    "first_name",
    "last_name",
    "phone",
    "description",
    "media_url",
    "api_key",
    "jurisdiction_id",
    "lang",
)
_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]{1,64})\](\[\])?$")
_MEDIA_FIELDS = ("media", "media[]")
#: A service request id as stored (an integer of at most 18 digits, so it fits every database's integer).
_REQUEST_ID = re.compile(r"^[0-9]{1,18}$")
#: Characters XML 1.0 cannot carry (they are dropped from text).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
#: A zone offset whose '+' became a space in a query string that was not percent-encoded.
_SPACED_OFFSET = re.compile(r"^(\S+T[0-9:.]+) ([0-9]{2}:?[0-9]{2})$")


@dataclass(frozen=True)
class EndpointSettings:
    """The endpoint's own settings (``data/open311_api.yml``)."""

    specification: str
    changeset: str
    endpoint_type: str
    service_type: str
    media_max_files: int
    form_overhead_bytes: int
    languages: tuple[str, ...]


@cache
def endpoint_settings() -> EndpointSettings:
    """The settings of ``data/open311_api.yml`` (read once)."""
    raw = yaml.safe_load(files("exquisite").joinpath("data/open311_api.yml").read_text(encoding="utf-8"))
    return EndpointSettings(
        specification=str(raw["specification"]),
        changeset=str(raw["changeset"]),
        endpoint_type=str(raw["endpoint_type"]),
        service_type=str(raw["service_type"]),
        media_max_files=int(raw["media_max_files"]),
        form_overhead_bytes=int(raw["form_overhead_bytes"]),
        languages=tuple(str(lang) for lang in raw["languages"]),
    )


@cache
def openapi_document() -> dict[str, Any]:
    """Our OpenAPI 3 document of this endpoint (``governance/open311_openapi.yml``)."""
    text = files("exquisite.governance").joinpath("open311_openapi.yml").read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


class Open311Error(Exception):
    """An answer in the spec's error form: HTTP ``status`` and one ``(code, description)`` per problem."""

    def __init__(
        self, status: int, errors: Sequence[tuple[int, str]], headers: Mapping[str, str] | None = None
    ) -> None:
        self.status = status
        self.errors = list(errors)
        self.headers = dict(headers or {})
        super().__init__("; ".join(text for _code, text in self.errors))


def _fail(status: int, description: str) -> Open311Error:
    return Open311Error(status, [(status, description)])


# ---------------------------------------------------------------------------------------------- rendering


def _xml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _xml_add(parent: ET.Element, tag: str, value: Any) -> None:
    element = ET.SubElement(parent, tag)
    if isinstance(value, list):
        for item in value:
            _xml_add(element, ITEM_TAGS[tag], item)
    elif isinstance(value, dict):
        for key, inner in value.items():
            _xml_add(element, key, inner)
    elif value is not None:
        element.text = _xml_text(value)


def to_xml(root: str, data: list[Any] | dict[str, Any]) -> bytes:
    """The XML form of ``data``: a list becomes ``<root><item>…``, a mapping ``<root><key>…`` (escaped)."""
    element = ET.Element(root)
    if isinstance(data, list):
        for item in data:
            _xml_add(element, ITEM_TAGS[root], item)
    else:
        for key, value in data.items():
            _xml_add(element, key, value)
    body = ET.tostring(element, encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body).encode("utf-8")


def to_json(data: Any) -> bytes:
    """The JSON form of ``data``, with ``<``, ``>`` and ``&`` written as JSON unicode escapes."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode("utf-8")


def answer(
    fmt: str,
    root: str,
    data: list[Any] | dict[str, Any],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A response in ``fmt`` (``xml`` or ``json``); ``root`` names the XML root element."""
    body = to_json(data) if fmt == "json" else to_xml(root, data)
    response = Response(body, status_code=status, headers=dict(headers or {}))
    response.headers["Content-Type"] = CONTENT_TYPES[fmt]
    response.headers["Cache-Control"] = "no-store" if status >= 400 else "no-cache"
    return response


def error_answer(fmt: str, error: Open311Error) -> Response:
    """The spec's error list ``[{code, description}]`` with the error's HTTP status."""
    data = [{"code": code, "description": text} for code, text in error.errors]
    return answer(fmt, "errors", data, error.status, error.headers)


def _format_of(request: Request) -> str:
    """The format an error is answered in: the one asked for in the path, else XML (the required one)."""
    fmt = request.path_params.get("fmt")
    if fmt in CONTENT_TYPES:
        return str(fmt)
    return "json" if request.url.path.endswith(".json") else "xml"


class _Open311Route(APIRoute):
    """A route whose every failure is answered in the spec's error form, in the format asked for."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Open311Error as error:
                return error_answer(_format_of(request), error)
            except RequestValidationError as error:
                names = ", ".join(str(e.get("loc", ["?"])[-1]) for e in error.errors())
                return error_answer(_format_of(request), _fail(400, f"not valid: {names}"))
            except StarletteHTTPException as error:
                status = error.status_code if error.status_code in (400, 403, 404, 405) else 400
                return error_answer(_format_of(request), _fail(status, str(error.detail)))
            except Exception:
                log.exception("Open311 %s %s failed", request.method, request.url.path)
                failure = _fail(
                    500, "The service failed to answer; try again later, and tell the city if it persists."
                )
                return error_answer(_format_of(request), failure)

        return handle


router = APIRouter(prefix=PREFIX, tags=["open311"], route_class=_Open311Route)


# ---------------------------------------------------------------------------------------------- parameters


def _governance(request: Request) -> Governance:
    governance: Governance = request.app.state.governance
    return governance


def _fmt(fmt: str) -> str:
    if fmt not in CONTENT_TYPES:
        raise _fail(404, f"format {fmt[:20]!r} is not served: end the path with .xml or .json")
    return fmt


def _param(request: Request, name: str) -> str | None:
    """A query parameter (repeated ones joined by commas); empty counts as absent, as the spec says."""
    values = [v.strip() for v in request.query_params.getlist(name) if v.strip()]
    return ",".join(values) if values else None


def _jurisdiction(governance: Governance, jurisdiction_id: str | None) -> Any:
    try:
        return governance.jurisdiction(jurisdiction_id)
    except UnknownJurisdictionError as error:
        raise _fail(error.status, error.problem) from None


def _lang(value: str | None) -> str:
    languages = endpoint_settings().languages
    if value is None:
        return languages[0]
    if value not in languages:
        raise _fail(400, f"lang: {value[:20]!r} is not offered; use one of {', '.join(languages)}")
    return value


def _flag(name: str, value: str | None) -> bool:
    if value is None or value.lower() == "false":
        return False
    if value.lower() == "true":
        return True
    raise _fail(400, f"{name}: {value[:20]!r} is neither true nor false")


def w3c(moment: datetime | None, zone: tzinfo = UTC) -> str | None:
    """A moment in the W3C profile of ISO 8601, in ``zone`` with that moment's offset.

    Parameters
    ----------
    moment
        The moment (a naive one is UTC, as the store keeps them), or None.
    zone
        The city's time zone (``Settings.time_zone``); UTC gives ``Z``.

    Returns
    -------
    str or None
        ``2026-05-01T11:30:00+03:00`` in Helsinki, ``2026-05-01T08:30:00Z`` in UTC; None for None. An offset
        that is not whole minutes (local mean time before the city adopted its zone) gives the UTC form.
    """
    if moment is None:
        return None
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    local = aware.astimezone(zone)
    offset = local.utcoffset() or timedelta(0)
    if getattr(zone, "key", "UTC") == "UTC" or offset % timedelta(minutes=1):
        return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return local.isoformat(timespec="seconds")


def parse_w3c(name: str, text: str) -> datetime:
    """A W3C datetime with its zone (``Z`` or ``±HH:MM``), or the spec's 400 naming the parameter."""
    text = _SPACED_OFFSET.sub(r"\1+\2", text.strip())
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or "T" not in text or moment.tzinfo is None or moment.utcoffset() is None:
        raise _fail(
            400, f"{name}: {text[:40]!r} is not a W3C date and time with a zone, e.g. 2026-01-01T00:00:00Z"
        )
    return moment.astimezone(UTC)


def _shift(moment: datetime, delta: timedelta) -> datetime:
    try:
        return moment + delta
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC) if delta > timedelta(0) else datetime.min.replace(tzinfo=UTC)


def date_window(
    start_text: str | None, end_text: str | None, window_days: int, now: datetime
) -> tuple[datetime, datetime]:
    """The ``requested_datetime`` window of a list (at most ``window_days``; by default the last ones)."""
    window = timedelta(days=window_days)
    start = parse_w3c("start_date", start_text) if start_text else None
    end = parse_w3c("end_date", end_text) if end_text else None
    if start is not None and end is not None:
        if end < start:
            raise _fail(400, "end_date: is before start_date; give end_date after start_date")
        if end - start > window:
            raise _fail(400, f"start_date/end_date: the window may span at most {window_days} days")
        return start, end
    if start is not None:
        return start, _shift(start, window)
    if end is not None:
        return _shift(end, -window), end
    return now - window, now


# ---------------------------------------------------------------------------------------------- records


def _service_item(service: Service, lang: str) -> dict[str, Any]:
    return {
        "service_code": service.code,
        "service_name": pick(service.name, lang),
        "description": pick(service.description, lang),
        "metadata": service.metadata,
        "type": endpoint_settings().service_type,
        "keywords": ", ".join(service.keywords),
        "group": service.group,
    }


def _definition(service: Service, lang: str) -> dict[str, Any]:
    return {
        "service_code": service.code,
        "attributes": [
            {
                "variable": attribute.variable,
                "code": attribute.code,
                "datatype": attribute.datatype,
                "required": attribute.required,
                "datatype_description": attribute.datatype_description,
                "order": attribute.order,
                "description": pick(attribute.description, lang),
                "values": [{"key": v.key, "name": pick(v.name, lang)} for v in attribute.values],
            }
            for attribute in sorted(service.attributes, key=lambda a: a.order)
        ],
    }


def _agency(governance: Governance, department: str | None, lang: str) -> str | None:
    if department is None:
        return None
    names = governance.services.departments.get(department)
    return pick(names, lang) if names else department


def _notice(governance: Governance, report: Report, lang: str) -> str:
    """What the city will do: who handles the report and by when."""
    agency = _agency(governance, report.department, lang) or ""
    when = w3c(report.expected_at, governance.settings.time_zone(report.jurisdiction))
    day = when[:10] if when else ""
    if lang == "zh":
        return f"由{agency}处理，预计{day}前解决。" if day else f"由{agency}处理。"
    return (
        f"{agency} handles this report and aims to resolve it by {day}." if day else f"{agency} handles it."
    )


def _media_url(governance: Governance, report_id: int, photo_id: int | None) -> str | None:
    if photo_id is None:
        return None
    return f"{governance.settings.public_base_url.rstrip('/')}{PREFIX}/media/{report_id}/{photo_id}.jpg"


def _records(
    governance: Governance, session: Any, reports: Sequence[Report], lang: str, extensions: bool
) -> list[dict[str, Any]]:
    """The public view of ``reports``: no reporter data; first public photo; community, notes on request."""
    ids = [report.id for report in reports]
    photos: dict[int, int] = {}
    notes: dict[int, list[dict[str, Any]]] = {}
    if ids:
        photos = dict(
            session.execute(
                select(Photo.report_id, func.min(Photo.id))
                .where(Photo.report_id.in_(ids), Photo.hidden.is_(False))
                .group_by(Photo.report_id)
            ).all()
        )
    if ids and extensions:
        events = session.scalars(
            select(ReportEvent)
            .where(ReportEvent.report_id.in_(ids), ReportEvent.public.is_(True))
            .order_by(ReportEvent.report_id, ReportEvent.id)
        )
        for event in events:
            if event.state_to is not None and not governance.states[event.state_to].public:
                continue
            label = pick(governance.states[event.state_to].label, lang) if event.state_to else ""
            notes.setdefault(event.report_id, []).append(
                {"datetime": event.at, "description": event.text or label, "type": event.kind}
            )
    records = []
    for report in reports:
        zone = governance.settings.time_zone(report.jurisdiction)
        record: dict[str, Any] = {
            "service_request_id": str(report.id),
            "status": governance.states[report.state].open311,
            "status_notes": report.status_notes,
            "service_name": governance.services.name_of(report.service_code, lang),
            "service_code": report.service_code,
            "description": report.description or None,
            "agency_responsible": _agency(governance, report.department, lang),
            "service_notice": _notice(governance, report, lang),
            "requested_datetime": w3c(report.created_at, zone),
            "updated_datetime": w3c(report.updated_at, zone),
            "expected_datetime": w3c(report.expected_at, zone),
            "address": report.address,
            "address_id": report.address_id,
            "zipcode": None,
            "lat": report.lat,
            "long": report.lon,
            "media_url": _media_url(governance, report.id, photos.get(report.id)),
        }
        if extensions:
            record["community"] = report.community
            record["notes"] = [
                {**note, "datetime": w3c(note["datetime"], zone)} for note in notes.get(report.id, [])
            ]
        records.append(record)
    return records


def _public(governance: Governance, jurisdiction_id: str) -> Any:
    """The condition of a report anyone may see: of this city, confirmed and not hidden."""
    return (Report.jurisdiction == jurisdiction_id) & Report.state.in_(governance.states.public())


# ---------------------------------------------------------------------------------------------- GET


@router.get("/openapi.json", include_in_schema=False)
async def openapi_json() -> Response:
    """Our OpenAPI 3 document of this endpoint."""
    return Response(to_json(openapi_document()), media_type="application/json")


@router.get("/discovery.{fmt}", include_in_schema=False)
async def discovery(request: Request, fmt: str) -> Response:
    """Service Discovery: the endpoint, its formats, contact and where to get a key."""
    fmt = _fmt(fmt)
    governance = _governance(request)
    own = endpoint_settings()
    data = {
        "changeset": own.changeset,
        "contact": governance.settings.contact,
        "key_service": governance.settings.key_service,
        "endpoints": [
            {
                "specification": own.specification,
                "url": governance.settings.public_base_url.rstrip("/") + PREFIX,
                "changeset": own.changeset,
                "type": own.endpoint_type,
                "formats": list(FORMAT_TYPES.values()),
            }
        ],
    }
    return answer(fmt, "discovery", data)


@router.get("/services.{fmt}", include_in_schema=False)
async def services(request: Request, fmt: str) -> Response:
    """GET Service List."""
    fmt = _fmt(fmt)
    governance = _governance(request)
    _jurisdiction(governance, _param(request, "jurisdiction_id"))
    lang = _lang(_param(request, "lang"))
    return answer(fmt, "services", [_service_item(s, lang) for s in governance.services])


@router.get("/services/{code}.{fmt}", include_in_schema=False)
async def service_definition(request: Request, code: str, fmt: str) -> Response:
    """GET Service Definition."""
    fmt = _fmt(fmt)
    governance = _governance(request)
    _jurisdiction(governance, _param(request, "jurisdiction_id"))
    lang = _lang(_param(request, "lang"))
    service = governance.services.get(code)
    if service is None:
        raise _fail(404, f"service_code {code[:40]!r} is not a service here (see services.{fmt})")
    return answer(fmt, "service_definition", _definition(service, lang))


@router.get("/requests.{fmt}", include_in_schema=False)
def requests_list(request: Request, fmt: str) -> Response:
    """GET Service Requests: by ids (overriding all else), or by service, window and status."""
    fmt = _fmt(fmt)
    governance = _governance(request)
    jurisdiction = _jurisdiction(governance, _param(request, "jurisdiction_id"))
    lang = _lang(_param(request, "lang"))
    extensions = _flag("extensions", _param(request, "extensions"))
    rules = governance.settings.reports
    condition = _public(governance, jurisdiction.id)
    ids_text = _param(request, "service_request_id")
    if ids_text:
        ids = [part.strip() for part in ids_text.split(",") if part.strip()]
        wrong = [part for part in ids if not _REQUEST_ID.match(part)]
        if wrong:
            raise _fail(400, f"service_request_id: {wrong[0][:40]!r} is not a service request id")
        if len(ids) > rules.max_results:
            raise _fail(400, f"service_request_id: at most {rules.max_results} ids at once")
        condition = condition & Report.id.in_([int(part) for part in ids])
    else:
        codes_text = _param(request, "service_code")
        if codes_text:
            codes = [part.strip() for part in codes_text.split(",") if part.strip()]
            unknown = [code for code in codes if governance.services.get(code) is None]
            if unknown:
                raise _fail(
                    404, f"service_code {unknown[0][:40]!r} is not a service here (see services.{fmt})"
                )
            condition = condition & Report.service_code.in_(codes)
        start, end = date_window(
            _param(request, "start_date"), _param(request, "end_date"), rules.default_window_days, now_utc()
        )
        condition = condition & Report.created_at.between(start, end)
        status_text = _param(request, "status")
        if status_text:
            wanted = {part.strip() for part in status_text.split(",") if part.strip()}
            wrong_status = sorted(wanted - {"open", "closed"})
            if wrong_status:
                raise _fail(
                    400, f"status: {wrong_status[0][:20]!r} is not a status; use open, closed or both"
                )
            states = [state for status in sorted(wanted) for state in governance.states.with_status(status)]
            condition = condition & Report.state.in_(states)
    with governance.store.session() as session:
        reports = session.scalars(
            select(Report)
            .where(condition)
            .order_by(Report.created_at.desc(), Report.id.desc())
            .limit(rules.max_results)
        ).all()
        data = _records(governance, session, reports, lang, extensions)
    return answer(fmt, "service_requests", data)


@router.get("/requests/{request_id}.{fmt}", include_in_schema=False)
def request_one(request: Request, request_id: str, fmt: str) -> Response:
    """GET Service Request: a list of one."""
    fmt = _fmt(fmt)
    governance = _governance(request)
    jurisdiction = _jurisdiction(governance, _param(request, "jurisdiction_id"))
    lang = _lang(_param(request, "lang"))
    extensions = _flag("extensions", _param(request, "extensions"))
    missing = _fail(404, f"service_request_id {request_id[:40]!r} is not a public request here")
    if not _REQUEST_ID.match(request_id):
        raise missing
    with governance.store.session() as session:
        report = session.scalars(
            select(Report).where(_public(governance, jurisdiction.id) & (Report.id == int(request_id)))
        ).first()
        if report is None:
            raise missing
        data = _records(governance, session, [report], lang, extensions)
    return answer(fmt, "service_requests", data)


@router.get("/tokens/{token}.{fmt}", include_in_schema=False)
def token_lookup(request: Request, token: str, fmt: str) -> Response:
    """GET service_request_id from a token."""
    fmt = _fmt(fmt)
    governance = _governance(request)
    jurisdiction = _jurisdiction(governance, _param(request, "jurisdiction_id"))
    with governance.store.session() as session:
        report_id = session.scalars(
            select(Report.id).where(_public(governance, jurisdiction.id) & (Report.token == token[:64]))
        ).first()
    if report_id is None or len(token) > 64:
        raise _fail(404, "token: no public request has this token")
    return answer(fmt, "service_requests", [{"service_request_id": str(report_id), "token": token}])


@router.get("/media/{report_id}/{photo_id}.jpg", include_in_schema=False)
def media(request: Request, report_id: str, photo_id: str) -> Response:
    """A public report's photo (re-written JPEG without metadata)."""
    governance = _governance(request)
    missing = _fail(404, "media: no public photo here")
    if not (_REQUEST_ID.match(report_id) and _REQUEST_ID.match(photo_id)):
        raise missing
    with governance.store.session() as session:
        row = session.execute(
            select(Photo.data, Photo.content_type)
            .join(Report, Report.id == Photo.report_id)
            .where(
                Photo.id == int(photo_id),
                Photo.report_id == int(report_id),
                Photo.hidden.is_(False),
                Report.state.in_(governance.states.public()),
            )
        ).first()
    if row is None:
        raise missing
    return Response(
        bytes(row.data),
        media_type="image/jpeg",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=300"},
    )


# ---------------------------------------------------------------------------------------------- POST


@dataclass
class _Post:
    fields: dict[str, str]
    attributes: dict[str, str | list[str]]
    media: list[tuple[str, bytes]]


async def _read_body(request: Request, limit: int) -> bytes:
    """The request's body, refused with the spec's 400 past ``limit`` bytes (before it is all read)."""
    declared = request.headers.get("content-length", "")
    too_big = _fail(400, f"the post is larger than {limit:,} bytes; send smaller or fewer photos")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_post(request: Request, governance: Governance) -> _Post:
    """The fields, attribute answers and media files of a form-encoded or multipart post."""
    own = endpoint_settings()
    limit = governance.settings.photos.max_bytes * own.media_max_files + own.form_overhead_bytes
    body = await _read_body(request, limit)
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if body and content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise _fail(
            400, "send the post as application/x-www-form-urlencoded, or multipart/form-data with media files"
        )
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=own.media_max_files)
    except StarletteHTTPException as error:
        raise _fail(400, f"the form cannot be read: {error.detail}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise _fail(400, f"the form cannot be read: {error}") from None
    post = _Post({}, {}, [])
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if key not in _MEDIA_FIELDS:
                raise _fail(400, f"{key[:40]}: send text here, not a file (photos go in media)")
            data = await value.read()
            if data or value.filename:
                post.media.append((value.filename or "photo", data))
            continue
        text = value.strip()
        if key in _MEDIA_FIELDS:
            if text:
                raise _fail(400, "media: send photo files (multipart/form-data), not text")
            continue
        match = _ATTRIBUTE.match(key)
        if match:
            code, many = match.group(1), match.group(2)
            before = post.attributes.get(code)
            if many or before is not None:
                values = before if isinstance(before, list) else ([before] if before else [])
                post.attributes[code] = [*values, text] if text else values
            else:
                post.attributes[code] = text
            continue
        if key.startswith("attribute"):
            raise _fail(
                400, f"{key[:60]}: write attributes as attribute[CODE]=value or attribute[CODE][]=value"
            )
        if key in POST_FIELDS and text:
            if key in post.fields and post.fields[key] != text:
                raise _fail(400, f"{key}: give one value, not several")
            post.fields[key] = text
    await form.close()
    return post


def _rate_limited(
    governance: Governance, reason: str, *, ip_hash: str, key_id: int, account: str | None
) -> Open311Error:
    """The spec's 400 for a post over a rate limit, with body code 429 and ``Retry-After``."""
    budgets = governance.limits.report_budgets(ip_hash=ip_hash, account=account, api_key_id=key_id)
    budget = next(b for b in budgets if b.reason == reason)
    now = now_utc().timestamp()
    wait = max(1, int(budget.window_s - now % budget.window_s) + 1)
    what = {
        "per_api_key": "this API key's",
        "per_ip": "this address's",
        "per_account": "this email address's",
        "global": "the city's",
    }.get(reason, reason)
    text = (
        f"too many reports: {what} limit of {budget.limit} in {budget.window_s // 60} minutes is reached; "
        f"try again in {wait} seconds"
    )
    return Open311Error(400, [(429, text)], {"Retry-After": str(wait)})


@router.post("/requests.{fmt}", include_in_schema=False)
async def create_request(request: Request, fmt: str) -> Response:
    """POST Service Request: checked, published at once, answered with its id.

    The body is read here; checking and storing run in a worker thread, so one slow commit does not hold up
    the server's other requests.
    """
    fmt = _fmt(fmt)
    governance = _governance(request)
    post = await _read_post(request, governance)
    return await run_in_threadpool(_create_request, request, fmt, governance, post)


def _create_request(request: Request, fmt: str, governance: Governance, post: _Post) -> Response:
    """Check and store a posted request (see :func:`create_request`)."""
    api_key = post.fields.get("api_key") or _param(request, "api_key")
    if not api_key:
        raise _fail(403, f"api_key: required to post a request. {governance.settings.key_service}")
    with governance.store.session() as session:
        key = apikeys.check_api_key(session, api_key)
        key_id = key.id if key is not None else None
    if key_id is None:
        raise _fail(403, f"api_key: not valid (unknown or revoked). {governance.settings.key_service}")
    jurisdiction = _jurisdiction(
        governance, post.fields.get("jurisdiction_id") or _param(request, "jurisdiction_id")
    )
    lang = _lang(post.fields.get("lang") or _param(request, "lang"))
    ip_hash = governance.ip_hash(request.client.host if request.client else None) or "unknown"
    try:
        submission = read_submission(
            post.fields,
            post.attributes,
            jurisdiction=jurisdiction,
            catalogue=governance.services,
            rules=governance.settings.reports,
            channel="open311",
            ip_hash=ip_hash,
        )
    except SubmissionError as error:
        unknown = any(p.field == "service_code" and p.code == "unknown" for p in error.problems)
        status = 404 if unknown else 400
        raise Open311Error(
            status, [(status, p.message) for p in error.problems] or [(400, str(error))]
        ) from None
    photos: list[ProcessedPhoto] = []
    for filename, data in post.media:
        try:
            photos.append(process_photo(data, governance.settings.photos, filename))
        except InputError as error:
            raise _fail(400, f"media: {error.problem.rstrip('.')}. {error.hint}".strip()) from None
    with governance.store.session() as session:
        refused = governance.limits.allow_report(
            session, ip_hash=ip_hash, account=submission.email, api_key_id=key_id
        )
        if refused:
            raise _rate_limited(governance, refused, ip_hash=ip_hash, key_id=key_id, account=submission.email)
        report, _secret = submit(session, submission, photos=photos, needs_confirmation=False)
        notice = _notice(governance, report, lang)
        report_id = report.id
    governance.queued_mail()
    if post.fields.get("media_url"):
        notice += (
            " media_url is not fetched: send the photo itself as a media file."
            if lang == "en"
            else " 不会读取 media_url：请将照片作为 media 文件上传。"
        )
    return answer(
        fmt,
        "service_requests",
        [{"service_request_id": str(report_id), "service_notice": notice, "account_id": None}],
    )


# ---------------------------------------------------------------------------------------------- the rest

_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@router.api_route("", methods=_ALL_METHODS, include_in_schema=False)
@router.api_route("/{rest:path}", methods=_ALL_METHODS, include_in_schema=False)
async def not_here(request: Request, rest: str = "") -> Response:
    """Any other path or method under ``/open311/v2``: 404 or 405 in the spec's error form."""
    allowed: set[str] = set()
    for route in router.routes:
        if isinstance(route, APIRoute) and route.endpoint is not not_here:
            match, _ = route.matches(request.scope)
            if match in (Match.PARTIAL, Match.FULL):
                allowed |= route.methods or set()
    fmt = "json" if rest.endswith(".json") else "xml"
    if allowed:
        shown = ", ".join(sorted(allowed))
        error = Open311Error(
            405, [(405, f"{request.method} is not possible here; use {shown}")], {"Allow": shown}
        )
        return error_answer(fmt, error)
    return error_answer(
        fmt, _fail(404, f"{rest[:80]!r} is not a resource of this Open311 endpoint (see discovery.xml)")
    )
