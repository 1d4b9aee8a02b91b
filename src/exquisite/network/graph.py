"""The walking network as compact arrays: nodes, undirected edges with their polylines, CSR adjacency."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely


@dataclass(frozen=True)
class WalkNetwork:
    """An undirected walking network in a projected CRS (metres).

    Nodes are intersections, dead ends and the ends of ways; each edge keeps its full polyline, so a point
    snapped onto an edge has an exact offset along it.

    Attributes
    ----------
    crs
        Projected CRS of every coordinate (``"EPSG:32635"`` …).
    node_x, node_y
        Node coordinates in metres, shape ``(n_nodes,)``.
    node_osm_id
        OSM node id of each node (``-1`` for nodes the network made itself), shape ``(n_nodes,)``.
    edge_u, edge_v
        End nodes of each undirected edge, shape ``(n_edges,)``; the polyline runs from ``u`` to ``v``.
    edge_length_m
        Length of each edge's polyline in metres.
    edge_osm_way_id
        OSM way id each edge comes from.
    edge_highway
        The way's ``highway`` tag (or ``"area"`` outline / ``"link"``), for street classes.
    geom_ptr
        CSR pointer into ``geom_x``/``geom_y``: edge ``e``'s vertices are ``geom_ptr[e]:geom_ptr[e+1]``,
        starting at node ``u`` and ending at node ``v``.
    geom_x, geom_y
        Polyline vertices of all edges, in metres.
    geom_osm_id
        OSM node id of each polyline vertex, so that a place that is itself a node of a walkable way is
        attached exactly there (and not to another node with the same coordinates on another level).
    indptr, indices, weights
        Symmetric CSR adjacency (each edge both ways): the neighbours of node ``n`` are
        ``indices[indptr[n]:indptr[n+1]]``, at ``weights`` metres.
    adj_edge
        Edge id of each CSR entry.
    """

    crs: str
    node_x: np.ndarray
    node_y: np.ndarray
    node_osm_id: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_length_m: np.ndarray
    edge_osm_way_id: np.ndarray
    edge_highway: np.ndarray
    geom_ptr: np.ndarray
    geom_x: np.ndarray
    geom_y: np.ndarray
    geom_osm_id: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    adj_edge: np.ndarray

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.node_x.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of undirected edges."""
        return int(self.edge_u.shape[0])

    def edge_lines(self) -> np.ndarray:
        """Each edge's polyline as a shapely ``LineString`` (read-only array of ``n_edges``, made once)."""
        lines = self.__dict__.get("_edge_lines")
        if lines is None:
            coords = np.column_stack([self.geom_x, self.geom_y])
            edge_of_vertex = np.repeat(np.arange(self.n_edges), np.diff(self.geom_ptr))
            lines = shapely.linestrings(coords, indices=edge_of_vertex)
            lines.flags.writeable = False
            object.__setattr__(self, "_edge_lines", lines)  # a cache on a frozen dataclass
        return lines
