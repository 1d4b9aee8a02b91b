"""The staff pages' authorisation matrix: every role × every staff endpoint × own and foreign report.

OWASP ASVS v5.0.0-8.2.1 (function level: a role without the permission gets 403), 8.2.2 (object level: a
report outside the role's department or community is 404, the same answer as for a report that does not
exist), 8.2.3 (field level: the reporter's contact only with report_view_contact), 8.3.1 (server-side), and
16.3.2 (every refusal is in the audit log). The expected grants below are the brief's, written out here, not
read from data/staff_roles.yml, so a change to the roles file that breaks them fails this test.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from exquisite.governance.models import AuditEntry, Report, ReportEdit, ReportEvent
from staff_support import communities_of, csrf_of, governance_of, make_staff, new_report, signed_in

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
