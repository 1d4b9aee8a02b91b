"""Insert snapped points into the network as nodes, so that every search is exact along the edges."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from exquisite.network.build import csr_from_edges
from exquisite.network.graph import WalkNetwork

#: Points closer than this to an edge's end (metres) sit on that end's node.
_END_TOLERANCE_M = 1e-6


@dataclass(frozen=True)
class AugmentedGraph:
    """The network's CSR adjacency with snapped points inserted as nodes.

    Attributes
    ----------
    indptr, indices, weights
        Symmetric CSR adjacency in metres; the first ``n_network_nodes`` ids are the network's nodes.
    n_network_nodes
        Number of nodes of the original network.
    point_node
        Node id of each inserted point (points at the same place share a node; ``-1`` for unsnapped points).
    """

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    n_network_nodes: int
    point_node: np.ndarray

    @property
    def n_nodes(self) -> int:
        """Number of nodes, network nodes and inserted points."""
        return int(self.indptr.shape[0] - 1)


def insert_points(network: WalkNetwork, edge: np.ndarray, offset_m: np.ndarray) -> AugmentedGraph:
    """Split edges at snapped points and return the adjacency with those points as nodes.

    An edge ``u–v`` of length ``L`` carrying points at offsets ``t1 < t2 < …`` becomes the chain
    ``u –t1– p1 –(t2−t1)– p2 … –(L−tk)– v``; points at an end use that end's node, and points at the same
    place share one node. Distances between any two nodes are therefore the true along-network distances.

    Parameters
    ----------
    network
        The walking network.
    edge, offset_m
        Snapped positions (see :func:`exquisite.network.snap.snap_points`); ``edge == -1`` is left out.

    Returns
    -------
    AugmentedGraph
        The adjacency and each point's node id.
    """
    edge = np.asarray(edge, dtype=np.int64)
    offset = np.asarray(offset_m, dtype=np.float64)
    n_points = edge.shape[0]
    n_net = network.n_nodes
    point_node = np.full(n_points, -1, dtype=np.int64)
    valid = edge >= 0
    length = np.zeros(n_points)
    length[valid] = network.edge_length_m[edge[valid]]
    at_u = valid & (offset <= _END_TOLERANCE_M)
    at_v = valid & ~at_u & (offset >= length - _END_TOLERANCE_M)
    point_node[at_u] = network.edge_u[edge[at_u]]
    point_node[at_v] = network.edge_v[edge[at_v]]

    inner = np.flatnonzero(valid & ~at_u & ~at_v)
    keys = np.stack([edge[inner], offset[inner]], axis=1) if inner.size else np.empty((0, 2))
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    point_node[inner] = n_net + inverse.reshape(-1)

    u, v, w = network.edge_u, network.edge_v, network.edge_length_m
    if uniq.shape[0]:
        split_edge = uniq[:, 0].astype(np.int64)
        split_off = uniq[:, 1]
        new_node = n_net + np.arange(uniq.shape[0])
        # np.unique sorted the rows by edge, then offset: chains are consecutive runs.
        first = np.r_[True, split_edge[1:] != split_edge[:-1]]
        last = np.r_[split_edge[1:] != split_edge[:-1], True]
        prev_node = np.where(first, network.edge_u[split_edge], np.r_[-1, new_node[:-1]])
        prev_off = np.where(first, 0.0, np.r_[0.0, split_off[:-1]])
        chain_u = np.concatenate([prev_node, new_node[last]])
        chain_v = np.concatenate([new_node, network.edge_v[split_edge[last]]])
        chain_w = np.concatenate([split_off - prev_off, w[split_edge[last]] - split_off[last]])
        untouched = np.ones(network.n_edges, dtype=bool)
        untouched[split_edge] = False
        u = np.concatenate([u[untouched], chain_u])
        v = np.concatenate([v[untouched], chain_v])
        w = np.concatenate([w[untouched], np.maximum(chain_w, 0.0)])
    indptr, indices, weights, _ = csr_from_edges(u, v, w, n_net + uniq.shape[0])
    return AugmentedGraph(indptr, indices, weights, n_net, point_node)
