"""The peer-comparable (GHSCI) set on a hand-made street, worked out by hand, and on real Helsinki data."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from exquisite.access.compute import compute_access
from exquisite.analysis import Analysis
from exquisite.config import Profile
from exquisite.indicators import ghsci
from exquisite.indicators.inputs import AnalysisInputs
from exquisite.indicators.parameters import definitions, load_parameters
from exquisite.indicators.records import Area, Indicator
from exquisite.network.build import csr_from_edges
from exquisite.network.graph import WalkNetwork
from exquisite.network.snap import snap_points
from exquisite.sources.osm import OsmData, WalkWays
from exquisite.sources.population import Population

CRS = "EPSG:32635"
ADULT = Profile(name="adult", label_en="Adults", label_zh="成年人", speed_m_s=1.2, minutes=(5, 10, 15))
CATEGORIES = [
    "ghsci_fresh_food",
    "ghsci_convenience",
    "ghsci_pt_any",
    "ghsci_open_space_any",
    "ghsci_open_space_large",
]


def _network(nodes: list[tuple[float, float]], edges: list[tuple[int, int]]) -> WalkNetwork:
    x = np.array([p[0] for p in nodes], dtype=float)
    y = np.array([p[1] for p in nodes], dtype=float)
    u = np.array([e[0] for e in edges], dtype=np.int64)
    v = np.array([e[1] for e in edges], dtype=np.int64)
    length = np.hypot(x[u] - x[v], y[u] - y[v])
    indptr, indices, weights, adj_edge = csr_from_edges(u, v, length, len(nodes))
    return WalkNetwork(
        crs=CRS,
        node_x=x,
        node_y=y,
        node_osm_id=np.arange(len(nodes), dtype=np.int64),
        edge_u=u,
        edge_v=v,
        edge_length_m=length,
        edge_osm_way_id=np.arange(len(edges), dtype=np.int64),
        edge_highway=np.array(["residential"] * len(edges), dtype=object),
        geom_ptr=np.arange(0, 2 * len(edges) + 1, 2, dtype=np.int64),
        geom_x=np.column_stack([x[u], x[v]]).ravel(),
        geom_y=np.column_stack([y[u], y[v]]).ravel(),
        geom_osm_id=np.column_stack([u, v]).ravel(),
        indptr=indptr,
        indices=indices,
        weights=weights,
        adj_edge=adj_edge,
    )


def _street() -> WalkNetwork:
    """A main street along y = 0 from x = 0 to 1200 with cross streets.

    Crossings: x = 400 and x = 800 (north and south arms of 100 m, degree 4) and a pair at x = 1000 and
    1010 (10 m apart, one arm each, degree 3): the pair merges at 12 m tolerance -> 3 intersections.
    The ends x = 0 and x = 1200 and the arms' ends are dead ends.
    """
    xs = [0.0, 400.0, 800.0, 1000.0, 1010.0, 1200.0]
    nodes = [(x, 0.0) for x in xs]  # 0..5
    nodes += [(400, 100), (400, -100), (800, 100), (800, -100), (1000, 100), (1010, -100)]  # 6..11
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (1, 6), (1, 7), (2, 8), (2, 9), (3, 10), (4, 11)]
    return _network(nodes, edges)


def _osm() -> OsmData:
    empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs="EPSG:4326"))
    none = np.empty(0, dtype=np.int64)
    ways = WalkWays(
        way_id=none, highway=np.empty(0, dtype=object), node_ptr=np.zeros(1, dtype=np.int64), node_id=none,
        lon=np.empty(0), lat=np.empty(0),
    )  # fmt: skip
    return OsmData(
        path=Path("hand-made.osm.pbf"), walk_ways=ways, features=empty, buildings=empty, bounds=(0, 0, 0, 0)
    )


def make_inputs(
    network: WalkNetwork,
    origins: list[tuple[float, float, float]],
    destinations: list[dict],
    boundary: shapely.Geometry,
    categories: list[str],
    profiles: dict[str, Profile] | None = None,
) -> AnalysisInputs:
    """Real snapping and access on a hand-made network.

    Origins are (x, y, people); destinations dicts with x, y, category (and headway_min for GTFS stops).
    """
    profiles = profiles or {"adult": ADULT}
    points = gpd.points_from_xy([o[0] for o in origins], [o[1] for o in origins], crs=CRS)
    frame = gpd.GeoDataFrame(
        {
            "origin_id": np.arange(len(origins)),
            "cell_id": [str(i) for i in range(len(origins))],
            "population": [float(o[2]) for o in origins],
        },
        geometry=points,
        crs=CRS,
    )
    population = Population(frame, frame, "vector", False, "hand-made", float(frame["population"].sum()))
    dest = gpd.GeoDataFrame(
        pd.DataFrame(destinations).drop(columns=["x", "y"]),
        geometry=gpd.points_from_xy([d["x"] for d in destinations], [d["y"] for d in destinations]),
        crs=CRS,
    )
    cutoffs = {name: p.cutoffs_m() for name, p in profiles.items()}
    o_snap = snap_points(network, frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy())
    d_snap = snap_points(network, dest.geometry.x.to_numpy(), dest.geometry.y.to_numpy())
    access = compute_access(
        network,
        o_snap,
        d_snap,
        dest["category"].to_numpy(),
        categories,
        cutoffs,
        ghsci.destination_sets(dest),
    )
    sources = {
        "osm": [{"name": "OpenStreetMap", "file": "hand-made", "vintage": "2024"}],
        "population": [{"name": "population", "file": "hand-made", "vintage": "2024"}],
    }
    if "headway_min" in dest.columns:
        sources["gtfs"] = [{"name": "GTFS", "file": "hand-made.zip", "vintage": "2024"}]
    return AnalysisInputs(
        origins=gpd.GeoDataFrame(pd.concat([frame, access.table], axis=1), geometry="geometry", crs=CRS),
        destinations=dest,
        network=network,
        osm=_osm(),
        population=population,
        boundary=boundary,
        crs=CRS,
        profiles=profiles,
        cutoffs=access.cutoffs,
        cutoff_m=access.cutoff_m,
        categories=categories,
        sources=sources,
    )


# Origins on the main street: O1 at x = 100 (100 people), O2 at x = 700 (300), O3 at x = 1150 (600).
ORIGINS = [(100.0, 0.0, 100.0), (700.0, 0.0, 300.0), (1150.0, 0.0, 600.0)]
# Fresh food at x = 0: O1 100 m (yes), O2 700 m, O3 1150 m (no).
# Convenience at x = 600: O1 500 m (yes: at most 500 m counts), O2 100 m (yes), O3 550 m (no).
# OSM public transport at x = 1200: O1 1100 m (no), O2 500 m (yes), O3 50 m (yes).
# No open space at all.
DESTINATIONS = [
    {"x": 0.0, "y": 0.0, "category": "ghsci_fresh_food"},
    {"x": 600.0, "y": 0.0, "category": "ghsci_convenience"},
    {"x": 1200.0, "y": 0.0, "category": "ghsci_pt_any"},
]
# GTFS stops: A at x = 700 (headway 10 min: regular), B at x = 100 (no departure in the window: NaN, so
# not a stop for the peer), C at x = 350 (headway 30 min: any service, not regular).
GTFS = [
    {"x": 700.0, "y": 0.0, "category": "gtfs_stop_low", "headway_min": 10.0},
    {"x": 100.0, "y": 0.0, "category": "gtfs_stop_low", "headway_min": np.nan},
    {"x": 350.0, "y": 0.0, "category": "gtfs_stop_high", "headway_min": 30.0},
]
# The study area: 1,300 m x 400 m = 0.52 km².
BOX = shapely.box(-50, -200, 1250, 200)


def _city(inputs: AnalysisInputs) -> Area:
    return Area("city", "city", inputs.boundary, np.ones(len(inputs.origins), dtype=bool))


def _find(records: list[Indicator], indicator_id: str, **parameters) -> Indicator:
    hits = [
        r
        for r in records
        if r.id == indicator_id and all(r.parameters.get(k) == v for k, v in parameters.items())
    ]
    assert len(hits) == 1, (indicator_id, parameters, len(hits))
    return hits[0]


def test_access_daily_living_and_densities_by_hand() -> None:
    inputs = make_inputs(_street(), ORIGINS, DESTINATIONS, BOX, CATEGORIES)
    values = ghsci.origin_values(inputs)
    assert values["ghsci__access_500m__ghsci_fresh_food"].tolist() == [1, 0, 0]
    assert values["ghsci__access_500m__ghsci_convenience"].tolist() == [1, 1, 0]
    assert values["ghsci__access_500m__ghsci_pt_any"].tolist() == [0, 1, 1]
    assert "ghsci__access_500m__ghsci_pt_gtfs_freq_20" not in values  # no GTFS
    # daily living: O1 1 + 1 + 0 = 2, O2 0 + 1 + 1 = 2, O3 0 + 0 + 1 = 1
    assert values["ghsci__daily_living"].tolist() == [2, 2, 1]

    records = ghsci.indicators(inputs, _city(inputs))
    share = {r.parameters["destination"]: r for r in records if r.id == "ghsci_access_500m"}
    assert set(share) == {
        "ghsci_fresh_food",
        "ghsci_convenience",
        "ghsci_pt_any",
        "ghsci_open_space_any",
        "ghsci_open_space_large",
    }
    assert share["ghsci_fresh_food"].value == pytest.approx(10.0)  # 100 / 1000
    assert share["ghsci_convenience"].value == pytest.approx(40.0)  # (100 + 300) / 1000
    assert share["ghsci_pt_any"].value == pytest.approx(90.0)  # (300 + 600) / 1000
    assert (share["ghsci_pt_any"].numerator, share["ghsci_pt_any"].denominator) == (900.0, 1000.0)
    # a category without any destination is zero access, not a crash
    assert share["ghsci_open_space_any"].value == 0.0
    assert share["ghsci_open_space_large"].value == 0.0
    # placed among the peer's 25 cities: 10 % fresh food is below their p25 (19.66)
    assert share["ghsci_fresh_food"].parameters["peer_position"] == "below p25"
    assert share["ghsci_pt_any"].parameters["peer_reference_25_cities"] == {
        "p25": 63.15,
        "p50": 86.45,
        "p75": 91.40,
    }
    assert share["ghsci_pt_any"].parameters["peer_position"] == "p50-p75"
    assert any("No GTFS" in c for c in share["ghsci_pt_any"].caveats)
    # population-weighted daily living: (100 x 2 + 300 x 2 + 600 x 1) / 1000 = 1.4
    daily = _find(records, "ghsci_daily_living")
    assert daily.value == pytest.approx(1.4)
    # population density: 1000 people / 0.52 km² = 1923.08 per km²
    density = _find(records, "ghsci_population_density")
    assert density.value == pytest.approx(1000 / 0.52)
    assert density.denominator == pytest.approx(0.52)
    # intersections: 400, 800 and the merged pair 1000/1010 -> 3 / 0.52 km² = 5.769 per km²
    crossings = _find(records, "ghsci_intersection_density")
    assert crossings.numerator == 3
    assert crossings.value == pytest.approx(3 / 0.52)
    for record in records:
        assert record.method_version == "ghsci.yml v1"
        assert record.caveats


def test_a_district_counts_only_its_own_intersections_and_people() -> None:
    inputs = make_inputs(_street(), ORIGINS, DESTINATIONS, BOX, CATEGORIES)
    # west district: x from -50 to 600, 650 m x 400 m = 0.26 km²; one crossing (x = 400), O1 only (100 people)
    west = shapely.box(-50, -200, 600, 200)
    mask = np.array([True, False, False])
    records = ghsci.indicators(inputs, Area("west", "district", west, mask))
    assert _find(records, "ghsci_intersection_density").value == pytest.approx(1 / 0.26)
    assert _find(records, "ghsci_population_density").value == pytest.approx(100 / 0.26)
    assert _find(records, "ghsci_access_500m", destination="ghsci_fresh_food").value == pytest.approx(100.0)
    assert all(r.area == "west" for r in records)
    # a district where nobody lives: shares are None with a caveat, density is 0
    empty = ghsci.indicators(inputs, Area("empty", "district", west, np.zeros(3, dtype=bool)))
    food = _find(empty, "ghsci_access_500m", destination="ghsci_fresh_food")
    assert food.value is None
    assert any("No people" in c for c in food.caveats)
    assert _find(empty, "ghsci_daily_living").value is None
    assert _find(empty, "ghsci_population_density").value == 0.0


def test_gtfs_counts_as_the_peer_counts_it() -> None:
    dest = [{**d, "headway_min": np.nan} for d in DESTINATIONS] + GTFS
    inputs = make_inputs(_street(), ORIGINS, dest, BOX, [*CATEGORIES, "gtfs_stop_low", "gtfs_stop_high"])
    sets = ghsci.destination_sets(inputs.destinations)
    # any service: A and C (B has no departure in the window); regular (<= 20 min): A only
    assert sets["ghsci_pt_gtfs_any"].tolist() == [False, False, False, True, False, True]
    assert sets["ghsci_pt_gtfs_freq_20"].tolist() == [False, False, False, True, False, False]
    values = ghsci.origin_values(inputs)
    # pt any = best of OSM and GTFS: O1 reaches C at 250 m (B, at 0 m, does not count)
    assert values["ghsci__access_500m__ghsci_pt_any"].tolist() == [1, 1, 1]
    # regular service: A at x = 700: O1 600 m (no), O2 0 m, O3 450 m
    assert values["ghsci__access_500m__ghsci_pt_gtfs_freq_20"].tolist() == [0, 1, 1]
    records = ghsci.indicators(inputs, _city(inputs))
    assert _find(records, "ghsci_access_500m", destination="ghsci_pt_any").value == pytest.approx(100.0)
    regular = _find(records, "ghsci_access_500m", destination="ghsci_pt_gtfs_freq_20")
    assert regular.value == pytest.approx(90.0)
    assert regular.parameters["peer_indicator"] == "pop_pct_access_500m_pt_gtfs_freq_20_score"
    assert [s["name"] for s in regular.sources] == ["OpenStreetMap", "population", "GTFS"]
    # daily living: O1 now 1 + 1 + 1 = 3 -> (300 + 600 + 600) / 1000 = 1.5
    assert _find(records, "ghsci_daily_living").value == pytest.approx(1.5)


def test_no_gtfs_means_no_sets_and_the_file_defines_every_id() -> None:
    dest = gpd.GeoDataFrame({"category": ["ghsci_pt_any"]}, geometry=gpd.points_from_xy([0], [0]), crs=CRS)
    assert ghsci.destination_sets(dest) == {}
    params = load_parameters("ghsci.yml")
    assert params["parameters"]["access_distance_m"] == 500
    assert params["parameters"]["intersections"]["tolerance_m"] == 12
    found = definitions()
    for indicator_id in (
        "ghsci_population_density",
        "ghsci_intersection_density",
        "ghsci_access_500m",
        "ghsci_daily_living",
    ):
        entry = found[indicator_id]
        assert entry["label"]["en"]
        assert entry["label"]["zh"]
        assert entry["definition"]["en"]
        assert entry["definition"]["zh"]
        assert entry["unit"]
        assert entry["standard"]


def test_peer_position_boundaries() -> None:
    ref = {"p25": 20.0, "p50": 35.0, "p75": 50.0}
    assert ghsci.peer_position(19.9, ref) == "below p25"
    assert ghsci.peer_position(20.0, ref) == "p25-p50"
    assert ghsci.peer_position(49.9, ref) == "p50-p75"
    assert ghsci.peer_position(50.0, ref) == "above p75"


@pytest.mark.slow
def test_helsinki_hsy_grid(helsinki_hsy_analysis: Analysis) -> None:
    records = [r for r in helsinki_hsy_analysis.indicators if r.area == "city" and r.id.startswith("ghsci_")]
    by_dest = {r.parameters["destination"]: r.value for r in records if r.id == "ghsci_access_500m"}
    # central Helsinki is dense and well served: nearly everyone has a stop and a shop within 500 m
    assert by_dest["ghsci_pt_any"] > 95
    assert by_dest["ghsci_convenience"] > 60
    assert by_dest["ghsci_fresh_food"] > 60
    assert 0 < by_dest["ghsci_open_space_large"] <= by_dest["ghsci_open_space_any"]
    daily = _find(records, "ghsci_daily_living").value
    assert 2.0 < daily <= 3.0
    # inner-city densities: thousands of people and 50-500 intersections per km²
    assert 3_000 < _find(records, "ghsci_population_density").value < 30_000
    assert 50 < _find(records, "ghsci_intersection_density").value < 500
