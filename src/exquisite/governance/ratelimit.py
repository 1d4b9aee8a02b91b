"""Rate limits kept in the database, so that they hold across several server processes and restarts.

Fixed-window counters in the ``rate_counter`` table (key, window_start, hits), incremented with one upsert
(``INSERT … ON CONFLICT DO UPDATE … RETURNING`` on SQLite and PostgreSQL) in the caller's transaction,
and the service's policies from ``settings.rate_limits`` (``data/governance.yml``): OWASP ASVS v5.0.0-2.4.1
anti-automation and 2.1.3 / 2.3.2 documented per-user and global limits.

::

    limits = Limits(settings.rate_limits)
    with store.session() as session:
        refused = limits.allow_report(session, ip_hash=ip_hash(secret, client_ip), account=email)
        if refused:            # "per_ip", "per_account", "per_api_key" or "global"
            ...                # tell the resident to try again later; nothing was counted
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from exquisite.governance.models import RateCounter
from exquisite.governance.settings import RateLimits

#: Seconds in the windows that the settings' names speak of (``…_per_hour``, ``…_per_minute``,
#: ``…_per_15_minutes``): unit conversions, not policy.
MINUTE = 60
HOUR = 60 * MINUTE
QUARTER_HOUR = 15 * MINUTE
#: Counters older than the longest window in use are of no more use (purge_old).
LONGEST_WINDOW = HOUR


def _seconds(now: float | datetime | None) -> float:
    if now is None:
        return time.time()
    if isinstance(now, datetime):
        return now.timestamp()
    return float(now)


def window_start(now: float | datetime | None, window_s: int) -> int:
    """The start (Unix seconds) of the fixed window of ``window_s`` seconds that holds ``now``."""
    return int(_seconds(now) // window_s) * window_s


def _upsert(session: Session, key: str, start: int, step: int) -> int:
    """Add ``step`` to the hits of (key, start), creating the row at ``step``; the new count."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        insert = postgresql.insert
    elif dialect == "sqlite":
        insert = sqlite.insert
    else:  # pragma: no cover - db.make_engine accepts only these two
        raise NotImplementedError(f"rate limits need SQLite or PostgreSQL, not {dialect}")
    statement = (
        insert(RateCounter)
        .values(key=key, window_start=start, hits=step)
        .on_conflict_do_update(
            index_elements=[RateCounter.key, RateCounter.window_start],
            set_={"hits": RateCounter.hits + step},
        )
        .returning(RateCounter.hits)
    )
    return int(session.execute(statement).scalar_one())


def count(session: Session, key: str, window_s: int, now: float | datetime | None = None) -> int:
    """Hits of ``key`` in the window of ``window_s`` seconds that holds ``now`` (0 when none)."""
    start = window_start(now, window_s)
    hits = session.execute(
        select(RateCounter.hits).where(RateCounter.key == key, RateCounter.window_start == start)
    ).scalar_one_or_none()
    return int(hits or 0)


def hit(session: Session, key: str, limit: int, window_s: int, now: float | datetime | None = None) -> bool:
    """Count one hit of ``key`` in its current window; whether it is within ``limit`` (True = allowed).

    The increment and the read are one statement, so concurrent requests in several processes each get their
    own count: exactly ``limit`` hits of a window are allowed. The row stays locked until the caller's
    transaction ends (PostgreSQL) or the database is held for writing (SQLite).

    Parameters
    ----------
    session
        The caller's session; the hit is committed with its transaction.
    key
        What is limited (``report:ip:<hash>`` …), at most 128 characters.
    limit
        Hits allowed in one window.
    window_s
        The window's length in seconds.
    now
        The time (Unix seconds or a datetime); the clock when None.
    """
    return _upsert(session, key, window_start(now, window_s), 1) <= limit


def purge_old(session: Session, now: float | datetime | None = None) -> int:
    """Delete the counters of windows that started before the longest window; how many were deleted."""
    cutoff = window_start(now, LONGEST_WINDOW) - LONGEST_WINDOW
    result = session.execute(delete(RateCounter).where(RateCounter.window_start < cutoff))
    return int(result.rowcount or 0)


@dataclass(frozen=True)
class Budget:
    """One limit that a request counts against: its key, how many hits per window, the window, its reason."""

    key: str
    limit: int
    window_s: int
    reason: str


def account_key(account: str, secret: bytes | None = None) -> str:
    """The counter key of an account (an email address): a hash, so that no address is kept in counters.

    Keyed (HMAC-SHA256) with the service's secret when given, so that a known address cannot be looked up.
    """
    text = account.strip().casefold().encode("utf-8")
    if secret is None:
        return hashlib.sha256(text).hexdigest()
    return hmac.new(secret, b"account\0" + text, hashlib.sha256).hexdigest()


class Limits:
    """The service's rate limits (``settings.rate_limits``), checked and counted in the database.

    A request counts against all its budgets or none: a refused report uses up nothing, so a bot that is over
    its own limit cannot also eat the global budget or a resident's.

    Parameters
    ----------
    rules
        ``Settings.rate_limits``.
    secret
        The service's key (:func:`exquisite.governance.security.load_secret`): accounts' counter keys are
        keyed hashes of their addresses.
    """

    def __init__(self, rules: RateLimits, secret: bytes | None = None) -> None:
        self.rules = rules
        self.secret = secret

    def report_budgets(
        self, *, ip_hash: str, account: str | None = None, api_key_id: int | str | None = None
    ) -> list[Budget]:
        """The budgets one new report counts against, in the order their reasons are given."""
        rules = self.rules
        budgets: list[Budget] = []
        if api_key_id is not None:
            # A city's own integration posts for many people: its key replaces the per-IP limit.
            budgets.append(
                Budget(
                    f"report:api_key:{api_key_id}",
                    rules.reports_per_api_key_per_minute,
                    MINUTE,
                    "per_api_key",
                )
            )
        else:
            budgets.append(Budget(f"report:ip:{ip_hash}", rules.reports_per_ip_per_hour, HOUR, "per_ip"))
        if account:
            budgets.append(
                Budget(
                    f"report:account:{account_key(account, self.secret)}",
                    rules.reports_per_account_per_hour,
                    HOUR,
                    "per_account",
                )
            )
        budgets.append(Budget("report:global", rules.reports_global_per_minute, MINUTE, "global"))
        return budgets

    def allow_report(
        self,
        session: Session,
        *,
        ip_hash: str,
        account: str | None = None,
        api_key_id: int | str | None = None,
        now: float | datetime | None = None,
    ) -> str | None:
        """Count a new report against its budgets; None when allowed, else the reason it is refused.

        Parameters
        ----------
        session
            The caller's session (the counts are committed with the report).
        ip_hash
            :func:`exquisite.governance.security.ip_hash` of the client's address.
        account
            The reporter's email address, when known.
        api_key_id
            The API key's id when the report comes through the Open311 API with a key.
        now
            The time; the clock when None.

        Returns
        -------
        str or None
            ``"per_ip"``, ``"per_api_key"``, ``"per_account"`` or ``"global"``: the first budget used up.
        """
        return take(
            session, self.report_budgets(ip_hash=ip_hash, account=account, api_key_id=api_key_id), now
        )

    def allow_login(self, session: Session, ip_hash: str, now: float | datetime | None = None) -> str | None:
        """Count a sign-in attempt from one IP hash; None when allowed, else ``"per_ip"``."""
        budget = Budget(
            f"login:ip:{ip_hash}", self.rules.logins_per_ip_per_15_minutes, QUARTER_HOUR, "per_ip"
        )
        return take(session, [budget], now)


def take(session: Session, budgets: list[Budget], now: float | datetime | None = None) -> str | None:
    """Count one hit against every budget, or against none when one of them is used up.

    First every budget is checked (a request already over a limit writes nothing); then all are counted in a
    fixed order of keys (no deadlock between concurrent requests); when a concurrent request took the last hit
    in between, the counts just made are taken back in the same transaction.

    Returns
    -------
    str or None
        The reason of the first used-up budget, or None when the hit was counted everywhere.
    """
    moment = _seconds(now)
    for budget in budgets:
        if count(session, budget.key, budget.window_s, moment) >= budget.limit:
            return budget.reason
    counted: dict[Budget, int] = {}
    for budget in sorted(budgets, key=lambda one: one.key):
        counted[budget] = _upsert(session, budget.key, window_start(moment, budget.window_s), 1)
    over = [budget for budget in budgets if counted[budget] > budget.limit]
    if not over:
        return None
    for budget in sorted(budgets, key=lambda one: one.key):
        session.execute(
            update(RateCounter)
            .where(
                RateCounter.key == budget.key,
                RateCounter.window_start == window_start(moment, budget.window_s),
            )
            .values(hits=RateCounter.hits - 1)
        )
    return over[0].reason
