"""Staff accounts, sign-in, sessions, CSRF, triage from open to fixed, moderation, accounts, the audit log.

On SQLite and PostgreSQL (``governance_client``, ``store``), through the real app and forms; email goes to the
real SMTP sink on loopback.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import escape
from typing import Any

import pytest
from sqlalchemy import select

from app_support import DEMO_JURISDICTION
from exquisite.governance.models import AuditEntry, Report, ReportEdit, StaffSession, StaffUser
from exquisite.governance.reports import is_overdue, now_utc, time_to_resolve
from exquisite.governance.security import token_hash, verify_password
from exquisite.governance.staff import (
    SESSION_COOKIE,
    StaffError,
    add_staff_account,
    create_staff,
    session_of,
)
from staff_support import (
    PASSWORD,
    communities_of,
    csrf_of,
    governance_of,
    make_staff,
    new_report,
    post_form,
    sign_in,
    signed_in,
)


def _audit(client: Any, action: str | None = None) -> list[AuditEntry]:
    with governance_of(client).store.session() as session:
        query = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            query = query.where(AuditEntry.action == action)
        entries = list(session.scalars(query))
        session.expunge_all()
        return entries


def _sessions(client: Any) -> list[StaffSession]:
    with governance_of(client).store.session() as session:
        rows = list(session.scalars(select(StaffSession)))
        session.expunge_all()
        return rows


# ------------------------------------------------------------------------------------------ sign in
def test_sign_in_wrong_password_lockout_and_cookie(governance_client: Any) -> None:
    client = governance_client
    rules = governance_of(client).settings.rate_limits
    user_id = make_staff(client, "anna", "admin")
    wrong = sign_in(client, "anna", "not my passphrase at all")
    assert wrong.status_code == 401
    assert "username or password is not right" in wrong.text
    assert SESSION_COOKIE not in wrong.cookies
    for _ in range(rules.failed_logins_before_lockout - 1):
        assert sign_in(client, "anna", "still the wrong passphrase").status_code == 401
    # Locked now: even the right password is refused, with the same message.
    locked = sign_in(client, "anna", PASSWORD)
    assert locked.status_code == 401
    assert locked.text.count("username or password is not right") == 1
    with governance_of(client).store.session() as session:
        user = session.get(StaffUser, user_id)
        assert user.locked_until is not None
        assert timedelta(minutes=rules.lockout_minutes - 1) < user.locked_until - now_utc()
        user.locked_until = now_utc() - timedelta(seconds=1)  # the lockout has run out
    good = sign_in(client, "ANNA", PASSWORD)
    assert good.status_code == 303
    assert good.headers["location"] == "/staff"
    cookie = next(h for h in good.headers.get_list("set-cookie") if h.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Path=/staff" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    [stored] = _sessions(client)
    assert stored.token_hash == token_hash(token) != token
    entries = _audit(client, "sign_in")
    reasons = [e.detail.get("reason") for e in entries]
    assert reasons.count("wrong_password") == rules.failed_logins_before_lockout
    assert "locked" in reasons
    assert entries[-1].outcome == "ok"
    assert all(e.ip_hash and len(e.ip_hash) == 32 for e in entries)
    dumped = json.dumps([e.detail for e in entries])
    assert PASSWORD not in dumped
    assert "wrong passphrase" not in dumped


def test_unknown_user_and_login_limit_per_ip(governance_client: Any) -> None:
    client = governance_client
    budget = governance_of(client).settings.rate_limits.logins_per_ip_per_15_minutes
    make_staff(client, "anna", "admin")
    for _ in range(budget):
        assert sign_in(client, "nobody", "whatever passphrase").status_code == 401
    over = sign_in(client, "anna", PASSWORD)
    assert over.status_code == 429
    assert "Too many sign-in attempts" in over.text
    assert not _sessions(client)
    unknown = _audit(client, "sign_in")
    assert [e.detail["reason"] for e in unknown] == ["unknown_user"] * budget + ["rate_limited"]
    assert all("nobody" not in json.dumps(e.detail) for e in unknown)


def test_session_rotates_expires_when_idle_or_old(governance_client: Any) -> None:
    client = governance_client
    rules = governance_of(client).settings.sessions
    make_staff(client, "anna", "admin")
    sign_in(client, "anna")
    first = client.cookies.get(SESSION_COOKIE)
    assert client.get("/staff/login", follow_redirects=False).headers["location"] == "/staff"
    # Signing in again with the old cookie still sent replaces the session: the old token is dead.
    client.cookies.delete(SESSION_COOKIE)
    token = csrf_of(client.get("/staff/login").text)
    client.cookies.set(SESSION_COOKIE, first, domain="testserver.local", path="/staff")
    again = client.post("/staff/login", data={"username": "anna", "password": PASSWORD, "csrf_token": token})
    assert again.status_code == 200
    second = client.cookies.get(SESSION_COOKIE, path="/staff")
    assert first != second
    assert [s.token_hash for s in _sessions(client)] == [token_hash(second)]
    assert client.get("/staff").status_code == 200
    # Idle past the limit: the next request is sent to sign in, and the session row is gone.
    with governance_of(client).store.session() as session:
        session.get(StaffSession, token_hash(second)).last_seen_at = now_utc() - timedelta(
            minutes=rules.idle_minutes, seconds=1
        )
    expired = client.get("/staff/reports/1", follow_redirects=False)
    assert expired.status_code == 303
    assert expired.headers["location"] == "/staff/login?next=%2Fstaff%2Freports%2F1"
    assert not _sessions(client)
    # The absolute lifetime ends a session that is used all the time.
    sign_in(client, "anna")
    token = client.cookies.get(SESSION_COOKIE)
    with governance_of(client).store.session() as session:
        record = session.get(StaffSession, token_hash(token))
        assert record.expires_at - record.created_at == timedelta(hours=rules.absolute_hours)
        start = record.created_at
    with governance_of(client).store.session() as session:
        assert session_of(session, token, rules, now=start + timedelta(minutes=rules.idle_minutes - 1))
    with governance_of(client).store.session() as session:
        assert session_of(session, token, rules, now=start + timedelta(hours=rules.absolute_hours)) is None
    assert client.get("/staff", follow_redirects=False).status_code == 303


def test_sign_out_deletes_the_session(governance_client: Any) -> None:
    client = governance_client
    make_staff(client, "anna", "admin")
    signed_in(client, "anna")
    token = client.cookies.get(SESSION_COOKIE)
    out = post_form(client, "/staff", "/staff/logout", {})
    assert out.status_code == 303
    assert out.headers["location"].startswith("/staff/login")
    assert not _sessions(client)
    assert [e.outcome for e in _audit(client, "sign_out")] == ["ok"]
    client.cookies.set(
        SESSION_COOKIE, token, domain="testserver.local", path="/staff"
    )  # an old cookie replayed
    assert client.get("/staff", follow_redirects=False).status_code == 303


def test_form_without_csrf_token_is_refused_and_changes_nothing(governance_client: Any) -> None:
    client = governance_client
    home = communities_of(client)[0]
    make_staff(client, "lamps", "department_staff", department="lighting")
    make_staff(client, "other", "department_staff", department="lighting")
    report = new_report(client, community=home)
    signed_in(client, "other")
    foreign_token = csrf_of(client.get("/staff").text)  # valid for another session only
    signed_in(client, "lamps")
    path = f"/staff/reports/{report}/state"
    form = {"state": "fixed", "note": "done", "public": "1"}
    missing = client.post(path, data=form, follow_redirects=False)
    assert missing.status_code == 403
    assert "without its security token" in missing.text
    assert client.post(path, data={**form, "csrf_token": foreign_token}).status_code == 403
    token = csrf_of(client.get("/staff").text)
    cross = client.post(path, data={**form, "csrf_token": token}, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    with governance_of(client).store.session() as session:
        stored = session.get(Report, report)
        assert stored.state == "open"
        assert [e.kind for e in stored.events] == ["created"]
    assert [e.detail["reason"] for e in _audit(client, "csrf")] == ["csrf_failed"] * 3
    # The login form has its token too.
    client.cookies.clear()
    before = len(_sessions(client))
    assert client.post("/staff/login", data={"username": "lamps", "password": PASSWORD}).status_code == 403
    assert len(_sessions(client)) == before


# ------------------------------------------------------------------------------------------ triage
def test_triage_from_open_to_fixed(governance_client: Any, smtp_sink: Any) -> None:
    client = governance_client
    home = communities_of(client)[0]
    lead = make_staff(client, "lead", "department_staff", department="lighting")
    worker = make_staff(client, "worker", "department_staff", department="lighting")
    report = new_report(client, community=home, email="rosa@example.org")
    signed_in(client, "lead")
    queue = client.get("/staff").text
    assert f'id="report-{report}"' in queue
    assert 'id="sort-city"' not in queue  # one city served: no city column
    page = f"/staff/reports/{report}"
    # the service's answers: the question and the chosen value's name, in the reader's language
    question = governance_of(client).services.get("001").questions[0]
    for lang in ("en", "zh"):
        shown = client.get(page, params={"lang": lang}).text
        assert escape(question.description[lang]) in shown
        assert escape(question.values[0].name[lang]) in shown
        assert f"{question.code}: " not in shown
    assigned = post_form(client, page, f"{page}/assign", {"staff_id": str(worker)})
    assert assigned.status_code == 303
    assert assigned.headers["location"] == f"{page}?done=report_assign"
    internal = post_form(client, page, f"{page}/note", {"note": "Ladder truck needed."})
    assert internal.status_code == 303
    moving = post_form(
        client, page, f"{page}/state", {"state": "in_progress", "note": "Crew on the way.", "public": "1"}
    )
    assert moving.status_code == 303
    # A state the model does not allow from here is refused with the field named, and nothing changes.
    refused = post_form(client, page, f"{page}/state", {"state": "unconfirmed", "note": ""})
    assert refused.status_code == 400
    assert "New state: a report that is In progress cannot become Awaiting confirmation" in refused.text
    fixed = post_form(
        client, page, f"{page}/state", {"state": "fixed", "note": "Lamp replaced.", "public": "1"}
    )
    assert fixed.status_code == 303
    shown = client.get(page).text
    assert "Lamp replaced." in shown
    assert "Ladder truck needed." in shown
    assert "Worker" in shown
    with governance_of(client).store.session() as session:
        stored = session.get(Report, report)
        assert stored.state == "fixed"
        assert stored.assigned_to == worker
        assert stored.status_notes == "Lamp replaced."
        steps = [(e.kind, e.state_from, e.state_to, e.public, e.staff_id) for e in stored.events]
        assert steps == [
            ("created", None, "open", True, None),
            ("assigned", None, None, False, lead),
            ("note", None, None, False, lead),
            ("state", "open", "in_progress", True, lead),
            ("state", "in_progress", "fixed", True, lead),
        ]
        taken = time_to_resolve(stored)
        assert taken == stored.closed_at - stored.confirmed_at
        assert timedelta(0) < taken < timedelta(minutes=5)
        assert not is_overdue(stored)
    actions = [(e.action, e.object_id, e.staff_id) for e in _audit(client) if e.action.startswith("report_")]
    assert actions == [
        ("report_assign", str(report), lead),
        ("report_note", str(report), lead),
        ("report_state", str(report), lead),
        ("report_state", str(report), lead),
    ]
    # The reporter gets the two public steps by email (English and Chinese), not the internal note.
    messages = smtp_sink.wait_for(2)
    assert len(messages) == 2
    assert all(m["To"] == "rosa@example.org" for m in messages)
    assert all(f"Update on your report #{report}" in m["Subject"] for m in messages)
    bodies = [m.get_body().get_content() for m in messages]
    assert "In progress" in bodies[0]
    assert "Crew on the way." in bodies[0]
    assert "Fixed" in bodies[1]
    assert "已解决" in bodies[1]
    assert not any("Ladder truck" in b for b in bodies)


def test_queue_filters_overdue_and_sorts(governance_client: Any) -> None:
    client = governance_client
    home, away = communities_of(client)[:2]
    make_staff(client, "boss", "admin")
    old = new_report(client, community=home, now=now_utc() - timedelta(days=60))
    recent = new_report(client, community=away)
    road = new_report(client, service_code="002", community=home)
    signed_in(client, "boss")
    with governance_of(client).store.session() as session:
        flags = {r.id: is_overdue(r) for r in session.scalars(select(Report))}
    assert flags == {old: True, recent: False, road: False}

    def listed(**params: str) -> list[int]:
        html = client.get("/staff", params=params).text
        return [int(n) for n in re.findall(r'id="report-(\d+)"', html)]

    assert listed() == [old, recent, road]  # all new and unassigned: oldest first
    assert listed(overdue="1") == [old]
    assert listed(community=away) == [recent]
    assert listed(service="002") == [road]
    assert listed(department="roads") == [road]
    assert listed(sort="id", order="desc") == [road, recent, old]
    assert listed(state="fixed") == []
    html = client.get("/staff", params={"sort": "id", "order": "desc"}).text
    assert 'aria-sort="descending"' in html
    assert html.count('class="flag-overdue"') == 1


# ------------------------------------------------------------------------------------------ moderation
def test_moderation_keeps_every_edit(governance_client: Any) -> None:
    client = governance_client
    home = communities_of(client)[0]
    with governance_of(client).store.session() as session:
        moderator = create_staff(
            session,
            "mod",
            "Mod",
            PASSWORD,
            "community_moderator",
            community=home,
            jurisdiction=DEMO_JURISDICTION,
        ).id
    report = new_report(client, community=home, description="Lamp out, call 040 555 1234", photo=True)
    with governance_of(client).store.session() as session:
        photo = session.get(Report, report).photos[0].id
    signed_in(client, "mod")
    page = f"/staff/reports/{report}"
    no_reason = post_form(client, page, f"{page}/moderate", {"description": "Lamp out."})
    assert no_reason.status_code == 400
    assert "reason" in no_reason.text
    markup = post_form(client, page, f"{page}/moderate", {"description": "<b>x</b>", "reason": "tidy"})
    assert markup.status_code == 400
    edited = post_form(
        client,
        page,
        f"{page}/moderate",
        {"description": "Lamp out.", "hide_photo": str(photo), "reason": "phone number removed"},
    )
    assert edited.status_code == 303
    shown_again = post_form(
        client, page, f"{page}/moderate", {"description": "Lamp out.", "reason": "photo fine"}
    )
    assert shown_again.status_code == 303
    hidden = post_form(client, page, f"{page}/visibility", {"action": "hide", "reason": "spam"})
    assert hidden.status_code == 303
    with governance_of(client).store.session() as session:
        stored = session.get(Report, report)
        assert stored.description == "Lamp out."
        assert stored.state == "hidden"
        assert stored.photos[0].hidden is False
        edits = [
            (e.field, e.old_value, e.new_value, e.reason, e.staff_id)
            for e in session.scalars(select(ReportEdit).order_by(ReportEdit.id))
        ]
    assert edits == [
        ("description", "Lamp out, call 040 555 1234", "Lamp out.", "phone number removed", moderator),
        (f"photo:{photo}", "shown", "hidden", "phone number removed", moderator),
        (f"photo:{photo}", "hidden", "shown", "photo fine", moderator),
    ]
    html = client.get(page).text
    assert 'id="edits"' in html
    assert "Lamp out, call 040 555 1234" in html  # the old text stays readable for staff
    assert [e.action for e in _audit(client) if e.action.startswith("report_")] == [
        "report_moderate",
        "report_moderate",
        "report_hide",
    ]
    shown = post_form(client, page, f"{page}/visibility", {"action": "unhide", "reason": "appeal upheld"})
    assert shown.status_code == 303
    with governance_of(client).store.session() as session:
        assert session.get(Report, report).state == "open"


# ------------------------------------------------------------------------------------------ accounts
def test_create_staff_checks_every_field(store: Any) -> None:
    cases = [
        (("x", "X", PASSWORD, "admin"), {}, "username"),
        (("anna", "Anna", "password123", "admin"), {}, "password"),
        (("anna", "Anna", PASSWORD, "mayor"), {}, "role"),
        (("anna", "Anna", PASSWORD, "department_staff"), {}, "department"),
        (("anna", "Anna", PASSWORD, "department_staff"), {"department": "fire"}, "department"),
        (("anna", "Anna", PASSWORD, "community_moderator"), {}, "community"),
        (("anna", "Anna", PASSWORD, "community_moderator"), {"community": "Kallio"}, "jurisdiction"),
        (
            ("anna", "Anna", PASSWORD, "community_moderator"),
            {"community": "Kallio", "jurisdiction": "../etc"},
            "jurisdiction",
        ),
        (
            ("anna", "Anna", PASSWORD, "department_staff"),
            {"department": "roads", "jurisdiction": "x" * 101},
            "jurisdiction",
        ),
        (
            ("anna", "Anna", PASSWORD, "community_moderator"),
            {"community": "Kallio", "jurisdiction": "espoo", "jurisdictions": {"helsinki": ["Kallio"]}},
            "jurisdiction",
        ),
        (
            ("anna", "Anna", PASSWORD, "community_moderator"),
            {"community": "Tapiola", "jurisdiction": "helsinki", "jurisdictions": {"helsinki": ["Kallio"]}},
            "community",
        ),
        (("anna", "<b>Anna</b>", PASSWORD, "admin"), {}, "display_name"),
    ]
    for args, options, field in cases:
        with pytest.raises(StaffError) as caught, store.session() as session:
            create_staff(session, *args, **options)
        assert caught.value.field == field, (args, options)
        assert caught.value.message.startswith(f"{field}: ")
    with store.session() as session:
        assert session.scalars(select(StaffUser)).all() == []
        user = create_staff(session, "Anna", "Anna V", PASSWORD, "department_staff", department="roads")
        assert user.username == "anna"
        assert verify_password(user.password_hash, PASSWORD)
        assert PASSWORD not in user.password_hash
    with pytest.raises(StaffError, match="taken"), store.session() as session:
        create_staff(session, "ANNA", "Other", PASSWORD, "admin")
    # the city: required for a community, optional for a department (None: every city), none for admins
    with store.session() as session:
        made = {
            name: (user.department, user.community, user.jurisdiction)
            for name, user in (
                ("roads", session.scalars(select(StaffUser).where(StaffUser.username == "anna")).one()),
                (
                    "mod",
                    create_staff(
                        session,
                        "mod",
                        "Mod",
                        PASSWORD,
                        "community_moderator",
                        community="Kallio",
                        jurisdiction="helsinki",
                        jurisdictions={"helsinki": ["Kallio"], "espoo": ["Tapiola"]},
                    ),
                ),
                (
                    "lamps",
                    create_staff(
                        session,
                        "lamps",
                        "L",
                        PASSWORD,
                        "department_staff",
                        department="lighting",
                        jurisdiction="espoo",
                    ),
                ),
                ("boss", create_staff(session, "boss", "B", PASSWORD, "admin", jurisdiction="espoo")),
            )
        }
    assert made == {
        "roads": ("roads", None, None),
        "mod": (None, "Kallio", "helsinki"),
        "lamps": ("lighting", None, "espoo"),
        "boss": (None, None, None),
    }


def test_add_staff_account_for_the_command_line(governance_settings: Any) -> None:
    line = add_staff_account(
        governance_settings,
        "ville",
        PASSWORD,
        role="community_moderator",
        community="Kallio",
        jurisdiction="helsinki-demo",
    )
    assert line == "staff account ville (community_moderator, Kallio, helsinki-demo) created"
    with pytest.raises(StaffError) as no_city:
        add_staff_account(
            governance_settings, "eeva", PASSWORD, role="community_moderator", community="Kallio"
        )
    assert no_city.value.field == "jurisdiction"
    with pytest.raises(StaffError) as caught:
        add_staff_account(governance_settings, "eeva", PASSWORD, role="department_staff", department="fire")
    assert caught.value.field == "department"
    from exquisite.governance.db import Store

    store = Store(governance_settings.database())
    try:
        with store.session() as session:
            users = session.scalars(select(StaffUser)).all()
            assert [(u.username, u.role, u.community, u.jurisdiction) for u in users] == [
                ("ville", "community_moderator", "Kallio", "helsinki-demo")
            ]
            [entry] = session.scalars(select(AuditEntry)).all()
            assert (entry.action, entry.staff_id, entry.detail["by"]) == ("user_create", None, "command line")
    finally:
        store.dispose()


def test_admin_creates_changes_and_deactivates_accounts(governance_client: Any) -> None:
    client = governance_client
    admin = make_staff(client, "boss", "admin")
    signed_in(client, "boss")
    weak = post_form(
        client,
        "/staff/users",
        "/staff/users",
        {"username": "eeva", "display_name": "Eeva", "password": "password123", "role": "admin"},
    )
    assert weak.status_code == 400
    assert "Password: is shorter than" in weak.text
    made = post_form(
        client,
        "/staff/users",
        "/staff/users",
        {
            "username": "eeva",
            "display_name": "Eeva",
            "password": "cedar boats in the fog",
            "role": "department_staff",
            "department": "parks",
        },
    )
    assert made.status_code == 303
    with governance_of(client).store.session() as session:
        eeva = session.scalars(select(StaffUser).where(StaffUser.username == "eeva")).one().id
    changed = post_form(
        client,
        "/staff/users",
        f"/staff/users/{eeva}",
        {"role": "department_staff", "department": "roads", "active": "1"},
    )
    assert changed.status_code == 303
    own = post_form(client, "/staff/users", f"/staff/users/{admin}", {"role": "admin", "active": ""})
    assert own.status_code == 400
    # Eeva signs in elsewhere, then is deactivated: her session ends and she cannot sign in again.
    other = type(client)(client.app)
    signed_in(other, "eeva", "cedar boats in the fog")
    off = post_form(
        client, "/staff/users", f"/staff/users/{eeva}", {"role": "department_staff", "department": "roads"}
    )
    assert off.status_code == 303
    assert other.get("/staff", follow_redirects=False).status_code == 303
    assert sign_in(other, "eeva", "cedar boats in the fog").status_code == 401
    entries = [(e.action, e.object_id, e.detail) for e in _audit(client) if e.action.startswith("user_")]
    assert [(a, o) for a, o, _ in entries] == [
        ("user_create", str(eeva)),
        ("user_change", str(eeva)),
        ("user_change", str(eeva)),
    ]
    assert entries[1][2] == {"department": ["parks", "roads"]}
    assert entries[2][2] == {"active": [True, False]}
    assert "cedar boats" not in json.dumps([d for _, _, d in entries])
    audit_page = client.get("/staff/audit", params={"outcome": "denied"}).text
    assert "inactive" in audit_page


def test_staff_pages_in_chinese(governance_client: Any) -> None:
    client = governance_client
    make_staff(client, "boss", "admin")
    assert "工作人员登录" in client.get("/staff/login", params={"lang": "zh"}).text
    signed_in(client, "boss")
    for path, words in (
        ("/staff", "待分拣的报告"),
        ("/staff/audit", "审计日志"),
        ("/staff/users", "工作人员账号"),
    ):
        page = client.get(path, params={"lang": "zh"})
        assert page.status_code == 200
        assert words in page.text
        assert page.headers["cache-control"] == "no-store"
