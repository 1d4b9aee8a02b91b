"""Tests for exquisite.sources.gtfs: hand-made feeds with hand-worked headways, bad input, real data."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import time
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import shapely

from exquisite.errors import InputError
from exquisite.sources.gtfs import GtfsStops, read_gtfs

MONDAY = dt.date(2024, 1, 1)  # 2024-01-01 was a Monday

STOPS = """stop_id,stop_name,stop_lat,stop_lon
A,Stop A,-30.00,-51.20
B,Stop B,-30.01,-51.20
C,Stop C,-30.02,-51.20
"""
CALENDAR = """service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date
WK,1,1,1,1,1,0,0,20240101,20240112
"""


def hms(seconds: float) -> str:
    """Format seconds as a GTFS time (hours may pass 24)."""
    s = round(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def clock(text: str) -> int:
    h, m = text.split(":")[:2]
    return int(h) * 3600 + int(m) * 60


class Feed:
    """Build a small GTFS zip: trips are added with their stops and minutes after the trip's start."""

    def __init__(self) -> None:
        self.tables: dict[str, str] = {"stops.txt": STOPS, "calendar.txt": CALENDAR}
        self.routes: dict[str, int] = {}
        self.trips: list[str] = ["route_id,service_id,trip_id,direction_id"]
        self.stop_times: list[str] = ["trip_id,arrival_time,departure_time,stop_id,stop_sequence"]
        self.n = 0

    def route(self, route_id: str, route_type: int | str = 3) -> Feed:
        self.routes[route_id] = route_type
        return self

    def trip(
        self,
        start: str | int,
        stops: list[tuple[str, float | None]],
        *,
        route: str = "R1",
        direction: str = "0",
        service: str = "WK",
        trip_id: str | None = None,
    ) -> str:
        """Add a trip leaving at ``start``; ``stops`` are (stop_id, minutes after start or None for blank)."""
        if route not in self.routes:
            self.route(route)
        self.n += 1
        trip_id = trip_id or f"T{self.n}"
        t0 = clock(start) if isinstance(start, str) else start
        self.trips.append(f"{route},{service},{trip_id},{direction}")
        for seq, (stop, minutes) in enumerate(stops, start=1):
            t = "" if minutes is None else hms(t0 + minutes * 60)
            self.stop_times.append(f"{trip_id},{t},{t},{stop},{seq}")
        return trip_id

    def every(self, first: str, last: str, step_min: int, stops: list[tuple[str, float | None]], **kw) -> int:
        """Add trips leaving every ``step_min`` minutes from ``first`` to ``last`` inclusive."""
        n = 0
        for t in range(clock(first), clock(last) + 1, step_min * 60):
            self.trip(t, stops, **kw)
            n += 1
        return n

    def write(self, path: Path, *, omit: tuple[str, ...] = (), **tables: str) -> Path:
        files = dict(self.tables)
        files["routes.txt"] = "route_id,route_type\n" + "".join(f"{r},{t}\n" for r, t in self.routes.items())
        files["trips.txt"] = "\n".join(self.trips) + "\n"
        files["stop_times.txt"] = "\n".join(self.stop_times) + "\n"
        files.update({k.replace("__", "."): v for k, v in tables.items()})
        with zipfile.ZipFile(path, "w") as z:
            for name, text in files.items():
                if name not in omit:
                    z.writestr(name, text)
        return path


def row(result: GtfsStops, stop_id: str) -> dict:
    rows = result.stops[result.stops["stop_id"] == stop_id]
    assert len(rows) == 1, f"{stop_id} not in {list(result.stops['stop_id'])}"
    return rows.iloc[0].to_dict()


# ------------------------------------------------------------------------------------------------ headways


def test_busiest_direction_gives_the_headway(tmp_path):
    feed = Feed()
    # direction 0: A -> B -> C, at B every 10 min from 07:00 to 18:50 (72), plus one at 06:50 and one at 19:00
    feed.every("06:45", "18:55", 10, [("A", 0), ("B", 5), ("C", 10)], direction="0")
    # direction 1: C -> B -> A, at B every 15 min from 07:00 to 18:45 (48)
    feed.every("06:55", "18:40", 15, [("C", 0), ("B", 5), ("A", 10)], direction="1")
    result = read_gtfs([feed.write(tmp_path / "city.zip")], date=MONDAY)
    b = row(result, "B")
    assert b["departures"] == 72 + 48
    assert b["headway_min"] == pytest.approx(10.0)
    assert b["capacity"] == "low"
    assert b["route_types"] == "3"
    assert b["feed"] == "city"
    assert b["name"] == "Stop B"
    assert b["geometry"].equals(shapely.Point(-51.20, -30.01))
    # A: direction 0 departs 06:45..18:55 -> 07:05..18:55 in the window = 72; direction 1 at +10 min: 48
    assert row(result, "A")["headway_min"] == pytest.approx(10.0)
    assert result.stops.crs.to_epsg() == 4326
    assert result.service_dates == {"city": MONDAY}
    assert result.feeds == ["city"]
    assert result.warnings == []


def test_window_is_start_inclusive_end_exclusive(tmp_path):
    feed = Feed()
    for start in ("06:59", "07:00", "18:59", "19:00"):
        feed.trip(start, [("A", 0), ("B", 1)])
    b = row(read_gtfs([feed.write(tmp_path / "f.zip")], date=MONDAY), "A")
    assert b["departures"] == 2
    assert b["headway_min"] == pytest.approx(360.0)
    narrow = read_gtfs([feed.write(tmp_path / "f.zip")], date=MONDAY, window=("07:00", "08:00"))
    assert row(narrow, "A")["departures"] == 1
    assert row(narrow, "A")["headway_min"] == pytest.approx(60.0)


def test_routes_pool_by_direction_like_the_peer_or_split_by_route(tmp_path):
    feed = Feed()
    feed.every("07:00", "18:40", 20, [("A", 0), ("B", 5)], route="R1")  # 36 at A
    feed.every("07:10", "18:50", 20, [("A", 0), ("C", 5)], route="R2")  # 36 at A, same direction_id 0
    path = feed.write(tmp_path / "f.zip")
    pooled = row(read_gtfs([path], date=MONDAY), "A")
    assert pooled["headway_min"] == pytest.approx(10.0)
    split = row(read_gtfs([path], date=MONDAY, headway_by="route_direction"), "A")
    assert split["headway_min"] == pytest.approx(20.0)
    assert split["departures"] == pooled["departures"] == 72


def test_no_departure_in_the_window_is_nan(tmp_path):
    feed = Feed()
    feed.trip("05:00", [("A", 0), ("B", 10)])
    feed.trip("21:00", [("A", 0), ("B", 10)])
    result = read_gtfs([feed.write(tmp_path / "f.zip")], date=MONDAY)
    a = row(result, "A")
    assert a["departures"] == 0
    assert math.isnan(a["headway_min"])
    assert set(result.stops["stop_id"]) == {"A", "B"}


def test_times_past_midnight_belong_to_their_service_day(tmp_path):
    feed = Feed()
    feed.tables["calendar.txt"] = CALENDAR.replace("WK,1,1,1,1,1,0,0", "WK,1,0,0,0,0,0,0")  # Mondays only
    feed.trip("25:10", [("A", 0), ("B", 10)])
    path = feed.write(tmp_path / "f.zip")
    monday = read_gtfs([path], date=MONDAY)
    assert row(monday, "A")["departures"] == 0  # 01:10 on Tuesday: not in Monday's 07-19 window
    late = read_gtfs([path], date=MONDAY, window=("25:00", "26:00"))
    assert row(late, "A")["departures"] == 1
    assert row(late, "A")["headway_min"] == pytest.approx(60.0)
    # on Tuesday the Monday trip runs at 01:10 and 01:20
    tuesday = read_gtfs([path], date=MONDAY + dt.timedelta(days=1), window=("01:00", "02:00"))
    assert row(tuesday, "B")["departures"] == 1
    assert tuesday.service_dates["f"] == MONDAY + dt.timedelta(days=1)


def test_blank_times_are_interpolated_by_position(tmp_path):
    feed = Feed()
    feed.trip("07:00", [("A", 0), ("B", None), ("C", 10)])
    feed.trip("07:20", [("A", 0), ("B", 5), ("C", None)])  # C has no time after it: dropped
    path = feed.write(tmp_path / "f.zip")
    result = read_gtfs([path], date=MONDAY, window=("07:05", "07:06"))
    assert row(result, "B")["departures"] == 1  # 07:05, halfway between 07:00 and 07:10
    assert row(result, "A")["departures"] == 0
    assert result.warnings == [
        "f.zip: 1 stop_times.txt rows with a blank time and no timed stop before or after them in their "
        "trip were dropped"
    ]


def test_arrival_time_is_used_when_departure_is_blank(tmp_path):
    feed = Feed()
    feed.trip("07:00", [("A", 0), ("B", 10)])
    feed.stop_times[-1] = "T1,07:30:00,,B,2"
    result = read_gtfs([feed.write(tmp_path / "f.zip")], date=MONDAY, window=("07:30", "07:31"))
    assert row(result, "B")["departures"] == 1


def test_frequencies_are_counted_in_the_window(tmp_path):
    feed = Feed()
    # template times (10:00) are only offsets: A +0, B +5 min
    feed.trip("10:00", [("A", 0), ("B", 5)], trip_id="F1")
    frequencies = (
        "trip_id,start_time,end_time,headway_secs\n"
        "F1,06:00:00,09:00:00,600\n"  # starts 06:00..08:50: A 07:00..08:50 = 12; B 07:05..08:55 = 12
        "F1,09:00:00,22:00:00,1200\n"  # starts 09:00..21:40: A 09:00..18:40 = 30; B 09:05..18:45 = 30
    )
    result = read_gtfs([feed.write(tmp_path / "f.zip", frequencies__txt=frequencies)], date=MONDAY)
    assert row(result, "A")["departures"] == 42
    assert row(result, "B")["departures"] == 42
    assert row(result, "A")["headway_min"] == pytest.approx(720 / 42)


def test_frequencies_add_to_scheduled_trips_at_the_same_stop(tmp_path):
    feed = Feed()
    feed.trip("00:00", [("A", 0), ("B", 5)], trip_id="F1")
    feed.every("07:00", "18:30", 30, [("A", 0), ("B", 5)])  # 24 scheduled
    frequencies = "trip_id,start_time,end_time,headway_secs,exact_times\nF1,07:00:00,19:00:00,1800,1\n"
    result = read_gtfs([feed.write(tmp_path / "f.zip", frequencies__txt=frequencies)], date=MONDAY)
    assert row(result, "A")["departures"] == 48
    assert row(result, "A")["headway_min"] == pytest.approx(15.0)


def test_calendar_dates_remove_and_add_and_the_busiest_weekday_is_chosen(tmp_path):
    feed = Feed()
    feed.tables["calendar.txt"] = CALENDAR + "BIG,1,1,1,1,1,1,1,20240101,20240112\n"
    feed.trip("08:00", [("A", 0), ("B", 5)], service="WK")
    feed.trip("09:00", [("B", 0), ("C", 5)], service="BIG")
    feed.trip("10:00", [("B", 0), ("C", 5)], service="BIG")
    feed.trip("11:00", [("A", 0), ("C", 5)], service="EXTRA")
    dates = (
        "service_id,date,exception_type\n"
        "BIG,20240101,2\n"  # Monday: BIG removed -> 1 trip
        "EXTRA,20240106,1\n"  # Saturday: added, but not a weekday
    )
    path = feed.write(tmp_path / "f.zip", calendar_dates__txt=dates)
    result = read_gtfs([path])
    assert result.service_dates["f"] == dt.date(2024, 1, 2)  # first weekday with 3 trips
    assert set(result.stops["stop_id"]) == {"A", "B", "C"}
    monday = read_gtfs([path], date=MONDAY)
    assert set(monday.stops["stop_id"]) == {"A", "B"}
    assert "f.zip: 1 stops have no departure on 2024-01-01 and were left out" in monday.warnings
    saturday = read_gtfs([path], date=dt.date(2024, 1, 6))  # BIG (every day) + EXTRA
    assert row(saturday, "A")["departures"] == 1


def test_feed_with_only_calendar_dates(tmp_path):
    feed = Feed()
    feed.trip("08:00", [("A", 0), ("B", 5)], service="S")
    feed.trip("09:00", [("A", 0), ("B", 5)], service="S2")
    dates = "service_id,date,exception_type\nS,20240105,1\nS,20240108,1\nS2,20240108,1\nS2,20240113,1\n"
    result = read_gtfs([feed.write(tmp_path / "f.zip", omit=("calendar.txt",), calendar_dates__txt=dates)])
    assert result.service_dates["f"] == dt.date(2024, 1, 8)
    assert row(result, "A")["departures"] == 2


def test_trips_without_direction_id_get_their_direction_inferred(tmp_path):
    """A rail line without direction_id, trains every 10 min each way: 10 min headway, not 5."""
    feed = Feed().route("L1", 2)
    feed.trips[0] = "route_id,service_id,trip_id"
    stops = [("A", 0), ("B", 5), ("C", 10)]
    n = 0
    for t in range(clock("07:00"), clock("18:50") + 1, 600):
        n += 2
        feed.trips.append(f"L1,WK,up{n}")
        feed.trips.append(f"L1,WK,down{n}")
        for seq, (stop, m) in enumerate(stops, start=1):
            feed.stop_times.append(f"up{n},{hms(t + m * 60)},{hms(t + m * 60)},{stop},{seq}")
        for seq, (stop, m) in enumerate(reversed(stops), start=1):
            feed.stop_times.append(f"down{n},{hms(t + m * 60)},{hms(t + m * 60)},{stop},{seq}")
    # a short turn C -> B runs in the "down" direction too
    feed.trips.append("L1,WK,short")
    feed.stop_times += ["short,12:01:00,12:01:00,C,1", "short,12:04:00,12:04:00,B,2"]
    result = read_gtfs([feed.write(tmp_path / "rail.zip")], date=MONDAY, window=("07:00", "19:00"))
    b = row(result, "B")
    assert b["capacity"] == "high"
    assert b["departures"] == 72 + 72 + 1
    assert b["headway_min"] == pytest.approx(720 / 73)


@pytest.mark.parametrize(
    ("route_type", "tram", "capacity"),
    [
        (0, None, "low"),
        (0, "high", "high"),
        (900, None, "low"),
        (905, "high", "high"),
        (1, None, "high"),
        (2, None, "high"),
        (4, None, "high"),
        (6, None, "high"),
        (7, None, "high"),
        (11, None, "low"),
        (12, None, "high"),
        (109, None, "high"),
        (401, None, "high"),
        (700, None, "low"),
        (800, None, "low"),
        (1200, None, "high"),
    ],
)
def test_capacity_class_by_route_type(tmp_path, route_type, tram, capacity):
    feed = Feed().route("R1", route_type)
    feed.trip("08:00", [("A", 0), ("B", 5)])
    result = read_gtfs([feed.write(tmp_path / "f.zip")], date=MONDAY, tram_capacity=tram)
    assert row(result, "A")["capacity"] == capacity
    assert row(result, "A")["route_types"] == str(route_type)


def test_stop_takes_the_highest_capacity_of_its_routes(tmp_path):
    feed = Feed().route("BUS", 3).route("RAIL", 2).route("TAXI", 1500).route("ODD", 9)
    feed.trip("08:00", [("A", 0), ("B", 5)], route="BUS")
    feed.trip("08:00", [("B", 0), ("C", 5)], route="RAIL")
    feed.trip("08:00", [("C", 0), ("A", 5)], route="TAXI")
    feed.trip("09:00", [("C", 0), ("A", 5)], route="ODD")
    result = read_gtfs([feed.write(tmp_path / "f.zip")], date=MONDAY)
    assert row(result, "B")["capacity"] == "high"
    assert row(result, "B")["route_types"] == "2,3"
    assert row(result, "A")["capacity"] == "low"
    assert row(result, "A")["route_types"] == "3,9"
    assert row(result, "A")["departures"] == 2  # the taxi trip is not counted
    assert any("1 trips of route_type 1500" in w for w in result.warnings)
    assert any("route_type that gtfs.yml does not list ('9')" in w for w in result.warnings)


def test_parent_stations_take_no_departures(tmp_path):
    feed = Feed()
    feed.tables["stops.txt"] = (
        "stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n"
        "P,Station,-30.00,-51.20,1,\n"
        "A,Platform 1,-30.00,-51.2001,0,P\n"
        "B,Platform 2,-30.01,-51.2001,,P\n"
        "C,No coordinates,,,0,\n"
    )
    feed.trip("08:00", [("A", 0), ("B", 5), ("C", 10)])
    feed.trip("09:00", [("P", 0), ("B", 5)])
    result = read_gtfs([feed.write(tmp_path / "f.zip")], date=MONDAY)
    assert list(result.stops["stop_id"]) == ["A", "B"]
    assert row(result, "B")["departures"] == 2
    assert any("1 stop_times.txt rows at parent stations" in w for w in result.warnings)
    assert "f.zip: 1 stops with service have no usable stop_lat/stop_lon and were dropped" in result.warnings


def test_several_feeds_prefix_their_stop_ids(tmp_path):
    one, two = Feed(), Feed().route("M", 1)
    one.trip("08:00", [("A", 0), ("B", 5)])
    two.trip("08:00", [("A", 0), ("C", 5)], route="M")
    (tmp_path / "x").mkdir()
    paths = [
        one.write(tmp_path / "bus.zip"),
        two.write(tmp_path / "metro.zip"),
        one.write(tmp_path / "x" / "bus.zip"),
    ]
    result = read_gtfs(paths, date=MONDAY)
    assert result.feeds == ["bus", "metro", "bus-2"]
    assert set(result.stops["stop_id"]) == {
        "bus:A", "bus:B", "metro:A", "metro:C", "bus-2:A", "bus-2:B"
    }  # fmt: skip
    assert row(result, "metro:A")["capacity"] == "high"
    assert set(result.service_dates) == {"bus", "metro", "bus-2"}


def test_boundary_drops_stops_outside_with_a_count(tmp_path):
    feed = Feed()
    feed.trip("08:00", [("A", 0), ("B", 5), ("C", 10)])
    box = shapely.box(-51.3, -30.015, -51.1, -29.9)  # A and B inside, C outside
    result = read_gtfs([feed.write(tmp_path / "f.zip")], date=MONDAY, boundary=box)
    assert list(result.stops["stop_id"]) == ["A", "B"]
    assert result.warnings == ["f.zip: 1 stops outside the study area were dropped"]


def test_a_single_path_is_taken_as_one_feed(tmp_path):
    feed = Feed()
    feed.trip("08:00", [("A", 0), ("B", 5)])
    result = read_gtfs(feed.write(tmp_path / "one.zip"), date=MONDAY)
    assert list(result.stops["stop_id"]) == ["A", "B"]


def test_no_feeds_gives_an_empty_table():
    result = read_gtfs([])
    assert len(result.stops) == 0
    assert list(result.stops.columns) == [
        "stop_id", "feed", "name", "capacity", "route_types", "departures", "headway_min", "geometry"
    ]  # fmt: skip


def test_unreadable_times_in_a_few_rows_are_dropped_with_a_count(tmp_path):
    feed = Feed()
    feed.trip("08:00", [("A", 0), ("B", 5), ("C", 10)])
    feed.trip("09:00", [("A", 0), ("B", 5), ("C", 10)])
    feed.stop_times[2] = "T1,7:6x:00,7:6x:00,B,2"
    result = read_gtfs([feed.write(tmp_path / "poa.zip")], date=MONDAY)
    assert row(result, "B")["departures"] == 1
    assert row(result, "A")["departures"] == 2
    assert result.warnings == [
        "poa.zip: 1 stop_times.txt rows with a time that is not HH:MM:SS were dropped "
        "(first: row 3, departure_time '7:6x:00' is not HH:MM:SS)"
    ]


# ------------------------------------------------------------------------------------------------ bad input


def bad_inputs(tmp_path: Path) -> dict[str, tuple[list[Path], dict, str]]:
    """Broken feeds: name -> (paths, keyword arguments, a text the message must contain)."""
    good = Feed()
    good.trip("08:00", [("A", 0), ("B", 5)])
    cases: dict[str, tuple[list[Path], dict, str]] = {}

    def case(name: str, path: Path, text: str, **kw) -> None:
        cases[name] = ([path], kw, text)

    case("missing_file", tmp_path / "nothing.zip", "does not exist")
    (tmp_path / "folder").mkdir()
    case("folder", tmp_path / "folder", "is a folder")
    (tmp_path / "text.zip").write_text("stop_id,stop_name\n")
    case("not_a_zip", tmp_path / "text.zip", "is not a zip file")
    good.write(tmp_path / "whole.zip")
    (tmp_path / "truncated.zip").write_bytes((tmp_path / "whole.zip").read_bytes()[:300])
    case("truncated_zip", tmp_path / "truncated.zip", "not a zip file")
    case("no_stop_times", good.write(tmp_path / "a.zip", omit=("stop_times.txt",)), "has no stop_times.txt")
    case(
        "no_stops_trips",
        good.write(tmp_path / "b.zip", omit=("stops.txt", "trips.txt")),
        "no stops.txt, no trips.txt",
    )
    case("no_calendar", good.write(tmp_path / "c.zip", omit=("calendar.txt",)), "calendar_dates.txt")
    case("empty_member", good.write(tmp_path / "d.zip", stops__txt=""), "stops.txt: is empty")
    case("no_column", good.write(tmp_path / "e.zip", stops__txt="stop_id,stop_lat\nA,1\n"), "'stop_lon'")
    case(
        "garbage_csv",
        good.write(tmp_path / "g.zip", stop_times__txt='trip_id,stop_id,stop_sequence\n"T1,A,1\n'),
        "stop_times.txt",
    )
    case("binary_member", good.write(tmp_path / "h.zip", routes__txt="\x00\x01\x02\xff"), "routes.txt")
    header = "trip_id,stop_id,stop_sequence,departure_time\n"
    case("header_only", good.write(tmp_path / "i.zip", stop_times__txt=header), "has no rows")
    all_bad = (
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence\nT1,7:6x:00,7:6x:00,A,1\nT1,,8:00,B,2\n"
    )
    case(
        "all_times_bad",
        good.write(tmp_path / "poa.zip", stop_times__txt=all_bad),
        "poa.zip: stop_times.txt row 2: departure_time '7:6x:00' is not HH:MM:SS",
    )
    weekend = CALENDAR.replace("WK,1,1,1,1,1,0,0", "WK,0,0,0,0,0,1,1")
    case("weekend_only", good.write(tmp_path / "w.zip", calendar__txt=weekend), "no trips on any weekday")
    case(
        "date_outside", good.write(tmp_path / "o.zip"), "has no trips on 2030-01-01", date=dt.date(2030, 1, 1)
    )
    bad_dates = CALENDAR.replace("20240101", "2024-01-01")
    case("calendar_bad_dates", good.write(tmp_path / "bd.zip", calendar__txt=bad_dates), "no usable rows")
    case(
        "outside_boundary",
        good.write(tmp_path / "far.zip"),
        "inside the study area",
        boundary=shapely.box(10, 50, 11, 51),
    )
    case(
        "projected_boundary",
        good.write(tmp_path / "p.zip"),
        "not longitude/latitude",
        boundary=shapely.box(480000, 6670000, 490000, 6680000),
    )
    case("bad_window", good.write(tmp_path / "bw.zip"), "not a time", window=("7h", "19:00"))
    case("window_not_a_pair", good.write(tmp_path / "wp.zip"), "window", window="07:00-19:00")
    case("reversed_window", good.write(tmp_path / "rw.zip"), "before it starts", window=("19:00", "07:00"))
    case("bad_tram", good.write(tmp_path / "bt.zip"), "tram_capacity", tram_capacity="medium")
    case("bad_date", good.write(tmp_path / "bdt.zip"), "not a date", date="2024-01-01")
    no_coords = "stop_id,stop_lat,stop_lon\nA,,\nB,x,y\n"
    case("no_coordinates", good.write(tmp_path / "nc.zip", stops__txt=no_coords), "stop_lat/stop_lon")
    blank = "trip_id,arrival_time,departure_time,stop_id,stop_sequence\nT1,,,A,1\nT1,,,B,2\n"
    case("all_times_blank", good.write(tmp_path / "bl.zip", stop_times__txt=blank), "no departure")
    return cases


BAD = [
    "missing_file", "folder", "not_a_zip", "truncated_zip", "no_stop_times", "no_stops_trips",
    "no_calendar", "empty_member", "no_column", "garbage_csv", "binary_member", "header_only",
    "all_times_bad", "weekend_only", "date_outside", "calendar_bad_dates", "outside_boundary",
    "projected_boundary", "bad_window", "reversed_window", "bad_tram", "bad_date", "no_coordinates",
    "all_times_blank", "window_not_a_pair",
]  # fmt: skip


@pytest.mark.parametrize("name", BAD)
def test_bad_input_is_an_input_error_naming_the_problem(tmp_path, name):
    cases = bad_inputs(tmp_path)
    assert sorted(cases) == sorted(BAD)
    paths, kw, text = cases[name]
    with pytest.raises(InputError) as info:
        read_gtfs(paths, **kw)
    assert text in str(info.value)


def test_only_input_errors_for_randomly_corrupted_feeds(tmp_path):
    """Corrupt one member of a good feed at random, 80 times: a result or an InputError, nothing else."""
    good = Feed().route("M", 1)
    good.every("07:00", "08:00", 20, [("A", 0), ("B", None), ("C", 10)], direction="0")
    good.every("07:05", "08:05", 30, [("C", 0), ("B", 5), ("A", 10)], route="M", direction="1")
    good.write(tmp_path / "good.zip", calendar_dates__txt="service_id,date,exception_type\nWK,20240102,2\n")
    with zipfile.ZipFile(tmp_path / "good.zip") as z:
        members = {name: z.read(name) for name in z.namelist()}
    rng = np.random.default_rng(11)
    junk = [b",", b'"', b"\n", b":", b"\xff", b"\x00", b"-1", b"99:99:99", b"", b" ", b"NA", b"1e9"]
    outcomes = defaultdict(int)
    messages: list[str] = []
    for i in range(80):
        name = sorted(members)[rng.integers(len(members))]
        data = bytearray(members[name])
        body = data.index(b"\n") + 1 if i % 4 else 0  # mostly the rows, sometimes the header too
        for _ in range(rng.integers(1, 6)):
            at = int(rng.integers(body, len(data) + 1))
            cut = int(rng.integers(0, 4))
            data[at : at + cut] = junk[rng.integers(len(junk))]
        path = tmp_path / f"fuzz{i}.zip"
        with zipfile.ZipFile(path, "w") as z:
            for member, content in members.items():
                z.writestr(member, bytes(data) if member == name else content)
        try:
            result = read_gtfs([path], date=MONDAY + dt.timedelta(days=2))
        except InputError as err:
            messages.append(str(err))
        else:
            assert result.stops["headway_min"].isna().sum() <= len(result.stops)
            outcomes["ok"] += 1
    assert outcomes["ok"] > 0
    assert messages
    assert all(m.strip() for m in messages)


def test_stop_id_na_is_kept_as_text_and_entrances_are_not_stops(tmp_path):
    """The peer read stop_id "NA" as missing (GHSCI #326)."""
    feed = Feed()
    feed.tables["stops.txt"] = (
        "stop_id,stop_name,stop_lat,stop_lon,location_type\n"
        "NA,North Avenue,-30.00,-51.20,\n"
        "B,B,-30.01,-51.20,0\n"
        "E,Entrance,-30.01,-51.21,2\n"
    )
    feed.trip("08:00", [("NA", 0), ("B", 5)])
    result = read_gtfs([feed.write(tmp_path / "f.zip")], date=MONDAY)
    assert list(result.stops["stop_id"]) == ["B", "NA"]
    assert result.warnings == []


def test_a_feed_of_taxis_only_is_an_error(tmp_path):
    feed = Feed().route("TX", 1500)
    feed.trip("08:00", [("A", 0), ("B", 5)], route="TX")
    with pytest.raises(InputError, match="has no trip of a public transport route"):
        read_gtfs([feed.write(tmp_path / "f.zip")])


def test_weekend_only_feed_error_has_a_hint(tmp_path):
    paths, kw, _ = bad_inputs(tmp_path)["weekend_only"]
    with pytest.raises(InputError) as info:
        read_gtfs(paths, **kw)
    assert "2024-01-01 to 2024-01-12" in info.value.problem
    assert "date" in info.value.hint


def test_missing_member_error_names_the_member(tmp_path):
    paths, _, _ = bad_inputs(tmp_path)["no_stop_times"]
    with pytest.raises(InputError) as info:
        read_gtfs(paths)
    assert info.value.where.endswith("a.zip")
    assert info.value.problem == "has no stop_times.txt"


# --------------------------------------------------------------------------------------------- Porto Alegre


def reference_headways(path: Path, day: dt.date, window: tuple[int, int]) -> dict[str, tuple[int, float]]:
    """A slow, plain reference: per stop, (departures in window, window / busiest direction's departures)."""
    with zipfile.ZipFile(path) as z:

        def table(name: str) -> list[dict[str, str]]:
            return list(csv.DictReader(io.TextIOWrapper(z.open(name), encoding="utf-8-sig")))

        calendar, dates, trips, stop_times = (
            table("calendar.txt"),
            table("calendar_dates.txt"),
            table("trips.txt"),
            table("stop_times.txt"),
        )
    key = day.strftime("%Y%m%d")
    weekday = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"][day.weekday()]
    active = {
        c["service_id"] for c in calendar if c["start_date"] <= key <= c["end_date"] and c[weekday] == "1"
    }
    active |= {d["service_id"] for d in dates if d["date"] == key and d["exception_type"] == "1"}
    active -= {d["service_id"] for d in dates if d["date"] == key and d["exception_type"] == "2"}
    direction = {t["trip_id"]: t["direction_id"] for t in trips if t["service_id"] in active}
    by_trip: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for r in stop_times:
        if r["trip_id"] in direction:
            by_trip[r["trip_id"]].append((int(r["stop_sequence"]), r["stop_id"], r["departure_time"]))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for trip_id, rows in by_trip.items():
        rows.sort()
        secs = [
            None if not t else sum(int(x) * f for x, f in zip(t.split(":"), (3600, 60, 1), strict=True))
            for _, _, t in rows
        ]
        timed = [i for i, s in enumerate(secs) if s is not None]
        for i, (_, stop, _) in enumerate(rows):
            before = [j for j in timed if j <= i]
            after = [j for j in timed if j >= i]
            if not before or not after:
                continue
            p, q = before[-1], after[0]
            t = secs[p] if p == q else secs[p] + (secs[q] - secs[p]) * (i - p) / (q - p)
            counts[stop][direction[trip_id]] += window[0] <= t < window[1]
    minutes = (window[1] - window[0]) / 60
    return {
        stop: (sum(c.values()), minutes / max(c.values()) if max(c.values()) else math.nan)
        for stop, c in counts.items()
    }


@pytest.mark.slow
def test_porto_alegre_buses(shared_data):
    path = shared_data / "porto-alegre" / "poa_eptc.zip"
    t0 = time.perf_counter()
    result = read_gtfs([path])
    seconds = time.perf_counter() - t0
    stops = result.stops
    assert seconds < 10  # ~0.7 s on a laptop-class machine
    assert result.service_dates == {"poa_eptc": dt.date(2019, 4, 15)}  # a Monday, weekdays are all alike
    assert len(stops) == 3986
    assert set(stops["capacity"]) == {"low"}
    assert set(stops["route_types"]) == {"3"}
    assert stops["stop_id"].is_unique
    assert stops.geometry.x.between(-51.35, -51.0).all()
    assert stops.geometry.y.between(-30.3, -29.9).all()
    assert stops["headway_min"].notna().all()
    assert stops["headway_min"].median() == pytest.approx(45.0, abs=5)
    # the peer lost most stops to blank times (issue #359); interpolation keeps every one
    expected = reference_headways(path, dt.date(2019, 4, 15), (7 * 3600, 19 * 3600))
    assert len(expected) == len(stops)
    got = stops.set_index("stop_id")
    sample = sorted(expected)[::37]
    for stop in sample:
        departures, headway = expected[stop]
        assert got.at[stop, "departures"] == departures, stop
        assert got.at[stop, "headway_min"] == pytest.approx(headway), stop


@pytest.mark.slow
def test_porto_alegre_metro_and_buses_together(shared_data):
    folder = shared_data / "porto-alegre"
    result = read_gtfs([folder / "poa_eptc.zip", folder / "poa_trensurb.zip"])
    stops = result.stops
    assert result.feeds == ["poa_eptc", "poa_trensurb"]
    metro = stops[stops["feed"] == "poa_trensurb"]
    assert len(metro) == 24
    assert set(metro["capacity"]) == {"high"}
    assert metro["stop_id"].str.startswith("poa_trensurb:").all()
    # trains run every 5-10 minutes each way on weekdays; inferred directions keep a station from counting
    # both ways as one (which would halve the headway)
    assert metro["headway_min"].between(5, 12).all()
    assert (stops["capacity"] == "low").sum() == 3986
    assert result.service_dates["poa_trensurb"].weekday() < 5
    assert np.isfinite(stops["headway_min"]).all()
