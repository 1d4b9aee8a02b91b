"""Residents' reports: submitted, confirmed, moved through their states, listed for the public.

One path for every channel — the web form, Open311 clients, staff — so a report is checked the same way
wherever it comes from::

    submission = read_submission(fields, answers, jurisdiction=j, catalogue=services, rules=settings.reports)
    with store.session() as session:
        report, secret = submit(session, submission, needs_confirmation=True)

Field names are GeoReport v2's (``service_code``, ``lat``, ``long``, ``address_string``, ``description`` …);
a bad submission raises :class:`SubmissionError` with one :class:`~exquisite.governance.services.Problem`
per field, and nothing is stored.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from exquisite.governance.models import Photo, Report, Reporter, ReportEvent
from exquisite.governance.services import Problem, ServiceCatalogue, check_attributes
from exquisite.governance.settings import ReportRules
from exquisite.governance.states import StateModel, load_states

#: Markup is refused in free text (GeoReport v2: description is plain text, "no HTML").
_MARKUP = re.compile(r"<\s*[a-zA-Z!/?]|&#?\w+;")
#: Control characters other than tab and line breaks.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: Longest values of the short text fields (address, names, ids, phone).
SHORT_MAX_CHARS = {
    "address_string": 500,
    "address_id": 100,
    "email": 320,
    "first_name": 100,
    "last_name": 100,
    "phone": 50,
    "device_id": 200,
    "account_id": 200,
}
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
#: Metres per degree of latitude (WGS84 mean), for the duplicate search's box.
_M_PER_DEG = 111_320.0


class Jurisdiction(Protocol):
    """Where reports may be made: a city's area and its communities."""

    id: str

    def contains(self, lon: float, lat: float) -> bool:
        """Whether the point lies in the city."""

    def community_of(self, lon: float, lat: float) -> str | None:
        """The community (district) of the point, or None."""


class SubmissionError(Exception):
    """A report that cannot be accepted; ``problems`` names each field at fault."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))


@dataclass(frozen=True)
class Submission:
    """A checked report, ready to store."""

    jurisdiction: str
    service_code: str
    department: str
    days_to_resolve: int
    channel: str
    description: str = ""
    lat: float | None = None
    lon: float | None = None
    community: str | None = None
    address: str | None = None
    address_id: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    device_id: str | None = None
    account_id: str | None = None
    public_name: str | None = None
    wants_updates: bool = True
    ip_hash: str | None = None


def plain_text_problem(name: str, value: str, limit: int) -> Problem | None:
    """The problem with a free-text field: too long, markup, or control characters (None when fine)."""
    if len(value) > limit:
        return Problem(name, "too_long", f"{name}: {len(value)} characters; at most {limit}")
    if _MARKUP.search(value):
        return Problem(name, "markup", f"{name}: write plain text, without HTML tags or entities")
    if _CONTROL.search(value):
        return Problem(name, "control_characters", f"{name}: contains control characters; write plain text")
    return None


def read_submission(
    fields: Mapping[str, str | None],
    attributes: Mapping[str, str | list[str]],
    *,
    jurisdiction: Jurisdiction,
    catalogue: ServiceCatalogue,
    rules: ReportRules,
    channel: str,
    ip_hash: str | None = None,
    require_email: bool = False,
) -> Submission:
    """Check a report as sent and return it ready to store.

    Parameters
    ----------
    fields
        GeoReport v2 fields (``service_code``, ``lat``, ``long``, ``address_string``, ``address_id``,
        ``description``, ``email``, ``first_name``, ``last_name``, ``phone``, ``device_id``, ``account_id``)
        and ``public_name`` (shown publicly; empty = anonymous) and ``wants_updates`` (``"false"`` to refuse
        emails). Empty values count as absent, as the spec says.
    attributes
        Answers to the service's questions, ``{code: value or [values]}``.
    jurisdiction
        The city reported to: the location must lie inside it.
    catalogue, rules
        The services, and the limits of ``settings.reports``.
    channel
        ``web``, ``open311`` or ``staff``.
    ip_hash
        Keyed hash of the sender's IP address (kept with the reporter's data).
    require_email
        Whether an email address is required (the web form's confirmation link goes there).

    Raises
    ------
    SubmissionError
        With every problem found.
    """
    value = {k: (str(v).strip() if v is not None else "") for k, v in fields.items()}
    problems: list[Problem] = []
    code = value.get("service_code", "")
    service = catalogue.get(code) if code else None
    if not code:
        problems.append(Problem("service_code", "missing", "service_code: required (see services.json)"))
    elif service is None:
        problems.append(
            Problem("service_code", "unknown", f"service_code: {code[:40]!r} is not a service here")
        )

    lat, lon, community, location_problems = _location(value, jurisdiction)
    problems.extend(location_problems)

    description = value.get("description", "")
    if problem := plain_text_problem("description", description, rules.description_max_chars):
        problems.append(problem)
    for name, limit in SHORT_MAX_CHARS.items():
        text = value.get(name, "")
        if text and (problem := plain_text_problem(name, text, limit)):
            problems.append(problem)
        elif "\n" in text:
            problems.append(Problem(name, "one_line", f"{name}: one line only"))
    public_name = value.get("public_name", "")
    if public_name and (problem := plain_text_problem("public_name", public_name, 100)):
        problems.append(problem)
    email = value.get("email", "")
    if email and not _EMAIL.match(email):
        problems.append(Problem("email", "not_an_email", f"email: {email[:60]!r} is not an email address"))
    elif not email and require_email:
        problems.append(
            Problem("email", "missing", "email: required, to send you the link that publishes the report")
        )

    stored: dict[str, Any] = {}
    if service is not None:
        stored, attribute_problems = check_attributes(service, attributes)
        problems.extend(attribute_problems)
    if problems or service is None:
        raise SubmissionError(problems)
    return Submission(
        jurisdiction=jurisdiction.id,
        service_code=service.code,
        department=service.department,
        days_to_resolve=service.days_to_resolve,
        channel=channel,
        description=description,
        lat=lat,
        lon=lon,
        community=community,
        address=value.get("address_string") or None,
        address_id=value.get("address_id") or None,
        attributes=stored,
        email=email or None,
        first_name=value.get("first_name") or None,
        last_name=value.get("last_name") or None,
        phone=value.get("phone") or None,
        device_id=value.get("device_id") or None,
        account_id=value.get("account_id") or None,
        public_name=public_name or None,
        wants_updates=value.get("wants_updates", "true").lower() not in ("false", "0", "no", "off"),
        ip_hash=ip_hash,
    )


def _location(
    value: Mapping[str, str], jurisdiction: Jurisdiction
) -> tuple[float | None, float | None, str | None, list[Problem]]:
    """Latitude, longitude and community of a submission, or the problems with its location."""
    lat_text, lon_text = value.get("lat", ""), value.get("long", "")
    if not (lat_text or lon_text):
        if value.get("address_string") or value.get("address_id"):
            return None, None, None, []
        text = "location: give lat and long, an address_string or an address_id"
        return None, None, None, [Problem("lat", "no_location", text)]
    if not (lat_text and lon_text):
        missing = "long" if lat_text else "lat"
        return None, None, None, [Problem(missing, "missing", f"{missing}: give both lat and long")]
    lat, lon = _number(lat_text), _number(lon_text)
    problems = []
    if lat is None or not -90 <= lat <= 90:
        problems.append(Problem("lat", "not_a_latitude", f"lat: {lat_text[:40]!r} is not a latitude"))
    if lon is None or not -180 <= lon <= 180:
        problems.append(Problem("long", "not_a_longitude", f"long: {lon_text[:40]!r} is not a longitude"))
    if problems or lat is None or lon is None:
        return None, None, None, problems
    if not jurisdiction.contains(lon, lat):
        text = f"lat/long: ({lat:.5f}, {lon:.5f}) lies outside the city; check the point"
        return None, None, None, [Problem("lat", "outside", text)]
    return lat, lon, jurisdiction.community_of(lon, lat), []


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def now_utc() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


def secret_hash(secret: str) -> str:
    """SHA-256 (hex) of a link's secret: only the hash is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def submit(
    session: Session,
    submission: Submission,
    *,
    photos: Sequence[Any] = (),
    needs_confirmation: bool,
    now: datetime | None = None,
) -> tuple[Report, str | None]:
    """Store a checked report (with its reporter's data and photos) in ``session``'s transaction.

    Parameters
    ----------
    session
        An open session; the report is stored when its transaction commits.
    submission
        From :func:`read_submission`.
    photos
        Re-encoded photos (:class:`~exquisite.governance.photos.ProcessedPhoto`).
    needs_confirmation
        True: the report waits, unpublished, until the link sent to the reporter is followed; False: it is
        published at once (a trusted Open311 client, staff).
    now
        The time of the report (default: now).

    Returns
    -------
    tuple
        The report (its ``id`` assigned) and the confirmation link's secret (None when none is needed).
    """
    now = now or now_utc()
    secret = secrets.token_urlsafe(32) if needs_confirmation else None
    report = Report(
        token=secrets.token_urlsafe(24),
        jurisdiction=submission.jurisdiction,
        service_code=submission.service_code,
        description=submission.description,
        lat=submission.lat,
        lon=submission.lon,
        address=submission.address,
        address_id=submission.address_id,
        community=submission.community,
        state="unconfirmed" if needs_confirmation else "open",
        department=submission.department,
        attributes=dict(submission.attributes),
        public_name=submission.public_name,
        channel=submission.channel,
        confirmation_hash=secret_hash(secret) if secret else None,
        created_at=now,
        confirmed_at=None if needs_confirmation else now,
        updated_at=now,
        expected_at=now + timedelta(days=submission.days_to_resolve),
    )
    session.add(report)
    personal = [submission.email, submission.first_name, submission.last_name, submission.phone]
    if any(personal) or submission.device_id or submission.account_id or submission.ip_hash:
        report.reporter = Reporter(
            name=" ".join(p for p in (submission.first_name, submission.last_name) if p) or None,
            email=submission.email,
            phone=submission.phone,
            device_id=submission.device_id,
            account_id=submission.account_id,
            ip_hash=submission.ip_hash,
            wants_updates=submission.wants_updates,
        )
    for photo in photos:
        report.photos.append(
            Photo(
                content_type=photo.content_type,
                width=photo.width,
                height=photo.height,
                data=photo.data,
                created_at=now,
            )
        )
    report.events.append(ReportEvent(at=now, kind="created", state_to=report.state, public=True))
    session.flush()
    return report, secret


def confirm(
    session: Session, secret: str, *, max_age: timedelta, now: datetime | None = None
) -> Report | None:
    """Publish the report whose confirmation link holds ``secret`` (None when no such link, or it expired).

    Following the link twice is harmless: the second time there is no pending link and None is returned.
    """
    now = now or now_utc()
    report = session.scalars(select(Report).where(Report.confirmation_hash == secret_hash(secret))).first()
    if report is None or report.state != "unconfirmed" or report.created_at + max_age < now:
        return None
    report.state = "open"
    report.confirmed_at = now
    report.updated_at = now
    report.confirmation_hash = None
    report.events.append(ReportEvent(at=now, kind="confirmed", state_from="unconfirmed", state_to="open"))
    return report


def move(
    session: Session,
    report: Report,
    target: str,
    *,
    staff_id: int | None,
    note: str | None = None,
    public: bool = True,
    duplicate_of: int | None = None,
    states: StateModel | None = None,
    now: datetime | None = None,
) -> ReportEvent:
    """Move ``report`` to state ``target`` (with a note), recording the step in its history.

    Raises
    ------
    ValueError
        When the state model does not allow the move, or a duplicate names no other report.
    """
    states = states or load_states()
    now = now or now_utc()
    if not states.allowed(report.state, target):
        raise ValueError(f"a report that is {report.state} cannot become {target}")
    if target == "duplicate":
        original = session.get(Report, duplicate_of) if duplicate_of else None
        if original is None or original.id == report.id:
            raise ValueError("a duplicate must name the other report it repeats")
        report.duplicate_of = original.id
    event = ReportEvent(
        at=now,
        kind="state",
        state_from=report.state,
        state_to=target,
        text=note or None,
        public=public,
        staff_id=staff_id,
    )
    report.events.append(event)
    report.state = target
    report.updated_at = now
    report.closed_at = now if states[target].closed else None
    if note and public:
        report.status_notes = note
    if report.confirmed_at is None and target != "hidden":
        report.confirmed_at = now
        report.confirmation_hash = None
    return event


def is_overdue(report: Report, *, states: StateModel | None = None, now: datetime | None = None) -> bool:
    """Whether a report is still open after the time its service should take (``expected_at``)."""
    states = states or load_states()
    if states[report.state].closed or report.expected_at is None:
        return False
    return report.expected_at < (now or now_utc())


def time_to_resolve(report: Report) -> timedelta | None:
    """From publication to closing (None while open)."""
    if report.closed_at is None:
        return None
    start = report.confirmed_at or report.created_at
    return report.closed_at - start


def nearby_open(
    session: Session, *, jurisdiction: str, service_code: str, lat: float, lon: float, radius_m: float
) -> list[tuple[Report, float]]:
    """Published, open reports of the same service within ``radius_m`` of a point, nearest first.

    These are offered to a resident as possible duplicates before a new report is made.
    """
    states = load_states()
    dlat = radius_m / _M_PER_DEG
    dlon = radius_m / (_M_PER_DEG * max(math.cos(math.radians(lat)), 1e-6))
    rows = session.scalars(
        select(Report).where(
            Report.jurisdiction == jurisdiction,
            Report.service_code == service_code,
            Report.state.in_(states.with_status("open")),
            Report.lat.between(lat - dlat, lat + dlat),
            Report.lon.between(lon - dlon, lon + dlon),
        )
    ).all()
    found = [
        (r, metres_between(lat, lon, r.lat, r.lon)) for r in rows if r.lat is not None and r.lon is not None
    ]
    return sorted([(r, d) for r, d in found if d <= radius_m], key=lambda pair: pair[1])


def metres_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine, mean Earth radius 6,371,008.8 m)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))
