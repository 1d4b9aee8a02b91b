"""Helpers of the staff and community tests: accounts, signing in through the real form, reports on the map.

Reports are made the way every channel makes them (``reports.read_submission`` then ``reports.submit``), at a
point inside the community asked for, so the jurisdiction itself assigns the community.
"""

from __future__ import annotations

import io
import re
from typing import Any

import shapely

#: A password that passes the service's rules (long, not common, not the username).
PASSWORD = "quiet harbour lanterns at dusk"
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def governance_of(client: Any) -> Any:
    """The app's Governance object."""
    return client.app.state.governance


def make_staff(
    client: Any,
    username: str,
    role: str,
    *,
    department: str | None = None,
    community: str | None = None,
    jurisdiction: str | None = None,
    password: str = PASSWORD,
) -> int:
    """Create a staff account directly in the store; its id. A community moderator's city is the demo's
    unless another is given (a community is in one city)."""
    from app_support import DEMO_JURISDICTION
    from exquisite.governance.staff import create_staff

    if role == "community_moderator" and jurisdiction is None:
        jurisdiction = DEMO_JURISDICTION
    with governance_of(client).store.session() as session:
        user = create_staff(
            session,
            username,
            username.title(),
            password,
            role,
            department,
            community,
            jurisdiction=jurisdiction,
        )
        return int(user.id)


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = _CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(client: Any, username: str, password: str = PASSWORD, next_page: str = "/staff") -> Any:
    """Sign in through the form as a browser does (GET the form, POST it with its token); the response."""
    form = client.get("/staff/login")
    assert form.status_code == 200, form.text
    return client.post(
        "/staff/login",
        data={
            "username": username,
            "password": password,
            "next": next_page,
            "csrf_token": csrf_of(form.text),
        },
        follow_redirects=False,
    )


def signed_in(client: Any, username: str, password: str = PASSWORD) -> None:
    """Sign in, checking that it worked (the old session cookie is replaced)."""
    client.cookies.clear()
    response = sign_in(client, username, password)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/staff"


def post_form(client: Any, page: str, action: str, data: dict[str, Any]) -> Any:
    """POST a staff form with the CSRF token of the page it is on."""
    token = csrf_of(client.get(page).text)
    return client.post(action, data={**data, "csrf_token": token}, follow_redirects=False)


def point_in(client: Any, community: str | None) -> tuple[float, float]:
    """``(lon, lat)`` inside a community of the served city (inside the city when None)."""
    jurisdiction = governance_of(client).jurisdiction(None)
    if community is None:
        return jurisdiction.centre()
    polygon = dict(jurisdiction.community_areas)[community]
    point = shapely.point_on_surface(polygon)
    return float(point.x), float(point.y)


def new_report(
    client: Any,
    *,
    service_code: str = "001",
    community: str | None = None,
    email: str | None = "resident@example.org",
    phone: str | None = "+358 40 123 4567",
    description: str = "The lamp at the corner is out.",
    photo: bool = False,
    now: Any = None,
    confirmed: bool = True,
) -> int:
    """A report at a point in ``community``: published at once (trusted channel) or awaiting confirmation."""
    from exquisite.governance.photos import process_photo
    from exquisite.governance.reports import read_submission, submit

    gov = governance_of(client)
    lon, lat = point_in(client, community)
    fields = {
        "service_code": service_code,
        "lat": repr(lat),
        "long": repr(lon),
        "description": description,
        "email": email,
        "phone": phone,
        "first_name": "Rosa" if email else None,
    }
    service = gov.services.get(service_code)
    answers = {a.code: (a.values[0].key if a.values else "1") for a in service.questions if a.required}
    submission = read_submission(
        fields,
        answers,
        jurisdiction=gov.jurisdiction(None),
        catalogue=gov.services,
        rules=gov.settings.reports,
        channel="staff",
    )
    assert submission.community == community
    photos = [process_photo(_png(), gov.settings.photos, "lamp.png")] if photo else []
    with gov.store.session() as session:
        report, _secret = submit(
            session, submission, photos=photos, needs_confirmation=not confirmed, now=now
        )
        return int(report.id)


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def communities_of(client: Any) -> list[str]:
    """The served city's communities (at least two are needed by these tests)."""
    names = governance_of(client).jurisdiction(None).communities()
    assert len(names) >= 2, "the demo run must have communities"
    return names
