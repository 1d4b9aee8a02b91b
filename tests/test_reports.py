"""Reports through their life: read and checked, stored, confirmed, moved, found — SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from exquisite.governance.models import Report, Reporter, ReportEvent
from exquisite.governance.reports import (
    SubmissionError,
    confirm,
    is_overdue,
    metres_between,
    move,
    nearby_open,
    read_submission,
    submit,
    time_to_resolve,
)
from exquisite.governance.services import load_services
from exquisite.governance.settings import load_settings
from exquisite.governance.states import load_states

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class BoxCity:
    """A city that is a lon/lat box, split into a west and an east community at ``split_lon``."""

    id: str = "box-city"
    west: float = 24.90
    south: float = 60.15
    east: float = 24.98
    north: float = 60.18
    split_lon: float = 24.94

    def contains(self, lon: float, lat: float) -> bool:
        return self.west <= lon <= self.east and self.south <= lat <= self.north

    def community_of(self, lon: float, lat: float) -> str | None:
        return "West" if lon < self.split_lon else "East"


CITY = BoxCity()
RULES = load_settings().reports


def read(fields: dict[str, str], attributes: dict | None = None, **kw):
    return read_submission(
        fields,
        attributes or {},
        jurisdiction=CITY,
        catalogue=load_services(),
        rules=RULES,
        channel="web",
        **kw,
    )


def problems(fields: dict[str, str], attributes: dict | None = None, **kw) -> dict[str, str]:
    with pytest.raises(SubmissionError) as caught:
        read(fields, attributes, **kw)
    return {p.field: p.code for p in caught.value.problems}


LIGHT = {"service_code": "001", "lat": "60.16", "long": "24.93", "description": "Dark since Monday"}


def test_a_good_report_is_read_with_its_community_and_answers() -> None:
    s = read({**LIGHT, "email": "a@b.fi", "public_name": ""}, {"light_state": "out"})
    assert (s.service_code, s.department, s.community, s.lat, s.lon) == (
        "001",
        "lighting",
        "West",
        60.16,
        24.93,
    )
    assert s.attributes == {"light_state": "out"}
    assert s.public_name is None  # anonymous unless a name is given
    assert s.wants_updates


@pytest.mark.parametrize(
    ("fields", "attributes", "expected"),
    [
        ({"lat": "60.16", "long": "24.93"}, {}, {"service_code": "missing"}),
        ({**LIGHT, "service_code": "999"}, {}, {"service_code": "unknown"}),
        ({"service_code": "001"}, {"light_state": "out"}, {"lat": "no_location"}),
        ({**LIGHT, "long": ""}, {"light_state": "out"}, {"long": "missing"}),
        ({**LIGHT, "lat": "north"}, {"light_state": "out"}, {"lat": "not_a_latitude"}),
        (
            {**LIGHT, "lat": "nan", "long": "inf"},
            {"light_state": "out"},
            {"lat": "not_a_latitude", "long": "not_a_longitude"},
        ),
        ({**LIGHT, "lat": "91"}, {"light_state": "out"}, {"lat": "not_a_latitude"}),
        ({**LIGHT, "lat": "39.9", "long": "116.4"}, {"light_state": "out"}, {"lat": "outside"}),
        ({**LIGHT, "description": "x" * 4001}, {"light_state": "out"}, {"description": "too_long"}),
        (
            {**LIGHT, "description": "<script>alert(1)</script>"},
            {"light_state": "out"},
            {"description": "markup"},
        ),
        ({**LIGHT, "description": "a &lt;b&gt;"}, {"light_state": "out"}, {"description": "markup"}),
        ({**LIGHT, "description": "bell\x07"}, {"light_state": "out"}, {"description": "control_characters"}),
        ({**LIGHT, "email": "not an email"}, {"light_state": "out"}, {"email": "not_an_email"}),
        ({**LIGHT, "address_string": "<b>Main</b>"}, {"light_state": "out"}, {"address_string": "markup"}),
        (LIGHT, {}, {"attribute[light_state]": "missing"}),
        (LIGHT, {"light_state": "broken"}, {"attribute[light_state]": "not_a_choice"}),
        (LIGHT, {"light_state": "out", "colour": "red"}, {"attribute[colour]": "unknown"}),
    ],
)
def test_each_bad_field_is_named(fields: dict, attributes: dict, expected: dict) -> None:
    assert problems(fields, attributes) == expected


def test_all_six_datatypes_are_checked() -> None:
    pothole = {**LIGHT, "service_code": "002"}
    assert read(pothole, {"depth_cm": "7.5", "hazards": ["cars", "cyclists", "cars"]}).attributes == {
        "depth_cm": 7.5,
        "hazards": ["cars", "cyclists"],
    }
    assert problems(pothole, {"depth_cm": "deep"}) == {"attribute[depth_cm]": "not_a_number"}
    assert problems(pothole, {"hazards": ["cars", "boats"]}) == {"attribute[hazards]": "not_a_choice"}
    pavement = {**LIGHT, "service_code": "003"}
    ok = read(pavement, {"obstruction": "works", "since": "2026-04-30T07:00:00Z"})
    assert ok.attributes["since"] == "2026-04-30T07:00:00+00:00"
    assert problems(pavement, {"obstruction": "works", "since": "2026-04-30 07:00"}) == {
        "attribute[since]": "not_a_datetime"  # no time zone
    }
    assert problems(pavement, {"obstruction": ["works", "other"]}) == {"attribute[obstruction]": "one_value"}
    light = read(LIGHT, {"light_state": "out", "pole_number": "A-17"})
    assert light.attributes["pole_number"] == "A-17"
    assert problems(LIGHT, {"light_state": "out", "pole_number": "a\nb"}) == {
        "attribute[pole_number]": "one_line"
    }
    rubbish = read({**LIGHT, "service_code": "004"}, {"details": "two sofas\nand a fridge"})
    assert rubbish.attributes == {"details": "two sofas\nand a fridge"}  # text: several lines


def test_an_address_alone_is_a_location_and_email_can_be_required() -> None:
    s = read({"service_code": "005", "address_string": "Esplanadi 1, Helsinki"})
    assert (s.lat, s.community, s.address) == (None, None, "Esplanadi 1, Helsinki")
    assert problems({"service_code": "005", "address_id": "42"}, require_email=True) == {"email": "missing"}


def test_submit_confirm_and_the_report_is_public(store) -> None:
    s = read(
        {**LIGHT, "email": "r@example.org", "first_name": "Li", "last_name": "Wei"}, {"light_state": "out"}
    )
    with store.session() as session:
        report, secret = submit(session, s, needs_confirmation=True, now=T0)
        report_id = report.id
    assert secret
    with store.session() as session:
        stored = session.get(Report, report_id)
        assert (stored.state, stored.confirmed_at, stored.community) == ("unconfirmed", None, "West")
        reporter = session.scalars(select(Reporter).where(Reporter.report_id == report_id)).one()
        assert (reporter.email, reporter.name) == ("r@example.org", "Li Wei")
        assert stored.public_name is None
        assert stored.confirmation_hash != secret  # only the hash is kept
    max_age = timedelta(hours=RULES.confirmation_hours)
    with store.session() as session:
        assert confirm(session, "wrong", max_age=max_age, now=T0) is None
        assert confirm(session, secret, max_age=max_age, now=T0 + timedelta(minutes=5)).state == "open"
    with store.session() as session:
        assert confirm(session, secret, max_age=max_age, now=T0) is None  # a second click does nothing
        kinds = [e.kind for e in session.get(Report, report_id).events]
    assert kinds == ["created", "confirmed"]


def test_an_expired_link_does_not_publish(store) -> None:
    with store.session() as session:
        report, secret = submit(session, read(LIGHT, {"light_state": "out"}), needs_confirmation=True, now=T0)
        report_id = report.id
    late = T0 + timedelta(hours=RULES.confirmation_hours, seconds=1)
    with store.session() as session:
        assert confirm(session, secret, max_age=timedelta(hours=RULES.confirmation_hours), now=late) is None
        assert session.get(Report, report_id).state == "unconfirmed"


def test_moves_follow_the_state_model_and_time_to_resolve(store) -> None:
    with store.session() as session:
        report, _ = submit(session, read(LIGHT, {"light_state": "out"}), needs_confirmation=False, now=T0)
        report_id = report.id
    with store.session() as session:
        report = session.get(Report, report_id)
        move(
            session,
            report,
            "investigating",
            staff_id=None,
            note="Inspector on the way",
            now=T0 + timedelta(hours=2),
        )
        with pytest.raises(ValueError, match="cannot become"):
            move(session, report, "unconfirmed", staff_id=None)
        move(
            session, report, "fixed", staff_id=None, note="internal", public=False, now=T0 + timedelta(days=3)
        )
    with store.session() as session:
        report = session.get(Report, report_id)
        assert report.state == "fixed"
        assert report.status_notes == "Inspector on the way"  # the internal note is not the public one
        assert time_to_resolve(report) == timedelta(days=3)
        assert not is_overdue(report, now=T0 + timedelta(days=400))
        events = session.scalars(select(ReportEvent).where(ReportEvent.report_id == report_id)).all()
        assert [(e.state_to, e.public) for e in events] == [
            ("open", True),
            ("investigating", True),
            ("fixed", False),
        ]


def test_overdue_after_the_services_days_to_resolve(store) -> None:
    with store.session() as session:
        report, _ = submit(session, read(LIGHT, {"light_state": "out"}), needs_confirmation=False, now=T0)
        days = load_services().get("001").days_to_resolve
        assert not is_overdue(report, now=T0 + timedelta(days=days) - timedelta(seconds=1))
        assert is_overdue(report, now=T0 + timedelta(days=days, seconds=1))


def test_a_duplicate_names_its_original(store) -> None:
    with store.session() as session:
        first, _ = submit(session, read(LIGHT, {"light_state": "out"}), needs_confirmation=False, now=T0)
        second, _ = submit(session, read(LIGHT, {"light_state": "out"}), needs_confirmation=False, now=T0)
        with pytest.raises(ValueError, match="must name"):
            move(session, second, "duplicate", staff_id=None)
        with pytest.raises(ValueError, match="must name"):
            move(session, second, "duplicate", staff_id=None, duplicate_of=second.id)
        move(session, second, "duplicate", staff_id=None, duplicate_of=first.id)
        assert (second.duplicate_of, load_states()[second.state].open311) == (first.id, "closed")


def test_nearby_open_reports_of_the_same_service(store) -> None:
    # 0.0003° of latitude ≈ 33 m; 0.0006° ≈ 67 m (111,320 m per degree)
    spots = [
        ("60.16", "24.93", "001"),
        ("60.1603", "24.93", "001"),
        ("60.1606", "24.93", "001"),
        ("60.16", "24.93", "004"),
    ]
    with store.session() as session:
        ids = []
        for lat, lon, code in spots:
            attrs = {"light_state": "out"} if code == "001" else {}
            report, _ = submit(
                session,
                read({"service_code": code, "lat": lat, "long": lon}, attrs),
                needs_confirmation=False,
                now=T0,
            )
            ids.append(report.id)
        submit(session, read(LIGHT, {"light_state": "out"}), needs_confirmation=True, now=T0)
        found = nearby_open(
            session, jurisdiction=CITY.id, service_code="001", lat=60.16, lon=24.93, radius_m=50
        )
    assert [r.id for r, _ in found] == ids[:2]  # not the one 67 m away, not another service, not unconfirmed
    assert (
        found[1][1]
        == pytest.approx(metres_between(60.16, 24.93, 60.1603, 24.93))
        == pytest.approx(33.4, abs=0.1)
    )


def test_a_failed_transaction_stores_nothing(store) -> None:
    def report_then_fail() -> None:
        with store.session() as session:
            submit(session, read(LIGHT, {"light_state": "out"}), needs_confirmation=False, now=T0)
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        report_then_fail()
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Report)) == 0
