"""Street intersections consolidated as the peer (GHSCI, through OSMnx) counts them.

GHSCI counts intersections with ``osmnx.consolidate_intersections(G, tolerance=12, rebuild_graph=False,
dead_ends=False)``: dead ends are dropped, every remaining node is buffered by the tolerance, overlapping
buffers are merged into one polygon (a unary union) and each polygon's centroid is one intersection.
Two buffers of radius ``t`` overlap exactly when their centres are closer than ``2 t``, and the merged
polygons are the connected groups of that "closer than 2 t" relation; so the groups are found here with a
KD-tree and connected components, and only a group of several nodes needs its union drawn for the centroid.
"""

from __future__ import annotations

import weakref
from collections.abc import Collection

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from exquisite.network.graph import WalkNetwork

#: Segments per quarter circle of a node's buffer, as GeoPandas/Shapely draw it by default (OSMnx uses that).
BUFFER_QUAD_SEGS = 16

_cache: dict[tuple[int, float, int, tuple[str, ...]], tuple[weakref.ref[WalkNetwork], gpd.GeoSeries]] = {}


def node_degree(network: WalkNetwork, exclude_highway: Collection[str] = ()) -> np.ndarray:
    """Street segments meeting at each node (a loop counts twice, parallel edges each count).

    This is OSMnx's ``street_count`` on an undirected graph.

    Parameters
    ----------
    network
        The walking network.
    exclude_highway
        Edges of these ``highway`` classes are left out, as if they were not in the network.
    """
    use = ~np.isin(network.edge_highway.astype(str), list(exclude_highway))
    ends = np.concatenate([network.edge_u[use], network.edge_v[use]]).astype(np.int64)
    return np.bincount(ends, minlength=network.n_nodes)


def consolidated_intersections(
    network: WalkNetwork, tolerance_m: float, min_degree: int = 3, exclude_highway: Collection[str] = ()
) -> gpd.GeoSeries:
    """Intersections of the network, nearby nodes merged into one, as points.

    Parameters
    ----------
    network
        The walking network (projected, metres).
    tolerance_m
        Buffer radius around each node: nodes whose buffers overlap (centres closer than twice this)
        become one intersection, transitively (GHSCI uses 12 m).
    min_degree
        Nodes with fewer street segments are not intersections. 3 keeps every node where at least three
        segments meet and drops dead ends (1) and the joints of two ways (2), which OSMnx removes when it
        simplifies the graph before GHSCI consolidates it.
    exclude_highway
        Edges of these ``highway`` classes do not count (GHSCI's network has no ``area=yes`` ways, so
        ``"pedestrian_area"`` outlines are left out to compare with it).

    Returns
    -------
    geopandas.GeoSeries
        One point per consolidated intersection, in the network's CRS: the node itself when it merges with
        nothing, else the centroid of the union of its group's buffers (as OSMnx computes it).
    """
    excluded = tuple(sorted(exclude_highway))
    key = (id(network), float(tolerance_m), int(min_degree), excluded)
    hit = _cache.get(key)
    if hit is not None and hit[0]() is network:
        return hit[1]
    points = _consolidate(network, float(tolerance_m), int(min_degree), excluded)
    _cache[key] = (weakref.ref(network), points)
    return points


def _consolidate(
    network: WalkNetwork, tolerance_m: float, min_degree: int, exclude_highway: tuple[str, ...]
) -> gpd.GeoSeries:
    keep = np.flatnonzero(node_degree(network, exclude_highway) >= min_degree)
    xy = np.column_stack([network.node_x[keep], network.node_y[keep]])
    n = xy.shape[0]
    if n == 0:
        return gpd.GeoSeries([], crs=network.crs)
    reach = 2.0 * tolerance_m
    pairs = cKDTree(xy).query_pairs(reach, output_type="ndarray")
    if pairs.size:
        gap = np.hypot(*(xy[pairs[:, 0]] - xy[pairs[:, 1]]).T)
        pairs = pairs[gap < reach]  # buffers that only touch stay apart, as in a polygon union
    adjacency = sp.coo_matrix((np.ones(pairs.shape[0]), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    n_groups, label = connected_components(adjacency, directed=False)
    size = np.bincount(label, minlength=n_groups)
    out_x = np.zeros(n_groups)
    out_y = np.zeros(n_groups)
    alone = size[label] == 1
    out_x[label[alone]] = xy[alone, 0]
    out_y[label[alone]] = xy[alone, 1]
    merged = np.flatnonzero(size > 1)
    if merged.size:
        members = np.flatnonzero(~alone)
        members = members[np.argsort(label[members], kind="stable")]
        buffers = shapely.buffer(shapely.points(xy[members]), tolerance_m, quad_segs=BUFFER_QUAD_SEGS)
        starts = np.concatenate([[0], np.cumsum(size[merged])])
        for i, group in enumerate(merged):
            part = buffers[starts[i] : starts[i + 1]]
            centre = shapely.centroid(shapely.union_all(part))
            out_x[group], out_y[group] = shapely.get_x(centre), shapely.get_y(centre)
    return gpd.GeoSeries(shapely.points(out_x, out_y), crs=network.crs)
