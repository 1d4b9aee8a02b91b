"""Retention: what the service stops keeping, and when (``settings.retention``; OWASP ASVS v5.0.0-14.2.7).

* a reporter's personal data (name, email, phone, device and account ids, IP hash) are erased
  ``contact_days_after_close`` days after their report was closed; the report itself, anonymous, stays;
* reports never confirmed are deleted ``unconfirmed_days`` days after they were made (with their photos);
* rate-limit counters of past windows and staff sessions that have expired are deleted.

:func:`apply_retention` does it once; :class:`RetentionWorker` does it every hour in each server process
(the steps are idempotent, so several processes doing it is harmless).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from exquisite.governance import ratelimit
from exquisite.governance.db import Store
from exquisite.governance.models import Report, Reporter, StaffSession
from exquisite.governance.reports import now_utc
from exquisite.governance.settings import Retention, SessionRules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Erased:
    """What one pass removed."""

    reporters: int
    unconfirmed_reports: int
    rate_counters: int
    staff_sessions: int


def apply_retention(
    session: Session, rules: Retention, sessions: SessionRules, *, now: datetime | None = None
) -> Erased:
    """Erase and delete what is past its time, in ``session``'s transaction.

    Parameters
    ----------
    session
        An open session.
    rules
        ``settings.retention``.
    sessions
        ``settings.sessions`` (a session idle longer than its timeout is over too).
    now
        The time to judge by (default: now).
    """
    now = now or now_utc()
    closed_before = now - timedelta(days=rules.contact_days_after_close)
    erase = (
        update(Reporter)
        .where(
            Reporter.erased_at.is_(None),
            Reporter.report_id.in_(
                select(Report.id).where(Report.closed_at.is_not(None), Report.closed_at < closed_before)
            ),
        )
        .values(
            name=None, email=None, phone=None, device_id=None, account_id=None, ip_hash=None, erased_at=now
        )
    )
    reporters = session.execute(erase).rowcount or 0
    unconfirmed = (
        session.execute(
            delete(Report).where(
                Report.state == "unconfirmed",
                Report.created_at < now - timedelta(days=rules.unconfirmed_days),
            )
        ).rowcount
        or 0
    )
    counters = ratelimit.purge_old(session, now)
    idle_since = now - timedelta(minutes=sessions.idle_minutes)
    ended = (
        session.execute(
            delete(StaffSession).where(
                (StaffSession.expires_at <= now) | (StaffSession.last_seen_at <= idle_since)
            )
        ).rowcount
        or 0
    )
    return Erased(int(reporters), int(unconfirmed), int(counters), int(ended))


class RetentionWorker:
    """A daemon thread that applies retention once at start and then every ``interval_s`` seconds."""

    def __init__(self, store: Store, rules: Retention, sessions: SessionRules, interval_s: float) -> None:
        self.store = store
        self.rules = rules
        self.sessions = sessions
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="exquisite-retention", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread (waiting for a pass in progress)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self.store.session() as session:
                    erased = apply_retention(session, self.rules, self.sessions)
                if any(vars(erased).values()):
                    log.info("retention: %s", erased)
            except Exception:  # a failed pass is logged; the next one tries again
                log.exception("retention pass failed")
            self._stop.wait(self.interval_s)
