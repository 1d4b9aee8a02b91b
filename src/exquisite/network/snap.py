"""Snap points onto the nearest walkable edge, keeping the exact offset along it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from exquisite.network.graph import WalkNetwork


@dataclass(frozen=True)
class Snapped:
    """Where points meet the network.

    Attributes
    ----------
    edge
        Edge id of each point (``-1`` when the network is empty).
    offset_m
        Distance along the edge's polyline from its ``u`` end, in metres.
    distance_m
        Straight-line distance from the point to where it meets the edge, in metres.
    """

    edge: np.ndarray
    offset_m: np.ndarray
    distance_m: np.ndarray


def snap_points(
    network: WalkNetwork,
    x: np.ndarray,
    y: np.ndarray,
    osm_node_id: np.ndarray | None = None,
) -> Snapped:
    """Snap points onto the nearest edge of the network (not the nearest node).

    Parameters
    ----------
    network
        The walking network.
    x, y
        Point coordinates in the network's CRS (metres).
    osm_node_id
        Optional OSM node id of each point (``-1`` or any id not in the network otherwise). A point that is
        itself a vertex of a walkable way is attached at that very vertex: two nodes may share coordinates on
        different levels (a bridge over a passage), and only the id tells which one the place belongs to.

    Returns
    -------
    Snapped
        Edge, offset along it and snapping distance for every point.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = x.shape[0]
    if network.n_edges == 0 or n == 0:
        return Snapped(np.full(n, -1, dtype=np.int64), np.full(n, np.nan), np.full(n, np.nan))

    vert_edge, vert_offset, seg_start, tree = _segments(network)
    ax, ay = network.geom_x[seg_start], network.geom_y[seg_start]
    bx, by = network.geom_x[seg_start + 1], network.geom_y[seg_start + 1]
    (_, seg), _ = tree.query_nearest(shapely.points(x, y), all_matches=False, return_distance=True)

    dx, dy = bx[seg] - ax[seg], by[seg] - ay[seg]
    len2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(len2 > 0, ((x - ax[seg]) * dx + (y - ay[seg]) * dy) / len2, 0.0)
    t = np.clip(t, 0.0, 1.0)
    px, py = ax[seg] + t * dx, ay[seg] + t * dy
    edge = vert_edge[seg_start[seg]]
    offset = vert_offset[seg_start[seg]] + t * np.sqrt(len2)
    distance = np.hypot(x - px, y - py)

    if osm_node_id is not None:
        ids = np.asarray(osm_node_id, dtype=np.int64)
        order = np.argsort(network.geom_osm_id, kind="stable")
        sorted_ids = network.geom_osm_id[order]
        pos = np.clip(np.searchsorted(sorted_ids, ids), 0, max(sorted_ids.shape[0] - 1, 0))
        found = (sorted_ids[pos] == ids) & (ids >= 0)
        vert = order[pos[found]]
        edge[found] = vert_edge[vert]
        offset[found] = vert_offset[vert]
        distance[found] = np.hypot(x[found] - network.geom_x[vert], y[found] - network.geom_y[vert])

    offset = np.clip(offset, 0.0, network.edge_length_m[edge])
    return Snapped(edge.astype(np.int64), offset, distance)


def _segments(network: WalkNetwork) -> tuple[np.ndarray, np.ndarray, np.ndarray, shapely.STRtree]:
    """The network's straight segments, indexed once per network (kept on it, like its edge lines).

    Returns the edge of each polyline vertex, each vertex's offset along its edge, the first vertex of each
    segment, and an STRtree of the segments.
    """
    cached = network.__dict__.get("_segments")
    if cached is not None:
        return cached
    vert_edge = np.repeat(np.arange(network.n_edges), np.diff(network.geom_ptr))
    step = np.hypot(np.diff(network.geom_x), np.diff(network.geom_y))
    is_seg = vert_edge[1:] == vert_edge[:-1]
    step[~is_seg] = 0.0
    cum = np.concatenate([[0.0], np.cumsum(step)])
    vert_offset = cum - cum[network.geom_ptr[:-1]][vert_edge]
    seg_start = np.flatnonzero(is_seg)
    a = np.column_stack([network.geom_x[seg_start], network.geom_y[seg_start]])
    b = np.column_stack([network.geom_x[seg_start + 1], network.geom_y[seg_start + 1]])
    tree = shapely.STRtree(shapely.linestrings(np.stack([a, b], 1)))
    for array in (vert_edge, vert_offset, seg_start):
        array.flags.writeable = False
    cached = (vert_edge, vert_offset, seg_start, tree)
    object.__setattr__(network, "_segments", cached)  # a cache on a frozen dataclass
    return cached
