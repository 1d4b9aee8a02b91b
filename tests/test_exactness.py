"""Property test: access distances equal a plain Dijkstra reference on the real Helsinki network.

Random points in random pieces of the network are snapped onto edges; the engine's nearest distances and
counts must equal an independent reference: SciPy's Dijkstra between the edges' end nodes plus the offsets
along the edges (or the direct stretch when both points lie on one edge), to within 0.5 m.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import dijkstra

from exquisite.access.compute import compute_access
from exquisite.network.build import build_network
from exquisite.network.graph import WalkNetwork
from exquisite.network.snap import Snapped, snap_points
from exquisite.sources.osm import read_osm

TOLERANCE_M = 0.5


@pytest.fixture(scope="module")
def helsinki(helsinki_pbf) -> WalkNetwork:
    return build_network(read_osm(helsinki_pbf).walk_ways, "EPSG:32635")


def _reference_graph(net: WalkNetwork) -> sp.csr_matrix:
    """Plain node graph with the shortest of any parallel edges (SciPy would add duplicates up)."""
    frame = pd.DataFrame(
        {
            "a": np.r_[net.edge_u, net.edge_v],
            "b": np.r_[net.edge_v, net.edge_u],
            "w": np.r_[net.edge_length_m, net.edge_length_m],
        }
    )
    frame = frame[frame.a != frame.b].groupby(["a", "b"], as_index=False)["w"].min()
    # a zero-length edge would vanish as an implicit zero: lift it to a tiny positive length
    w = np.maximum(frame.w.to_numpy(), 1e-9)
    return sp.csr_matrix((w, (frame.a, frame.b)), shape=(net.n_nodes, net.n_nodes))


def _reference_distance(net: WalkNetwork, graph: sp.csr_matrix, o: Snapped, d: Snapped) -> np.ndarray:
    """Distance matrix (origins × destinations) from end-node Dijkstra plus offsets."""
    ou, ov = net.edge_u[o.edge], net.edge_v[o.edge]
    du, dv = net.edge_u[d.edge], net.edge_v[d.edge]
    ends = np.unique(np.r_[ou, ov])
    dist = dijkstra(graph, directed=False, indices=ends)
    row = {n: i for i, n in enumerate(ends)}
    o_len = net.edge_length_m[o.edge]
    d_len = net.edge_length_m[d.edge]
    out = np.full((len(o.edge), len(d.edge)), np.inf)
    for i in range(len(o.edge)):
        for a, oa in ((ou[i], o.offset_m[i]), (ov[i], o_len[i] - o.offset_m[i])):
            da = dist[row[a]]
            for b_nodes, db in ((du, d.offset_m), (dv, d_len - d.offset_m)):
                out[i] = np.minimum(out[i], oa + da[b_nodes] + db)
        same = d.edge == o.edge[i]
        out[i, same] = np.minimum(out[i, same], np.abs(d.offset_m[same] - o.offset_m[i]))
    return out


def _points_near(net: WalkNetwork, data: st.DataObject, n: int, centre: int, size: float) -> tuple:
    xs = data.draw(st.lists(st.floats(-size, size), min_size=n, max_size=n))
    ys = data.draw(st.lists(st.floats(-size, size), min_size=n, max_size=n))
    return net.node_x[centre] + np.array(xs), net.node_y[centre] + np.array(ys)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_distances_and_counts_equal_reference(helsinki: WalkNetwork, data: st.DataObject) -> None:
    net = helsinki
    graph = _reference_graph(net)
    centre = data.draw(st.integers(0, net.n_nodes - 1), label="centre node")
    size = data.draw(st.floats(50.0, 400.0), label="half-size of the piece (m)")
    ox, oy = _points_near(net, data, 6, centre, size)
    dx, dy = _points_near(net, data, 5, centre, size)
    origins = snap_points(net, ox, oy)
    dests = snap_points(net, dx, dy)

    # snapping: the snapped position is the nearest point of the network (within 0.5 m)
    lines = net.edge_lines()
    tree = shapely.STRtree(lines)
    _, nearest = tree.query_nearest(shapely.points(ox, oy), return_distance=True, all_matches=False)
    np.testing.assert_allclose(origins.distance_m, nearest, atol=TOLERANCE_M)
    on_edge = shapely.line_locate_point(lines[origins.edge], shapely.points(ox, oy))
    assert np.all(np.abs(on_edge - origins.offset_m) <= TOLERANCE_M)

    cats = np.array(["a", "a", "b", "b", "b"])
    thresholds = {"p": {"near": 150.0, "mid": 400.0, "far": 900.0}}
    result = compute_access(net, origins, dests, cats, ["a", "b"], thresholds).table
    ref = _reference_distance(net, graph, origins, dests)
    for name, cols in (("a", [0, 1]), ("b", [2, 3, 4])):
        expected = ref[:, cols].min(axis=1)
        expected = np.where(expected <= 900.0, expected, np.nan)
        np.testing.assert_allclose(result[f"nearest_m__{name}"], expected, atol=TOLERANCE_M)
        for label, limit in thresholds["p"].items():
            sub = ref[:, cols]
            clear = np.all(
                np.abs(sub - limit) > TOLERANCE_M, axis=1
            )  # ties at the threshold may go either way
            expected_counts = (sub <= limit).sum(axis=1)
            got = result[f"count__{name}__p__{label}"].to_numpy()
            np.testing.assert_array_equal(got[clear], expected_counts[clear])


def test_counts_on_the_whole_helsinki_graph_equal_scipy(helsinki: WalkNetwork, helsinki_pbf) -> None:
    """Every node's counts of the real destinations (inserted as nodes) equal SciPy's, exactly."""
    from exquisite.access.kernels import counts_within
    from exquisite.network.augment import insert_points
    from exquisite.places import destinations_from_features
    from exquisite.taxonomy import default_taxonomy

    taxonomy = default_taxonomy()
    places = destinations_from_features(read_osm(helsinki_pbf, taxonomy).features, taxonomy, helsinki)
    snapped = snap_points(helsinki, places.geometry.x.to_numpy(), places.geometry.y.to_numpy())
    graph = insert_points(helsinki, snapped.edge, snapped.offset_m)
    cats, cat_index = np.unique(places["category"].to_numpy(), return_inverse=True)
    thresholds = np.array([400.0, 800.0, 1200.0])
    targets = np.arange(helsinki.n_nodes)
    csr = (graph.indptr, graph.indices, graph.weights)
    got = counts_within(*csr, graph.point_node, cat_index, len(cats), thresholds, targets)
    adjacency = sp.csr_matrix((graph.weights, graph.indices, graph.indptr), shape=(graph.n_nodes,) * 2)
    sources, which = np.unique(graph.point_node, return_inverse=True)
    dist = dijkstra(adjacency, indices=sources, limit=1200.0)[:, targets]
    expected = np.zeros_like(got)
    for k, limit in enumerate(thresholds):
        np.add.at(expected[:, :, k].T, (cat_index,), (dist[which] <= limit).astype(np.int32))
    np.testing.assert_array_equal(got, expected)
