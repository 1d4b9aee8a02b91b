"""Consolidated intersections (OSMnx consolidate_intersections semantics) on hand-made networks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from exquisite.network.build import build_network, csr_from_edges
from exquisite.network.graph import WalkNetwork
from exquisite.network.intersections import _consolidate, consolidated_intersections, node_degree
from exquisite.sources.osm import read_osm

CRS = "EPSG:32635"


def make_network(
    nodes: list[tuple[float, float]], edges: list[tuple[int, int]], highway: list[str] | None = None
) -> WalkNetwork:
    """A network of straight edges between the given node coordinates (metres)."""
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
        edge_highway=np.array(highway or ["footway"] * len(edges), dtype=object),
        geom_ptr=np.arange(0, 2 * len(edges) + 1, 2, dtype=np.int64),
        geom_x=np.column_stack([x[u], x[v]]).ravel(),
        geom_y=np.column_stack([y[u], y[v]]).ravel(),
        geom_osm_id=np.column_stack([u, v]).ravel(),
        indptr=indptr,
        indices=indices,
        weights=weights,
        adj_edge=adj_edge,
    )


def _xy(points) -> list[tuple[float, float]]:
    return sorted((round(p.x, 6), round(p.y, 6)) for p in points)


def test_cluster_counts_once_dead_ends_and_joints_never() -> None:
    # A small triangle 0-1-2 (sides 10, 9.43, 9.43 m) with a spoke out of each corner: each corner has
    # degree 3, and all three are within 24 m (two 12 m buffers overlap) -> ONE intersection.
    # The spokes end in dead ends 3, 4, 5 (degree 1) -> none.
    # Node 6 at (300, 0) has three spokes -> one intersection. Spoke end 7 continues to 11: node 7 is a
    # joint of two segments (degree 2) -> none; 11 is a dead end -> none. Answer: 2 intersections.
    # Node 10 is joined to nothing (degree 0).
    nodes = [(0, 0), (10, 0), (5, 8), (-100, 0), (110, 0), (5, 100)]
    nodes += [(300, 0), (300, 100), (300, -100), (400, 0), (600, 600), (300, 200)]
    edges = [(0, 1), (1, 2), (2, 0), (0, 3), (1, 4), (2, 5), (6, 7), (6, 8), (6, 9), (7, 11)]
    net = make_network(nodes, edges)
    assert node_degree(net).tolist() == [3, 3, 3, 1, 1, 1, 3, 2, 1, 1, 0, 1]
    points = consolidated_intersections(net, 12.0).points(CRS)
    assert len(points) == 2
    assert points.crs == CRS
    # the lone intersection stays where its node is
    assert (300.0, 0.0) in _xy(points)
    # the cluster's point is the centroid of its three buffers' union: inside the triangle's hull
    cluster = next(p for p in points if p.x < 100)
    assert shapely.Polygon([(0, 0), (10, 0), (5, 8)]).contains(cluster)


def test_two_nodes_merge_at_their_midpoint_and_chains_merge_transitively() -> None:
    # Four crossings on a line at x = 0, 20, 40 and 100 (each with a north and a south spoke, degree 3 or 4).
    # 0-20 and 20-40 are < 24 m apart, 0-40 is not, but the buffers chain: {0, 20, 40} is one, 100 another.
    xs = [0.0, 20.0, 40.0, 100.0]
    nodes = [(x, 0.0) for x in xs] + [(x, 50.0) for x in xs] + [(x, -50.0) for x in xs]
    edges = [(0, 1), (1, 2), (2, 3)] + [(i, i + 4) for i in range(4)] + [(i, i + 8) for i in range(4)]
    net = make_network(nodes, edges)
    points = consolidated_intersections(net, 12.0).points(CRS)
    assert len(points) == 2
    # the chain's union of three equal discs centred on 0, 20, 40 is symmetric about x = 20
    assert _xy(points)[0] == pytest.approx((20.0, 0.0), abs=1e-6)
    # with a 5 m tolerance (10 m apart needed) nothing merges: 4 intersections
    assert len(consolidated_intersections(net, 5.0)) == 4
    # two crossings 10 m apart merge at the midpoint (two equal discs: symmetric)
    pair = make_network(
        [(0, 0), (10, 0), (0, 50), (0, -50), (10, 50), (10, -50)],
        [(0, 1), (0, 2), (0, 3), (1, 4), (1, 5)],
    )
    assert _xy(consolidated_intersections(pair, 12.0).points(CRS)) == [pytest.approx((5.0, 0.0), abs=1e-6)]


def test_buffers_that_only_touch_stay_apart() -> None:
    # Crossings exactly 24 m apart: 12 m buffers touch at one point, a union keeps two polygons -> 2.
    # At 23.9 m they overlap -> 1.
    def two_crossings(gap: float) -> WalkNetwork:
        return make_network(
            [(0, 0), (gap, 0), (0, 50), (0, -50), (gap, 50), (gap, -50)],
            [(0, 1), (0, 2), (0, 3), (1, 4), (1, 5)],
        )

    assert len(consolidated_intersections(two_crossings(24.0), 12.0)) == 2
    assert len(consolidated_intersections(two_crossings(23.9), 12.0)) == 1


def test_loops_count_twice_and_excluded_classes_do_not_count() -> None:
    # Node 0 has a loop (two segment ends) and one spoke: degree 3, an intersection (as OSMnx street_count).
    # Node 2 is a T where the third arm is a pedestrian-area outline: without it node 2 is a joint (degree 2).
    nodes = [(0, 0), (50, 0), (200, 0), (300, 0), (100, 0), (200, 100), (0, 30)]
    edges = [(0, 6), (6, 0), (0, 1), (4, 2), (2, 3), (2, 5)]
    # edges (0, 6) and (6, 0) are parallel: node 6 has degree 2 and node 0 degree 3
    highway = ["footway", "footway", "footway", "footway", "footway", "pedestrian_area"]
    net = make_network(nodes, edges, highway)
    assert node_degree(net)[[0, 2, 6]].tolist() == [3, 3, 2]
    assert len(consolidated_intersections(net, 12.0)) == 2
    assert len(consolidated_intersections(net, 12.0, exclude_highway=["pedestrian_area"])) == 1
    loop = make_network([(0, 0), (10, 0)], [(0, 0), (0, 1)])
    assert node_degree(loop).tolist() == [3, 1]
    assert len(consolidated_intersections(loop, 12.0)) == 1


def test_empty_network_and_no_intersections() -> None:
    line = make_network([(0, 0), (100, 0), (200, 0)], [(0, 1), (1, 2)])
    assert len(consolidated_intersections(line, 12.0)) == 0


def test_helsinki_extract_intersections(helsinki_pbf: Path) -> None:
    net = build_network(read_osm(helsinki_pbf).walk_ways, CRS)
    raw = int(np.count_nonzero(node_degree(net, ["pedestrian_area"]) >= 3))
    found = consolidated_intersections(net, 12.0, exclude_highway=["pedestrian_area"])
    points = found.points(CRS)
    # consolidation merges, never splits; every point lies within the network's extent
    assert 0 < len(points) < raw
    x0, y0, x1, y1 = net.node_x.min(), net.node_y.min(), net.node_x.max(), net.node_y.max()
    assert ((points.x >= x0) & (points.x <= x1) & (points.y >= y0) & (points.y <= y1)).all()
    # central Helsinki (about 1 x 1.7 km): a dense grid, tens to a few hundred intersections per km²
    per_km2 = len(points) / ((x1 - x0) * (y1 - y0) / 1e6)
    assert 50 < per_km2 < 500
    # computed once per network and tolerance
    assert found is consolidated_intersections(net, 12.0, exclude_highway=["pedestrian_area"])
    # counting in an area draws exact positions only near its boundary, and agrees with the exact points:
    # boxes whose edges cut through the dense centre's merged sidewalk clusters
    fresh = _consolidate(net, 12.0, 3, ("pedestrian_area",))  # no exact position drawn yet
    rng = np.random.default_rng(7)
    for _ in range(40):
        cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        w, h = rng.uniform(50, 600, size=2)
        box = shapely.box(cx - w, cy - h, cx + w, cy + h)
        exact = int(np.count_nonzero(shapely.contains_xy(box, points.x.to_numpy(), points.y.to_numpy())))
        assert fresh.count_within(box) == exact
    assert 0 < len(fresh._exact) < np.count_nonzero(fresh.bound_m > 0)
