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
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from exquisite.network.graph import WalkNetwork

#: Segments per quarter circle of a node's buffer, as GeoPandas/Shapely draw it by default (OSMnx uses that).
BUFFER_QUAD_SEGS = 16

_cache: dict[tuple[int, float, int, tuple[str, ...]], tuple[weakref.ref[WalkNetwork], Intersections]] = {}


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


@dataclass(frozen=True)
class Intersections:
    """The consolidated intersections of a network, with exact positions drawn only where they matter.

    Each group of merged nodes is one intersection. A group of one node is that node; of two, their midpoint
    (the union of two equal buffers is symmetric about it); of three or more, the centroid of the union of
    its nodes' buffers, which lies within ``bound_m`` of the group's mean position (the union lies in the
    disc around the mean that reaches the farthest node plus the tolerance). Counting the intersections in
    an area only needs the exact centroid of the groups the area's boundary passes that close to.

    Attributes
    ----------
    approx_x, approx_y
        Each intersection's position: exact for groups of one or two nodes, the nodes' mean otherwise.
    bound_m
        How far the exact position may lie from ``approx`` (0 where it is exact).
    tolerance_m
        The buffer radius.
    """

    approx_x: np.ndarray
    approx_y: np.ndarray
    bound_m: np.ndarray
    tolerance_m: float
    _members: list[np.ndarray]  # node coordinates (k × 2) of each group with a bound
    _exact: dict[int, tuple[float, float]]  # exact centres drawn so far

    def __len__(self) -> int:
        return int(self.approx_x.shape[0])

    def count_within(self, area: shapely.Geometry) -> int:
        """How many intersections lie in ``area`` (their exact positions, as OSMnx would place them)."""
        shapely.prepare(area)
        inside = shapely.contains_xy(area, self.approx_x, self.approx_y)
        near = np.flatnonzero(self.bound_m > 0)
        if near.size:
            points = shapely.points(self.approx_x[near], self.approx_y[near])
            unsure = near[shapely.distance(area.boundary, points) <= self.bound_m[near]]
            if unsure.size:
                x, y = self._exact_xy(unsure)
                inside[unsure] = shapely.contains_xy(area, x, y)
        return int(np.count_nonzero(inside))

    def points(self, crs: str) -> gpd.GeoSeries:
        """Every intersection at its exact position (the centroid of its group's buffers)."""
        x, y = self.approx_x.copy(), self.approx_y.copy()
        bounded = np.flatnonzero(self.bound_m > 0)
        if bounded.size:
            x[bounded], y[bounded] = self._exact_xy(bounded)
        return gpd.GeoSeries(shapely.points(x, y), crs=crs)

    def _exact_xy(self, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        slot = np.cumsum(self.bound_m > 0) - 1
        missing = [g for g in groups.tolist() if g not in self._exact]
        for g in missing:
            buffers = shapely.buffer(
                shapely.points(self._members[slot[g]]), self.tolerance_m, quad_segs=BUFFER_QUAD_SEGS
            )
            centre = shapely.centroid(shapely.union_all(buffers))
            self._exact[g] = (shapely.get_x(centre), shapely.get_y(centre))
        xy = np.array([self._exact[g] for g in groups.tolist()], dtype=np.float64).reshape(-1, 2)
        return xy[:, 0], xy[:, 1]


def consolidated_intersections(
    network: WalkNetwork, tolerance_m: float, min_degree: int = 3, exclude_highway: Collection[str] = ()
) -> Intersections:
    """Intersections of the network, nearby nodes merged into one.

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
    Intersections
        ``count_within(area)`` counts them in an area; ``points(crs)`` places every one where OSMnx would
        (the node itself when it merges with nothing, else the centroid of the union of its group's buffers).
    """
    excluded = tuple(sorted(exclude_highway))
    key = (id(network), float(tolerance_m), int(min_degree), excluded)
    hit = _cache.get(key)
    if hit is not None and hit[0]() is network:
        return hit[1]
    found = _consolidate(network, float(tolerance_m), int(min_degree), excluded)
    _cache[key] = (weakref.ref(network), found)
    return found


def _consolidate(
    network: WalkNetwork, tolerance_m: float, min_degree: int, exclude_highway: tuple[str, ...]
) -> Intersections:
    keep = np.flatnonzero(node_degree(network, exclude_highway) >= min_degree)
    xy = np.column_stack([network.node_x[keep], network.node_y[keep]])
    n = xy.shape[0]
    if n == 0:
        return Intersections(np.zeros(0), np.zeros(0), np.zeros(0), tolerance_m, [], {})
    reach = 2.0 * tolerance_m
    pairs = cKDTree(xy).query_pairs(reach, output_type="ndarray")
    if pairs.size:
        gap = np.hypot(*(xy[pairs[:, 0]] - xy[pairs[:, 1]]).T)
        pairs = pairs[gap < reach]  # buffers that only touch stay apart, as in a polygon union
    adjacency = sp.coo_matrix((np.ones(pairs.shape[0]), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    n_groups, label = connected_components(adjacency, directed=False)
    size = np.bincount(label, minlength=n_groups).astype(np.float64)
    mean_x = np.bincount(label, xy[:, 0], minlength=n_groups) / size
    mean_y = np.bincount(label, xy[:, 1], minlength=n_groups) / size
    # groups of one or two nodes are exact at their mean; larger ones are bounded around it
    far = np.zeros(n_groups)
    np.maximum.at(far, label, np.hypot(xy[:, 0] - mean_x[label], xy[:, 1] - mean_y[label]))
    bound = np.where(size > 2, far + tolerance_m, 0.0)
    order = np.argsort(label, kind="stable")
    starts = np.r_[0, np.cumsum(np.bincount(label, minlength=n_groups))]
    members = [xy[order[starts[g] : starts[g + 1]]] for g in np.flatnonzero(size > 2)]
    return Intersections(mean_x, mean_y, bound, tolerance_m, members, {})
