"""Reports per community, worked out by hand, on SQLite and PostgreSQL; the public community pages.

One community gets reports whose figures are known in advance: open and closed per service, one overdue, the
days each closed one took. Reports awaiting confirmation, hidden ones and another community's must not count;
no page may show a reporter's data.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import select

from exquisite.governance.communities import community_coverage
from exquisite.governance.community_stats import Figures, community_figures, jurisdiction_figures
from exquisite.governance.models import Report
from exquisite.governance.reports import is_overdue, move, now_utc
from staff_support import communities_of, governance_of, new_report

JURISDICTION = "helsinki-demo"


def _close(client: Any, report_id: int, state: str, after_days: float, **extra: Any) -> None:
    """Move a report to ``state`` ``after_days`` after it was published."""
    with governance_of(client).store.session() as session:
        report = session.get(Report, report_id)
        move(
            session,
            report,
            state,
            staff_id=None,
            now=report.confirmed_at + timedelta(days=after_days),
            **extra,
        )


def _scene(client: Any) -> tuple[str, str, dict[str, int]]:
    """The reports of the hand-worked example; (community, other community, ids)."""
    home, away = communities_of(client)[:2]
    now = now_utc()
    ids = {
        # Street lights (001, 14 days to resolve): fixed after 4 and 2 days, one open for 60 days (overdue).
        "light_fixed_4": new_report(client, community=home, now=now - timedelta(days=10)),
        "light_fixed_2": new_report(client, community=home, now=now - timedelta(days=20)),
        "light_overdue": new_report(client, community=home, now=now - timedelta(days=60)),
        # Potholes (002, 28 days): one open today, one closed as a duplicate after 1 day.
        "pothole_open": new_report(client, service_code="002", community=home),
        "pothole_duplicate": new_report(
            client, service_code="002", community=home, now=now - timedelta(days=3)
        ),
        # Not counted: awaiting confirmation, hidden, and the other community's.
        "unconfirmed": new_report(client, community=home, confirmed=False),
        "hidden": new_report(client, community=home, now=now - timedelta(days=40)),
        "elsewhere": new_report(client, community=away, now=now - timedelta(days=90)),
    }
    _close(client, ids["light_fixed_4"], "fixed", 4)
    _close(client, ids["light_fixed_2"], "fixed", 2)
    _close(client, ids["pothole_duplicate"], "duplicate", 1, duplicate_of=ids["pothole_open"])
    _close(client, ids["hidden"], "hidden", 5)
    return home, away, ids


def test_community_figures_by_hand(governance_client: Any) -> None:
    client = governance_client
    home, away, ids = _scene(client)
    with governance_of(client).store.session() as session:
        figures = community_figures(session, JURISDICTION, home)
        everywhere = jurisdiction_figures(session, JURISDICTION)
        overdue_by_rule = sorted(
            r.id for r in session.scalars(select(Report).where(Report.community == home)) if is_overdue(r)
        )
    # 001: open 1, closed 2 (4 and 2 days: median 3), overdue 1. 002: open 1, closed 1 (1 day), overdue 0.
    assert figures.by_service == {
        "001": Figures(open=1, closed=2, overdue=1, median_days=3.0),
        "002": Figures(open=1, closed=1, overdue=0, median_days=1.0),
    }
    # All services: open 2, closed 3, overdue 1, median of 4, 2 and 1 days = 2.
    assert figures.total == Figures(open=2, closed=3, overdue=1, median_days=2.0)
    assert figures.total.reports == 5
    # The SQL overdue count agrees with reports.is_overdue (the hidden and unconfirmed are not overdue).
    assert overdue_by_rule == [ids["light_overdue"]]
    assert everywhere[home] == figures.total
    assert everywhere[away] == Figures(open=1, closed=0, overdue=1, median_days=None)
    assert set(everywhere) == {home, away}


def test_community_pages_show_the_figures_and_coverage_without_personal_data(governance_client: Any) -> None:
    client = governance_client
    home, _away, _ids = _scene(client)
    gov = governance_of(client)
    overview = client.get("/communities")
    assert overview.status_code == 200
    link = f"/communities/{JURISDICTION}/{quote(home, safe='')}"
    assert f'href="{link}"' in overview.text
    row = overview.text.split(f'href="{link}"')[1].split("</tr>")[0]
    assert _cells(row)[:4] == ["2", "3", "1", "2.0 days"]
    page = client.get(link)
    assert page.status_code == 200
    html = page.text
    assert 'id="total-open">2<' in html
    assert 'id="total-closed">3<' in html
    assert 'id="total-overdue">1<' in html
    assert 'id="total-median">2.0 days<' in html
    run = gov.catalogue.get(gov.jurisdiction(JURISDICTION).run_id)
    coverage = community_coverage(run, home)
    assert coverage, "the demo run has life-circle records for the community"
    table = html.split('id="coverage"')[1].split("</table>")[0]
    assert [c for c in _cells(table) if c.endswith("%") or c == "–"] == [r["value_text"] for r in coverage]
    for text in (html, overview.text):
        assert "resident@example.org" not in text
        assert "+358" not in text
        assert "Rosa" not in text
        assert "The lamp at the corner" not in text
    zh = client.get(link, params={"lang": "zh"}).text
    assert "2.0 天" in zh
    assert "居民报告" in zh
    assert client.get(f"/communities/{JURISDICTION}/Nowhere").status_code == 404
    assert client.get(f"/communities/atlantis/{quote(home, safe='')}").status_code == 404


def _cells(html: str) -> list[str]:
    import re

    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", html, re.S)]
