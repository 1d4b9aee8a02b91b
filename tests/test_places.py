"""Destination points from features: own points, points in areas, open-space entrances near the network."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon

from exquisite.errors import InputError
from exquisite.network.graph import WalkNetwork
from exquisite.places import DESTINATION_COLUMNS, destinations_from_features, open_spaces
from exquisite.taxonomy import Entrances, default_taxonomy

CRS = "EPSG:32635"
X0, Y0 = 385_000.0, 6_672_000.0


def _network() -> WalkNetwork:
    """Two streets from node 0: east 1 km along y = Y0 (with a bend vertex), north 1 km along x = X0."""
    geom_x = np.array([X0, X0 + 500, X0 + 1000, X0, X0])
    geom_y = np.array([Y0, Y0, Y0, Y0, Y0 + 1000])
    values = {
        "crs": CRS,
        "node_x": np.array([X0, X0 + 1000, X0]),
        "node_y": np.array([Y0, Y0, Y0 + 1000]),
        "node_osm_id": np.array([1, 2, 3], dtype=np.int64),
        "edge_u": np.array([0, 0], dtype=np.int64),
        "edge_v": np.array([1, 2], dtype=np.int64),
        "edge_length_m": np.array([1000.0, 1000.0]),
        "edge_osm_way_id": np.array([10, 11], dtype=np.int64),
        "edge_highway": np.array(["residential", "footway"], dtype=object),
        "geom_ptr": np.array([0, 3, 5], dtype=np.int64),
        "geom_x": geom_x,
        "geom_y": geom_y,
        "geom_osm_id": np.array([1, -1, 2, 1, 3], dtype=np.int64),
        "indptr": np.array([0, 2, 3, 4], dtype=np.int64),
        "indices": np.array([1, 2, 0, 0], dtype=np.int64),
        "weights": np.array([1000.0, 1000.0, 1000.0, 1000.0]),
        "adj_edge": np.array([0, 1, 0, 1], dtype=np.int64),
    }
    names = {f.name for f in dataclasses.fields(WalkNetwork)}
    return WalkNetwork(**{k: v for k, v in values.items() if k in names})


def _box(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    """A rectangle whose ring starts at its south-west corner and runs anticlockwise."""
    return Polygon([(X0 + x0, Y0 + y0), (X0 + x1, Y0 + y0), (X0 + x1, Y0 + y1), (X0 + x0, Y0 + y1)])


OPEN = ["open_space", "ghsci_open_space_any", "ghsci_open_space_large"]


@pytest.fixture(scope="module")
def features() -> gpd.GeoDataFrame:
    """Features as read_osm gives them (EPSG:4326)."""
    rows = [
        ("node", 1, "Apteekki", ["pharmacy", "not_in_taxonomy"], Point(X0 + 100, Y0 + 20)),
        ("way", 2, "Koulu", ["primary_school", "middle_school"], _box(200, 20, 260, 80)),
        ("way", 3, "Small park", OPEN, _box(300, 10, 400, 110)),  # 1 ha, 10 m from the street
        ("relation", 4, None, OPEN, _box(600, 500, 800, 600)),  # 2 ha, 500 m from any street
        ("way", 5, "Track", ["sports_ground"], LineString([(X0 + 900, Y0 + 50), (X0 + 950, Y0 + 50)])),
        ("node", 6, "Park node", ["open_space"], Point(X0 + 10, Y0 + 10)),  # open space needs a polygon
    ]
    frame = gpd.GeoDataFrame(
        {
            "osm_type": [r[0] for r in rows],
            "osm_id": np.array([r[1] for r in rows], dtype=np.int64),
            "name": [r[2] for r in rows],
            "categories": [r[3] for r in rows],
        },
        geometry=[r[4] for r in rows],
        crs=CRS,
    )
    return frame.to_crs("EPSG:4326")


@pytest.fixture(scope="module")
def destinations(features: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return destinations_from_features(features, default_taxonomy(), _network())


def test_contract(destinations: gpd.GeoDataFrame) -> None:
    assert list(destinations.columns) == [*DESTINATION_COLUMNS, "geometry"]
    assert destinations.crs == CRS
    assert destinations["osm_id"].dtype == np.int64
    assert destinations["area_m2"].dtype == np.float64
    assert destinations["entrance"].dtype == bool
    assert (shapely.get_type_id(destinations.geometry.values) == 0).all()
    order = list(default_taxonomy().categories)
    positions = [order.index(c) for c in destinations["category"]]
    assert positions == sorted(positions)  # grouped by category, in taxonomy order


def test_node_is_its_own_point(destinations: gpd.GeoDataFrame) -> None:
    pharmacy = destinations[destinations.category == "pharmacy"]
    assert len(pharmacy) == 1  # the unknown category is ignored
    row = pharmacy.iloc[0]
    assert row["name"] == "Apteekki"
    assert row["osm_type"] == "node"
    assert not row["entrance"]
    assert row.geometry.x == pytest.approx(X0 + 100, abs=1e-3)
    assert np.isnan(row["area_m2"])


def test_area_gives_a_point_inside_and_its_area(destinations: gpd.GeoDataFrame) -> None:
    school = destinations[destinations.osm_id == 2]
    assert sorted(school.category) == ["middle_school", "primary_school"]
    for row in school.itertuples():
        assert _box(200, 20, 260, 80).contains(row.geometry)
        assert row.area_m2 == pytest.approx(3600, rel=1e-6)


def test_line_gives_a_point_on_it(destinations: gpd.GeoDataFrame) -> None:
    track = destinations[destinations.category == "sports_ground"].iloc[0]
    assert track.geometry.y == pytest.approx(Y0 + 50, abs=1e-3)
    assert np.isnan(track["area_m2"])


def test_open_space_entrances_near_the_street(destinations: gpd.GeoDataFrame) -> None:
    small = destinations[(destinations.osm_id == 3) & (destinations.category == "open_space")]
    # perimeter 400 m -> 8 points every 50 m; those within 30 m of the street (y <= Y0 + 30) are kept
    xy = shapely.get_coordinates(small.geometry.values) - [X0, Y0]
    assert sorted(map(tuple, np.round(xy, 3))) == [(300, 10), (350, 10), (400, 10)]
    assert small["entrance"].all()
    assert small["area_m2"].iloc[0] == pytest.approx(10_000, rel=1e-6)
    assert small["name"].iloc[0] == "Small park"


def test_stranded_open_space_keeps_its_nearest_boundary_point(destinations: gpd.GeoDataFrame) -> None:
    far = destinations[(destinations.osm_id == 4) & (destinations.category == "open_space")]
    assert len(far) == 1
    point = far.geometry.iloc[0]
    assert point.y == pytest.approx(Y0 + 500, abs=1e-6)  # on the south edge, facing the street
    assert shapely.distance(point, shapely.union_all(_network().edge_lines())) == pytest.approx(500, abs=1e-6)
    assert far["name"].iloc[0] is None


def test_min_area_is_strict_and_per_category(destinations: gpd.GeoDataFrame) -> None:
    large = destinations[destinations.category == "ghsci_open_space_large"]
    assert set(large.osm_id) == {4}  # 2 ha; the 1 ha park is not > 1.5 ha
    assert set(destinations[destinations.category == "ghsci_open_space_any"].osm_id) == {3, 4}
    assert 6 not in set(destinations.osm_id)  # a park node is not an open space


def test_spacing_and_distance_parameters(features: gpd.GeoDataFrame) -> None:
    network = _network()
    dense = destinations_from_features(
        features, default_taxonomy(), network, entrance_spacing_m=20.0, entrance_max_distance_m=35.0
    )
    small = dense[(dense.osm_id == 3) & (dense.category == "open_space")]
    xy = shapely.get_coordinates(small.geometry.values) - [X0, Y0]
    assert len(small) == 8  # six on the south edge (every 20 m) and one on each side at y = 30
    assert (xy[:, 1] <= 35 + 1e-9).all()
    lines = shapely.union_all(network.edge_lines())
    assert (shapely.distance(small.geometry.values, lines) <= 35 + 1e-9).all()


def test_spacing_and_distance_from_the_taxonomy(features: gpd.GeoDataFrame) -> None:
    network = _network()
    taxonomy = dataclasses.replace(
        default_taxonomy(), entrances=Entrances(spacing_m=20.0, max_distance_m=35.0)
    )
    from_file = destinations_from_features(features, taxonomy, network)
    given = destinations_from_features(
        features, default_taxonomy(), network, entrance_spacing_m=20.0, entrance_max_distance_m=35.0
    )
    assert from_file.geometry.equals(given.geometry)


def test_bad_parameters_and_crs(features: gpd.GeoDataFrame) -> None:
    with pytest.raises(ValueError, match="entrance_spacing_m"):
        destinations_from_features(features, default_taxonomy(), _network(), entrance_spacing_m=0)
    geographic = dataclasses.replace(_network(), crs="EPSG:4326")
    with pytest.raises(InputError) as caught:
        destinations_from_features(features, default_taxonomy(), geographic)
    assert caught.value.where == "crs"


def test_no_features(features: gpd.GeoDataFrame) -> None:
    empty = destinations_from_features(features.iloc[:0], default_taxonomy(), _network())
    assert empty.empty
    assert list(empty.columns) == [*DESTINATION_COLUMNS, "geometry"]
    assert empty.crs == CRS


def test_open_spaces_for_land_share(features: gpd.GeoDataFrame) -> None:
    spaces = open_spaces(features, default_taxonomy(), CRS)
    assert spaces.crs == CRS
    assert spaces["osm_id"].tolist() == [3, 4]
    assert spaces["categories"].tolist() == [["open_space", "ghsci_open_space_any"], OPEN]
    assert spaces["area_m2"].tolist() == pytest.approx([10_000, 20_000], rel=1e-6)
    assert spaces["name"].tolist() == ["Small park", None]


def test_helsinki_entrances_are_near_the_network(helsinki_pbf: Path) -> None:
    from exquisite.network.build import build_network
    from exquisite.sources.osm import read_osm

    data = read_osm(helsinki_pbf)
    network = build_network(data.walk_ways, CRS)
    taxonomy = default_taxonomy()
    result = destinations_from_features(data.features, taxonomy, network)
    assert set(result.category) <= set(taxonomy.categories)
    spaces = result[result.category == "open_space"]
    assert spaces["entrance"].all()
    assert len(spaces) > len(set(spaces.osm_id))
    lines = shapely.union_all(network.edge_lines())
    distance = shapely.distance(spaces.geometry.values, lines)
    for _, group in spaces.assign(distance=distance).groupby(["osm_type", "osm_id"]):
        assert len(group) == 1 or (group["distance"] <= 30 + 1e-6).all()
    points = result[~result.entrance]
    assert points["osm_id"].gt(0).all()
