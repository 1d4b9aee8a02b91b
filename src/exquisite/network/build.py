"""Build the walking network from walkable OSM ways: split at shared nodes, project, keep the polylines."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyproj
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from exquisite.network.graph import WalkNetwork

if TYPE_CHECKING:
    from exquisite.sources.osm import WalkWays


def build_network(
    ways: WalkWays,
    crs: str,
    *,
    area: shapely.Geometry | None = None,
    min_component_nodes: int = 20,
) -> WalkNetwork:
    """Turn walkable ways into a routable network in metres.

    A way is split into edges at every node it shares with another way (or with itself) and at its ends;
    the nodes in between become the vertices of the edge's polyline, so nothing of its shape is lost.

    Parameters
    ----------
    ways
        Walkable ways from :func:`exquisite.sources.osm.read_osm`.
    crs
        Projected CRS in metres for the network.
    area
        Optional polygon (EPSG:4326): edges with neither end inside it are dropped (pass the study area
        buffered by the largest walking distance, so that trips may leave and re-enter it).
    min_component_nodes
        Connected pieces with fewer nodes than this are dropped: they are mapping fragments (a footway not
        joined to anything) on which a snapped home or facility would look unreachable.

    Returns
    -------
    WalkNetwork
        The network, with CSR adjacency.
    """
    node_id = np.asarray(ways.node_id, dtype=np.int64)
    ptr = np.asarray(ways.node_ptr, dtype=np.int64)
    n_ways = ptr.shape[0] - 1
    way_len = np.diff(ptr)
    keep_way = way_len >= 2
    if n_ways == 0 or not keep_way.any():
        return _empty_network(crs)
    way_of = np.repeat(np.arange(n_ways), way_len)

    transformer = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = transformer.transform(
        np.asarray(ways.lon, dtype=np.float64), np.asarray(ways.lat, dtype=np.float64)
    )
    x = np.asarray(x)
    y = np.asarray(y)

    # A vertex is a graph node when it ends a way or is used more than once (a crossing or a loop).
    _, inverse, uses = np.unique(node_id, return_inverse=True, return_counts=True)
    is_end = np.zeros(node_id.shape[0], dtype=bool)
    is_end[ptr[:-1][way_len > 0]] = True
    is_end[(ptr[1:] - 1)[way_len > 0]] = True
    is_node = is_end | (uses[inverse] > 1)

    # Edges run between consecutive node vertices of the same way.
    node_pos = np.flatnonzero(is_node)
    same_way = way_of[node_pos[:-1]] == way_of[node_pos[1:]]
    start = node_pos[:-1][same_way]
    end = node_pos[1:][same_way]
    keep = keep_way[way_of[start]]
    start, end = start[keep], end[keep]

    # Segment lengths, summed per edge with a cumulative sum over each way.
    seg = np.hypot(np.diff(x), np.diff(y))
    seg[way_of[1:] != way_of[:-1]] = 0.0
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    length = cum[end] - cum[start]

    # Drop degenerate loops of zero length; keep the rest.
    ok = ~((node_id[start] == node_id[end]) & (length <= 0.0))
    start, end, length = start[ok], end[ok], length[ok]

    # Number the graph nodes.
    used_osm, node_index = np.unique(np.concatenate([node_id[start], node_id[end]]), return_inverse=True)
    u = node_index[: start.shape[0]]
    v = node_index[start.shape[0] :]
    node_x = np.empty(used_osm.shape[0])
    node_y = np.empty(used_osm.shape[0])
    node_x[u], node_y[u] = x[start], y[start]
    node_x[v], node_y[v] = x[end], y[end]

    keep_edge = np.ones(u.shape[0], dtype=bool)
    if area is not None:
        lon = np.empty(used_osm.shape[0])
        lat = np.empty(used_osm.shape[0])
        lon[u], lat[u] = np.asarray(ways.lon)[start], np.asarray(ways.lat)[start]
        lon[v], lat[v] = np.asarray(ways.lon)[end], np.asarray(ways.lat)[end]
        shapely.prepare(area)
        inside = shapely.contains_xy(area, lon, lat)
        keep_edge &= inside[u] | inside[v]
    if min_component_nodes > 1 and keep_edge.any():
        keep_edge &= _in_large_component(u, v, keep_edge, used_osm.shape[0], min_component_nodes)

    start, end, length, u, v = start[keep_edge], end[keep_edge], length[keep_edge], u[keep_edge], v[keep_edge]
    # Renumber the surviving nodes densely.
    alive = np.zeros(used_osm.shape[0], dtype=bool)
    alive[u] = True
    alive[v] = True
    new_id = np.cumsum(alive) - 1
    u, v = new_id[u], new_id[v]
    node_x, node_y, node_osm = node_x[alive], node_y[alive], used_osm[alive]

    # Number nodes along a space-filling curve and sort edges by their first node: searches then touch
    # memory that lies together, which is what makes the kernels fast on real (randomly numbered) data.
    order = np.argsort(_morton_key(node_x, node_y), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    u, v = rank[u], rank[v]
    node_x, node_y, node_osm = node_x[order], node_y[order], node_osm[order]
    by_u = np.lexsort((v, u))
    start, end, length, u, v = start[by_u], end[by_u], length[by_u], u[by_u], v[by_u]

    # Polyline vertices of each edge: positions start..end of the way arrays.
    n_vert = end - start + 1
    geom_ptr = np.zeros(start.shape[0] + 1, dtype=np.int64)
    np.cumsum(n_vert, out=geom_ptr[1:])
    vert = np.repeat(start - geom_ptr[:-1], n_vert) + np.arange(geom_ptr[-1])
    indptr, indices, weights, adj_edge = csr_from_edges(u, v, length, node_x.shape[0])
    return WalkNetwork(
        crs=crs,
        node_x=node_x,
        node_y=node_y,
        node_osm_id=node_osm,
        edge_u=u.astype(np.int64),
        edge_v=v.astype(np.int64),
        edge_length_m=length,
        edge_osm_way_id=np.asarray(ways.way_id, dtype=np.int64)[way_of[start]],
        edge_highway=np.asarray(ways.highway, dtype=object)[way_of[start]],
        geom_ptr=geom_ptr,
        geom_x=x[vert],
        geom_y=y[vert],
        geom_osm_id=node_id[vert],
        indptr=indptr,
        indices=indices,
        weights=weights,
        adj_edge=adj_edge,
    )


def csr_from_edges(
    u: np.ndarray, v: np.ndarray, length: np.ndarray, n_nodes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Symmetric CSR adjacency (each undirected edge both ways) sorted by source node.

    Returns
    -------
    tuple of numpy.ndarray
        ``indptr`` (int64, n_nodes + 1), ``indices`` (int64), ``weights`` (float64 metres) and ``adj_edge``
        (the edge id of each entry).
    """
    n_edges = u.shape[0]
    src = np.concatenate([u, v]).astype(np.int64)
    dst = np.concatenate([v, u]).astype(np.int64)
    w = np.concatenate([length, length]).astype(np.float64)
    eid = np.concatenate([np.arange(n_edges), np.arange(n_edges)]).astype(np.int64)
    loop = src == dst
    if loop.any():  # a loop edge needs one entry, not two (it never shortens a path anyway)
        drop = loop & (np.arange(src.shape[0]) >= n_edges)
        src, dst, w, eid = src[~drop], dst[~drop], w[~drop], eid[~drop]
    order = np.lexsort((dst, src))
    src, dst, w, eid = src[order], dst[order], w[order], eid[order]
    indptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n_nodes), out=indptr[1:])
    return indptr, dst, w, eid


def _morton_key(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Z-order (Morton) key of points: bits of the x and y grid positions interleaved (16 bits each)."""
    if x.size == 0:
        return np.empty(0, dtype=np.uint64)

    def spread(values: np.ndarray) -> np.ndarray:
        span = max(float(values.max() - values.min()), 1e-9)
        q = ((values - values.min()) / span * 65535).astype(np.uint64)
        q = (q | (q << np.uint64(8))) & np.uint64(0x00FF00FF)
        q = (q | (q << np.uint64(4))) & np.uint64(0x0F0F0F0F)
        q = (q | (q << np.uint64(2))) & np.uint64(0x33333333)
        return (q | (q << np.uint64(1))) & np.uint64(0x55555555)

    return spread(x) | (spread(y) << np.uint64(1))


def _in_large_component(
    u: np.ndarray, v: np.ndarray, keep: np.ndarray, n_nodes: int, min_nodes: int
) -> np.ndarray:
    """Which edges lie in a connected component of at least ``min_nodes`` nodes."""
    graph = coo_matrix((np.ones(int(keep.sum())), (u[keep], v[keep])), shape=(n_nodes, n_nodes))
    _, label = connected_components(graph, directed=False)
    touched = np.zeros(n_nodes, dtype=bool)
    touched[u[keep]] = True
    touched[v[keep]] = True
    size = np.bincount(label[touched], minlength=label.max() + 1)
    return keep & (size[label[u]] >= min_nodes)


def _empty_network(crs: str) -> WalkNetwork:
    i64 = np.empty(0, dtype=np.int64)
    f64 = np.empty(0, dtype=np.float64)
    return WalkNetwork(
        crs=crs,
        node_x=f64,
        node_y=f64,
        node_osm_id=i64,
        edge_u=i64,
        edge_v=i64,
        edge_length_m=f64,
        edge_osm_way_id=i64,
        edge_highway=np.empty(0, dtype=object),
        geom_ptr=np.zeros(1, dtype=np.int64),
        geom_x=f64,
        geom_y=f64,
        geom_osm_id=i64,
        indptr=np.zeros(1, dtype=np.int64),
        indices=i64,
        weights=f64,
        adj_edge=i64,
    )
