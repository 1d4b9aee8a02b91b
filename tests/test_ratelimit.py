"""Rate limits in the database (governance/ratelimit.py), on SQLite and PostgreSQL (the ``store`` fixture)."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from exquisite.governance.db import Store
from exquisite.governance.models import RateCounter
from exquisite.governance.ratelimit import (
    HOUR,
    MINUTE,
    QUARTER_HOUR,
    Limits,
    account_key,
    count,
    hit,
    purge_old,
)
from exquisite.governance.settings import load_settings

#: A moment at the start of an hour (and so of a minute and of a quarter-hour): 2026-01-01T00:00:00Z.
T0 = 1_767_225_600.0
assert T0 % HOUR == 0


def _limits(**rate_limits: int) -> Limits:
    settings = load_settings(None)
    return Limits(settings.rate_limits.model_copy(update=rate_limits), secret=b"k" * 32)


def _allowed(store: Store, key: str, limit: int, window_s: int, now: float, times: int) -> list[bool]:
    answers = []
    for _ in range(times):
        with store.session() as session:
            answers.append(hit(session, key, limit, window_s, now))
    return answers


def test_hit_allows_exactly_the_limit_then_refuses(store: Store) -> None:
    answers = _allowed(store, "k", 5, MINUTE, T0 + 10, 7)
    assert answers == [True] * 5 + [False] * 2
    with store.session() as session:
        assert count(session, "k", MINUTE, T0 + 59.9) == 7
        assert count(session, "other", MINUTE, T0) == 0


def test_window_rolls_over(store: Store) -> None:
    assert _allowed(store, "k", 2, MINUTE, T0 + 59.999, 3) == [True, True, False]
    # The next window starts at T0 + 60 exactly: a fresh budget.
    assert _allowed(store, "k", 2, MINUTE, T0 + 60, 3) == [True, True, False]
    # Another key's window is its own.
    assert _allowed(store, "j", 2, MINUTE, T0 + 59, 1) == [True]


def test_hits_are_rolled_back_with_the_transaction(store: Store) -> None:
    class BoomError(Exception):
        pass

    try:
        with store.session() as session:
            assert hit(session, "k", 1, MINUTE, T0)
            raise BoomError
    except BoomError:
        pass
    with store.session() as session:
        assert count(session, "k", MINUTE, T0) == 0
        assert hit(session, "k", 1, MINUTE, T0)


def test_purge_old_keeps_the_current_windows(store: Store) -> None:
    with store.session() as session:
        hit(session, "old", 10, HOUR, T0 - 3 * HOUR)
        hit(session, "last-hour", 10, HOUR, T0 - HOUR)
        hit(session, "now", 10, MINUTE, T0 + 30)
    with store.session() as session:
        assert purge_old(session, T0 + 30) == 1
    with store.session() as session:
        keys = set(session.scalars(select(RateCounter.key)))
    assert keys == {"last-hour", "now"}


def test_report_limit_per_ip_holds_at_the_boundary(store: Store) -> None:
    limits = _limits(reports_per_ip_per_hour=3, reports_global_per_minute=100)
    answers = []
    for second in range(5):
        with store.session() as session:
            answers.append(limits.allow_report(session, ip_hash="a" * 32, now=T0 + second))
    assert answers == [None, None, None, "per_ip", "per_ip"]
    with store.session() as session:  # another address is not held back
        assert limits.allow_report(session, ip_hash="b" * 32, now=T0 + 6) is None
    with store.session() as session:  # the next hour
        assert limits.allow_report(session, ip_hash="a" * 32, now=T0 + HOUR) is None


def test_report_limit_per_account_across_addresses(store: Store) -> None:
    limits = _limits(reports_per_account_per_hour=2, reports_global_per_minute=100)
    answers = []
    for n in range(3):
        with store.session() as session:
            # one resident from three networks; the address is compared without case
            email = "Anna@Example.org" if n else "anna@example.org"
            answers.append(limits.allow_report(session, ip_hash=f"{n:032x}", account=email, now=T0 + n))
    assert answers == [None, None, "per_account"]
    with store.session() as session:
        keys = list(session.scalars(select(RateCounter.key)))
    assert not any("anna" in key.casefold() or "example" in key for key in keys), keys
    assert f"report:account:{account_key('anna@example.org', b'k' * 32)}" in keys
    assert account_key("anna@example.org", b"k" * 32) != account_key("anna@example.org", b"j" * 32)
    assert account_key("anna@example.org", b"k" * 32) != account_key("anna@example.org")


def test_a_refused_report_uses_up_no_other_budget(store: Store) -> None:
    limits = _limits(reports_per_ip_per_hour=1, reports_per_account_per_hour=5, reports_global_per_minute=100)
    with store.session() as session:
        assert limits.allow_report(session, ip_hash="bot", account="x@example.org", now=T0) is None
    for n in range(10):
        with store.session() as session:
            assert (
                limits.allow_report(session, ip_hash="bot", account="x@example.org", now=T0 + n) == "per_ip"
            )
    with store.session() as session:
        total = session.scalar(select(func.sum(RateCounter.hits)).where(RateCounter.key == "report:global"))
        account_hits = session.scalar(
            select(func.sum(RateCounter.hits)).where(RateCounter.key.like("report:account:%"))
        )
    assert (total, account_hits) == (1, 1)


def test_api_key_replaces_the_per_ip_limit(store: Store) -> None:
    limits = _limits(
        reports_per_ip_per_hour=2, reports_per_api_key_per_minute=5, reports_global_per_minute=100
    )
    with store.session() as session:  # the city's integration, from one address, for six residents
        answers = [
            limits.allow_report(session, ip_hash="city-server", api_key_id=7, now=T0 + n) for n in range(6)
        ]
    assert answers == [None] * 5 + ["per_api_key"]
    with store.session() as session:  # the per-IP budget of that address was not touched
        assert count(session, "report:ip:city-server", HOUR, T0) == 0
        assert limits.allow_report(session, ip_hash="city-server", api_key_id=8, now=T0 + 7) is None
        assert limits.allow_report(session, ip_hash="city-server", api_key_id=7, now=T0 + MINUTE) is None


def test_global_budget_stops_a_distributed_bot(store: Store) -> None:
    limits = _limits(reports_per_ip_per_hour=20, reports_global_per_minute=10)
    with store.session() as session:  # 25 addresses, one report each: every one within its own limit
        answers = [limits.allow_report(session, ip_hash=f"ip{n}", now=T0 + n) for n in range(25)]
    assert answers == [None] * 10 + ["global"] * 15
    with store.session() as session:  # refused addresses kept their own budgets
        assert count(session, "report:ip:ip24", HOUR, T0) == 0
        assert limits.allow_report(session, ip_hash="ip24", now=T0 + MINUTE) is None


def test_login_limit_per_ip_per_quarter_hour(store: Store) -> None:
    limits = _limits(logins_per_ip_per_15_minutes=3)
    with store.session() as session:
        answers = [limits.allow_login(session, "c" * 32, now=T0 + n) for n in range(4)]
        assert answers == [None, None, None, "per_ip"]
        assert limits.allow_login(session, "d" * 32, now=T0 + 5) is None
        assert limits.allow_login(session, "c" * 32, now=T0 + QUARTER_HOUR) is None


def test_defaults_come_from_the_settings_file() -> None:
    settings = load_settings(None)
    budgets = Limits(settings.rate_limits).report_budgets(ip_hash="x", account="a@b.c")
    assert [(b.reason, b.limit, b.window_s) for b in budgets] == [
        ("per_ip", settings.rate_limits.reports_per_ip_per_hour, HOUR),
        ("per_account", settings.rate_limits.reports_per_account_per_hour, HOUR),
        ("global", settings.rate_limits.reports_global_per_minute, MINUTE),
    ]


def _hammer(store: Store, workers: int, per_worker: int, attempt) -> list[bool]:
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            start.wait()
            for _ in range(per_worker):
                with store.session() as session:
                    answer = attempt(session)
                with lock:
                    results.append(answer)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


def test_concurrent_hits_allow_exactly_the_limit(store: Store) -> None:
    results = _hammer(store, 8, 10, lambda session: hit(session, "shared", 50, HOUR, T0 + 1))
    assert len(results) == 80
    assert results.count(True) == 50
    with store.session() as session:
        assert count(session, "shared", HOUR, T0) == 80


def test_concurrent_reports_allow_exactly_the_global_budget(store: Store) -> None:
    limits = _limits(reports_per_ip_per_hour=1000, reports_global_per_minute=30)
    results = _hammer(
        store, 8, 6, lambda session: limits.allow_report(session, ip_hash="swarm", now=T0 + 1) is None
    )
    assert results.count(True) == 30
    with store.session() as session:  # the refused ones were taken back everywhere
        assert count(session, "report:global", MINUTE, T0) == 30
        assert count(session, "report:ip:swarm", HOUR, T0) == 30
