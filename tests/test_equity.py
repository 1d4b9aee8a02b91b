"""Equity: share beyond a 15-minute walk, Gini of walking time and the age gap, worked out by hand."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from exquisite.analysis import Analysis
from exquisite.config import Profile
from exquisite.indicators import equity
from exquisite.indicators.inputs import AnalysisInputs
from exquisite.indicators.parameters import definitions
from exquisite.indicators.records import Area, Indicator
from exquisite.network.build import csr_from_edges
from exquisite.network.graph import WalkNetwork
from exquisite.sources.osm import OsmData, WalkWays
from exquisite.sources.population import Population

CRS = "EPSG:32635"
# 15 minutes: adult 1.2 m/s -> 1080 m, child 1.0 m/s -> 900 m, older 0.9 m/s -> 810 m.
PROFILES = {
    "adult": Profile(name="adult", label_en="A", label_zh="A", speed_m_s=1.2, minutes=(5, 10, 15)),
    "child": Profile(name="child", label_en="C", label_zh="C", speed_m_s=1.0, minutes=(5, 10, 15)),
    "older": Profile(name="older", label_en="O", label_zh="O", speed_m_s=0.9, minutes=(5, 10, 15)),
    "gb50180": Profile(name="gb50180", label_en="G", label_zh="G", distances_m=(300, 500, 1000)),
}


def _tiny_network() -> WalkNetwork:
    x, y = np.array([0.0, 100.0]), np.array([0.0, 0.0])
    u, v, length = np.array([0]), np.array([1]), np.array([100.0])
    indptr, indices, weights, adj_edge = csr_from_edges(u, v, length, 2)
    return WalkNetwork(
        crs=CRS, node_x=x, node_y=y, node_osm_id=np.arange(2), edge_u=u, edge_v=v, edge_length_m=length,
        edge_osm_way_id=np.arange(1), edge_highway=np.array(["footway"], dtype=object),
        geom_ptr=np.array([0, 2]), geom_x=x, geom_y=y, geom_osm_id=np.arange(2),
        indptr=indptr, indices=indices, weights=weights, adj_edge=adj_edge,
    )  # fmt: skip


def make_inputs(nearest: dict[str, list[float]], people: dict[str, list[float]]) -> AnalysisInputs:
    """Inputs whose nearest distances are given by hand (NaN = none within the searched 1,080 m)."""
    n = len(people["population"])
    frame = gpd.GeoDataFrame(
        {"origin_id": np.arange(n), "cell_id": [str(i) for i in range(n)], **people},
        geometry=gpd.points_from_xy(np.arange(n, dtype=float), np.zeros(n)),
        crs=CRS,
    )
    population = Population(frame, frame, "vector", False, "hand-made", float(np.sum(people["population"])))
    origins = pd.concat([frame, pd.DataFrame({f"nearest_m__{c}": d for c, d in nearest.items()})], axis=1)
    empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs="EPSG:4326"))
    none = np.empty(0, dtype=np.int64)
    ways = WalkWays(
        none, np.empty(0, dtype=object), np.zeros(1, dtype=np.int64), none, np.empty(0), np.empty(0)
    )
    cutoffs = {name: p.cutoffs_m() for name, p in PROFILES.items()}
    return AnalysisInputs(
        origins=gpd.GeoDataFrame(origins, geometry="geometry", crs=CRS),
        destinations=gpd.GeoDataFrame({"category": []}, geometry=gpd.GeoSeries([], crs=CRS)),
        network=_tiny_network(),
        osm=OsmData(Path("hand-made.osm.pbf"), ways, empty, empty, (0, 0, 0, 0)),
        population=population,
        boundary=shapely.box(-10, -10, 10, 10),
        crs=CRS,
        profiles=PROFILES,
        cutoffs=cutoffs,
        cutoff_m=max(d for c in cutoffs.values() for d in c.values()),
        categories=list(nearest),
        sources={"osm": [{"name": "OpenStreetMap"}], "population": [{"name": "population"}]},
    )


def _city(inputs: AnalysisInputs) -> Area:
    return Area("city", "city", inputs.boundary, np.ones(len(inputs.origins), dtype=bool))


def _find(records: list[Indicator], indicator_id: str, group: str = "all", **parameters) -> Indicator:
    hits = [
        r
        for r in records
        if r.id == indicator_id
        and r.group == group
        and all(r.parameters.get(k) == v for k, v in parameters.items())
    ]
    assert len(hits) == 1, (indicator_id, group, parameters, len(hits))
    return hits[0]


def test_gini_of_known_distributions() -> None:
    # all equal -> 0
    assert equity.weighted_gini(np.array([5.0, 5.0, 5.0]), np.ones(3)) == 0.0
    # 1, 2, 3, 4 with equal weights: sum over ordered pairs |xi - xj| = 2 x (1+2+3+1+2+1) = 20;
    # G = 20 / (2 x 4² x 2.5) = 0.25
    assert equity.weighted_gini(np.array([4.0, 1.0, 3.0, 2.0]), np.ones(4)) == pytest.approx(0.25)
    # one person has everything among n = 4: G = (n - 1) / n = 0.75
    assert equity.weighted_gini(np.array([0.0, 0.0, 0.0, 8.0]), np.ones(4)) == pytest.approx(0.75)
    # weights are repetitions: x = (0, 1) with weights (1, 3) is (0, 1, 1, 1): pairs differing: 2 x 3 = 6;
    # mean 0.75 -> G = 6 / (2 x 16 x 0.75) = 0.25
    assert equity.weighted_gini(np.array([0.0, 1.0]), np.array([1.0, 3.0])) == pytest.approx(0.25)
    assert equity.weighted_gini(np.array([0.0, 1.0, 1.0, 1.0]), np.ones(4)) == pytest.approx(0.25)
    # zero weights and NaN values are left out; nothing left -> None; all zero values -> 0
    assert equity.weighted_gini(np.array([1.0, 2.0, 50.0, np.nan]), np.array([1.0, 1.0, 0.0, 5.0])) == (
        pytest.approx(1 / 6)  # (1, 2): 2 x 1 / (2 x 4 x 1.5)
    )
    assert equity.weighted_gini(np.array([1.0]), np.array([0.0])) is None
    assert equity.weighted_gini(np.zeros(3), np.ones(3)) == 0.0
    # scale-free: times at any speed have the same Gini
    x = np.array([100.0, 300.0, 700.0])
    w = np.array([2.0, 1.0, 3.0])
    assert equity.weighted_gini(x / 1.2, w) == pytest.approx(equity.weighted_gini(x / 0.9, w))


def test_share_beyond_gini_and_gap_without_age_split() -> None:
    # Four homes of 100, 200, 300, 400 people; nearest park at 300 m, 850 m, 1000 m and none (NaN).
    # Adults (1080 m): beyond = the 400 with none -> 40 %. Children (900 m): beyond = 300 + 400 -> 70 %.
    # Older (810 m): beyond = 200 + 300 + 400 -> 90 %.
    inputs = make_inputs(
        {"park": [300.0, 850.0, 1000.0, np.nan], "school": [np.nan] * 4},
        {"population": [100.0, 200.0, 300.0, 400.0]},
    )
    records = equity.indicators(inputs, _city(inputs))
    beyond = {
        p: _find(records, "equity_share_beyond", category="park", profile=p)
        for p in ("adult", "child", "older")
    }
    assert beyond["adult"].value == pytest.approx(40.0)
    assert (beyond["adult"].numerator, beyond["adult"].denominator) == (400.0, 1000.0)
    assert beyond["child"].value == pytest.approx(70.0)
    assert beyond["older"].value == pytest.approx(90.0)
    assert beyond["adult"].parameters["distance_m"] == pytest.approx(1080.0)
    # Gini: the home with none takes the cap, 1080 m. Distances (300, 850, 1000, 1080) with weights
    # (1, 2, 3, 4) (hundreds): W = 10, sum w x = 300 + 1700 + 3000 + 4320 = 9320.
    # B = (0, 1, 3, 6): sum w x (2B + w - W) = 300(0+1-10) + 1700(2+2-10) + 3000(6+3-10) + 4320(12+4-10)
    #   = -2700 - 10200 - 3000 + 25920 = 10020 -> G = 10020 / (10 x 9320) = 0.107511
    gini = _find(records, "equity_gini_walk_time", category="park", profile="adult")
    assert gini.value == pytest.approx(10020 / 93200)
    assert gini.parameters["people_at_cap"] == 400.0
    assert gini.parameters["origins_at_cap"] == 1
    assert gini.parameters["cap_min"] == pytest.approx(15.0)  # 1080 m at 1.2 m/s
    assert any("400 people (1 origins)" in c for c in gini.caveats)
    # same Gini at the child's speed (scale-free)
    assert _find(records, "equity_gini_walk_time", category="park", profile="child").value == pytest.approx(
        gini.value
    )
    # gap without an age split: everyone at child speed minus everyone at adult speed:
    # (100 - 70) - (100 - 40) = 30 - 60 = -30 pp; older: 10 - 60 = -50 pp
    child_gap = _find(records, "equity_gap", group="child", category="park")
    assert child_gap.value == pytest.approx(-30.0)
    assert child_gap.unit == "pp"
    assert any("no age split" in c for c in child_gap.caveats)
    assert _find(records, "equity_gap", group="older", category="park").value == pytest.approx(-50.0)
    # a category without destinations: everyone beyond, Gini undefined, no gap (0 - 0)
    assert _find(records, "equity_share_beyond", category="school", profile="adult").value == 100.0
    none = _find(records, "equity_gini_walk_time", category="school", profile="adult")
    assert none.value is None
    assert any("Nobody reaches" in c for c in none.caveats)
    assert _find(records, "equity_gap", group="child", category="school").value == 0.0
    # distance profiles have no walking time: no equity record for gb50180
    assert not [r for r in records if r.parameters.get("profile") == "gb50180"]
    # without an age split there are no group records besides the gap
    assert {r.group for r in records if r.id != "equity_gap"} == {"all"}


def test_gap_with_age_groups_has_the_right_sign() -> None:
    # Two homes. Home A (park at 850 m): 10 children, 60 adults, 30 older. Home B (park at 1000 m): 40
    # children, 40 adults, 20 older.
    # Adults at 1080 m reach both: 100 %. Children at 900 m reach A only: 10 / 50 = 20 % -> gap -80 pp.
    # Older at 810 m reach neither: 0 % -> gap -100 pp.
    people = {
        "population": [100.0, 100.0],
        "pop_child": [10.0, 40.0],
        "pop_adult": [60.0, 40.0],
        "pop_older": [30.0, 20.0],
    }
    inputs = make_inputs({"park": [850.0, 1000.0]}, people)
    records = equity.indicators(inputs, _city(inputs))
    child = _find(records, "equity_gap", group="child", category="park")
    assert child.value == pytest.approx(-80.0)
    assert child.parameters["coverage_pct"] == pytest.approx(20.0)
    assert child.parameters["reference_coverage_pct"] == pytest.approx(100.0)
    assert _find(records, "equity_gap", group="older", category="park").value == pytest.approx(-100.0)
    # group records at the group's own profile: children beyond 900 m = 40 / 50 = 80 %
    beyond = _find(records, "equity_share_beyond", group="child", category="park", profile="child")
    assert beyond.value == pytest.approx(80.0)
    # ... and no child record at the adult profile
    assert not [r for r in records if r.group == "child" and r.parameters.get("profile") == "adult"]
    # children's Gini: distances 850 (10) and 1000 (40): W = 50, sum w x = 8500 + 40000 = 48500;
    # B = (0, 10): 8500 (0 + 10 - 50) + 40000 (20 + 40 - 50) = -340000 + 400000 = 60000
    # -> G = 60000 / (50 x 48500)
    gini = _find(records, "equity_gini_walk_time", group="child", category="park", profile="child")
    assert gini.value == pytest.approx(60000 / (50 * 48500))
    # an area without people: None with a caveat
    empty = equity.indicators(inputs, Area("x", "district", inputs.boundary, np.zeros(2, dtype=bool)))
    share = _find(empty, "equity_share_beyond", category="park", profile="adult")
    assert share.value is None
    assert share.caveats
    assert _find(empty, "equity_gap", group="child", category="park").value is None


def test_a_gap_needs_both_profiles_and_no_origin_columns() -> None:
    inputs = make_inputs({"park": [100.0]}, {"population": [5.0]})
    inputs = AnalysisInputs(**{**inputs.__dict__, "profiles": {"adult": PROFILES["adult"]}})
    records = equity.indicators(inputs, _city(inputs))
    gap = _find(records, "equity_gap", group="child", category="park")
    assert gap.value is None
    assert any("no time profile child" in c for c in gap.caveats)
    assert equity.origin_values(inputs).shape == (1, 0)
    assert equity.destination_sets(inputs.destinations) == {}
    for indicator_id in ("equity_share_beyond", "equity_gini_walk_time", "equity_gap"):
        entry = definitions()[indicator_id]
        assert entry["label"]["zh"]
        assert entry["definition"]["en"]
        assert entry["unit"]


@pytest.mark.slow
def test_helsinki_hsy_grid(helsinki_hsy_analysis: Analysis) -> None:
    records = [r for r in helsinki_hsy_analysis.indicators if r.area == "city" and r.id.startswith("equity_")]
    # central Helsinki: hardly anyone is beyond a 15-minute walk of a tram stop or a pharmacy
    assert _find(records, "equity_share_beyond", category="tram_stop", profile="adult").value < 5
    for record in records:
        if record.id == "equity_gini_walk_time" and record.value is not None:
            assert 0 <= record.value < 1
        if record.id == "equity_gap" and record.value is not None:
            # with fixed age shares per cell, slower groups can only reach less
            assert record.value <= 1e-9
    pharmacy = _find(records, "equity_gini_walk_time", category="pharmacy", profile="adult")
    assert 0.05 < pharmacy.value < 0.6
