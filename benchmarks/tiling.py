"""The benchmark graph every tool receives, and its tiling into larger synthetic cities.

A :class:`BenchGraph` is the augmented walking graph (network nodes plus the snapped destinations inserted as
nodes) reduced to plain arrays: node coordinates, undirected edges with lengths, the origin nodes (every node
of the original network) and the destinations (a node and a category each). Tiling follows
``shared/reference/benchmarks.md``: copies laid in a grid, each shifted by the network's own width and height;
network nodes of neighbouring copies closer than 40 m are joined by a straight edge; destinations are copied
with their tile.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

#: Grid shape (columns × rows) of each named network of the protocol.
TILINGS: dict[str, tuple[int, int]] = {"x1": (1, 1), "x10": (2, 5), "x100": (10, 10), "x200": (20, 10)}

#: Network nodes of neighbouring copies closer than this (metres) are joined by a straight edge.
JOIN_M = 40.0


@dataclass(frozen=True)
class BenchGraph:
    """An undirected graph with origins and categorised destinations, as plain arrays (metres).

    Attributes
    ----------
    node_x, node_y
        Node coordinates, shape ``(n_nodes,)``.
    edge_u, edge_v, edge_w
        Undirected edges (no self-loops; parallel edges allowed) and their lengths in metres.
    is_network_node
        ``True`` for nodes of the original network, ``False`` for inserted destination points; the origins of
        the tasks are the network nodes (in every tile).
    dest_node, dest_cat
        Node id and category index of each destination (several destinations may share a node).
    categories
        Category names, indexed by ``dest_cat``.
    """

    node_x: np.ndarray
    node_y: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_w: np.ndarray
    is_network_node: np.ndarray
    dest_node: np.ndarray
    dest_cat: np.ndarray
    categories: tuple[str, ...]

    @property
    def n_nodes(self) -> int:
        """Number of nodes (network nodes and inserted points)."""
        return int(self.node_x.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of undirected edges."""
        return int(self.edge_u.shape[0])

    @property
    def origins(self) -> np.ndarray:
        """Node ids of the origins: every network node, ascending."""
        return np.flatnonzero(self.is_network_node)

    def csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Symmetric CSR adjacency ``(indptr, indices, weights)``, each edge both ways, sorted by source."""
        src = np.concatenate([self.edge_u, self.edge_v]).astype(np.int64)
        dst = np.concatenate([self.edge_v, self.edge_u]).astype(np.int64)
        w = np.concatenate([self.edge_w, self.edge_w]).astype(np.float64)
        order = np.lexsort((dst, src))
        indptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=self.n_nodes), out=indptr[1:])
        return indptr, dst[order], w[order]

    def save(self, path: Path) -> None:
        """Write the arrays to an ``.npz`` file."""
        np.savez(
            path,
            node_x=self.node_x,
            node_y=self.node_y,
            edge_u=self.edge_u,
            edge_v=self.edge_v,
            edge_w=self.edge_w,
            is_network_node=self.is_network_node,
            dest_node=self.dest_node,
            dest_cat=self.dest_cat,
            categories=np.array(self.categories, dtype=str),
        )

    @classmethod
    def load(cls, path: Path) -> BenchGraph:
        """Read a graph written by :meth:`save`."""
        with np.load(path) as z:
            return cls(
                node_x=z["node_x"],
                node_y=z["node_y"],
                edge_u=z["edge_u"],
                edge_v=z["edge_v"],
                edge_w=z["edge_w"],
                is_network_node=z["is_network_node"],
                dest_node=z["dest_node"],
                dest_cat=z["dest_cat"],
                categories=tuple(str(c) for c in z["categories"]),
            )


def from_csr(
    node_x: np.ndarray,
    node_y: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    n_network_nodes: int,
    dest_node: np.ndarray,
    dest_cat: np.ndarray,
    categories: tuple[str, ...],
) -> BenchGraph:
    """Build a :class:`BenchGraph` from a symmetric CSR adjacency (e.g. an augmented graph).

    Parameters
    ----------
    node_x, node_y
        Coordinates of every node of the CSR graph.
    indptr, indices, weights
        Symmetric CSR adjacency; each undirected edge appears once per direction (a self-loop may appear
        once); self-loops are dropped, as they never shorten a path.
    n_network_nodes
        The first ``n_network_nodes`` nodes are the original network's (the origins).
    dest_node, dest_cat
        Node and category index of each destination.
    categories
        Category names.

    Returns
    -------
    BenchGraph
        The graph as undirected edge arrays.
    """
    n = indptr.shape[0] - 1
    src = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    one_way = src < indices
    is_net = np.zeros(n, dtype=bool)
    is_net[:n_network_nodes] = True
    return BenchGraph(
        node_x=np.asarray(node_x, dtype=np.float64),
        node_y=np.asarray(node_y, dtype=np.float64),
        edge_u=src[one_way],
        edge_v=np.asarray(indices, dtype=np.int64)[one_way],
        edge_w=np.asarray(weights, dtype=np.float64)[one_way],
        is_network_node=is_net,
        dest_node=np.asarray(dest_node, dtype=np.int64),
        dest_cat=np.asarray(dest_cat, dtype=np.int64),
        categories=tuple(categories),
    )


def tile(graph: BenchGraph, nx: int, ny: int, join_m: float = JOIN_M) -> BenchGraph:
    """Lay ``nx × ny`` copies of ``graph`` side by side and join them where they meet.

    Copy ``(i, j)`` is shifted by ``i`` times the network's width and ``j`` times its height (the extent of
    its network nodes), so neighbouring copies touch. Network nodes of different copies closer than
    ``join_m`` are joined by a straight edge of their straight-line length. Destinations and origins are
    copied with their tile. Node ids of copy ``k = j * nx + i`` are ``k * n_nodes + id``.

    Parameters
    ----------
    graph
        The single-tile graph.
    nx, ny
        Number of columns and rows.
    join_m
        Largest distance (metres) between network nodes of different copies that are joined.

    Returns
    -------
    BenchGraph
        The tiled graph (``graph`` itself when ``nx == ny == 1``).
    """
    if nx == 1 and ny == 1:
        return graph
    n = graph.n_nodes
    net = graph.is_network_node
    x0, x1 = graph.node_x[net].min(), graph.node_x[net].max()
    y0, y1 = graph.node_y[net].min(), graph.node_y[net].max()
    width, height = x1 - x0, y1 - y0
    k = np.arange(nx * ny)
    shift_x = (k % nx) * width
    shift_y = (k // nx) * height
    node_offset = k * n

    node_x = (graph.node_x[None, :] + shift_x[:, None]).ravel()
    node_y = (graph.node_y[None, :] + shift_y[:, None]).ravel()
    edge_u = (graph.edge_u[None, :] + node_offset[:, None]).ravel()
    edge_v = (graph.edge_v[None, :] + node_offset[:, None]).ravel()
    edge_w = np.tile(graph.edge_w, nx * ny)

    # Join edges: only network nodes near the copy's outline can meet a neighbour.
    near_border = net & (
        (graph.node_x < x0 + join_m)
        | (graph.node_x > x1 - join_m)
        | (graph.node_y < y0 + join_m)
        | (graph.node_y > y1 - join_m)
    )
    border = np.flatnonzero(near_border)
    b_ids = (border[None, :] + node_offset[:, None]).ravel()
    b_tile = np.repeat(k, border.shape[0])
    pairs = cKDTree(np.column_stack([node_x[b_ids], node_y[b_ids]])).query_pairs(
        join_m, output_type="ndarray"
    )
    pairs = pairs[b_tile[pairs[:, 0]] != b_tile[pairs[:, 1]]]
    ju, jv = b_ids[pairs[:, 0]], b_ids[pairs[:, 1]]
    jw = np.hypot(node_x[ju] - node_x[jv], node_y[ju] - node_y[jv])

    dest_offset = np.repeat(node_offset, graph.dest_node.shape[0])
    return BenchGraph(
        node_x=node_x,
        node_y=node_y,
        edge_u=np.concatenate([edge_u, ju]),
        edge_v=np.concatenate([edge_v, jv]),
        edge_w=np.concatenate([edge_w, jw]),
        is_network_node=np.tile(net, nx * ny),
        dest_node=np.tile(graph.dest_node, nx * ny) + dest_offset,
        dest_cat=np.tile(graph.dest_cat, nx * ny),
        categories=graph.categories,
    )
