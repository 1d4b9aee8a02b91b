"""Compiled shortest-path kernels over a symmetric CSR graph (Numba).

Two searches serve every access question:

* :func:`multi_source_distances` — one Dijkstra from all destinations of a category at once (a super-source),
  bounded by a cutoff: the distance from every node to its nearest destination.
* :func:`counts_within` — bounded searches from one side (destinations, or targets when they are fewer)
  that tally how many destinations of each category lie within each threshold of each target node.

Both work on node ids of a graph whose points of interest are nodes already (see
:mod:`exquisite.network.augment`), so a distance is exact along the edges. Memory grows with the graph and the
number of targets, never with targets × destinations.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

_INF = np.inf

#: Heap keys are distances in fixed point (1/1024 m) packed above the node id in one int64, so a heap entry is
#: one machine word. The exact distance stays in the float64 ``dist`` array; a node whose distance improves
#: by less than the key's resolution after it was expanded is simply expanded again (still exact).
_KEY_SCALE = 1024.0
_NODE_BITS = 32
_NODE_MASK = (1 << _NODE_BITS) - 1


@njit(cache=True, inline="always")
def _heap_push(heap: np.ndarray, size: int, item: np.int64) -> int:
    """Push ``item`` onto a 4-ary min-heap; return the new size."""
    if size >= heap.shape[0]:
        raise MemoryError("search heap is full")
    i = size
    while i > 0:
        parent = (i - 1) >> 2
        above = heap[parent]
        if above <= item:
            break
        heap[i] = above
        i = parent
    heap[i] = item
    return size + 1


@njit(cache=True, inline="always")
def _heap_pop(heap: np.ndarray, size: int) -> int:
    """Remove the root of the 4-ary heap (read ``heap[0]`` first); return the new size."""
    size -= 1
    item = heap[size]
    i = 0
    while True:
        first = 4 * i + 1
        if first >= size:
            break
        best = first
        best_item = heap[first]
        for j in range(first + 1, min(first + 4, size)):
            if heap[j] < best_item:
                best_item = heap[j]
                best = j
        if best_item >= item:
            break
        heap[i] = best_item
        i = best
    heap[i] = item
    return size


@njit(cache=True)
def _bounded_dijkstra(
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    roots: np.ndarray,
    cutoff: float,
    dist: np.ndarray,
    heap: np.ndarray,
    touched: np.ndarray,
) -> int:
    """Dijkstra from ``roots`` (distance 0) up to ``cutoff``.

    ``dist`` must be all ``inf`` on entry. On return it holds the exact distances of the reached nodes, whose
    ids are ``touched[:n]`` (each once); the caller resets exactly those entries to ``inf``. ``heap`` needs
    room for the roots plus one entry per improving relaxation.
    """
    size = 0
    n_touched = 0
    for r in roots:
        if dist[r] == _INF:
            touched[n_touched] = r
            n_touched += 1
        dist[r] = 0.0
        size = _heap_push(heap, size, np.int64(r))
    while size > 0:
        item = heap[0]
        size = _heap_pop(heap, size)
        node = item & _NODE_MASK
        d = dist[node]
        if np.int64(d * _KEY_SCALE) != (item >> _NODE_BITS):
            continue  # a stale entry: the node was reached by a shorter path since
        for j in range(indptr[node], indptr[node + 1]):
            nd = d + weights[j]
            nbr = indices[j]
            if nd <= cutoff and nd < dist[nbr]:
                if dist[nbr] == _INF:
                    touched[n_touched] = nbr
                    n_touched += 1
                dist[nbr] = nd
                size = _heap_push(heap, size, (np.int64(nd * _KEY_SCALE) << _NODE_BITS) | nbr)
    return n_touched


@njit(cache=True)
def _scratch(n_nodes: int, n_entries: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One search's working arrays: distances (all inf), heap, touched list."""
    return (
        np.full(n_nodes, _INF),
        np.empty(2 * (n_entries + n_nodes) + 16, dtype=np.int64),
        np.empty(n_nodes, dtype=np.int64),
    )


@njit(cache=True, parallel=True)
def _multi_source_many(
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    source_ptr: np.ndarray,
    sources: np.ndarray,
    cutoff: float,
    targets: np.ndarray,
) -> np.ndarray:
    n_groups = source_ptr.shape[0] - 1
    n_nodes = indptr.shape[0] - 1
    out = np.full((targets.shape[0], n_groups), _INF)
    for g in prange(n_groups):
        dist, heap, touched = _scratch(n_nodes, indices.shape[0])
        roots = sources[source_ptr[g] : source_ptr[g + 1]]
        _bounded_dijkstra(indptr, indices, weights, roots, cutoff, dist, heap, touched)
        for t in range(targets.shape[0]):
            out[t, g] = dist[targets[t]]
    return out


def multi_source_distances(
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    groups: list[np.ndarray],
    cutoff: float,
    targets: np.ndarray | None = None,
) -> np.ndarray:
    """Distance from each target node to the nearest source of each group, bounded by ``cutoff``.

    Parameters
    ----------
    indptr, indices, weights
        Symmetric CSR adjacency with non-negative edge lengths in metres.
    groups
        One array of source node ids per group (e.g. the destinations of one category); may be empty.
    cutoff
        Largest distance searched; farther targets get ``inf``.
    targets
        Node ids to report; ``None`` means every node.

    Returns
    -------
    numpy.ndarray
        ``float64`` array of shape ``(n_targets, n_groups)``; ``inf`` where no source lies within ``cutoff``.
    """
    indptr, indices, weights = _as_csr(indptr, indices, weights)
    n_nodes = indptr.shape[0] - 1
    targets = np.arange(n_nodes, dtype=np.int64) if targets is None else np.asarray(targets, dtype=np.int64)
    sizes = np.array([len(g) for g in groups], dtype=np.int64)
    source_ptr = np.zeros(len(groups) + 1, dtype=np.int64)
    np.cumsum(sizes, out=source_ptr[1:])
    sources = (
        np.concatenate([np.asarray(g, dtype=np.int64) for g in groups])
        if groups
        else np.empty(0, dtype=np.int64)
    )
    if len(groups) == 0:
        return np.full((targets.shape[0], 0), np.inf)
    return _multi_source_many(indptr, indices, weights, source_ptr, sources, float(cutoff), targets)


@njit(cache=True, parallel=True)
def _tally(
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    roots: np.ndarray,
    root_row: np.ndarray,
    root_item_ptr: np.ndarray,
    node_row: np.ndarray,
    node_item_ptr: np.ndarray,
    item_cat: np.ndarray,
    item_mult: np.ndarray,
    thresholds: np.ndarray,
    n_rows: int,
    n_cat: int,
    from_destinations: bool,
    n_threads: int,
) -> np.ndarray:
    """Bounded search from each root, tallying each (category, first threshold reached) per target row.

    ``from_destinations``: roots are destination nodes carrying items ``root_item_ptr``; each reached node
    that is a target (``node_row >= 0``) gains the root's items. Otherwise roots are target nodes (row
    ``root_row``) and each reached destination node (``node_item_ptr``) adds its items to the root's row.
    Returns ``(n_cat, n_thresholds, n_rows)`` counts at the first threshold reached only; the caller sums
    them up over thresholds. Thread ``t`` takes roots ``t, t + n_threads, …``: neighbours in space, so its
    consecutive searches find their part of the graph still in cache.
    """
    n_nodes = indptr.shape[0] - 1
    n_thr = thresholds.shape[0]
    cutoff = thresholds[n_thr - 1]
    n_roots = roots.shape[0]
    partial = np.zeros((n_threads, n_cat, n_thr, n_rows), dtype=np.int32)
    for t in prange(n_threads):
        dist, heap, touched = _scratch(n_nodes, indices.shape[0])
        counts = partial[t]
        one = np.empty(1, dtype=np.int64)
        for i in range(t, n_roots, n_threads):
            one[0] = roots[i]
            n_touched = _bounded_dijkstra(indptr, indices, weights, one, cutoff, dist, heap, touched)
            for s in range(n_touched):
                node = touched[s]
                d = dist[node]
                dist[node] = _INF
                k0 = 0
                while thresholds[k0] < d:
                    k0 += 1
                if from_destinations:
                    row = node_row[node]
                    if row >= 0:
                        for it in range(root_item_ptr[i], root_item_ptr[i + 1]):
                            counts[item_cat[it], k0, row] += item_mult[it]
                else:
                    row = root_row[i]
                    for it in range(node_item_ptr[node], node_item_ptr[node + 1]):
                        counts[item_cat[it], k0, row] += item_mult[it]
    out = partial[0].copy()
    for t in range(1, n_threads):
        out += partial[t]
    return out


def counts_within(
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    destination_nodes: np.ndarray,
    destination_categories: np.ndarray,
    n_categories: int,
    thresholds: np.ndarray,
    targets: np.ndarray | None = None,
) -> np.ndarray:
    """Number of destinations of each category within each distance threshold of each target node.

    Searches from the destinations when they are fewer than the targets (each destination visits only its
    own neighbourhood), otherwise from the targets; the answer is the same.

    Parameters
    ----------
    indptr, indices, weights
        Symmetric CSR adjacency with non-negative edge lengths in metres.
    destination_nodes
        Node id of each destination (several destinations may share a node).
    destination_categories
        Category index (``0 .. n_categories-1``) of each destination.
    n_categories
        Number of categories.
    thresholds
        Distance thresholds in metres, ascending.
    targets
        Node ids to report (unique); ``None`` means every node.

    Returns
    -------
    numpy.ndarray
        ``int32`` array of shape ``(n_targets, n_categories, n_thresholds)``.
    """
    indptr, indices, weights = _as_csr(indptr, indices, weights)
    n_nodes = indptr.shape[0] - 1
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.size == 0 or np.any(np.diff(thresholds) <= 0):
        raise ValueError("thresholds must be a non-empty, strictly ascending sequence")
    targets = np.arange(n_nodes, dtype=np.int64) if targets is None else np.asarray(targets, dtype=np.int64)
    node_row = np.full(n_nodes, -1, dtype=np.int64)
    node_row[targets] = np.arange(targets.shape[0])

    # Group destinations into (node, category, multiplicity) items, sorted by node.
    dnodes = np.asarray(destination_nodes, dtype=np.int64)
    dcats = np.asarray(destination_categories, dtype=np.int64)
    if dnodes.size == 0:
        return np.zeros((targets.shape[0], n_categories, thresholds.shape[0]), dtype=np.int32)
    pairs, mult = np.unique(np.stack([dnodes, dcats], axis=1), axis=0, return_counts=True)
    item_node, item_cat, item_mult = pairs[:, 0], pairs[:, 1], mult.astype(np.int32)
    uniq_nodes, first = np.unique(item_node, return_index=True)
    root_item_ptr = np.append(first, item_node.shape[0]).astype(np.int64)

    from_destinations = uniq_nodes.shape[0] <= targets.shape[0]
    if from_destinations:
        roots, root_row = uniq_nodes, np.empty(0, dtype=np.int64)
        node_item_ptr = np.zeros(1, dtype=np.int64)
    else:
        roots, root_row = targets, np.arange(targets.shape[0], dtype=np.int64)
        per_node = np.bincount(item_node, minlength=n_nodes)
        node_item_ptr = np.zeros(n_nodes + 1, dtype=np.int64)
        np.cumsum(per_node, out=node_item_ptr[1:])
    first_reached = _tally(
        indptr,
        indices,
        weights,
        roots,
        root_row,
        root_item_ptr,
        node_row,
        node_item_ptr,
        item_cat,
        item_mult,
        thresholds,
        targets.shape[0],
        int(n_categories),
        from_destinations,
        numba.get_num_threads(),
    )
    return np.ascontiguousarray(np.cumsum(first_reached, axis=1, dtype=np.int32).transpose(2, 0, 1))


def _as_csr(
    indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CSR arrays with the dtypes the kernels are compiled for."""
    return (
        np.ascontiguousarray(indptr, dtype=np.int64),
        np.ascontiguousarray(indices, dtype=np.int64),
        np.ascontiguousarray(weights, dtype=np.float64),
    )
