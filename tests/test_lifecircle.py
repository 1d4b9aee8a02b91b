"""GB 50180 life circles: coverage, completeness, gaps and green space on a hand-made street, and Helsinki."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
import yaml

from exquisite.access.compute import compute_access
from exquisite.analysis import Analysis
from exquisite.config import load_profiles
from exquisite.indicators import lifecircle as lc
from exquisite.indicators.inputs import AnalysisInputs
from exquisite.indicators.parameters import load_parameters
from exquisite.indicators.records import Area, Indicator
from exquisite.network.build import build_network
from exquisite.network.snap import snap_points
from exquisite.region import GTFS_CATEGORIES
from exquisite.sources.osm import OsmData

CRS = "EPSG:32635"
X0, Y0 = 500000.0, 6670000.0
_TO_WGS = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)


@dataclass(frozen=True)
class _Ways:
    way_id: np.ndarray
    highway: np.ndarray
    node_ptr: np.ndarray
    node_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray


def _street() -> _Ways:
    """One straight footway along y = 0 from x = 0 to x = 1,300 m (local metres in UTM 35N)."""
    xs = [0.0, 650.0, 1300.0]
    lon, lat = _TO_WGS.transform(np.array(xs) + X0, np.full(3, Y0))
    return _Ways(
        way_id=np.array([1], dtype=np.int64),
        highway=np.array(["footway"], dtype=object),
        node_ptr=np.array([0, 3]),
        node_id=np.array([1, 2, 3], dtype=np.int64),
        lon=np.asarray(lon),
        lat=np.asarray(lat),
    )


def _box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


# Destinations on the street (x in metres), one category each. Nothing is a pharmacy: a required 5-minute
# item with no destination at all.
_POINTS = [
    ("kindergarten", 280.0),
    ("elderly_care", 900.0),
    ("cultural_centre", 1100.0),
    ("sports_ground", 900.0),
    ("convenience", 50.0),
    ("food_market", 650.0),
    ("primary_school", 700.0),
    ("bus_stop", 1000.0),
    ("middle_school", 1150.0),
]
# Open spaces: (osm id, polygon in local metres, entrance x on the street).
# park 1: 250 x 250 m = 6.25 ha (a 15-, 10- and 5-minute park); only x 1200..1300 lies in the boundary.
# park 2: 100 x 50 m = 0.5 ha inside park 1 (a 5-minute park only; overlaps park 1).
# park 3: 50 x 50 m = 0.25 ha (smaller than every tier's park): never counted.
_PARKS = [
    (1, (1200.0, 50.0, 1450.0, 300.0), 1200.0),
    (2, (1200.0, 100.0, 1300.0, 150.0), 1250.0),
    (3, (0.0, 50.0, 50.0, 100.0), 10.0),
]
BOUNDARY = _box(-100.0, -500.0, 1300.0, 500.0)


def _inputs() -> AnalysisInputs:
    """Two origins on the street, access computed by the real kernels for the default profiles.

    Origin a at x = 0 (100 people: 20 children, 60 adults, 20 older), origin b at x = 600 (300 people: 30
    children, 200 adults, 70 older), both 10 m off the street (snapping distance is not added).
    Profiles: gb50180 (300/500/1000 m), adult 1.2 m/s, older 0.9 m/s, child 1.0 m/s; the largest distance
    searched is the adult 15 min = 1,080 m.
    """
    network = build_network(_street(), CRS, min_component_nodes=1)
    profiles = load_profiles()
    cutoffs = {name: p.cutoffs_m() for name, p in profiles.items()}
    rows = [(cat, "node", 100 + i, x, np.nan, False) for i, (cat, x) in enumerate(_POINTS)]
    for osm_id, poly, entrance_x in _PARKS:
        rows.append(("open_space", "way", osm_id, entrance_x, _box(*poly).area, True))
    destinations = gpd.GeoDataFrame(
        {
            "category": [r[0] for r in rows],
            "osm_type": [r[1] for r in rows],
            "osm_id": np.array([r[2] for r in rows], dtype=np.int64),
            "name": [None] * len(rows),
            "area_m2": [r[4] for r in rows],
            "entrance": [r[5] for r in rows],
        },
        geometry=[shapely.Point(X0 + r[3], Y0) for r in rows],
        crs=CRS,
    )
    categories = [*dict.fromkeys(destinations["category"]), "pharmacy"]
    origin_xy = np.array([[0.0, 10.0], [600.0, 10.0]])
    o = snap_points(network, origin_xy[:, 0] + X0, origin_xy[:, 1] + Y0)
    d = snap_points(network, destinations.geometry.x.to_numpy(), destinations.geometry.y.to_numpy())
    access = compute_access(
        network,
        o,
        d,
        destinations["category"].to_numpy(),
        categories,
        cutoffs,
        lc.destination_sets(destinations),
    )
    origins = gpd.GeoDataFrame(
        pd.concat(
            [
                pd.DataFrame(
                    {
                        "origin_id": [0, 1],
                        "population": [100.0, 300.0],
                        "pop_child": [20.0, 30.0],
                        "pop_adult": [60.0, 200.0],
                        "pop_older": [20.0, 70.0],
                        "grid_id": ["a", "b"],
                    }
                ),
                access.table,
            ],
            axis=1,
        ),
        geometry=shapely.points(origin_xy + np.array([X0, Y0])),
        crs=CRS,
    )
    features = gpd.GeoDataFrame(
        {
            "osm_type": ["way"] * len(_PARKS),
            "osm_id": np.array([p[0] for p in _PARKS], dtype=np.int64),
            "name": [None] * len(_PARKS),
            "categories": [["open_space"]] * len(_PARKS),
        },
        geometry=[_box(*p[1]) for p in _PARKS],
        crs=CRS,
    ).to_crs("EPSG:4326")
    osm = OsmData(
        path=Path("hand-made"),
        walk_ways=_street(),
        features=features,
        buildings=gpd.GeoDataFrame(geometry=[], crs="EPSG:4326"),
        bounds=tuple(features.total_bounds),
    )
    inputs = AnalysisInputs(
        origins=origins,
        destinations=destinations,
        network=network,
        osm=osm,
        population=None,
        boundary=BOUNDARY,
        crs=CRS,
        profiles=profiles,
        cutoffs=access.cutoffs,
        cutoff_m=access.cutoff_m,
        categories=categories,
        sources={"osm": [{"name": "hand-made", "file": "-", "vintage": "-"}]},
    )
    values = lc.origin_values(inputs)
    return AnalysisInputs(**{**inputs.__dict__, "origins": pd.concat([origins, values], axis=1)})


@pytest.fixture(scope="module")
def street() -> AnalysisInputs:
    return _inputs()


def _city(inputs: AnalysisInputs) -> Area:
    return Area("city", "city", inputs.boundary, np.ones(len(inputs.origins), dtype=bool))


def _one(records: list[Indicator], indicator_id: str, group: str = "all", **parameters: object) -> Indicator:
    found = [
        r
        for r in records
        if r.id == indicator_id
        and r.group == group
        and all(r.parameters.get(k) == v for k, v in parameters.items())
    ]
    assert len(found) == 1, (indicator_id, group, parameters, len(found))
    return found[0]


def test_data_file_cites_the_standard_and_names_known_categories() -> None:
    data = load_parameters("lifecircles.yml")
    assert data["version"] == 1
    taxonomy = yaml.safe_load(Path(lc.__file__).parents[1].joinpath("data", "taxonomy.yml").read_text())
    known = (
        set(taxonomy["categories"])
        | set(GTFS_CATEGORIES.values())
        | set(data["parameters"]["destination_sets"])
    )
    tiers = lc.tiers()
    assert {name: t.distance_m for name, t in tiers.items()} == {"15min": 1000, "10min": 500, "5min": 300}
    for tier in tiers.values():
        assert tier.required, tier.name
        assert tier.park_set in data["parameters"]["destination_sets"]
        for item in tier.items:
            assert "GB50180" in item.source
            assert any(tag in item.source for tag in ("[V", "[M]", "[S]")), item.key
            if item.measured:
                assert set(item.categories) <= known, item.key
                assert 0 < item.radius_m <= 1000
            else:
                assert len(item.not_measured) > 20
        for indicator in ("completeness", "complete", "coverage", "gap", "green_per_capita"):
            definition = data["indicators"][f"lifecircle_{tier.name}_{indicator}"]
            assert definition["label"]["zh"]
            assert definition["definition"]["en"]
            assert "GB 50180" in definition["standard"]
    assert lc.largest_radius_m(load_profiles()) == pytest.approx(1200.0)  # 1,000 m item at adult 1.2 m/s


def test_radius_of_a_time_profile_is_speed_times_the_standard_minutes() -> None:
    kindergarten = next(i for i in lc.tiers()["5min"].items if i.key == "kindergarten")
    # 300 m at 60 m/min is 5 min: 360 m at 1.2 m/s, 270 m at 0.9 m/s, 300 m at 1.0 m/s
    assert lc.item_radius_m(kindergarten, None) == 300.0
    assert lc.item_radius_m(kindergarten, 1.2) == pytest.approx(360.0)
    assert lc.item_radius_m(kindergarten, 0.9) == pytest.approx(270.0)
    assert lc.item_radius_m(kindergarten, 1.0) == pytest.approx(300.0)
    assert list(lc.variants(load_profiles())) == ["gb50180", "adult", "older", "child"]


def test_item_nearest_is_the_minimum_over_its_categories(street: AnalysisInputs) -> None:
    origins = street.origins
    # community shop = food market (x 650) or convenience store (x 50): a at 0 -> 50 m, b at 600 -> 50 m
    np.testing.assert_allclose(origins["lifecircle__nearest_m__community_shop"], [50.0, 50.0])
    # bus stop = bus_stop | tram_stop | gtfs_stop_low; only bus_stop exists in this run (x 1000)
    np.testing.assert_allclose(origins["lifecircle__nearest_m__bus_stop"], [1000.0, 400.0])
    # a pharmacy exists nowhere; the cultural centre (x 1100) is beyond the 1,080 m searched from a
    assert origins["lifecircle__nearest_m__pharmacy"].isna().all()
    assert np.isnan(origins["lifecircle__nearest_m__culture_station"].iloc[0])


def test_completeness_per_origin_worked_by_hand(street: AnalysisInputs) -> None:
    # 5-minute required items and their gb50180 radii: kindergarten 300 (x 280), elderly day care 300
    # (x 900), culture station 500 (x 1100), small sports court 300 (x 900), community shop 300 (x 50 / 650),
    # pharmacy 300 (none).
    # a (x 0):   280 ok, 900 no, >1080 no, 900 no, 50 ok, none no   -> 2/6, 4 missing
    # b (x 600): 320 no, 300 ok (inclusive), 500 ok, 300 ok, 50 ok, none no -> 4/6, 2 missing
    o = street.origins
    np.testing.assert_allclose(o["lifecircle__5min__completeness__gb50180"], [2 / 6, 4 / 6])
    np.testing.assert_array_equal(o["lifecircle__5min__missing__gb50180"], [4, 2])
    # adult 1.2 m/s: radii 360 (300 m items) and 600 (culture): a 2/6; b adds the kindergarten at 320 -> 5/6
    np.testing.assert_allclose(o["lifecircle__5min__completeness__adult"], [2 / 6, 5 / 6])
    # older 0.9 m/s: radii 270 and 450: a only the shop at 50 (kindergarten 280 > 270); b only the shop
    np.testing.assert_allclose(o["lifecircle__5min__completeness__older"], [1 / 6, 1 / 6])
    # child 1.0 m/s is the planning speed: same as the standard's metres
    np.testing.assert_allclose(o["lifecircle__5min__completeness__child"], [2 / 6, 4 / 6])
    # 10-minute, 500 m: primary school x 700, sports x 900, food market x 650, bus stop x 1000
    # a: 700, 900, 650, 1000 -> 0/4;  b: 100, 300, 50, 400 -> 4/4
    np.testing.assert_allclose(o["lifecircle__10min__completeness__gb50180"], [0.0, 1.0])


def test_area_records_worked_by_hand(street: AnalysisInputs) -> None:
    records = lc.indicators(street, _city(street))
    # completeness 5 min, gb50180: (100 x 2/6 + 300 x 4/6) / 400 = (33.33 + 200) / 400 = 58.33 %
    rec = _one(records, "lifecircle_5min_completeness", profile="gb50180")
    assert rec.value == pytest.approx(100 * (100 * 2 / 6 + 300 * 4 / 6) / 400)
    assert rec.denominator == pytest.approx(400.0)
    assert rec.unit == "%"
    assert "pharmacy" in rec.parameters["items"]
    assert "public_toilet" in rec.parameters["not_measured"]
    # adult: (100 x 2/6 + 300 x 5/6) / 400 = 70.83 %
    assert _one(records, "lifecircle_5min_completeness", profile="adult").value == pytest.approx(
        100 * (100 * 2 / 6 + 300 * 5 / 6) / 400
    )
    # nobody has every 5-minute item (no pharmacy); b (300 of 400) has the whole 10-minute circle
    assert _one(records, "lifecircle_5min_complete", profile="gb50180").value == 0.0
    assert _one(records, "lifecircle_10min_complete", profile="gb50180").value == pytest.approx(75.0)
    assert _one(records, "lifecircle_10min_completeness", profile="gb50180").value == pytest.approx(75.0)
    # kindergarten coverage: gb50180 a only (100/400); adult both (360 m); older nobody (270 m)
    kg = {"tier": "5min", "item": "kindergarten"}
    assert _one(records, "lifecircle_5min_coverage", profile="gb50180", **kg).value == pytest.approx(25.0)
    assert _one(records, "lifecircle_5min_coverage", profile="adult", **kg).value == pytest.approx(100.0)
    assert _one(records, "lifecircle_5min_coverage", profile="older", **kg).value == pytest.approx(0.0)
    # by age group at the group's own profile: children at 1.0 m/s (300 m): a's 20 of 50 children
    child = _one(records, "lifecircle_5min_coverage", group="child", profile="child", **kg)
    assert child.value == pytest.approx(40.0)
    assert (child.numerator, child.denominator) == (20.0, 50.0)
    older = _one(records, "lifecircle_5min_completeness", group="older", profile="older")
    assert older.value == pytest.approx(100 / 6)
    assert not [r for r in records if r.group == "older" and r.parameters.get("profile") != "older"]
    # gap: people without a kindergarten within 300 m = b's 300
    gap = _one(records, "lifecircle_5min_gap", profile="gb50180", **kg)
    assert (gap.value, gap.unit, gap.denominator) == (300.0, "people", 400.0)
    # no gap records for recommended items
    assert not [r for r in records if r.id.endswith("_gap") and not r.parameters["required"]]


def test_required_item_with_no_destination_is_zero_coverage_with_a_caveat(street: AnalysisInputs) -> None:
    records = lc.indicators(street, _city(street))
    rec = _one(records, "lifecircle_5min_coverage", profile="gb50180", item="pharmacy")
    assert rec.value == 0.0
    assert any("No pharmacy found" in c for c in rec.caveats)
    assert _one(records, "lifecircle_5min_gap", profile="gb50180", item="pharmacy").value == 400.0


def test_radius_beyond_the_search_is_flagged(street: AnalysisInputs) -> None:
    records = lc.indicators(street, _city(street))
    # middle school at x 1150: 1,150 m from a, within the adult radius 1,200 m but beyond the 1,080 m searched
    rec = _one(records, "lifecircle_15min_coverage", profile="adult", item="middle_school")
    assert rec.parameters["radius_m"] == pytest.approx(1200.0)
    assert rec.value == pytest.approx(75.0)  # b only (550 m): a lower bound
    assert any("beyond the largest distance searched" in c for c in rec.caveats)
    gb = _one(records, "lifecircle_15min_coverage", profile="gb50180", item="middle_school")
    assert not any("beyond" in c for c in gb.caveats)


def test_gaps_ranked_by_people_affected(street: AnalysisInputs) -> None:
    gaps = lc.lifecircle_gaps(street, "5min", "gb50180")
    assert list(gaps.columns) == lc.GAP_COLUMNS
    # without: pharmacy 400 (a, b), sports 100 (a), kindergarten 300 (b), elderly day care 100 (a),
    # culture station 100 (a), community shop 0; ties by item name
    assert list(gaps["item"]) == [
        "pharmacy",
        "kindergarten",
        "culture_station",
        "elderly_day_care",
        "sports_small",
        "community_shop",
    ]
    np.testing.assert_allclose(gaps["people_without"], [400, 300, 100, 100, 100, 0])
    np.testing.assert_allclose(gaps["share_without"], [100, 75, 25, 25, 25, 0])
    first = gaps.iloc[0]
    assert first["places"] == ["b", "a"]
    assert first["places_people"] == [300.0, 100.0]
    assert gaps.iloc[-1]["places"] == []
    # one place only, older people at their own speed: kindergarten lacks 20 (a) + 70 (b) older people
    older = lc.lifecircle_gaps(street, "5min", "older", group="older", top=1).set_index("item")
    assert older.loc["kindergarten", "people_without"] == 90.0
    assert older.loc["kindergarten", "places"] == ["b"]
    # every measured item, not only the required ones
    everything = lc.lifecircle_gaps(street, "5min", "gb50180", required_only=False)
    assert {"health_station", "park_5min", "bus_stop"} <= set(everything["item"])
    with pytest.raises(KeyError, match="district"):
        lc.lifecircle_gaps(street, "5min", "gb50180", by="district")


def test_area_restricts_to_its_origins_and_an_empty_area_gives_none(street: AnalysisInputs) -> None:
    only_b = Area("east", "district", _box(300, -500, 1300, 500), np.array([False, True]))
    records = lc.indicators(street, only_b)
    assert _one(records, "lifecircle_5min_completeness", profile="gb50180").value == pytest.approx(400 / 6)
    empty = Area("nowhere", "district", _box(-100, 400, 0, 500), np.array([False, False]))
    for rec in lc.indicators(street, empty):
        assert rec.value is None
        assert rec.area == "nowhere"
        assert any("No residents" in c for c in rec.caveats)


def test_green_space_per_resident(street: AnalysisInputs) -> None:
    records = lc.indicators(street, _city(street))
    # park 1 (6.25 ha) lies 100 x 250 m = 25,000 m² inside the boundary; park 2 (0.5 ha) lies inside park 1
    # and is counted once; park 3 (0.25 ha) is below every tier's size. 25,000 m² / 400 people = 62.5
    for tier, target in (("15min", 2.0), ("10min", 1.0), ("5min", 1.0)):
        rec = _one(records, f"lifecircle_{tier}_green_per_capita")
        assert rec.numerator == pytest.approx(25_000.0)
        assert rec.value == pytest.approx(62.5)
        assert rec.parameters["target_m2_per_person"] == target
        assert rec.parameters["meets_target"] is True
    # a district without the park has none
    west = Area("west", "district", _box(-100, -500, 700, 500), np.array([True, True]))
    assert _one(lc.indicators(street, west), "lifecircle_15min_green_per_capita").value == 0.0


def test_destination_sets_keep_large_enough_open_spaces(street: AnalysisInputs) -> None:
    sets = lc.destination_sets(street.destinations)
    ids = {name: sorted(street.destinations.loc[mask, "osm_id"]) for name, mask in sets.items()}
    assert ids == {"lifecircle_park_5ha": [1], "lifecircle_park_1ha": [1], "lifecircle_park_04ha": [1, 2]}


@pytest.mark.slow
def test_helsinki_hsy_grid_gives_plausible_life_circles(helsinki_hsy_analysis: Analysis) -> None:
    inputs = helsinki_hsy_analysis.inputs
    origins = inputs.origins
    records = [
        r for r in helsinki_hsy_analysis.indicators if r.area == "city" and r.id.startswith("lifecircle_")
    ]
    # central Helsinki: everyone lives within 500 m of a bus or tram stop
    bus = _one(records, "lifecircle_10min_coverage", profile="gb50180", item="bus_stop")
    assert bus.value > 95.0
    for tier in ("5min", "10min", "15min"):
        std = _one(records, f"lifecircle_{tier}_completeness", profile="gb50180").value
        adult = _one(records, f"lifecircle_{tier}_completeness", profile="adult").value
        older = _one(records, f"lifecircle_{tier}_completeness", profile="older").value
        assert 20.0 < std <= 100.0
        assert older <= std <= adult  # slower walkers reach less in the same minutes
        child = _one(records, f"lifecircle_{tier}_completeness", group="child", profile="child")
        assert child.denominator == pytest.approx(0.12 * bus.denominator, rel=1e-6)
    completeness = origins["lifecircle__15min__completeness__gb50180"]
    assert completeness.between(0, 1).all()
    gaps = lc.lifecircle_gaps(inputs, "15min", "gb50180")
    assert gaps["people_without"].is_monotonic_decreasing
    assert set(gaps["item"]) == {i.key for i in lc.tiers()["15min"].required}
    assert _one(records, "lifecircle_15min_green_per_capita").value > 2.0  # Helsinki's centre is green
