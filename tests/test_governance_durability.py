"""Durability of the governance service: a server killed under load loses and duplicates no report.

The harness of ``benchmarks/governance_load.py``, bounded: 20 Open311 clients for about 8 s against
``exquisite serve``'s app (uvicorn, 2 workers) on SQLite and on PostgreSQL, the whole server process group
SIGKILLed after 3 s and restarted; then the store is read directly. Every report the service acknowledged
must be there with its own text, none twice, none that the service refused; the restarted server must serve
reports acknowledged before the kill and take new ones. The store check itself is tested on a store with a
report missing, one stored twice and one that was refused.
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from governance_load import MARKER_PREFIX, Load, check_store, run_case  # noqa: E402


@pytest.mark.slow
def test_a_killed_server_loses_and_duplicates_no_report(governance_url: str, demo_runs_root: Path) -> None:
    row = run_case(
        governance_url,
        demo_runs_root,
        seconds=6.0,
        clients=20,
        kill_after=2.0,
        min_after_restart=1.0,
        min_acknowledged=20,
    )
    assert row["acknowledged"] >= 40, row  # 20 before the kill and 20 after the restart, at least
    assert row["lost"] == 0, row
    assert row["duplicated"] == 0, row
    assert row["phantom"] == 0, row  # no row for a post the service refused or never received
    assert row["get_missing"] == 0, row  # no acknowledged report answered 404 by GET
    assert row["stored"] == row["acknowledged"] + row["unknown_stored"], row
    # the server was down, came back, and serves again: old reports and new posts
    assert row["outage_s"] is not None, row
    assert row["outage_s"] > 0, row
    assert row["served_after_restart"] is True, row
    assert row["acknowledged_after_restart"] > 0, row


def _report(description: str) -> Any:
    from exquisite.governance.models import Report

    now = datetime.now(UTC)
    return Report(
        token=uuid.uuid4().hex,
        jurisdiction="helsinki-demo",
        service_code="005",
        description=description,
        state="open",
        channel="open311",
        created_at=now,
        updated_at=now,
    )


def test_the_store_check_finds_lost_duplicated_and_phantom_reports(governance_url: str) -> None:
    from exquisite.governance.db import Store

    tag = "0123abcd"
    mark = [f"{MARKER_PREFIX}-{tag}-0-{n}" for n in range(6)]
    store = Store(governance_url)
    try:
        with store.session() as session:
            stored = [
                _report(f"Load test report {m}, seen on the way.") for m in (*mark[:3], mark[1], mark[4])
            ]
            stored.append(_report(f"Load test report {MARKER_PREFIX}-ffffffff-0-1, another run's."))
            session.add_all(stored)
            session.flush()
            ids = [str(r.id) for r in stored]
    finally:
        store.dispose()
    load = Load()
    # acknowledged: mark0 and mark1 stored, mark2 stored under another id than acknowledged, mark3 lost
    load.acknowledged = {ids[0]: mark[0], ids[1]: mark[1], "999999": mark[2], "999998": mark[3]}
    load.unknown = {mark[5]}  # sent, never answered, not stored: fine either way
    load.refused = {mark[4]}  # answered with an error, yet stored: a phantom
    check = check_store(governance_url, load, tag)
    assert check == {"stored": 5, "lost": 2, "duplicated": 1, "unknown_stored": 0, "phantom": 1}
