"""Retention on SQLite and PostgreSQL: personal data erased after closing, unconfirmed reports deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from exquisite.governance.models import RateCounter, Report, Reporter, StaffSession, StaffUser
from exquisite.governance.reports import move, read_submission, submit
from exquisite.governance.retention import apply_retention
from exquisite.governance.services import load_services
from exquisite.governance.settings import load_settings

SETTINGS = load_settings()
T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


class Everywhere:
    id = "everywhere"

    def contains(self, lon: float, lat: float) -> bool:
        return True

    def community_of(self, lon: float, lat: float) -> str | None:
        return None


def _report(session, *, confirmed: bool, now: datetime) -> Report:
    fields = {
        "service_code": "005",
        "lat": "60.17",
        "long": "24.94",
        "email": "resident@example.org",
        "first_name": "Mei",
        "phone": "+358 40 123",
    }
    submission = read_submission(
        fields,
        {},
        jurisdiction=Everywhere(),
        catalogue=load_services(),
        rules=SETTINGS.reports,
        channel="web",
        ip_hash="ab" * 16,
    )
    report, _ = submit(session, submission, needs_confirmation=not confirmed, now=now)
    return report


def test_contacts_erased_after_the_days_after_closing_and_unconfirmed_deleted(store) -> None:
    keep = SETTINGS.retention.contact_days_after_close
    with store.session() as session:
        closed_long_ago = _report(session, confirmed=True, now=T0)
        move(session, closed_long_ago, "fixed", staff_id=None, now=T0 + DAY)
        closed_recently = _report(session, confirmed=True, now=T0)
        open_report = _report(session, confirmed=True, now=T0)
        stale = _report(session, confirmed=False, now=T0)
        ids = [r.id for r in (closed_long_ago, closed_recently, open_report, stale)]
    now = T0 + DAY + timedelta(days=keep, seconds=1)
    with store.session() as session:
        move(session, session.get(Report, ids[1]), "fixed", staff_id=None, now=now - DAY)
    with store.session() as session:
        erased = apply_retention(session, SETTINGS.retention, SETTINGS.sessions, now=now)
    assert (erased.reporters, erased.unconfirmed_reports) == (1, 1)
    with store.session() as session:
        reporters = {r.report_id: r for r in session.scalars(select(Reporter))}
        gone = reporters[ids[0]]
        assert (gone.email, gone.name, gone.phone, gone.ip_hash, gone.erased_at) == (
            None,
            None,
            None,
            None,
            now,
        )
        assert session.get(Report, ids[0]).state == "fixed"  # the report stays, anonymous
        assert reporters[ids[1]].email == reporters[ids[2]].email == "resident@example.org"
        assert session.get(Report, ids[3]) is None
        assert ids[3] not in reporters
    with store.session() as session:  # a second pass finds nothing more
        assert apply_retention(session, SETTINGS.retention, SETTINGS.sessions, now=now) == type(erased)(
            0, 0, 0, 0
        )


def test_old_counters_and_ended_sessions_are_deleted(store) -> None:
    now = T0 + 30 * DAY
    with store.session() as session:
        user = StaffUser(username="li", display_name="Li", password_hash="x", role="admin", created_at=T0)
        session.add(user)
        session.flush()
        session.add_all(
            [
                StaffSession(
                    token_hash="a" * 64, user_id=user.id, created_at=T0, last_seen_at=T0, expires_at=T0 + DAY
                ),
                StaffSession(
                    token_hash="b" * 64,
                    user_id=user.id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + DAY,
                ),
                RateCounter(key="ip:x", window_start=int(T0.timestamp()), hits=3),
                RateCounter(key="ip:x", window_start=int(now.timestamp()) // 60 * 60, hits=1),
            ]
        )
    with store.session() as session:
        erased = apply_retention(session, SETTINGS.retention, SETTINGS.sessions, now=now)
    assert (erased.staff_sessions, erased.rate_counters) == (1, 1)
    with store.session() as session:
        assert session.scalars(select(StaffSession.token_hash)).all() == ["b" * 64]
        assert session.scalar(select(func.count()).select_from(RateCounter)) == 1
