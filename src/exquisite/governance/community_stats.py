"""Residents' reports per community: open and closed counts, overdue, and the median time to resolve.

Counts are SQL aggregates (``GROUP BY`` with ``SUM(CASE …)``, the same on SQLite and PostgreSQL); the median
is taken over :func:`~exquisite.governance.reports.time_to_resolve` of the closed reports (SQLite has no
median aggregate). Only public reports count (published, not hidden): the figures are shown to everyone and
carry no personal data.

::

    with store.session() as session:
        figures = community_figures(session, "helsinki-demo", "Kallio", states=load_states())
        figures.total.open, figures.total.median_days, figures.by_service["001"].overdue
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, load_only

from exquisite.governance.models import Report
from exquisite.governance.reports import now_utc, time_to_resolve
from exquisite.governance.states import StateModel, load_states

#: Seconds in a day (a unit conversion).
DAY_S = 86_400.0


@dataclass(frozen=True)
class Figures:
    """The reports of one group (a community, or one service in it).

    Attributes
    ----------
    open, closed
        Public reports whose Open311 status is open / closed.
    overdue
        Open reports past the time their service should take (``expected_at``), as
        :func:`~exquisite.governance.reports.is_overdue` says.
    median_days
        Median days from publication to closing over the closed reports (None when none is closed).
    """

    open: int = 0
    closed: int = 0
    overdue: int = 0
    median_days: float | None = None

    @property
    def reports(self) -> int:
        """All public reports of the group."""
        return self.open + self.closed

    @classmethod
    def empty(cls) -> Figures:
        """No reports."""
        return cls()


@dataclass(frozen=True)
class CommunityFigures:
    """A community's figures: in total and per service code (services with at least one report, by code)."""

    jurisdiction: str
    community: str | None
    total: Figures
    by_service: dict[str, Figures] = field(default_factory=dict)


def _counts(
    session: Session, conditions: list, group: list, states: StateModel, now: datetime
) -> dict[tuple, tuple[int, int, int]]:
    """``{group values: (open, closed, overdue)}`` of the public reports matching ``conditions``."""
    open_states, closed_states = states.with_status("open"), states.with_status("closed")
    not_closed = [name for name in open_states if not states[name].closed]
    is_open = case((Report.state.in_(open_states), 1), else_=0)
    is_closed = case((Report.state.in_(closed_states), 1), else_=0)
    is_overdue = case((and_(Report.state.in_(not_closed), Report.expected_at < now), 1), else_=0)
    statement = (
        select(*group, func.sum(is_open), func.sum(is_closed), func.sum(is_overdue))
        .where(*conditions, Report.state.in_(states.public()))
        .group_by(*group)
    )
    return {
        tuple(row[: len(group)]): (int(row[-3] or 0), int(row[-2] or 0), int(row[-1] or 0))
        for row in session.execute(statement)
    }


def _medians(session: Session, conditions: list, keys: list[str], states: StateModel) -> dict[tuple, float]:
    """Median days to resolve of the closed public reports, per group of ``keys`` (Report attributes)."""
    closed = states.with_status("closed")
    reports = session.scalars(
        select(Report)
        .options(
            load_only(
                Report.community,
                Report.service_code,
                Report.created_at,
                Report.confirmed_at,
                Report.closed_at,
                raiseload=True,
            )
        )
        .where(*conditions, Report.state.in_(closed), Report.closed_at.is_not(None))
    ).all()
    days: dict[tuple, list[float]] = {}
    for report in reports:
        taken = time_to_resolve(report)
        if taken is not None:
            days.setdefault(tuple(getattr(report, k) for k in keys), []).append(taken.total_seconds() / DAY_S)
    return {key: statistics.median(values) for key, values in days.items()}


def jurisdiction_figures(
    session: Session, jurisdiction: str, *, states: StateModel | None = None, now: datetime | None = None
) -> dict[str | None, Figures]:
    """Each community's figures in a city (``None``: reports outside every community)."""
    states = states or load_states()
    now = now or now_utc()
    conditions = [Report.jurisdiction == jurisdiction]
    counts = _counts(session, conditions, [Report.community], states, now)
    medians = _medians(session, conditions, ["community"], states)
    return {key[0]: Figures(*counts[key], median_days=medians.get(key)) for key in counts}


def community_figures(
    session: Session,
    jurisdiction: str,
    community: str | None,
    *,
    states: StateModel | None = None,
    now: datetime | None = None,
) -> CommunityFigures:
    """One community's figures, in total and per service (``community=None``: outside every community)."""
    states = states or load_states()
    now = now or now_utc()
    where = Report.community.is_(None) if community is None else Report.community == community
    conditions = [Report.jurisdiction == jurisdiction, where]
    counts = _counts(session, conditions, [Report.service_code], states, now)
    medians = _medians(session, conditions, ["service_code"], states)
    by_service = {key[0]: Figures(*counts[key], median_days=medians.get(key)) for key in sorted(counts)}
    total_counts = _counts(session, conditions, [], states, now).get((), (0, 0, 0))
    total_median = _medians(session, conditions, [], states).get(())
    return CommunityFigures(
        jurisdiction, community, Figures(*total_counts, median_days=total_median), by_service
    )
