"""The walking network from ways, snapping onto edges, and exact access on hand-made networks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyproj
import pytest

from exquisite.access.compute import compute_access
from exquisite.network.augment import insert_points
from exquisite.network.build import build_network
from exquisite.network.snap import snap_points

CRS = "EPSG:32635"
_TO_WGS = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)


@dataclass(frozen=True)
class _Ways:
    way_id: np.ndarray
    highway: np.ndarray
    node_ptr: np.ndarray
    node_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray


def make_ways(ways: list[list[tuple[int, float, float]]]) -> _Ways:
    """Ways given as lists of (osm node id, x metres, y metres) in UTM 35N, turned into lon/lat."""
    ptr = np.cumsum([0] + [len(w) for w in ways])
    ids = np.array([n for w in ways for n, _, _ in w], dtype=np.int64)
    x = np.array([500000 + px for w in ways for _, px, _ in w])
    y = np.array([6670000 + py for w in ways for _, _, py in w])
    lon, lat = _TO_WGS.transform(x, y)
    return _Ways(
        way_id=np.arange(1, len(ways) + 1, dtype=np.int64),
        highway=np.array(["footway"] * len(ways), dtype=object),
        node_ptr=ptr,
        node_id=ids,
        lon=np.asarray(lon),
        lat=np.asarray(lat),
    )


@pytest.fixture
def cross() -> _Ways:
    """A plus sign: a west-east way of 200 m through a bend, and a south-north way crossing it at (100, 0)."""
    return make_ways(
        [
            [(1, 0, 0), (2, 50, 0), (3, 100, 0), (4, 150, 0), (5, 200, 0)],
            [(6, 100, -100), (3, 100, 0), (7, 100, 60), (8, 100, 100)],
        ]
    )


def test_ways_split_at_crossings_keep_their_shape(cross: _Ways) -> None:
    net = build_network(cross, CRS, min_component_nodes=1)
    # nodes: the four ends and the crossing; vertices 2, 4 and 7 stay inside polylines
    assert net.n_nodes == 5
    assert net.n_edges == 4
    assert sorted(np.round(net.edge_length_m, 3)) == [100.0, 100.0, 100.0, 100.0]
    assert set(net.node_osm_id) == {1, 3, 5, 6, 8}
    assert sorted(np.diff(net.geom_ptr).tolist()) == [2, 3, 3, 3]  # middle vertices stay in the polylines
    assert net.indptr[-1] == 8  # each edge both ways


def test_small_fragments_are_dropped() -> None:
    ways = make_ways(
        [[(1, 0, 0), (2, 100, 0), (3, 200, 0)], [(4, 100, -50), (2, 100, 0)], [(10, 0, 500), (11, 10, 500)]]
    )
    net = build_network(ways, CRS, min_component_nodes=3)
    assert set(net.node_osm_id) == {1, 2, 3, 4}


def test_snap_onto_edge_with_offset(cross: _Ways) -> None:
    net = build_network(cross, CRS, min_component_nodes=1)
    snapped = snap_points(net, np.array([500030.0]), np.array([6670000 + 7.0]))
    e = snapped.edge[0]
    assert snapped.distance_m[0] == pytest.approx(7.0, abs=1e-6)
    from_u = snapped.offset_m[0]
    x_u = net.node_x[net.edge_u[e]] - 500000
    assert abs(x_u - 30.0) == pytest.approx(from_u, abs=1e-6)


def test_snap_by_osm_node_id_beats_a_twin_at_the_same_coordinates() -> None:
    # Way A passes over way B: node 3 (on A) and node 13 (on B) share coordinates but are not connected.
    ways = make_ways(
        [
            [(1, 0, 0), (3, 100, 0), (2, 200, 0)],
            [(11, 100, -100), (13, 100, 0), (12, 100, 100)],
        ]
    )
    net = build_network(ways, CRS, min_component_nodes=1)
    x, y = np.array([500100.0]), np.array([6670000.0])
    on_b = snap_points(net, x, y, osm_node_id=np.array([13]))
    on_a = snap_points(net, x, y, osm_node_id=np.array([3]))
    assert net.edge_osm_way_id[on_b.edge[0]] == 2
    assert net.edge_osm_way_id[on_a.edge[0]] == 1


def test_access_on_a_line_worked_by_hand() -> None:
    # A straight street 0..400 m; origin at 50 m; shops at 120 m (same edge) and 390 m; a pharmacy at 0 m.
    ways = make_ways([[(1, 0, 0), (2, 200, 0), (3, 400, 0)]])
    net = build_network(ways, CRS, min_component_nodes=1)
    o = snap_points(net, np.array([500050.0]), np.array([6670010.0]))
    d = snap_points(
        net, np.array([500120.0, 500390.0, 500000.0]), np.array([6670000.0, 6669995.0, 6670000.0])
    )
    res = compute_access(
        net,
        o,
        d,
        np.array(["shop", "shop", "pharmacy"]),
        ["shop", "pharmacy", "school"],
        {"adult": {"5min": 360.0}, "gb": {"100m": 100.0, "500m": 500.0}},
    )
    row = res.table.iloc[0]
    assert row["nearest_m__shop"] == pytest.approx(70.0)
    assert row["nearest_m__pharmacy"] == pytest.approx(50.0)
    assert np.isnan(row["nearest_m__school"])
    assert row["count__shop__gb__100m"] == 1
    assert row["count__shop__adult__5min"] == 2  # 70 m and 340 m
    assert row["count__shop__gb__500m"] == 2
    assert row["count__pharmacy__gb__100m"] == 1
    assert row["count__school__gb__500m"] == 0


def test_points_at_the_same_place_share_a_node_and_ends_use_the_end_node(cross: _Ways) -> None:
    net = build_network(cross, CRS, min_component_nodes=1)
    e = np.array([0, 0, 0, 1])
    off = np.array([10.0, 10.0, 0.0, net.edge_length_m[1]])
    g = insert_points(net, e, off)
    assert g.point_node[0] == g.point_node[1] >= net.n_nodes
    assert g.point_node[2] == net.edge_u[0]
    assert g.point_node[3] == net.edge_v[1]
    assert g.n_nodes == net.n_nodes + 1
