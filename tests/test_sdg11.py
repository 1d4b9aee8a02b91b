"""SDG 11.2.1 and 11.7.1 on hand-made networks with answers worked out by hand, and on real cities."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from exquisite.access.compute import compute_access
from exquisite.access.run import run_access
from exquisite.analysis import Analysis
from exquisite.config import region_from_dict
from exquisite.indicators import sdg11
from exquisite.indicators.inputs import AnalysisInputs
from exquisite.indicators.parameters import load_parameters
from exquisite.indicators.records import Area, Indicator
from exquisite.network.build import csr_from_edges
from exquisite.network.graph import WalkNetwork
from exquisite.network.snap import snap_points
from exquisite.sources.osm import OsmData, WalkWays
from exquisite.sources.population import Population

CRS = "EPSG:32635"
X0, Y0 = 385_000.0, 6_670_000.0  # central Helsinki in UTM 35N: the hand-made worlds sit here
WIDTHS = load_parameters("sdg11.yml")["parameters"]["streets"]["widths_m"]


# ---------------------------------------------------------------- a hand-made world


def _network(segments: list[tuple[float, float, float, float, str]]) -> WalkNetwork:
    """Straight edges (x0, y0, x1, y1 in metres from (X0, Y0), highway); equal end points are one node."""
    ends = np.array([[s[0], s[1]] for s in segments] + [[s[2], s[3]] for s in segments])
    xy, node = np.unique(ends, axis=0, return_inverse=True)
    node = node.ravel()
    n = len(segments)
    u, v = node[:n].astype(np.int64), node[n:].astype(np.int64)
    length = np.hypot(ends[n:, 0] - ends[:n, 0], ends[n:, 1] - ends[:n, 1])
    indptr, indices, weights, adj_edge = csr_from_edges(u, v, length, len(xy))
    geom = np.empty((2 * n, 2))
    geom[0::2], geom[1::2] = ends[:n], ends[n:]
    return WalkNetwork(
        crs=CRS,
        node_x=xy[:, 0] + X0,
        node_y=xy[:, 1] + Y0,
        node_osm_id=np.full(len(xy), -1, dtype=np.int64),
        edge_u=u,
        edge_v=v,
        edge_length_m=length,
        edge_osm_way_id=np.arange(n, dtype=np.int64),
        edge_highway=np.array([s[4] for s in segments], dtype=object),
        geom_ptr=np.arange(0, 2 * n + 1, 2, dtype=np.int64),
        geom_x=geom[:, 0] + X0,
        geom_y=geom[:, 1] + Y0,
        geom_osm_id=np.full(2 * n, -1, dtype=np.int64),
        indptr=indptr,
        indices=indices,
        weights=weights,
        adj_edge=adj_edge,
    )


def _box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def _wgs84(polygons: list[shapely.Geometry]) -> np.ndarray:
    return np.asarray(gpd.GeoSeries(polygons, crs=CRS).to_crs("EPSG:4326").values, dtype=object)


def _inputs(
    network: WalkNetwork,
    origins: list[tuple[float, float, dict[str, float]]],
    destinations: list[tuple[float, float, str, float]],
    categories: list[str],
    *,
    open_spaces: list[tuple[shapely.Geometry, list[str]]] = (),
    buildings: list[shapely.Geometry] = (),
    landuse: list[shapely.Geometry] = (),
    boundary: shapely.Geometry | None = None,
) -> AnalysisInputs:
    """A run of the access engine on ``network``, seen as the indicator families see it.

    ``origins``: (x, y, {population column: people}); ``destinations``: (x, y, category, headway_min), GTFS
    stops being those of category ``gtfs_stop_low``/``gtfs_stop_high``.
    """
    origin_frame = gpd.GeoDataFrame(
        pd.DataFrame([o[2] for o in origins]).assign(origin_id=np.arange(len(origins))),
        geometry=[shapely.Point(X0 + o[0], Y0 + o[1]) for o in origins],
        crs=CRS,
    )
    is_gtfs = [d[2].startswith("gtfs_") for d in destinations]
    dest = gpd.GeoDataFrame(
        {
            "category": [d[2] for d in destinations],
            "osm_type": ["gtfs" if g else "node" for g in is_gtfs],
            "osm_id": np.arange(len(destinations), dtype=np.int64),
            "name": [None] * len(destinations),
            "area_m2": np.nan,
            "entrance": [
                d[2] not in {"bus_stop", "tram_stop", "rail_station"} and not g
                for d, g in zip(destinations, is_gtfs, strict=True)
            ],
            "capacity": [
                d[2].removeprefix("gtfs_stop_") if g else None
                for d, g in zip(destinations, is_gtfs, strict=True)
            ],
            "headway_min": [d[3] for d in destinations],
        },
        geometry=[shapely.Point(X0 + d[0], Y0 + d[1]) for d in destinations],
        crs=CRS,
    )
    o_snap = snap_points(network, origin_frame.geometry.x.to_numpy(), origin_frame.geometry.y.to_numpy())
    d_snap = snap_points(network, dest.geometry.x.to_numpy(), dest.geometry.y.to_numpy())
    cutoffs = {"adult": {"15min": 1080.0}}
    access = compute_access(
        network,
        o_snap,
        d_snap,
        dest["category"].to_numpy(),
        categories,
        cutoffs,
        sdg11.destination_sets(dest),
    )
    origin_frame = gpd.GeoDataFrame(
        pd.concat([origin_frame, access.table], axis=1), geometry="geometry", crs=CRS
    )
    features = gpd.GeoDataFrame(
        {
            "osm_type": ["way"] * len(open_spaces),
            "osm_id": np.arange(len(open_spaces), dtype=np.int64),
            "name": [None] * len(open_spaces),
            "categories": pd.Series([list(c) for _, c in open_spaces], dtype=object),
        },
        geometry=_wgs84([g for g, _ in open_spaces]),
        crs="EPSG:4326",
    )
    building_frame = gpd.GeoDataFrame(
        {"osm_id": np.arange(len(buildings)), "building": "yes"},
        geometry=_wgs84(list(buildings)),
        crs="EPSG:4326",
    )
    landuse_frame = gpd.GeoDataFrame(
        {"osm_id": np.arange(len(landuse)), "landuse": "residential"},
        geometry=_wgs84(list(landuse)),
        crs="EPSG:4326",
    )
    empty = np.empty(0)
    osm = OsmData(
        path=Path("hand-made.osm.pbf"),
        walk_ways=WalkWays(
            empty.astype(np.int64), empty.astype(object), np.zeros(1, np.int64), empty, empty, empty
        ),
        features=features,
        buildings=building_frame,
        bounds=(0.0, 0.0, 1.0, 1.0),
        landuse=landuse_frame,
    )
    population = Population(
        origin_frame, origin_frame, "vector", False, "hand-made", float(origin_frame["population"].sum())
    )
    return AnalysisInputs(
        origins=origin_frame,
        destinations=dest,
        network=network,
        osm=osm,
        population=population,
        boundary=boundary if boundary is not None else shapely.box(*network_bounds(network)),
        crs=CRS,
        profiles={},
        cutoffs=cutoffs,
        cutoff_m=access.cutoff_m,
        categories=categories,
        sources={"osm": [{"name": "OpenStreetMap", "file": "hand-made", "vintage": "test"}]},
    )


def network_bounds(network: WalkNetwork) -> tuple[float, float, float, float]:
    return (network.geom_x.min(), network.geom_y.min() - 1, network.geom_x.max(), network.geom_y.max() + 1)


def _records(inputs: AnalysisInputs, area: Area | None = None) -> tuple[AnalysisInputs, list[Indicator]]:
    """origin_values then indicators, as exquisite.analyse does."""
    values = sdg11.origin_values(inputs)
    assert list(values.index) == list(inputs.origins.index)
    inputs = AnalysisInputs(**{**inputs.__dict__, "origins": pd.concat([inputs.origins, values], axis=1)})
    area = area or Area("city", "city", inputs.boundary, np.ones(len(inputs.origins), dtype=bool))
    return inputs, sdg11.indicators(inputs, area)


def _find(records: list[Indicator], indicator_id: str, group: str = "all", **parameters: object) -> Indicator:
    found = [
        r
        for r in records
        if r.id == indicator_id
        and r.group == group
        and all(r.parameters.get(k) == v for k, v in parameters.items())
    ]
    assert len(found) == 1, (indicator_id, group, parameters, len(found))
    return found[0]


# A street along y = 0 from x = 0 to 6,000 m, a node every 1,000 m. Origins sit on it:
#   O1 at x = 0     10 people (4 children, 6 adults)
#   O2 at x = 2,000 20 people (10 adults, 10 older)
#   O3 at x = 4,500 30 people (30 adults)
STREET = [(1000.0 * i, 0.0, 1000.0 * (i + 1), 0.0, "residential") for i in range(6)]
ORIGINS = [
    (0.0, 0.0, {"population": 10.0, "pop_child": 4.0, "pop_adult": 6.0, "pop_older": 0.0}),
    (2000.0, 0.0, {"population": 20.0, "pop_child": 0.0, "pop_adult": 10.0, "pop_older": 10.0}),
    (4500.0, 0.0, {"population": 30.0, "pop_child": 0.0, "pop_adult": 30.0, "pop_older": 0.0}),
]
OSM_STOPS = [
    (499.0, 0.0, "bus_stop", np.nan),  # O1: 499 m <= 500: served
    (2501.0, 0.0, "bus_stop", np.nan),  # O2: 501 m > 500: not served
    (5400.0, 0.0, "rail_station", np.nan),  # O3: 900 m <= 1,000 (high capacity): served
    (2600.0, 0.0, "tram_stop", np.nan),  # O2: 600 m: served only if trams are high capacity
]
TRANSIT = ["bus_stop", "rail_station", "tram_stop"]


def test_transit_500_m_low_1000_m_high_and_groups() -> None:
    inputs, records = _records(_inputs(_network(STREET), ORIGINS, OSM_STOPS, TRANSIT))
    # served: O1 (bus 499 m) and O3 (rail 900 m); O2's nearest bus stop is 501 m away, its tram 600 m
    # all: (10 + 30) / 60 = 66.67 %; child: 4 / 4; adult: (6 + 30) / 46; older: 0 / 10
    served = inputs.origins["sdg11__transit_served__any"].tolist()
    assert served == [True, False, True]
    everyone = _find(records, "sdg_11_2_1", variant="any")
    assert everyone.value == pytest.approx(100 * 40 / 60)
    assert (everyone.numerator, everyone.denominator, everyone.unit) == (40.0, 60.0, "%")
    assert _find(records, "sdg_11_2_1", "child", variant="any").value == pytest.approx(100.0)
    assert _find(records, "sdg_11_2_1", "adult", variant="any").value == pytest.approx(100 * 36 / 46)
    assert _find(records, "sdg_11_2_1", "older", variant="any").value == 0.0
    assert everyone.parameters["low_capacity"] == ["bus_stop", "tram_stop"]
    assert everyone.parameters["high_capacity"] == ["rail_station"]
    assert everyone.method_version == "sdg11.yml v1"
    # no GTFS: only the `any` variant, with a caveat saying so
    assert {r.parameters["variant"] for r in records if r.id == "sdg_11_2_1"} == {"any"}
    assert any("No GTFS feed" in c for c in everyone.caveats)
    assert sdg11.destination_sets(inputs.destinations) == {}


def test_tram_capacity_is_a_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    params = load_parameters("sdg11.yml")["parameters"]
    high_trams = {**params, "transit": {**params["transit"], "tram_capacity": "high"}}
    monkeypatch.setattr(sdg11, "_parameters", lambda: high_trams)
    inputs, records = _records(_inputs(_network(STREET), ORIGINS, OSM_STOPS, TRANSIT))
    # O2's tram stop 600 m away now counts within 1,000 m: everyone is served
    assert inputs.origins["sdg11__transit_served__any"].tolist() == [True, True, True]
    high = _find(records, "sdg_11_2_1", variant="any").parameters["high_capacity"]
    assert sorted(high) == ["rail_station", "tram_stop"]


GTFS_STOPS = [
    (300.0, 0.0, "gtfs_stop_low", 25.0),  # O1: 300 m, every 25 min
    (4700.0, 0.0, "gtfs_stop_low", 8.0),  # O3: 200 m, every 8 min
    (2900.0, 0.0, "gtfs_stop_high", 15.0),  # O2: 900 m (high capacity), every 15 min
    (2100.0, 0.0, "gtfs_stop_low", np.nan),  # O2: 100 m, but no weekday daytime service
]


def test_gtfs_headway_variants() -> None:
    categories = [*TRANSIT, "gtfs_stop_low", "gtfs_stop_high"]
    inputs, records = _records(_inputs(_network(STREET), ORIGINS, OSM_STOPS + GTFS_STOPS, categories))
    sets = sdg11.destination_sets(inputs.destinations)
    assert sets["sdg11_gtfs_low_headway_le_30"].sum() == 2  # the NaN-headway stop is in no set
    assert sets["sdg11_gtfs_high_headway_le_10"].sum() == 0
    value = {r.parameters["variant"]: r.value for r in records if r.id == "sdg_11_2_1" and r.group == "all"}
    # any: O1 (bus 499 m), O2 (GTFS stop 100 m, any service), O3 -> 60 / 60
    # <= 30: O1 (25 min, 300 m), O2 (high, 15 min, 900 m), O3 (8 min, 200 m) -> 60 / 60
    # <= 20: O1 has nothing frequent within reach; O2, O3 -> 50 / 60
    # <= 10: only O3 -> 30 / 60
    assert value == pytest.approx(
        {
            "any": 100.0,
            "gtfs_headway_le_30min": 100.0,
            "gtfs_headway_le_20min": 100 * 50 / 60,
            "gtfs_headway_le_10min": 50.0,
        }
    )
    older = _find(records, "sdg_11_2_1", "older", variant="gtfs_headway_le_10min")
    assert (older.value, older.numerator, older.denominator) == (0.0, 0.0, 10.0)
    assert _find(records, "sdg_11_2_1", variant="gtfs_headway_le_20min").parameters["max_headway_min"] == 20.0
    assert inputs.origins["sdg11__transit_served__gtfs_headway_le_20min"].tolist() == [False, True, True]


# Open space on the same street: an entrance of any open space 399 m from O1, one of a large space 400 m
# from O3 (both at most 400 m: served); O2 is 1,601 m and 2,100 m away.
OPEN_SPACE_ENTRANCES = [(399.0, 0.0, "open_space", np.nan), (4100.0, 0.0, "ghsci_open_space_large", np.nan)]


def test_open_space_access_400_m() -> None:
    _, records = _records(
        _inputs(_network(STREET), ORIGINS, OPEN_SPACE_ENTRANCES, ["open_space", "ghsci_open_space_large"])
    )
    any_space = _find(records, "sdg_11_7_1_access", variant="any")
    large = _find(records, "sdg_11_7_1_access", variant="large")
    assert (any_space.value, any_space.numerator, any_space.denominator) == (
        pytest.approx(100 * 10 / 60),
        10.0,
        60.0,
    )
    assert large.value == pytest.approx(50.0)  # O3: 30 / 60
    assert large.parameters == {"variant": "large", "category": "ghsci_open_space_large", "distance_m": 400.0}
    assert _find(records, "sdg_11_7_1_access", "child", variant="any").value == pytest.approx(100.0)
    assert _find(records, "sdg_11_7_1_access", "older", variant="large").value == 0.0


def test_no_open_space_at_all_is_zero_not_a_crash() -> None:
    _, records = _records(_inputs(_network(STREET), ORIGINS, [], ["open_space", "ghsci_open_space_large"]))
    assert _find(records, "sdg_11_7_1_access", variant="any").value == 0.0
    assert _find(records, "sdg_11_7_1_access", variant="large").value == 0.0
    ops = _find(records, "sdg_11_7_1_share_ops")
    assert (ops.value, ops.numerator) == (0.0, 0.0)
    # the built-up area is only street land here (6 km of residential street, 1 m either side of the
    # boundary box): a caveat says OSM maps no buildings or land use
    streets = _find(records, "sdg_11_7_1_share_streets")
    assert streets.numerator == pytest.approx(6000 * WIDTHS["residential"])
    assert streets.value == pytest.approx(100.0)
    assert any("street land outside" in c for c in streets.caveats)
    assert _find(records, "sdg_11_7_1_ops_per_capita").value == 0.0


def test_empty_area_gives_none_with_a_caveat() -> None:
    inputs = _inputs(_network(STREET), ORIGINS, OSM_STOPS, TRANSIT)
    nowhere = Area("Empty", "district", _box(0, 10, 100, 20), np.zeros(3, dtype=bool))
    _, records = _records(inputs, nowhere)
    transit = _find(records, "sdg_11_2_1", variant="any")
    assert transit.value is None
    assert (transit.denominator, transit.area) == (0.0, "Empty")
    assert any("No population" in c for c in transit.caveats)
    share = _find(records, "sdg_11_7_1_share_ops_and_streets")
    assert share.value is None
    assert share.denominator == 0.0
    assert any("No built-up land" in c for c in share.caveats)


# ---------------------------------------------------------------- land share on squares
#
# The area A is the square 0..1000 × 0..1000 m (1 km²).
# Open space: a park 100..300 × 100..300 (40,000 m²) and a playground 250..350 × 120..180 overlapping it;
#   its part outside the park is 300..350 × 120..180 = 3,000 m², so the union is 43,000 m².
# Built-up land use: residential 500..900 × 500..900 = 160,000 m².
# Buildings: 600..650 × 600..650 inside the land use (adds nothing); 880..920 × 700..740 straddling its edge
#   (20 × 40 = 800 m² outside it); 400..420 × 400..420 alone (400 m²); 950..1050 × 100..140 across A's edge
#   (50 × 40 = 2,000 m² inside A).
# Streets (length inside A × width):
#   residential along y = 450 from x = -500 to 1,500: 1,000 m inside A, none in the built-up polygons;
#   primary along x = 700 from y = 0 to 1,000: 1,000 m, of which 400 m cross the land use (y 500..900);
#   service along y = 150 from x = 0 to 1,000: 250 m cross the open space (x 100..350), 750 m counted;
#   a footway along x = 200 through the park: width 0.
# OPS = 43,000; S = 1,000 w_res + 1,000 w_pri + 750 w_svc;
# B = (43,000 + 160,000 + 800 + 400 + 2,000) + (1,000 w_res + 600 w_pri + 750 w_svc).
# With the shipped widths (8.5, 17, 4.5): S = 28,875 m², B = 206,200 + 22,075 = 228,275 m²:
#   OPS share 18.84 %, streets 12.65 %, together 31.49 %.
LAND_STREETS = [
    (-500.0, 450.0, 1500.0, 450.0, "residential"),
    (700.0, 0.0, 700.0, 1000.0, "primary"),
    (0.0, 150.0, 1000.0, 150.0, "service"),
    (200.0, 0.0, 200.0, 1000.0, "footway"),
]


def _land_world() -> AnalysisInputs:
    return _inputs(
        _network(LAND_STREETS),
        [(450.0, 450.0, {"population": 100.0})],
        [],
        ["open_space"],
        open_spaces=[
            (_box(100, 100, 300, 300), ["open_space", "ghsci_open_space_any", "ghsci_open_space_large"]),
            (_box(250, 120, 350, 180), ["open_space", "ghsci_open_space_any"]),
        ],
        buildings=[
            _box(600, 600, 650, 650),
            _box(880, 700, 920, 740),
            _box(400, 400, 420, 420),
            _box(950, 100, 1050, 140),
        ],
        landuse=[_box(500, 500, 900, 900)],
        boundary=_box(0, 0, 1000, 1000),
    )


def test_land_share_arithmetic_on_squares() -> None:
    w_res, w_pri, w_svc = WIDTHS["residential"], WIDTHS["primary"], WIDTHS["service"]
    assert WIDTHS["footway"] == 0.0
    ops = 43_000.0
    streets = 1000 * w_res + 1000 * w_pri + 750 * w_svc
    built = 43_000 + 160_000 + 800 + 400 + 2_000 + 1000 * w_res + 600 * w_pri + 750 * w_svc
    _, records = _records(_land_world())
    got = {r.id: r for r in records}
    assert got["sdg_11_7_1_share_ops"].numerator == pytest.approx(ops, rel=1e-6)
    assert got["sdg_11_7_1_share_streets"].numerator == pytest.approx(streets, rel=1e-6)
    assert got["sdg_11_7_1_share_ops"].denominator == pytest.approx(built, rel=1e-6)
    assert got["sdg_11_7_1_share_ops"].value == pytest.approx(100 * ops / built, rel=1e-6)
    assert got["sdg_11_7_1_share_streets"].value == pytest.approx(100 * streets / built, rel=1e-6)
    total = got["sdg_11_7_1_share_ops_and_streets"]
    assert total.value == pytest.approx(100 * (ops + streets) / built, rel=1e-6)
    assert total.numerator == pytest.approx(ops + streets, rel=1e-6)
    assert total.unit == "%"
    if (w_res, w_pri, w_svc) == (8.5, 17.0, 4.5):  # the shipped widths: the figures in the comment above
        assert total.value == pytest.approx(31.486, abs=1e-3)
    per_capita = got["sdg_11_7_1_ops_per_capita"]
    assert (per_capita.value, per_capita.unit) == (pytest.approx(430.0, rel=1e-6), "m²/person")
    assert not any("street land outside" in c for c in total.caveats)


def test_land_share_of_a_district() -> None:
    # the west half 0..500 × 0..1000: all the open space (43,000), the lone building (400), 500 m of the
    # residential street, and the service road west of x = 500 outside the open space (0..100 and
    # 350..500: 250 m); the land use and the primary street lie east of it
    inputs = _land_world()
    west = Area("West", "district", _box(0, 0, 500, 1000), np.ones(1, dtype=bool))
    _, records = _records(inputs, west)
    streets = 500 * WIDTHS["residential"] + 250 * WIDTHS["service"]
    share = _find(records, "sdg_11_7_1_share_ops_and_streets")
    assert share.area == "West"
    assert share.denominator == pytest.approx(43_000 + 400 + streets, rel=1e-6)
    assert share.numerator == pytest.approx(43_000 + streets, rel=1e-6)


def test_land_share_function_directly() -> None:
    # two 10 × 10 squares of open space inside a 100 × 100 built-up square; one 50 m street of width 4
    # outside it: OPS 200, streets 200, built-up 10,000 + 200
    area = shapely.box(0, 0, 200, 200)
    ops = np.array([shapely.box(10, 10, 20, 20), shapely.box(30, 30, 40, 40)])
    built = np.array([shapely.box(0, 0, 100, 100)])
    lines = np.array([shapely.LineString([(150, 150), (150, 250)])])  # 50 m inside the area
    share = sdg11.land_share(area, ops, built, lines, np.array([4.0]))
    assert (share.open_space_m2, share.streets_m2, share.built_up_m2) == pytest.approx(
        (200.0, 200.0, 10_200.0)
    )
    assert share.street_length_m == pytest.approx(50.0)


# ---------------------------------------------------------------- real cities


def _real(region_dict: dict, tmp_path: Path) -> tuple[AnalysisInputs, list[Indicator]]:
    run = run_access(region_from_dict(region_dict, base_dir=tmp_path), None, sdg11.destination_sets)
    return _records(AnalysisInputs.from_run(run))


@pytest.mark.slow
def test_porto_alegre_with_gtfs(shared_data: Path, tmp_path: Path) -> None:
    poa = shared_data / "porto-alegre"
    _, records = _real(
        {
            "name": "Porto Alegre",
            "country": "BR",
            "osm": str(poa / "poa_osm.pbf"),
            "population": {"source": "h3", "path": str(poa / "poa_hexgrid.csv"), "column": "population"},
            "gtfs": [str(poa / "poa_eptc.zip"), str(poa / "poa_trensurb.zip")],
            "profiles": ["adult", "gb50180"],
        },
        tmp_path,
    )
    value = {r.parameters["variant"]: r.value for r in records if r.id == "sdg_11_2_1"}
    # measured: any 94.1, <= 30 min 71.8, <= 20 min 63.1, <= 10 min 41.6 (%)
    assert 80 < value["any"] <= 100
    assert value["any"] >= value["gtfs_headway_le_30min"] >= value["gtfs_headway_le_20min"]
    assert value["gtfs_headway_le_20min"] >= value["gtfs_headway_le_10min"] > 10
    assert value["gtfs_headway_le_30min"] > value["gtfs_headway_le_10min"]
    gtfs = _find(records, "sdg_11_2_1", variant="gtfs_headway_le_20min")
    assert [s["name"] for s in gtfs.sources if s["name"] == "GTFS"] == ["GTFS", "GTFS"]
    assert gtfs.denominator == pytest.approx(812_935, rel=0.02)
    # the extract maps streets but hardly any buildings or land use: the caveat says the shares mislead
    streets = _find(records, "sdg_11_7_1_share_streets")
    assert any("street land outside" in c for c in streets.caveats)


@pytest.mark.slow
def test_helsinki_with_the_hsy_grid(helsinki_hsy_analysis: Analysis) -> None:
    records = [r for r in helsinki_hsy_analysis.indicators if r.area == "city" and r.id.startswith("sdg_")]
    # central Helsinki: buses, trams and the metro within reach of nearly everyone
    transit = {r.group: r.value for r in records if r.id == "sdg_11_2_1"}
    assert set(transit) == {"all", "child", "adult", "older"}
    assert transit["all"] > 90
    access = _find(records, "sdg_11_7_1_access", variant="any").value
    large = _find(records, "sdg_11_7_1_access", variant="large").value
    assert 50 < access <= 100
    assert large <= access
    ops = _find(records, "sdg_11_7_1_share_ops").value
    streets = _find(records, "sdg_11_7_1_share_streets").value
    total = _find(records, "sdg_11_7_1_share_ops_and_streets").value
    assert 5 < ops < 60
    assert 5 < streets < 50
    assert total == pytest.approx(ops + streets)
    assert total < 100
