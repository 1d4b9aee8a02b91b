"""Read GTFS feeds: the stops with service, their SDG 11.2.1 capacity class and weekday-daytime headways.

Method (after GHSCI's ``get_hlc_stop_frequency``, see ``shared/reference/peer-ghsci.md`` §2.6):

1. One service day is analysed per feed: the given ``date``, or else the weekday (Monday to Friday) with the
   most trips in the feed's calendar range (the earliest such day on a tie). Services come from
   ``calendar.txt`` with ``calendar_dates.txt`` additions (``exception_type`` 1) and removals (2); a feed
   with only ``calendar_dates.txt`` works too.
2. A departure is a ``stop_times.txt`` row's ``departure_time`` (its ``arrival_time`` when the departure is
   blank). Times past 24:00:00 belong to the service day they are listed under, so the previous service
   day's trips after midnight count on the analysed date too. Blank times between two timed stops of a trip
   are interpolated linearly by the stop's position in the trip (GHSCI's ``interpolate_stop_times``,
   which Porto Alegre's bus feed needs: 96 % of its times are blank); rows that cannot be interpolated
   (no time before or after them in their trip) are dropped with a warning that counts them.
3. Trips listed in ``frequencies.txt`` run every ``headway_secs`` from ``start_time`` (inclusive) to
   ``end_time`` (exclusive), their ``stop_times.txt`` giving the offsets from the first stop; their
   departures in the window are counted exactly (equivalent to expanding them) and added to the scheduled
   departures at the same stop and direction.
4. Per stop and direction, ``departures`` counts the departures in the window ``[start, end)``; the
   direction's headway is the window length in minutes divided by its departures, and the stop's headway
   is the minimum over its directions (a stop served often one way but rarely the other is not penalised).
   Directions are ``trips.txt: direction_id`` pooled over routes, as in GHSCI (or route x direction with
   ``headway_by="route_direction"``). Where ``direction_id`` is blank or absent, a trip's direction is
   inferred from the order in which it passes the stops of its route's longest trip, so that a rail
   station served both ways is not given half its headway (GHSCI puts such trips in one direction).
5. A stop's capacity class is the highest over the routes serving it that day, by ``route_type`` from
   ``exquisite/data/gtfs.yml``. Parent stations (``location_type`` 1) take no departures themselves.

Every problem with the input is an :class:`~exquisite.errors.InputError` naming the file, the member and
the row; problems that leave enough data to go on are counted in ``GtfsStops.warnings`` instead.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import yaml

from exquisite.errors import InputError

__all__ = ["GtfsStops", "read_gtfs"]

CAPACITY_NAMES = {2: "high", 1: "low"}
"""Capacity rank to class name (higher rank = higher capacity)."""

_RANK = {"high": 2, "low": 1, "none": 0}
_DAY_S = 86_400
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME_RE = r"^(\d{1,3}):([0-5]\d):([0-5]\d)$"
_REQUIRED_MEMBERS = ("stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
_COLUMNS = ["stop_id", "feed", "name", "capacity", "route_types", "departures", "headway_min"]


@dataclass(frozen=True)
class GtfsStops:
    """Public transport stops with service, read from one or more GTFS feeds.

    Attributes
    ----------
    stops
        One row per stop with at least one departure on its feed's analysed day, EPSG:4326, columns:
        ``stop_id`` (str; ``"<feed>:<stop_id>"`` when several feeds were read), ``feed``, ``name``,
        ``capacity`` (``"high"`` or ``"low"``, the highest over the routes serving the stop), ``route_types``
        (the GTFS ``route_type`` codes serving it, e.g. ``"1,3"``), ``departures`` (int, departures in the
        window over all directions), ``headway_min`` (float, the window length divided by the departures
        of the stop's busiest direction; NaN when nothing departs in the window) and ``geometry`` (Point).
    warnings
        Human sentences counting what was dropped or assumed, each starting with the feed's file name.
    service_dates
        The analysed service day of each feed, by feed name.
    feeds
        Feed names (the zip file names without ``.zip``), in the order given.
    """

    stops: gpd.GeoDataFrame
    warnings: list[str] = field(default_factory=list)
    service_dates: dict[str, dt.date] = field(default_factory=dict)
    feeds: list[str] = field(default_factory=list)


def read_gtfs(
    paths: Sequence[Path | str] | Path | str,
    *,
    boundary: shapely.Geometry | None = None,
    window: tuple[str, str] = ("07:00", "19:00"),
    date: dt.date | None = None,
    tram_capacity: Literal["low", "high"] | None = None,
    headway_by: Literal["direction", "route_direction"] = "direction",
) -> GtfsStops:
    """Read GTFS zip files into stops with their capacity class and headway in a time window.

    Parameters
    ----------
    paths
        GTFS zip files (or a single one). Stop ids are prefixed with the feed name (the file name without
        ``.zip``) when there are several.
    boundary
        Study area in EPSG:4326 (longitude, latitude). Stops outside it are dropped and counted in the
        warnings; a feed with no stop inside it is an error.
    window
        Start and end of the service window, ``"HH:MM"`` or ``"HH:MM:SS"``; departures at ``start`` count
        and departures at ``end`` do not. Hours may pass 24 (``"25:00"``) as in GTFS.
    date
        The service day to analyse in every feed. ``None`` takes, for each feed, the weekday (Monday to
        Friday) with the most trips in its calendar range.
    tram_capacity
        Capacity class of trams and cable trams (``route_type`` 0, 5, 900-999); ``None`` uses the default
        in ``exquisite/data/gtfs.yml`` (low, as in the SDG 11.2.1 descriptions).
    headway_by
        ``"direction"`` (default, as GHSCI) pools the routes at a stop by ``direction_id`` before taking the
        busiest direction; ``"route_direction"`` takes the busiest single route and direction.

    Returns
    -------
    GtfsStops
        The stops, the warnings, and the analysed day of each feed.

    Raises
    ------
    InputError
        For a missing or unreadable file, a zip without a required member or column, times that cannot be
        read, a feed without weekday service (or without service on ``date``), or a feed with no stop inside
        ``boundary``.
    """
    params = _params()
    if tram_capacity is None:
        tram_capacity = params["tram_capacity"]
    if tram_capacity not in ("low", "high"):
        raise InputError("tram_capacity", f"is {tram_capacity!r}", "Use 'low' or 'high'.")
    if headway_by not in ("direction", "route_direction"):
        raise InputError("headway_by", f"is {headway_by!r}", "Use 'direction' or 'route_direction'.")
    try:
        start, end = window
    except (TypeError, ValueError):
        raise InputError("window", f"is {window!r}", "Give (start, end), e.g. ('07:00', '19:00').") from None
    win = (_parse_clock(start, "window start"), _parse_clock(end, "window end"))
    if win[1] <= win[0]:
        raise InputError("window", f"ends ({window[1]}) before it starts ({window[0]})", "Give (start, end).")
    if boundary is not None:
        _check_boundary(boundary)
    if isinstance(date, dt.datetime):
        date = date.date()
    if date is not None and not isinstance(date, dt.date):
        raise InputError("date", f"is {date!r}, not a date", "Give a datetime.date, e.g. date(2019, 4, 15).")
    capacity = _capacity_table(tram_capacity)

    paths = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    names = _feed_names(paths)
    frames: list[pd.DataFrame] = []
    warnings: list[str] = []
    dates: dict[str, dt.date] = {}
    for path, name in zip(paths, names, strict=True):
        reader = _FeedReader(path, capacity=capacity, window=win, headway_by=headway_by)
        frame, day = reader.read(date)
        frame = _clip(frame, boundary, reader)
        frame.insert(1, "feed", name)
        if len(paths) > 1:
            frame["stop_id"] = name + ":" + frame["stop_id"]
        frames.append(frame)
        warnings.extend(reader.warnings)
        dates[name] = day

    table = pd.concat(frames, ignore_index=True) if frames else _empty_frame()
    stops = gpd.GeoDataFrame(
        table[_COLUMNS].reset_index(drop=True),
        geometry=gpd.points_from_xy(table["lon"], table["lat"]),
        crs="EPSG:4326",
    )
    return GtfsStops(stops=stops, warnings=warnings, service_dates=dates, feeds=names)


# --------------------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------------------


@cache
def _params() -> dict[str, Any]:
    """Load ``exquisite/data/gtfs.yml`` (cached)."""
    text = (files("exquisite") / "data" / "gtfs.yml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


@cache
def _capacity_table(tram_capacity: str) -> tuple[np.ndarray, int]:
    """Capacity rank by ``route_type`` code and the rank for unlisted codes.

    Returns
    -------
    lookup, unknown
        ``lookup[code]`` is 2 (high), 1 (low), 0 (not public transport) or -1 (not listed);
        ``unknown`` is the rank used for unlisted codes.
    """
    params = _params()
    rows = params["route_types"]
    top = max(int(str(r["types"]).split("-")[-1]) for r in rows)
    lookup = np.full(top + 1, -1, dtype=np.int8)
    for row in rows:
        low, _, high = str(row["types"]).partition("-")
        cls = tram_capacity if row["capacity"] == "tram" else row["capacity"]
        lookup[int(low) : int(high or low) + 1] = _RANK[cls]
    return lookup, _RANK[params["unknown_capacity"]]


def _feed_names(paths: list[Path]) -> list[str]:
    """Feed names from file names, made unique with ``-2``, ``-3`` … suffixes."""
    names: list[str] = []
    for path in paths:
        stem = path.name[:-4] if path.name.lower().endswith(".zip") else path.name
        name, n = stem, 1
        while name in names:
            n += 1
            name = f"{stem}-{n}"
        names.append(name)
    return names


def _parse_clock(text: str, what: str) -> int:
    """Seconds after midnight of ``"HH:MM"`` or ``"HH:MM:SS"`` (hours up to 47)."""
    parts = str(text).strip().split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        h, m, s = (int(p) for p in [*parts, "0"][:3])
        if not (0 <= h < 48 and 0 <= m < 60 and 0 <= s < 60):
            raise ValueError
    except ValueError:
        raise InputError(
            what, f"'{text}' is not a time HH:MM", "Write times like '07:00' or '19:30'."
        ) from None
    return h * 3600 + m * 60 + s


def _check_boundary(boundary: object) -> None:
    """Raise :class:`InputError` unless ``boundary`` is a geometry in longitude/latitude."""
    if not isinstance(boundary, shapely.Geometry) or boundary.is_empty:
        raise InputError("boundary", "is not a non-empty shapely geometry", "Pass the study area's polygon.")
    x0, y0, x1, y1 = boundary.bounds
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise InputError(
            "boundary",
            f"has bounds {x0:.0f}, {y0:.0f}, {x1:.0f}, {y1:.0f}, which are not longitude/latitude",
            "GTFS stops are in EPSG:4326: transform the boundary to EPSG:4326 first.",
        )


def _empty_frame() -> pd.DataFrame:
    """Return an empty stops table with the output columns."""
    frame = pd.DataFrame({c: pd.Series(dtype=str) for c in _COLUMNS[:5]})
    frame["departures"] = pd.Series(dtype=np.int64)
    frame["headway_min"] = pd.Series(dtype=float)
    frame["lon"] = pd.Series(dtype=float)
    frame["lat"] = pd.Series(dtype=float)
    return frame


def _clip(frame: pd.DataFrame, boundary: shapely.Geometry | None, reader: _FeedReader) -> pd.DataFrame:
    """Drop the stops outside ``boundary``, with a warning; none inside is an error."""
    if boundary is None:
        return frame
    inside = shapely.intersects_xy(boundary, frame["lon"].to_numpy(), frame["lat"].to_numpy())
    if not inside.any():
        raise InputError(
            str(reader.path),
            f"none of its {len(frame)} stops with service lies inside the study area",
            "Check that the boundary is in EPSG:4326 (longitude, latitude) and that this feed serves the "
            "city, or leave the feed out.",
        )
    reader.warn(int((~inside).sum()), "stops outside the study area were dropped")
    return frame[inside].reset_index(drop=True)


# --------------------------------------------------------------------------------------------------------
# Times
# --------------------------------------------------------------------------------------------------------


def _parse_times(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Parse GTFS times ``H:MM:SS`` (hours may pass 24) to seconds, vectorized.

    Returns
    -------
    seconds, bad
        Seconds after the start of the service day ("noon minus 12 h"; float, NaN for blank and bad
        values), and a mask of the values that are neither blank nor a valid time.
    """
    text = values.astype(str).str.strip()
    blank = (text == "").to_numpy()
    seconds = np.full(len(text), np.nan)
    bad = np.zeros(len(text), dtype=bool)
    if (~blank).any():
        parts = text[~blank].str.extract(_TIME_RE)
        num = parts.apply(pd.to_numeric).to_numpy(dtype=float)
        sec = num[:, 0] * 3600 + num[:, 1] * 60 + num[:, 2]
        seconds[~blank] = sec
        bad[~blank] = np.isnan(sec)
    return seconds, bad


def _interpolate(trip: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Fill blank times linearly by position between the nearest timed stops of the same trip.

    Parameters
    ----------
    trip
        Trip code of each row; rows are sorted by trip, then by ``stop_sequence``.
    seconds
        Times with NaN for blanks.

    Returns
    -------
    numpy.ndarray
        Times with the blanks that lie between two timed stops of their trip filled; others stay NaN.
    """
    n = len(seconds)
    known = ~np.isnan(seconds)
    if known.all() or n == 0:
        return seconds
    idx = np.arange(n)
    prev = np.maximum.accumulate(np.where(known, idx, -1))
    nxt = np.minimum.accumulate(np.where(known, idx, n)[::-1])[::-1]
    fill = ~known & (prev >= 0) & (nxt < n)
    rows = idx[fill]
    p, q = prev[fill], nxt[fill]
    same = (trip[p] == trip[rows]) & (trip[q] == trip[rows])
    rows, p, q = rows[same], p[same], q[same]
    out = seconds.copy()
    out[rows] = seconds[p] + (seconds[q] - seconds[p]) * (rows - p) / (q - p)
    return out


# --------------------------------------------------------------------------------------------------------
# Calendar
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Calendar:
    """Which services run on which day, from ``calendar.txt`` and ``calendar_dates.txt``."""

    service: np.ndarray  # calendar.txt service_id, per row
    days: np.ndarray  # bool (n_rows, 7): runs on Monday … Sunday
    start: np.ndarray  # datetime64[D]
    end: np.ndarray  # datetime64[D]
    ex_service: np.ndarray  # calendar_dates.txt service_id
    ex_date: np.ndarray  # datetime64[D]
    ex_add: np.ndarray  # bool: exception_type 1 (added); else 2 (removed)

    def span(self) -> tuple[np.datetime64, np.datetime64]:
        """First and last day mentioned by the calendar."""
        lo = np.concatenate([self.start, self.ex_date])
        hi = np.concatenate([self.end, self.ex_date])
        return lo.min(), hi.max()

    def active(self, day: dt.date) -> set[str]:
        """Return the service ids that run on ``day``."""
        d = np.datetime64(day, "D")
        on = (self.start <= d) & (d <= self.end) & self.days[:, day.weekday()]
        services = set(self.service[on].tolist())
        at = self.ex_date == d
        services |= set(self.ex_service[at & self.ex_add].tolist())
        services -= set(self.ex_service[at & ~self.ex_add].tolist())
        return services

    def _runs_by_calendar(self, service: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Whether each ``service`` runs on each ``day`` by ``calendar.txt`` alone (pairwise)."""
        pairs = pd.DataFrame({"service": service, "pair": np.arange(len(service))})
        rows = pairs.merge(
            pd.DataFrame({"service": self.service, "row": np.arange(len(self.service))}), on="service"
        )
        p, r = rows["pair"].to_numpy(), rows["row"].to_numpy()
        d = day[p]
        weekday = (d.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
        on = (self.start[r] <= d) & (d <= self.end[r]) & self.days[r, weekday]
        out = np.zeros(len(service), dtype=bool)
        np.logical_or.at(out, p[on], True)
        return out

    def trips_per_day(self, trips_by_service: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Count the trips on every day of the calendar's span.

        Parameters
        ----------
        trips_by_service
            Number of trips of each service id.

        Returns
        -------
        days, trips
            Every day from the first to the last day of the span (``datetime64[D]``) and its trip count.
        """
        first, last = self.span()
        n = int((last - first).astype(int)) + 1
        day_index = np.arange(n)
        weekday = (first.astype(int) + 3 + day_index) % 7  # 1970-01-01 was a Thursday
        count = np.zeros(n, dtype=np.int64)
        trips = trips_by_service.reindex(self.service, fill_value=0).to_numpy(dtype=np.int64)
        i0 = (self.start - first).astype(int)
        i1 = (self.end - first).astype(int)
        for w in range(7):
            use = self.days[:, w] & (i1 >= i0)
            diff = np.zeros(n + 1, dtype=np.int64)
            np.add.at(diff, i0[use], trips[use])
            np.add.at(diff, i1[use] + 1, -trips[use])
            count += np.where(weekday == w, np.cumsum(diff)[:n], 0)
        # an exception changes the count only where it changes whether the service runs; a removal wins
        # over an addition of the same service on the same day, as in active()
        ex = pd.DataFrame({"service": self.ex_service, "date": self.ex_date, "add": self.ex_add})
        ex = ex.sort_values("add", ascending=False, kind="stable").drop_duplicates(
            ["service", "date"], keep="last"
        )
        if not ex.empty:
            d = ex["date"].to_numpy().astype("datetime64[D]")
            by_calendar = self._runs_by_calendar(ex["service"].to_numpy(dtype=object), d)
            add = ex["add"].to_numpy(dtype=bool)
            change = (add & ~by_calendar).astype(np.int64) - (~add & by_calendar).astype(np.int64)
            ex_trips = trips_by_service.reindex(ex["service"].to_numpy(), fill_value=0).to_numpy(
                dtype=np.int64
            )
            np.add.at(count, (d - first).astype(np.int64), change * ex_trips)
        return first + day_index, count


# --------------------------------------------------------------------------------------------------------
# One feed
# --------------------------------------------------------------------------------------------------------


class _FeedReader:
    """Read one GTFS zip into a stops table; collects the feed's warnings."""

    def __init__(
        self, path: Path, *, capacity: tuple[np.ndarray, int], window: tuple[int, int], headway_by: str
    ) -> None:
        self.path = path
        self.label = path.name
        self.capacity = capacity
        self.window = window
        self.headway_by = headway_by
        self.warnings: list[str] = []
        self._zip: zipfile.ZipFile | None = None
        self._members: dict[str, str] = {}

    def warn(self, count: int, what: str) -> None:
        """Record ``"<file>: <count> <what>"`` when ``count`` is positive."""
        if count > 0:
            self.warnings.append(f"{self.label}: {count} {what}")

    # ---------------------------------------------------------------------------------------------- files

    def _open(self) -> None:
        """Open the zip and index its members by base name; raise on a missing or broken file."""
        path = self.path
        if not path.exists():
            raise InputError(str(path), "does not exist", "Check the path of the GTFS feed.")
        if path.is_dir():
            raise InputError(
                str(path), "is a folder, not a GTFS zip file", "Zip the feed's .txt files into one .zip file."
            )
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise InputError(
                str(path),
                f"is not a zip file ({err})",
                "A GTFS feed is a .zip of .txt tables; download it again or check the path.",
            ) from None
        for member in self._zip.namelist():
            pure = PurePosixPath(member)
            if member.endswith("/") or "__MACOSX" in pure.parts:
                continue
            key = pure.name.lower()
            if key not in self._members or len(pure.parts) < len(PurePosixPath(self._members[key]).parts):
                self._members[key] = member
        missing = [m for m in _REQUIRED_MEMBERS if m not in self._members]
        if "calendar.txt" not in self._members and "calendar_dates.txt" not in self._members:
            missing.append("calendar.txt or calendar_dates.txt")
        if missing:
            raise InputError(
                str(path),
                f"has no {', no '.join(missing)}",
                "A GTFS feed needs stops.txt, routes.txt, trips.txt, stop_times.txt and calendar.txt or "
                "calendar_dates.txt; check that this is a complete GTFS zip.",
            )

    def _table(
        self, member: str, columns: Sequence[str], required: Sequence[str] = ()
    ) -> pd.DataFrame | None:
        """Read the wanted columns of a member as stripped strings; ``None`` when the member is absent."""
        name = self._members.get(member)
        if name is None:
            return None
        where = f"{self.label}: {member}"
        assert self._zip is not None
        try:
            raw = self._zip.read(name)
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, zlib.error) as err:
            raise InputError(where, f"cannot be extracted ({err})", "Download the feed again.") from None
        wanted = set(columns)
        frame = None
        for encoding in ("utf-8-sig", "latin-1"):
            try:
                frame = pd.read_csv(
                    io.BytesIO(raw),
                    dtype=str,
                    na_filter=False,
                    encoding=encoding,
                    skipinitialspace=True,
                    usecols=lambda c: c.strip().lower() in wanted,
                )
            except UnicodeDecodeError:
                continue
            except pd.errors.EmptyDataError:
                raise InputError(where, "is empty", "Every GTFS table starts with a header row.") from None
            except (pd.errors.ParserError, ValueError) as err:
                first = str(err).splitlines()[0] if str(err) else type(err).__name__
                raise InputError(
                    where, f"is not a readable CSV table ({first})", "Check quotes and commas in the file."
                ) from None
            if encoding != "utf-8-sig":
                self.warnings.append(f"{self.label}: {member} is not UTF-8 and was read as Latin-1")
            break
        assert frame is not None
        frame.columns = [c.strip().lower() for c in frame.columns]
        frame = frame.loc[:, ~frame.columns.duplicated()]
        lacking = [c for c in required if c not in frame.columns]
        if lacking:
            raise InputError(
                where,
                f"has no column {', '.join(repr(c) for c in lacking)}",
                f"GTFS {member} needs the columns {', '.join(required)}.",
            )
        for c in frame.columns:
            frame[c] = frame[c].str.strip()
        return frame

    # ---------------------------------------------------------------------------------------------- read

    def read(self, date: dt.date | None) -> tuple[pd.DataFrame, dt.date]:
        """Read the feed; return its stops table (with ``lon``/``lat``) and the analysed day."""
        self._open()
        assert self._zip is not None
        try:
            return self._read(date)
        finally:
            self._zip.close()

    def _read(self, date: dt.date | None) -> tuple[pd.DataFrame, dt.date]:
        trips = self._trips()
        calendar = self._calendar()
        day = self._pick_day(calendar, trips, date)
        today = trips["service_id"].isin(calendar.active(day)).to_numpy()
        yesterday = trips["service_id"].isin(calendar.active(day - dt.timedelta(days=1))).to_numpy()
        trips = trips.assign(today=today, yesterday=yesterday)

        stops = self._stops()
        st = self._stop_times(trips, stops)
        trips = trips.assign(group=self._groups(trips, st))
        freq = self._frequencies(trips)
        events = self._events(trips, st, freq)
        if events.empty:
            raise InputError(
                str(self.path),
                f"has no departure at any stop on {day.isoformat()}",
                "Check stop_times.txt and the calendar, or choose another date.",
            )
        return self._summarise(events, trips, stops, day), day

    def _trips(self) -> pd.DataFrame:
        """Trips with their route's type and capacity rank; drops trips of unknown or non-PT routes."""
        routes = self._table("routes.txt", ["route_id", "route_type"], ["route_id", "route_type"])
        trips = self._table(
            "trips.txt",
            ["route_id", "service_id", "trip_id", "direction_id"],
            ["route_id", "service_id", "trip_id"],
        )
        assert routes is not None
        assert trips is not None
        routes = routes.drop_duplicates("route_id")
        code = pd.to_numeric(routes["route_type"], errors="coerce").to_numpy()
        lookup, unknown = self.capacity
        valid = ~np.isnan(code) & (code >= 0) & (code < len(lookup)) & (code == np.round(code))
        rank = np.full(len(code), -1, dtype=np.int8)
        rank[valid] = lookup[code[valid].astype(int)]
        unlisted = rank < 0
        if unlisted.any():
            kinds = sorted(set(routes["route_type"][unlisted]))
            self.warn(
                int(unlisted.sum()),
                f"routes have a route_type that gtfs.yml does not list ({', '.join(repr(k) for k in kinds)}) "
                f"and were counted as {CAPACITY_NAMES[unknown]} capacity",
            )
            rank[unlisted] = unknown
        routes = routes.assign(rank=rank)

        n0 = len(trips)
        trips = trips.drop_duplicates("trip_id")
        self.warn(n0 - len(trips), "trips.txt rows repeat a trip_id and were dropped")
        trips = trips.merge(routes, on="route_id", how="left")
        orphan = trips["rank"].isna()
        self.warn(int(orphan.sum()), "trips name a route_id that routes.txt lacks and were dropped")
        trips = trips[~orphan]
        not_pt = trips["rank"] == 0
        if not_pt.any():
            kinds = sorted(set(trips.loc[not_pt, "route_type"]))
            self.warn(
                int(not_pt.sum()),
                f"trips of route_type {', '.join(kinds)} (not public transport in gtfs.yml) were ignored",
            )
        trips = trips[~not_pt].reset_index(drop=True)
        if trips.empty:
            raise InputError(
                f"{self.label}: trips.txt",
                "has no trip of a public transport route",
                "Check trips.txt, routes.txt and the route_type classes in gtfs.yml.",
            )
        if "direction_id" not in trips.columns:
            trips["direction_id"] = ""
        trips["rank"] = trips["rank"].astype(np.int8)
        return trips

    def _calendar(self) -> _Calendar:
        """Parse ``calendar.txt`` and ``calendar_dates.txt``; drop rows with unreadable dates."""
        cal = self._table(
            "calendar.txt",
            ["service_id", *_WEEKDAYS, "start_date", "end_date"],
            ["service_id", *_WEEKDAYS, "start_date", "end_date"],
        )
        cd = self._table(
            "calendar_dates.txt",
            ["service_id", "date", "exception_type"],
            ["service_id", "date", "exception_type"],
        )
        if cal is None:
            cal = pd.DataFrame(
                {c: pd.Series(dtype=str) for c in ["service_id", *_WEEKDAYS, "start_date", "end_date"]}
            )
        if cd is None:
            cd = pd.DataFrame({c: pd.Series(dtype=str) for c in ["service_id", "date", "exception_type"]})
        start = pd.to_datetime(cal["start_date"], format="%Y%m%d", errors="coerce")
        end = pd.to_datetime(cal["end_date"], format="%Y%m%d", errors="coerce")
        ok = start.notna() & end.notna()
        self.warn(
            int((~ok).sum()),
            "calendar.txt rows with a start_date or end_date that is not YYYYMMDD were dropped",
        )
        cal, start, end = cal[ok], start[ok], end[ok]
        when = pd.to_datetime(cd["date"], format="%Y%m%d", errors="coerce")
        ok = when.notna() & cd["exception_type"].isin(["1", "2"])
        self.warn(
            int((~ok).sum()),
            "calendar_dates.txt rows with a date that is not YYYYMMDD or an exception_type other than 1 or 2 "
            "were dropped",
        )
        cd, when = cd[ok], when[ok]
        if cal.empty and cd.empty:
            raise InputError(
                str(self.path),
                "has no usable rows in calendar.txt or calendar_dates.txt",
                "The feed must say on which days its services run (dates as YYYYMMDD).",
            )
        return _Calendar(
            service=cal["service_id"].to_numpy(dtype=object),
            days=(cal[list(_WEEKDAYS)] == "1").to_numpy(dtype=bool).reshape(len(cal), 7),
            start=start.to_numpy().astype("datetime64[D]"),
            end=end.to_numpy().astype("datetime64[D]"),
            ex_service=cd["service_id"].to_numpy(dtype=object),
            ex_date=when.to_numpy().astype("datetime64[D]"),
            ex_add=(cd["exception_type"] == "1").to_numpy(dtype=bool),
        )

    def _pick_day(self, calendar: _Calendar, trips: pd.DataFrame, date: dt.date | None) -> dt.date:
        """Return the given day (checked to have trips), or the weekday with the most trips."""
        first, last = (d.astype(dt.date) for d in calendar.span())
        span = f"{first.isoformat()} to {last.isoformat()}"
        if date is not None:
            running = calendar.active(date) | calendar.active(date - dt.timedelta(days=1))
            if not trips["service_id"].isin(running).any():  # (yesterday's trips may run past midnight)
                raise InputError(
                    str(self.path),
                    f"has no trips on {date.isoformat()} (its calendar runs from {span})",
                    "Choose a date within the feed's calendar, or leave the date unset.",
                )
            return date
        days, count = calendar.trips_per_day(trips.groupby("service_id").size())
        weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
        days, count = days[weekday < 5], count[weekday < 5]
        if len(count) == 0 or count.max() <= 0:
            raise InputError(
                str(self.path),
                f"has no trips on any weekday (Monday to Friday) of its calendar, {span}",
                "Check calendar.txt and calendar_dates.txt, or pass a date to analyse another day.",
            )
        return days[int(np.argmax(count))].astype(dt.date)  # the first of the busiest days

    def _stops(self) -> pd.DataFrame:
        """Read stops indexed by ``stop_id``.

        Returns
        -------
        pandas.DataFrame
            ``name``, ``lon`` and ``lat`` (NaN when missing or unusable), ``station`` (``location_type`` 1)
            and ``platform`` (``location_type`` 0 or blank).
        """
        stops = self._table(
            "stops.txt",
            ["stop_id", "stop_name", "stop_lat", "stop_lon", "location_type"],
            ["stop_id", "stop_lat", "stop_lon"],
        )
        assert stops is not None
        n0 = len(stops)
        stops = stops.drop_duplicates("stop_id")
        self.warn(n0 - len(stops), "stops.txt rows repeat a stop_id and were dropped")
        lat = np.array(pd.to_numeric(stops["stop_lat"], errors="coerce"), dtype=float)
        lon = np.array(pd.to_numeric(stops["stop_lon"], errors="coerce"), dtype=float)
        bad = ~((np.abs(lat) <= 90) & (np.abs(lon) <= 180)) | ((lat == 0) & (lon == 0))
        lat[bad] = np.nan
        lon[bad] = np.nan
        kind = (
            stops["location_type"] if "location_type" in stops.columns else pd.Series("", index=stops.index)
        )
        name = stops["stop_name"] if "stop_name" in stops.columns else pd.Series("", index=stops.index)
        return pd.DataFrame(
            {
                "name": name.to_numpy(),
                "lon": lon,
                "lat": lat,
                "station": (kind == "1").to_numpy(),
                "platform": kind.isin(["", "0"]).to_numpy(),
            },
            index=pd.Index(stops["stop_id"].to_numpy(), name="stop_id"),
        )

    def _stop_times(self, trips: pd.DataFrame, stops: pd.DataFrame) -> pd.DataFrame:
        """Stop times of the day's trips, sorted, with times in seconds (interpolated where blank).

        Returns
        -------
        pandas.DataFrame
            Columns ``trip`` (row in ``trips``), ``stop`` (row in ``stops``) and ``t`` (seconds).
        """
        member = "stop_times.txt"
        where = f"{self.label}: {member}"
        st = self._table(
            member,
            ["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"],
            ["trip_id", "stop_id", "stop_sequence"],
        )
        assert st is not None
        if "departure_time" not in st.columns and "arrival_time" not in st.columns:
            raise InputError(
                where, "has no column 'departure_time' or 'arrival_time'", "GTFS stop times need one of them."
            )
        if st.empty:
            raise InputError(where, "has no rows", "The feed has no timetable.")
        dep = st["departure_time"] if "departure_time" in st.columns else pd.Series("", index=st.index)
        arr = st["arrival_time"] if "arrival_time" in st.columns else pd.Series("", index=st.index)
        use_dep = (dep != "").to_numpy()
        text = dep.where(use_dep, arr)
        seconds, bad = _parse_times(text)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            column = "departure_time" if use_dep[i] else "arrival_time"
            problem = f"{column} '{text.iloc[i]}' is not HH:MM:SS"
            if bad.sum() == np.count_nonzero(text != ""):
                raise InputError(
                    f"{where} row {i + 2}",
                    f"{problem}, and no time in the file can be read ({int(bad.sum())} rows)",
                    "Write times as HH:MM:SS, e.g. 07:05:00, or 25:10:00 for 01:10 after midnight.",
                )
            self.warn(
                int(bad.sum()),
                f"stop_times.txt rows with a time that is not HH:MM:SS were dropped (first: row {i + 2}, "
                f"{problem})",
            )
        seq = pd.to_numeric(st["stop_sequence"], errors="coerce").to_numpy()
        bad_seq = np.isnan(seq)
        self.warn(
            int((bad_seq & ~bad).sum()), "stop_times.txt rows without a numeric stop_sequence were dropped"
        )

        trip = pd.Index(trips["trip_id"]).get_indexer(st["trip_id"])
        known_trip = trip >= 0
        self.warn(
            int((known_trip == 0).sum() - np.count_nonzero(~known_trip & (bad | bad_seq))),
            "stop_times.txt rows of trips that trips.txt lacks (or that were ignored) were dropped",
        )
        used = trips["today"].to_numpy() | trips["yesterday"].to_numpy()
        keep = known_trip & ~bad & ~bad_seq
        keep[keep] = used[trip[keep]]
        trip, seq, seconds = trip[keep], seq[keep], seconds[keep]
        stop_id = st["stop_id"].to_numpy()[keep]
        order = np.lexsort((seq, trip))
        trip, seconds, stop_id = trip[order], seconds[order], stop_id[order]
        seconds = _interpolate(trip, seconds)
        timed = ~np.isnan(seconds)
        self.warn(
            int((~timed).sum()),
            "stop_times.txt rows with a blank time and no timed stop before or after them in their trip "
            "were dropped",
        )
        stop = stops.index.get_indexer(stop_id)
        self.warn(
            int(np.count_nonzero(timed & (stop < 0))),
            "stop_times.txt rows name a stop_id that stops.txt lacks and were dropped",
        )
        at_station = np.zeros(len(stop), dtype=bool)
        at_station[stop >= 0] = stops["station"].to_numpy()[stop[stop >= 0]]
        self.warn(
            int(np.count_nonzero(timed & at_station)),
            "stop_times.txt rows at parent stations (location_type 1) were dropped: a station takes no "
            "departures itself, its platforms do",
        )
        ok = timed & (stop >= 0) & ~at_station
        return pd.DataFrame({"trip": trip[ok], "stop": stop[ok], "t": seconds[ok]})

    def _groups(self, trips: pd.DataFrame, st: pd.DataFrame) -> np.ndarray:
        """Headway group code of every trip: its direction (given or inferred), or route and direction."""
        direction = trips["direction_id"].to_numpy(dtype=object).copy()
        blank = direction == ""
        if blank.any() and not st.empty:
            direction[blank] = self._infer_directions(trips, st, blank)
        key = pd.Series(direction, dtype=str)
        if self.headway_by == "route_direction":
            key = trips["route_id"].astype(str) + "\x1f" + key
        return pd.factorize(key)[0]

    @staticmethod
    def _infer_directions(trips: pd.DataFrame, st: pd.DataFrame, blank: np.ndarray) -> np.ndarray:
        """Directions ``"0"``/``"1"`` for the trips without ``direction_id``.

        A route's longest trip is its reference; a trip runs in direction 0 when the first and last of its
        stops that the reference also serves come in the reference's order, else 1. Trips that share fewer
        than two stops with the reference, and loops, are direction 0.
        """
        route = pd.factorize(trips["route_id"])[0]
        rows = st[blank[st["trip"].to_numpy()]].copy()
        rows["route"] = route[rows["trip"].to_numpy()]
        rows["pos"] = rows.groupby("trip").cumcount()
        length = rows.groupby("trip").size().rename("n").reset_index()
        length["route"] = route[length["trip"].to_numpy()]
        ref = length.sort_values(["route", "n", "trip"], ascending=[True, False, True]).drop_duplicates(
            "route"
        )
        ref_rows = rows[rows["trip"].isin(ref["trip"])]
        ref_pos = ref_rows.groupby(["route", "stop"])["pos"].min().rename("ref_pos").reset_index()
        matched = rows.merge(ref_pos, on=["route", "stop"], how="inner").sort_values(["trip", "pos"])
        ends = matched.groupby("trip")["ref_pos"].agg(["first", "last", "size"])
        backwards = ends.index[(ends["size"] >= 2) & (ends["last"] < ends["first"])]
        out = np.full(len(trips), "0", dtype=object)
        out[backwards.to_numpy()] = "1"
        return out[blank]

    def _frequencies(self, trips: pd.DataFrame) -> pd.DataFrame:
        """Read ``frequencies.txt``: ``trip`` (row in ``trips``), ``start``, ``end``, ``headway`` in s."""
        fr = self._table(
            "frequencies.txt",
            ["trip_id", "start_time", "end_time", "headway_secs"],
            ["trip_id", "start_time", "end_time", "headway_secs"],
        )
        empty = pd.DataFrame({"trip": pd.Series(dtype=int), "start": [], "end": [], "headway": []})
        if fr is None or fr.empty:
            return empty
        start, _ = _parse_times(fr["start_time"])
        end, _ = _parse_times(fr["end_time"])
        headway = pd.to_numeric(fr["headway_secs"], errors="coerce").to_numpy()
        ok = ~np.isnan(start) & ~np.isnan(end) & (end > start) & (headway > 0)
        self.warn(
            int((~ok).sum()),
            "frequencies.txt rows with a time that is not HH:MM:SS, end_time not after start_time, or "
            "headway_secs not positive were dropped",
        )
        trip = pd.Index(trips["trip_id"]).get_indexer(fr["trip_id"])
        ok &= trip >= 0
        return pd.DataFrame({"trip": trip[ok], "start": start[ok], "end": end[ok], "headway": headway[ok]})

    def _events(self, trips: pd.DataFrame, st: pd.DataFrame, freq: pd.DataFrame) -> pd.DataFrame:
        """Stop visits on the analysed date: ``stop``, ``trip``, ``n`` (departures in the window)."""
        w0, w1 = self.window
        today = trips["today"].to_numpy()
        yesterday = trips["yesterday"].to_numpy()
        trip, t = st["trip"].to_numpy(), st["t"].to_numpy()
        in_freq = np.zeros(len(trips), dtype=bool)
        in_freq[freq["trip"].to_numpy()] = True
        sched = ~in_freq[trip]
        parts = []
        for runs, shift in ((today, 0), (yesterday, _DAY_S)):
            use = sched & runs[trip] & (t >= shift)
            tt = t[use] - shift
            n = ((tt >= w0) & (tt < w1)).astype(np.int64)
            parts.append(pd.DataFrame({"stop": st["stop"].to_numpy()[use], "trip": trip[use], "n": n}))
        if not freq.empty:
            parts.extend(self._frequency_events(st[~sched], freq, today, yesterday))
        return pd.concat(parts, ignore_index=True)

    def _frequency_events(
        self, template: pd.DataFrame, freq: pd.DataFrame, today: np.ndarray, yesterday: np.ndarray
    ) -> list[pd.DataFrame]:
        """Departures in the window of frequency-based trips, counted exactly per stop visit."""
        w0, w1 = self.window
        template = template.assign(offset=template["t"] - template.groupby("trip")["t"].transform("first"))
        rows = freq.merge(template[["trip", "stop", "offset"]], on="trip", how="inner")
        h = rows["headway"].to_numpy()
        n_runs = np.ceil((rows["end"].to_numpy() - rows["start"].to_numpy()) / h)
        parts = []
        for runs, shift in ((today, 0), (yesterday, _DAY_S)):
            use = runs[rows["trip"].to_numpy()]
            base = rows["start"].to_numpy() + rows["offset"].to_numpy() - shift  # first departure at the stop
            k_lo = np.maximum(0, np.ceil((w0 - base) / h))
            k_hi = np.minimum(n_runs - 1, np.ceil((w1 - base) / h) - 1)
            n = np.maximum(0, k_hi - k_lo + 1).astype(np.int64)
            on_date = base + (n_runs - 1) * h >= 0
            use &= on_date
            parts.append(
                pd.DataFrame(
                    {"stop": rows["stop"].to_numpy()[use], "trip": rows["trip"].to_numpy()[use], "n": n[use]}
                )
            )
        return parts

    def _summarise(
        self, events: pd.DataFrame, trips: pd.DataFrame, stops: pd.DataFrame, day: dt.date
    ) -> pd.DataFrame:
        """One row per stop with service: capacity, route types, departures and headway."""
        trip = events["trip"].to_numpy()
        stop = events["stop"].to_numpy()
        n = events["n"].to_numpy()
        by_group = pd.DataFrame({"stop": stop, "group": trips["group"].to_numpy()[trip], "n": n})
        busiest = by_group.groupby(["stop", "group"])["n"].sum().groupby(level="stop").max()
        departures = by_group.groupby("stop")["n"].sum()
        rank = pd.Series(trips["rank"].to_numpy()[trip]).groupby(stop).max()
        kinds = pd.DataFrame({"stop": stop, "kind": trips["route_type"].to_numpy()[trip]}).drop_duplicates()
        kinds["order"] = pd.to_numeric(kinds["kind"], errors="coerce")
        kinds = kinds.sort_values(["stop", "order", "kind"])
        route_types = kinds.groupby("stop")["kind"].agg(",".join)

        served = departures.index.to_numpy()
        window_min = (self.window[1] - self.window[0]) / 60
        most = busiest.reindex(served).to_numpy(dtype=float)
        frame = pd.DataFrame(
            {
                "stop_id": stops.index.to_numpy()[served].astype(str),
                "name": stops["name"].to_numpy()[served].astype(str),
                "capacity": rank.reindex(served).map(CAPACITY_NAMES).to_numpy(dtype=object),
                "route_types": route_types.reindex(served).to_numpy(dtype=object),
                "departures": departures.to_numpy(dtype=np.int64),
                "headway_min": np.where(most > 0, window_min / np.where(most > 0, most, 1), np.nan),
                "lon": stops["lon"].to_numpy()[served],
                "lat": stops["lat"].to_numpy()[served],
            }
        )
        unserved = np.ones(len(stops), dtype=bool)
        unserved[served] = False
        self.warn(
            int(np.count_nonzero(unserved & stops["platform"].to_numpy())),
            f"stops have no departure on {day.isoformat()} and were left out",
        )
        located = frame["lon"].notna().to_numpy()
        self.warn(
            int((~located).sum()),
            "stops with service have no usable stop_lat/stop_lon and were dropped",
        )
        if not located.any():
            raise InputError(
                f"{self.label}: stops.txt",
                "no stop with service has a usable stop_lat/stop_lon",
                "Fill stop_lat and stop_lon (WGS 84 degrees) for the stops.",
            )
        return frame[located].sort_values("stop_id", kind="stable").reset_index(drop=True)
