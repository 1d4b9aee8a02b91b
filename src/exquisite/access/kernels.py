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

from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange

from exquisite.access.contraction import (
    LINK_LOOP,
    LINK_PENDANT,
    LINK_THROUGH_B,
    ChainContraction,
    contract_chains,
)

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


#: Width (metres) of a bucket of the counting searches' bucket queue; at most this many buckets per search.
_BUCKET_M = 2.0
_MAX_BUCKETS = 1 << 16


class _Workspace(NamedTuple):
    """One thread's working arrays for :func:`_count_from_root` (see :func:`_workspace`)."""

    state: np.ndarray  # per core node: distance, and the distance it was last expanded at (inf: not yet)
    touched: np.ndarray  # core nodes with a finite distance, each once
    head: np.ndarray  # first pool entry of each bucket, -1 when empty
    pool_node: np.ndarray
    pool_next: np.ndarray
    pool_dist: np.ndarray
    pending: np.ndarray  # (core node, entry) into a chain whose other end was not expanded yet
    chain_dist: np.ndarray  # distances of one chain's nodes


class _Targets(NamedTuple):
    """What a reached slot adds to the counts (see :func:`_tally`)."""

    from_destinations: bool
    slot_row: np.ndarray
    slot_item_ptr: np.ndarray
    item_cat: np.ndarray
    item_mult: np.ndarray
    thresholds: np.ndarray


@njit(cache=True)
def _workspace(core: ChainContraction, n_buckets: int) -> _Workspace:
    """Working arrays for searches over ``core`` with ``n_buckets`` buckets, ready for the first root."""
    n_core = core.n_core
    capacity = 2 * (core.indices.shape[0] + n_core) + 16
    return _Workspace(
        np.full((n_core, 2), _INF),
        np.empty(n_core, dtype=np.int64),
        np.full(n_buckets, -1, dtype=np.int64),
        np.empty(capacity, dtype=np.int64),
        np.empty(capacity, dtype=np.int64),
        np.empty(capacity, dtype=np.float64),
        np.empty((core.indices.shape[0], 2), dtype=np.int64),
        np.empty(core.max_chain, dtype=np.float64),
    )


@njit(cache=True, inline="always")
def _push(ws: _Workspace, top: int, node: int, d: float, bucket: int) -> int:
    """Put ``node`` at distance ``d`` into ``bucket``; return the new pool size."""
    if top >= ws.pool_node.shape[0]:
        raise MemoryError("search queue is full")
    ws.pool_node[top] = node
    ws.pool_dist[top] = d
    ws.pool_next[top] = ws.head[bucket]
    ws.head[bucket] = top
    return top + 1


@njit(cache=True, inline="always")
def _chain_distances(
    w: np.ndarray, base: int, k: int, dist_a: float, dist_b: float, cutoff: float, out: np.ndarray
) -> None:
    """Distances of a chain's ``k`` nodes into ``out[:k]``, given its ends' (``inf``: not reached).

    ``w[base + i]`` joins node ``i - 1`` (end A for ``i == 0``) to node ``i``, ``w[base + k]`` node
    ``k - 1`` to end B. Each distance is summed edge by edge from the end, as the plain search would;
    ``inf`` beyond ``cutoff``.
    """
    i = 0
    if dist_a <= cutoff:
        d = dist_a
        while i < k:
            d += w[base + i]
            if d > cutoff:
                break
            out[i] = d
            i += 1
    for rest in range(i, k):
        out[rest] = _INF
    if dist_b <= cutoff:
        d = dist_b
        i = k - 1
        while i >= 0:
            d += w[base + i + 1]
            if d > cutoff:
                break
            out[i] = min(out[i], d)
            i -= 1


@njit(cache=True, inline="always")
def _add(
    counts: np.ndarray, tg: _Targets, slot: int, d: float, sign: int, row: int, item_lo: int, item_hi: int
) -> None:
    """Add (``sign = 1``) or take back (``-1``) the tally of ``slot`` reached at distance ``d``."""
    k0 = 0
    while tg.thresholds[k0] < d:
        k0 += 1
    if tg.from_destinations:
        row = tg.slot_row[slot]
        if row >= 0:
            for it in range(item_lo, item_hi):
                counts[tg.item_cat[it], k0, row] += sign * tg.item_mult[it]
    else:
        for it in range(tg.slot_item_ptr[slot], tg.slot_item_ptr[slot + 1]):
            counts[tg.item_cat[it], k0, row] += sign * tg.item_mult[it]


@njit(cache=True, inline="always")
def _add_chain(
    counts: np.ndarray,
    tg: _Targets,
    core: ChainContraction,
    ws: _Workspace,
    j: int,
    d_here: float,
    d_there: float,
    cutoff: float,
    sign: int,
    row: int,
    item_lo: int,
    item_hi: int,
) -> None:
    """Tally the nodes of the chain that core entry ``j`` leads into, from its ends' distances."""
    lk = core.link[j]
    kind = lk & 3
    w0 = core.seq_ptr[j]
    k = core.seq_ptr[j + 1] - w0
    if kind != LINK_PENDANT:
        k -= 1
    _chain_distances(core.seq_w, w0, k, d_here, d_there, cutoff, ws.chain_dist)
    first = core.n_core + (lk >> 2)
    for q in range(k):
        d = ws.chain_dist[q]
        if d <= cutoff:
            slot = first + k - 1 - q if kind == LINK_THROUGH_B else first + q
            _add(counts, tg, slot, d, sign, row, item_lo, item_hi)


@njit(cache=True)
def _count_from_root(
    core: ChainContraction,
    tg: _Targets,
    ws: _Workspace,
    counts: np.ndarray,
    root: int,
    row: int,
    item_lo: int,
    item_hi: int,
    cutoff: float,
    slack: float,
    bucket_m: float,
) -> None:
    """One bounded search from slot ``root`` over the core, tallying every reached node (see :func:`_tally`).

    A bucket queue (buckets ``bucket_m`` wide, each a last-in-first-out list) replaces the heap: a node is
    expanded whenever it comes out with its current distance, so one that improves after its expansion
    (within one bucket) is expanded again — the distances are the same fixed point of
    ``d(v) = min(d(u) + w)`` as a heap's. An entry into a chain is first tried with its summed length,
    within the relative ``slack`` of the walk's float sum; only a possible improvement adds the chain's
    lengths up one at a time, as a search along the chain would.

    A node's tally, and that of each chain it ends, is added when it is expanded (a chain between two core
    nodes once both are), and taken back should it be expanded again at a shorter distance. Chains with one
    end reached only, and the root's own chain, are tallied after the search.
    """
    n_core = core.n_core
    state = ws.state
    inv_width = 1.0 / bucket_m
    loose_cutoff = cutoff * (1.0 + slack)
    top = 0
    n_touched = 0
    n_pending = 0
    own = -1  # the root's chain, if it lies on one
    own_first = -1
    if root < n_core:
        state[root, 0] = 0.0
        ws.touched[0] = root
        n_touched = 1
        top = _push(ws, top, root, 0.0, 0)
    else:
        own = core.slot_chain[root - n_core]
        own_first = core.chain_ptr[own]
        r = root - n_core - own_first
        k = core.chain_ptr[own + 1] - own_first
        base = own_first + own
        to_a = 0.0
        for q in range(r, -1, -1):
            to_a += core.chain_w[base + q]
        to_b = 0.0
        for q in range(r + 1, k + 1):
            to_b += core.chain_w[base + q]
        for end, d0 in ((core.chain_a[own], to_a), (core.chain_b[own], to_b)):
            if end >= 0 and d0 <= cutoff and d0 < state[end, 0]:
                if state[end, 0] == _INF:
                    ws.touched[n_touched] = end
                    n_touched += 1
                state[end, 0] = d0
                top = _push(ws, top, end, d0, np.int64(d0 * inv_width))

    b = 0
    n_buckets = ws.head.shape[0]
    while b < n_buckets:
        e = ws.head[b]
        if e < 0:
            b += 1
            continue
        ws.head[b] = ws.pool_next[e]
        u = ws.pool_node[e]
        du = state[u, 0]
        if du != ws.pool_dist[e]:
            continue  # a stale entry: the node was reached by a shorter path since
        before = state[u, 1]  # inf unless expanded before, at a longer distance
        state[u, 1] = du
        again = before <= cutoff
        if again:
            _add(counts, tg, u, before, -1, row, item_lo, item_hi)
        _add(counts, tg, u, du, 1, row, item_lo, item_hi)
        for j in range(core.indptr[u], core.indptr[u + 1]):
            nbr = core.indices[j]
            lk = core.link[j]
            if lk >= 0 and (lk >> 2) != own_first:
                kind = lk & 3
                if kind >= LINK_PENDANT:
                    there = du if kind == LINK_LOOP else _INF
                    if again:
                        there_before = before if kind == LINK_LOOP else _INF
                        _add_chain(
                            counts, tg, core, ws, j, before, there_before, cutoff, -1, row, item_lo, item_hi
                        )
                    _add_chain(counts, tg, core, ws, j, du, there, cutoff, 1, row, item_lo, item_hi)
                    continue  # no way on
                there = state[nbr, 1]
                if there <= cutoff:
                    if again:
                        _add_chain(counts, tg, core, ws, j, before, there, cutoff, -1, row, item_lo, item_hi)
                    _add_chain(counts, tg, core, ws, j, du, there, cutoff, 1, row, item_lo, item_hi)
                elif not again:
                    ws.pending[n_pending, 0] = u
                    ws.pending[n_pending, 1] = j
                    n_pending += 1
            nd = du + core.length[j]
            if nd > loose_cutoff:
                continue
            dn = state[nbr, 0]
            if nd >= dn * (1.0 + slack):
                continue
            if lk >= 0:
                nd = du
                for q in range(core.seq_ptr[j], core.seq_ptr[j + 1]):
                    nd += core.seq_w[q]
            if nd <= cutoff and nd < dn:
                if dn == _INF:
                    ws.touched[n_touched] = nbr
                    n_touched += 1
                state[nbr, 0] = nd
                top = _push(ws, top, nbr, nd, np.int64(nd * inv_width))

    for p in range(n_pending):
        j = ws.pending[p, 1]
        if state[core.indices[j], 0] == _INF:  # the far end was never reached
            u = ws.pending[p, 0]
            _add_chain(counts, tg, core, ws, j, state[u, 0], _INF, cutoff, 1, row, item_lo, item_hi)
    if own >= 0:
        a = core.chain_a[own]
        b = core.chain_b[own]
        k = core.chain_ptr[own + 1] - own_first
        base = own_first + own
        out = ws.chain_dist
        _chain_distances(core.chain_w, base, k, state[a, 0], state[b, 0] if b >= 0 else _INF, cutoff, out)
        r = root - n_core - own_first
        out[r] = 0.0
        d = 0.0
        for q in range(r + 1, k):
            d += core.chain_w[base + q]
            if d > cutoff:
                break
            out[q] = min(out[q], d)
        d = 0.0
        for q in range(r - 1, -1, -1):
            d += core.chain_w[base + q + 1]
            if d > cutoff:
                break
            out[q] = min(out[q], d)
        for q in range(k):
            if out[q] <= cutoff:
                _add(counts, tg, n_core + own_first + q, out[q], 1, row, item_lo, item_hi)
    for s in range(n_touched):
        u = ws.touched[s]
        state[u, 0] = _INF
        state[u, 1] = _INF


@njit(cache=True, parallel=True)
def _tally(
    core: ChainContraction,
    tg: _Targets,
    roots: np.ndarray,
    root_row: np.ndarray,
    root_item_ptr: np.ndarray,
    n_rows: int,
    n_cat: int,
    n_threads: int,
) -> np.ndarray:
    """Bounded search from each root slot, tallying each (category, first threshold reached) per target row.

    ``tg.from_destinations``: roots are destination slots carrying items ``root_item_ptr``; each reached
    slot that is a target (``tg.slot_row >= 0``) gains the root's items. Otherwise roots are target slots
    (row ``root_row``) and each reached destination slot (``tg.slot_item_ptr``) adds its items to the
    root's row. Returns ``(n_cat, n_thresholds, n_rows)`` counts at the first threshold reached only; the
    caller sums them up over thresholds. Thread ``t`` takes roots ``t, t + n_threads, …``: neighbours in
    space, so its consecutive searches find their part of the graph still in cache.
    """
    thresholds = tg.thresholds
    n_thr = thresholds.shape[0]
    cutoff = thresholds[n_thr - 1]
    n_roots = roots.shape[0]
    # The summed length of a chain entry is within this relative slack of the walk's float sum.
    slack = max(8.0 * (core.max_chain + 2), 64.0) * np.finfo(np.float64).eps
    bucket_m = max(_BUCKET_M, cutoff / (_MAX_BUCKETS - 2))
    n_buckets = np.int64(cutoff / bucket_m) + 2
    partial = np.zeros((n_threads, n_cat, n_thr, n_rows), dtype=np.int32)
    for t in prange(n_threads):
        ws = _workspace(core, n_buckets)
        for i in range(t, n_roots, n_threads):
            if tg.from_destinations:
                row, item_lo, item_hi = -1, root_item_ptr[i], root_item_ptr[i + 1]
            else:
                row, item_lo, item_hi = root_row[i], 0, 0
            _count_from_root(
                core, tg, ws, partial[t], roots[i], row, item_lo, item_hi, cutoff, slack, bucket_m
            )
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

    # Search the contracted core; every node id below becomes a slot (see exquisite.access.contraction).
    core = contract_chains(indptr, indices, weights)
    slot_row = node_row[core.slot_node]
    from_destinations = uniq_nodes.shape[0] <= targets.shape[0]
    if from_destinations:
        roots, root_row = core.node_slot[uniq_nodes], np.empty(0, dtype=np.int64)
        slot_item_ptr = np.zeros(1, dtype=np.int64)
    else:
        roots, root_row = core.node_slot[targets], np.arange(targets.shape[0], dtype=np.int64)
        item_slot = core.node_slot[item_node]
        by_slot = np.argsort(item_slot, kind="stable")
        item_cat, item_mult = item_cat[by_slot], item_mult[by_slot]
        slot_item_ptr = np.zeros(n_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(item_slot, minlength=n_nodes), out=slot_item_ptr[1:])
    targets_info = _Targets(from_destinations, slot_row, slot_item_ptr, item_cat, item_mult, thresholds)
    first_reached = _tally(
        core,
        targets_info,
        roots,
        root_row,
        root_item_ptr,
        targets.shape[0],
        int(n_categories),
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
