"""Rebuild the walking network from a run folder's ``network.parquet`` (edges as lines, row = edge id)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import shapely

from exquisite.network.build import csr_from_edges
from exquisite.network.graph import WalkNetwork

if TYPE_CHECKING:
    import geopandas as gpd


def network_from_edges(edges: gpd.GeoDataFrame) -> WalkNetwork:
    """Turn the edges of a run folder back into a :class:`~exquisite.network.graph.WalkNetwork`.

    Each row is one undirected edge (its row number is the edge id used by ``destinations.parquet``'s
    ``snap_edge``) with its end nodes ``u`` and ``v``, its ``length_m`` and its polyline from ``u`` to ``v``.
    Node coordinates are taken from the ends of the lines; the adjacency is built exactly as when the run was
    made, so distances along the rebuilt network are the run's distances.

    Parameters
    ----------
    edges
        The GeoDataFrame of ``network.parquet`` (columns ``u``, ``v``, ``length_m``, ``osm_way_id``,
        ``highway`` and line geometries, in the run's projected CRS).

    Returns
    -------
    WalkNetwork
        The network; OSM node ids are not stored in a run folder, so ``node_osm_id`` and ``geom_osm_id``
        are ``-1``.

    Raises
    ------
    ValueError
        When a column is missing, the CRS is not projected, or a geometry is not a line.
    """
    missing = [c for c in ("u", "v", "length_m", "osm_way_id", "highway") if c not in edges.columns]
    if missing:
        raise ValueError(f"network edges lack the column(s) {', '.join(missing)}")
    if edges.crs is None or not edges.crs.is_projected:
        raise ValueError("network edges must be in a projected CRS (metres)")
    u = edges["u"].to_numpy(dtype=np.int64)
    v = edges["v"].to_numpy(dtype=np.int64)
    length = edges["length_m"].to_numpy(dtype=np.float64)
    lines = np.asarray(edges.geometry.values, dtype=object)
    if lines.size and not np.all(shapely.get_type_id(lines) == shapely.GeometryType.LINESTRING):
        raise ValueError("network edges must be LineStrings")

    coords, edge_of_vertex = shapely.get_coordinates(lines, return_index=True)
    n_vert = np.bincount(edge_of_vertex, minlength=u.shape[0])
    geom_ptr = np.zeros(u.shape[0] + 1, dtype=np.int64)
    np.cumsum(n_vert, out=geom_ptr[1:])

    n_nodes = int(max(u.max(initial=-1), v.max(initial=-1))) + 1
    node_x = np.full(n_nodes, np.nan)
    node_y = np.full(n_nodes, np.nan)
    if u.size:
        node_x[u], node_y[u] = coords[geom_ptr[:-1], 0], coords[geom_ptr[:-1], 1]
        node_x[v], node_y[v] = coords[geom_ptr[1:] - 1, 0], coords[geom_ptr[1:] - 1, 1]
    indptr, indices, weights, adj_edge = csr_from_edges(u, v, length, n_nodes)
    return WalkNetwork(
        crs=edges.crs.to_string(),
        node_x=node_x,
        node_y=node_y,
        node_osm_id=np.full(n_nodes, -1, dtype=np.int64),
        edge_u=u,
        edge_v=v,
        edge_length_m=length,
        edge_osm_way_id=edges["osm_way_id"].to_numpy(dtype=np.int64),
        edge_highway=edges["highway"].to_numpy(dtype=object),
        geom_ptr=geom_ptr,
        geom_x=coords[:, 0].copy(),
        geom_y=coords[:, 1].copy(),
        geom_osm_id=np.full(coords.shape[0], -1, dtype=np.int64),
        indptr=indptr,
        indices=indices,
        weights=weights,
        adj_edge=adj_edge,
    )
