"""The staff pages' authorisation matrix: every role × every staff endpoint × own and foreign report.

OWASP ASVS v5.0.0-8.2.1 (function level: a role without the permission gets 403), 8.2.2 (object level: a
report outside the role's department or community is 404, the same answer as for a report that does not
exist), 8.2.3 (field level: the reporter's contact only with report_view_contact), 8.3.1 (server-side), and
16.3.2 (every refusal is in the audit log). A role's scope lies within the member's city: with two cities
served (the demo run copied into a second region folder, so both have the same communities), a community
moderator of one city does not see the same-named community's reports in the other. The expected grants
below are the brief's, written out here, not read from data/staff_roles.yml, so a change to the roles file
that breaks them fails this test.
"""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

import pytest
import shapely
from sqlalchemy import func, select

from app_support import DEMO_JURISDICTION
from exquisite.governance.models import AuditEntry, Report, ReportEdit, ReportEvent, StaffUser
from staff_support import (
    communities_of,
    csrf_of,
    governance_of,
    make_staff,
    new_report,
    post_form,
    signed_in,
)

#: The second city's id: a region folder holding a copy of the demo run.
SECOND_CITY = "twin-city"


#: What each role may do (the brief: admin everything; department staff triage, assign, move, notes, contact;
#: community moderators moderate, hide, mark duplicates, no contact).
GRANTS = {
    "admin": {
        "view",
        "photo",
        "state",
        "note",
        "duplicate",
        "assign",
        "department",
        "moderate",
        "visibility",
        "audit",
        "users",
        "users_create",
        "users_change",
    },
    "department_staff": {"view", "photo", "state", "note", "duplicate", "assign"},
    "community_moderator": {"view", "photo", "duplicate", "moderate", "visibility"},
}


def _endpoints(ids: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """(name, method, path, form) of every report endpoint, for the report ``ids['report']``."""
    report, photo = ids["report"], ids["photo"]
    return [
        ("view", "GET", f"/staff/reports/{report}", None),
        ("photo", "GET", f"/staff/reports/{report}/photos/{photo}", None),
        (
            "state",
            "POST",
            f"/staff/reports/{report}/state",
            {"state": "in_progress", "note": "On it.", "public": "1"},
        ),
        ("note", "POST", f"/staff/reports/{report}/note", {"note": "Checked on site."}),
        ("duplicate", "POST", f"/staff/reports/{report}/duplicate", {"duplicate_of": str(ids["original"])}),
        ("assign", "POST", f"/staff/reports/{report}/assign", {"staff_id": str(ids["worker"])}),
        ("department", "POST", f"/staff/reports/{report}/department", {"department": "parks"}),
        (
            "moderate",
            "POST",
            f"/staff/reports/{report}/moderate",
            {"description": "Lamp out.", "reason": "tidy"},
        ),
        ("visibility", "POST", f"/staff/reports/{report}/visibility", {"action": "hide", "reason": "abuse"}),
    ]


def _snapshot(client: Any, report_id: int) -> tuple[Any, ...]:
    with governance_of(client).store.session() as session:
        report = session.get(Report, report_id)
        events = session.scalar(select(func.count()).where(ReportEvent.report_id == report_id))
        edits = session.scalar(select(func.count()).where(ReportEdit.report_id == report_id))
        return (report.state, report.description, report.department, report.assigned_to, events, edits)


def _denied(client: Any) -> int:
    with governance_of(client).store.session() as session:
        return int(session.scalar(select(func.count()).where(AuditEntry.outcome == "denied")) or 0)


@pytest.mark.parametrize("role", sorted(GRANTS))
def test_every_role_every_endpoint_own_and_foreign_report(governance_client: Any, role: str) -> None:
    client = governance_client
    home, away = communities_of(client)[:2]
    workers = {
        "own": make_staff(client, "lamp.worker", "department_staff", department="lighting"),
        "foreign": make_staff(client, "road.worker", "department_staff", department="roads"),
    }
    make_staff(
        client,
        "tester",
        role,
        department="lighting" if role == "department_staff" else None,
        community=home if role == "community_moderator" else None,
    )
    signed_in(client, "tester")
    token = csrf_of(client.get("/staff").text)
    problems: list[str] = []
    for which in ("own", "foreign"):
        for name in [n for n, *_ in _endpoints({"report": 0, "photo": 0, "original": 0, "worker": 0})]:
            # A fresh report for each request, so that one case's change cannot decide another's answer.
            if which == "own":
                report = new_report(client, service_code="001", community=home, photo=True)
            else:
                report = new_report(client, service_code="002", community=away, photo=True)
            original = new_report(client, service_code="001", community=home)
            with governance_of(client).store.session() as session:
                photo = session.get(Report, report).photos[0].id
            ids = {"report": report, "photo": photo, "original": original, "worker": workers[which]}
            _, method, path, form = next(e for e in _endpoints(ids) if e[0] == name)
            before, denied_before = _snapshot(client, report), _denied(client)
            if method == "GET":
                response = client.get(path)
            else:
                response = client.post(
                    path, data={**(form or {}), "csrf_token": token}, follow_redirects=False
                )
            allowed = name in GRANTS[role]
            in_scope = role == "admin" or which == "own"
            expected = (
                (200 if method == "GET" else 303) if allowed and in_scope else (403 if not allowed else 404)
            )
            if response.status_code != expected:
                problems.append(f"{role} {name} {which}: {response.status_code}, expected {expected}")
                continue
            if expected in (403, 404):
                if _snapshot(client, report) != before:
                    problems.append(f"{role} {name} {which}: refused but the report changed")
                if _denied(client) != denied_before + 1:
                    problems.append(f"{role} {name} {which}: refusal not audited")
            elif method == "POST" and _snapshot(client, report) == before:
                problems.append(f"{role} {name} {which}: allowed but nothing changed")
    assert not problems, "\n".join(problems)


def test_foreign_report_is_indistinguishable_from_a_missing_one(governance_client: Any) -> None:
    client = governance_client
    home, away = communities_of(client)[:2]
    make_staff(client, "mod", "community_moderator", community=home)
    foreign = new_report(client, service_code="002", community=away)
    signed_in(client, "mod")
    hidden = client.get(f"/staff/reports/{foreign}")
    missing = client.get(f"/staff/reports/{foreign + 1000}")
    assert hidden.status_code == missing.status_code == 404
    same = hidden.text.replace(f"/staff/reports/{foreign}", "/staff/reports/N")
    assert same == missing.text.replace(f"/staff/reports/{foreign + 1000}", "/staff/reports/N")
    for path in ("/staff/reports/abc", "/staff/reports/99999999999", "/staff/reports/-1"):
        assert client.get(path).status_code == 404, path
    # The queue lists reports of the moderator's community only.
    own = new_report(client, service_code="002", community=home)
    queue = client.get("/staff", params={"state": "all"}).text
    assert f'id="report-{own}"' in queue
    assert f'id="report-{foreign}"' not in queue


@pytest.mark.parametrize(
    ("role", "sees_contact"), [("admin", True), ("department_staff", True), ("community_moderator", False)]
)
def test_reporter_contact_only_with_report_view_contact(
    governance_client: Any, role: str, sees_contact: bool
) -> None:
    client = governance_client
    home = communities_of(client)[0]
    make_staff(
        client,
        "reader",
        role,
        department="lighting" if role == "department_staff" else None,
        community=home if role == "community_moderator" else None,
    )
    report = new_report(
        client, service_code="001", community=home, email="rosa@example.org", phone="+358 40 765"
    )
    signed_in(client, "reader")
    page = client.get(f"/staff/reports/{report}")
    assert page.status_code == 200
    for value in ("rosa@example.org", "+358 40 765", "Rosa"):
        assert (value in page.text) is sees_contact, (role, value)
    assert ('id="contact"' in page.text) is sees_contact


@pytest.mark.parametrize("role", sorted(GRANTS))
def test_admin_pages_by_role(governance_client: Any, role: str) -> None:
    client = governance_client
    home = communities_of(client)[0]
    target = make_staff(client, "someone", "department_staff", department="roads")
    make_staff(
        client,
        "tester",
        role,
        department="lighting" if role == "department_staff" else None,
        community=home if role == "community_moderator" else None,
    )
    signed_in(client, "tester")
    token = csrf_of(client.get("/staff").text)
    cases = [
        ("audit", client.get("/staff/audit"), 200),
        ("users", client.get("/staff/users"), 200),
        (
            "users_create",
            client.post(
                "/staff/users",
                data={
                    "csrf_token": token,
                    "username": "newbie",
                    "display_name": "New",
                    "password": "a very long passphrase here",
                    "role": "admin",
                },
                follow_redirects=False,
            ),
            303,
        ),
        (
            "users_change",
            client.post(
                f"/staff/users/{target}",
                data={"csrf_token": token, "role": "admin", "active": "1"},
                follow_redirects=False,
            ),
            303,
        ),
    ]
    for name, response, success in cases:
        expected = success if name in GRANTS[role] else 403
        assert response.status_code == expected, (role, name, response.status_code)
    with governance_of(client).store.session() as session:
        from exquisite.governance.models import StaffUser

        created = session.scalars(select(StaffUser).where(StaffUser.username == "newbie")).first()
        changed = session.get(StaffUser, target)
        assert (created is not None) is ("users_create" in GRANTS[role])
        assert (changed.role == "admin") is ("users_change" in GRANTS[role])


def test_signed_out_visitor_gets_the_sign_in_page_everywhere(governance_client: Any) -> None:
    client = governance_client
    home = communities_of(client)[0]
    report = new_report(client, service_code="001", community=home, photo=True)
    with governance_of(client).store.session() as session:
        photo = session.get(Report, report).photos[0].id
    before = _snapshot(client, report)
    ids = {"report": report, "photo": photo, "original": report, "worker": 1}
    paths = [(m, p, f) for _n, m, p, f in _endpoints(ids)] + [
        ("GET", "/staff", None),
        ("GET", "/staff/audit", None),
        ("GET", "/staff/users", None),
        ("POST", "/staff/users", {"username": "x"}),
        ("POST", "/staff/users/1", {"role": "admin"}),
        ("POST", "/staff/logout", {}),
    ]
    for method, path, form in paths:
        response = client.request(method, path, data=form, follow_redirects=False)
        assert response.status_code == 303, (method, path, response.status_code)
        assert response.headers["location"].startswith("/staff/login?next="), path
    assert _snapshot(client, report) == before


# ------------------------------------------------------------------------------------------ two cities
@pytest.fixture
def two_cities(demo_runs_root: Path, governance_settings: Any, tmp_path: Path) -> Iterator[Any]:
    """The app serving two cities: the demo run's region folder and a copy of it under another name."""
    from fastapi.testclient import TestClient

    from exquisite.web.app import create_app

    root = tmp_path / "runs"
    for region in (DEMO_JURISDICTION, SECOND_CITY):
        shutil.copytree(demo_runs_root / DEMO_JURISDICTION, root / region)
    with TestClient(create_app(root, governance=governance_settings)) as client:
        assert set(governance_of(client).jurisdictions()) == {DEMO_JURISDICTION, SECOND_CITY}
        yield client


def _report_in(client: Any, city: str, community: str, service_code: str = "001") -> int:
    """A published report with a photo at a point of ``community`` in ``city`` (as the core makes them)."""
    from PIL import Image

    from exquisite.governance.photos import process_photo
    from exquisite.governance.reports import read_submission, submit

    gov = governance_of(client)
    jurisdiction = gov.jurisdiction(city)
    point = shapely.point_on_surface(dict(jurisdiction.community_areas)[community])
    service = gov.services.get(service_code)
    answers = {a.code: (a.values[0].key if a.values else "1") for a in service.questions if a.required}
    submission = read_submission(
        {
            "service_code": service_code,
            "lat": repr(point.y),
            "long": repr(point.x),
            "description": f"Broken in {community}, {city}.",
            "email": "resident@example.org",
        },
        answers,
        jurisdiction=jurisdiction,
        catalogue=gov.services,
        rules=gov.settings.reports,
        channel="staff",
    )
    assert (submission.jurisdiction, submission.community) == (city, community)
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (90, 90, 200)).save(buffer, "PNG")
    photo = process_photo(buffer.getvalue(), gov.settings.photos, "p.png")
    with gov.store.session() as session:
        report, _secret = submit(session, submission, photos=[photo], needs_confirmation=False)
        return int(report.id)


def _photo_of(client: Any, report_id: int) -> int:
    with governance_of(client).store.session() as session:
        return int(session.get(Report, report_id).photos[0].id)


def test_a_community_moderator_does_not_see_the_same_community_in_another_city(two_cities: Any) -> None:
    client = two_cities
    home = communities_of_city(client, DEMO_JURISDICTION)[0]
    make_staff(client, "mod.a", "community_moderator", community=home, jurisdiction=DEMO_JURISDICTION)
    make_staff(client, "mod.b", "community_moderator", community=home, jurisdiction=SECOND_CITY)
    in_a = _report_in(client, DEMO_JURISDICTION, home)
    in_b = _report_in(client, SECOND_CITY, home)
    for moderator, own, foreign in (("mod.a", in_a, in_b), ("mod.b", in_b, in_a)):
        signed_in(client, moderator)
        assert client.get(f"/staff/reports/{own}").status_code == 200
        assert client.get(f"/staff/reports/{own}/photos/{_photo_of(client, own)}").status_code == 200
        denied_before = _denied(client)
        hidden = client.get(f"/staff/reports/{foreign}")
        missing = client.get(f"/staff/reports/{foreign + 1000}")
        assert hidden.status_code == missing.status_code == 404
        assert hidden.text.replace(f"/staff/reports/{foreign}", "/staff/reports/N") == missing.text.replace(
            f"/staff/reports/{foreign + 1000}", "/staff/reports/N"
        )
        assert client.get(f"/staff/reports/{foreign}/photos/{_photo_of(client, foreign)}").status_code == 404
        before = _snapshot(client, foreign)
        token = csrf_of(client.get("/staff").text)
        for action, form in (
            ("moderate", {"description": "Tidied.", "reason": "tidy"}),
            ("visibility", {"action": "hide", "reason": "abuse"}),
            ("duplicate", {"duplicate_of": str(own)}),
        ):
            refused = client.post(
                f"/staff/reports/{foreign}/{action}",
                data={**form, "csrf_token": token},
                follow_redirects=False,
            )
            assert refused.status_code == 404, (moderator, action)
        assert _snapshot(client, foreign) == before
        # refused attempts are audited: two reads and three forms
        assert _denied(client) == denied_before + 5
        # the queue and its community filter hold the moderator's city's reports only
        queue = client.get("/staff", params={"state": "all"}).text
        assert f'id="report-{own}"' in queue
        assert f'id="report-{foreign}"' not in queue
        # an own report cannot be closed as a duplicate of the other city's report either
        page = f"/staff/reports/{own}"
        cross = post_form(client, page, f"{page}/duplicate", {"duplicate_of": str(foreign)})
        assert cross.status_code == 400
        assert "duplicate_of" in cross.text
        assert _snapshot(client, own)[0] == "open"


def test_department_staff_of_one_city_and_of_every_city(two_cities: Any) -> None:
    client = two_cities
    home = communities_of_city(client, DEMO_JURISDICTION)[0]
    in_a = _report_in(client, DEMO_JURISDICTION, home, "001")
    in_b = _report_in(client, SECOND_CITY, home, "001")
    local = make_staff(client, "lamps.b", "department_staff", department="lighting", jurisdiction=SECOND_CITY)
    everywhere = make_staff(client, "lamps.all", "department_staff", department="lighting")
    make_staff(client, "boss", "admin")
    for username, sees in (("lamps.b", {in_b}), ("lamps.all", {in_a, in_b}), ("boss", {in_a, in_b})):
        signed_in(client, username)
        for report in (in_a, in_b):
            expected = 200 if report in sees else 404
            assert client.get(f"/staff/reports/{report}").status_code == expected, (username, report)
        queue = client.get("/staff", params={"state": "all"}).text
        assert {r for r in (in_a, in_b) if f'id="report-{r}"' in queue} == sees, username
        # two cities served: the queue names each report's city, and sorts by it
        assert 'id="sort-city"' in queue
        cities = governance_of(client).jurisdictions()
        for city, report in ((DEMO_JURISDICTION, in_a), (SECOND_CITY, in_b)):
            if report in sees:
                row = queue.split(f'id="report-{report}"', 1)[1].split("</tr>", 1)[0]
                assert f"<td>{escape(cities[city].name)}</td>" in row, (username, city)
    # A report of the first city is assigned only to lighting staff who cover that city.
    signed_in(client, "lamps.all")
    page = f"/staff/reports/{in_a}"
    offered = set(re.findall(r'<option value="(\d+)"', client.get(page).text))
    assert str(everywhere) in offered
    assert str(local) not in offered
    refused = post_form(client, page, f"{page}/assign", {"staff_id": str(local)})
    assert refused.status_code == 400
    assert "in its city" in refused.text
    assert _snapshot(client, in_a)[3] is None
    assert post_form(client, page, f"{page}/assign", {"staff_id": str(everywhere)}).status_code == 303
    page_b = f"/staff/reports/{in_b}"
    assert post_form(client, page_b, f"{page_b}/assign", {"staff_id": str(local)}).status_code == 303
    assert (_snapshot(client, in_a)[3], _snapshot(client, in_b)[3]) == (everywhere, local)


def test_the_users_form_takes_a_served_city_and_its_community(two_cities: Any) -> None:
    client = two_cities
    home = communities_of_city(client, DEMO_JURISDICTION)[0]
    make_staff(client, "boss", "admin")
    signed_in(client, "boss")
    form = client.get("/staff/users").text
    for city in ("", DEMO_JURISDICTION, SECOND_CITY):
        assert f'<option value="{city}">' in form, city
    new = {
        "username": "ville",
        "display_name": "Ville",
        "password": "cedar boats in the fog",
        "role": "community_moderator",
        "community": home,
    }
    for jurisdiction, field, words in (
        ("", "City", "is required for this role"),
        ("atlantis", "City", "'atlantis' is not a city served here"),
    ):
        refused = post_form(client, "/staff/users", "/staff/users", {**new, "jurisdiction": jurisdiction})
        assert refused.status_code == 400
        assert f"{field}: {words}" in refused.text.replace("&#39;", "'")
    wrong_community = post_form(
        client,
        "/staff/users",
        "/staff/users",
        {**new, "community": "Atlantis", "jurisdiction": DEMO_JURISDICTION},
    )
    assert wrong_community.status_code == 400
    assert f"Community: 'Atlantis' is not a community of {DEMO_JURISDICTION}" in (
        wrong_community.text.replace("&#39;", "'")
    )
    made = post_form(client, "/staff/users", "/staff/users", {**new, "jurisdiction": DEMO_JURISDICTION})
    assert made.status_code == 303
    worker = post_form(
        client,
        "/staff/users",
        "/staff/users",
        {
            "username": "eeva",
            "password": "quiet lanterns on the bay",
            "role": "department_staff",
            "department": "parks",
            "jurisdiction": "",
        },
    )
    assert worker.status_code == 303
    with governance_of(client).store.session() as session:
        rows = {
            u.username: (u.community, u.jurisdiction)
            for u in session.scalars(select(StaffUser).where(StaffUser.username != "boss"))
        }
        ville = session.scalars(select(StaffUser).where(StaffUser.username == "ville")).one().id
    assert rows == {"ville": (home, DEMO_JURISDICTION), "eeva": (None, None)}
    moved = post_form(
        client,
        "/staff/users",
        f"/staff/users/{ville}",
        {"role": "community_moderator", "community": home, "jurisdiction": SECOND_CITY, "active": "1"},
    )
    assert moved.status_code == 303
    with governance_of(client).store.session() as session:
        assert session.get(StaffUser, ville).jurisdiction == SECOND_CITY
        [change] = session.scalars(select(AuditEntry).where(AuditEntry.action == "user_change")).all()
        assert change.detail == {"jurisdiction": [DEMO_JURISDICTION, SECOND_CITY]}
    assert f'<option value="{SECOND_CITY}" selected>' in client.get("/staff/users").text


def communities_of_city(client: Any, city: str) -> list[str]:
    """The communities of one of the served cities (the tests need at least one)."""
    names = governance_of(client).jurisdiction(city).communities()
    assert names, "the demo run must have communities"
    return names
