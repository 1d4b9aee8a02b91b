"""Compiled shortest-path kernels over a symmetric CSR graph (Numba).

Two searches serve every access question:

* :func:`multi_source_distances` — one Dijkstra from all destinations of a category at once (a super-source),
  bounded by a cutoff: the distance from every node to its nearest destination.
* :func:`counts_within` — bounded searches from one side (destinations, or targets when they are fewer)
  that tally how many destinations of each category lie within each threshold of each target node.

Both work on node ids of a graph whose points of interest are nodes already (see
:mod:`exquisite.network.augment`), so a distance is exact along the edges. Memory grows with the graph and the
number of targets, never with targets × destinations.

The counting searches, one per root, are the bulk of the work. They run over the graph's core only — its
chains of degree-2 nodes and its pendant paths contracted (see :mod:`exquisite.access.contraction`) — and
give each chain's nodes their distances from the chain's ends afterwards; a bucket queue stands in for the
heap, and the relaxations are written without branches. Every distance is summed edge by edge in the same
order as a plain Dijkstra over the whole graph would, so the counts are exactly the same.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange

from exquisite.access.contraction import (
    ENTRY_LENGTH,
    ENTRY_LINK,
    ENTRY_NODE,
    ENTRY_SEQ,
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
#: 2**-51: four times the unit roundoff of float64, the slack of a summed chain length (see _count_from_root).
_ULP_51 = 2.0**-51
_MAX_BUCKETS = 1 << 16


class _Workspace(NamedTuple):
    """One thread's working arrays for :func:`_count_from_root` (see :func:`_workspace`)."""

    state: np.ndarray  # per core node: distance, distance last expanded at (inf: not yet), entry groups
    touched: np.ndarray  # core nodes with a finite distance, each once
    head: np.ndarray  # first pool entry of each bucket, -1 when empty
    pool: np.ndarray  # per queued entry: node, next entry of its bucket (-1: none)
    pending: np.ndarray  # (core node, entry) into a chain whose far end was not expanded yet
    todo: np.ndarray  # entries into chains to tally at one node's expansion
    chain_dist: np.ndarray  # distances of one chain's nodes


class _Targets(NamedTuple):
    """What a reached slot adds to the counts (see :func:`_tally`)."""

    from_destinations: bool
    by_slot: bool  # count rows are slots (with from_destinations), not target rows
    slot_row: np.ndarray
    slot_item_ptr: np.ndarray
    item_cat: np.ndarray
    item_mult: np.ndarray
    thresholds: np.ndarray


@njit(cache=True)
def _workspace(core: ChainContraction, n_buckets: int) -> _Workspace:
    """Working arrays for searches over ``core`` with ``n_buckets`` buckets, ready for the first root."""
    n_core = core.n_core
    n_entries = core.entries.shape[0]
    state = np.full((n_core, 4), _INF)
    # Beside the distances, as a search reads them together: the node's entry groups, 32 bits each.
    groups = state.view(np.int64)
    groups[:, 2] = core.indptr[:-1] | (core.group_ptr[:, 0] << 32)
    groups[:, 3] = core.group_ptr[:, 1] | (core.indptr[1:] << 32)
    max_degree = 1
    for u in range(n_core):
        max_degree = max(max_degree, core.indptr[u + 1] - core.indptr[u])
    return _Workspace(
        state,
        np.empty(n_core + 1, dtype=np.int64),  # (+1: a relaxation writes one ahead)
        np.full(n_buckets, -1, dtype=np.int64),
        np.empty((2 * (n_entries + n_core) + 16, 2), dtype=np.int64),
        np.empty((n_entries, 2), dtype=np.int64),
        np.empty(max_degree, dtype=np.int64),
        np.empty(core.max_chain, dtype=np.float64),
    )


@njit(cache=True, inline="always")
def _relax(
    ws: _Workspace, top: int, n_touched: int, node: int, d: float, cutoff: float, inv_width: float
) -> tuple[int, int]:
    """Lower ``node``'s distance to ``d`` if that is shorter and within ``cutoff``, and queue it.

    Written without branches (the outcome is a coin toss to the CPU): the queue entry is always written,
    and kept only if the distance improved. Returns the new pool size and number of touched nodes.
    """
    old = ws.state[node, 0]
    improve = (d <= cutoff) & (d < old)
    ws.touched[n_touched] = node
    n_touched += improve & (old == _INF)
    ws.state[node, 0] = d if improve else old
    bucket = np.int64(min(d, cutoff) * inv_width)
    ws.pool[top, 0] = node
    ws.pool[top, 1] = ws.head[bucket]
    ws.head[bucket] = top if improve else ws.head[bucket]
    return top + improve, n_touched


@njit(cache=True, inline="always")
def _chain_distances(w: np.ndarray, base: int, k: int, dist_a: float, dist_b: float, out: np.ndarray) -> None:
    """Distances of a chain's ``k`` nodes into ``out[:k]``, given its ends' (``inf``: not reached).

    ``w[base + i]`` joins node ``i - 1`` (end A for ``i == 0``) to node ``i``, ``w[base + k]`` node
    ``k - 1`` to end B (not read when ``dist_b`` is ``inf``). Each distance is summed edge by edge from the
    end, as the plain search would; beyond the cutoff they are too large, not exact.
    """
    d = dist_a
    for i in range(k):
        d += w[base + i]
        out[i] = d
    if dist_b < _INF:
        d = dist_b
        for i in range(k - 1, -1, -1):
            d += w[base + i + 1]
            out[i] = min(out[i], d)


@njit(cache=True, inline="always")
def _far_end(kind: int, d_here: float, d_far: float) -> float:
    """The distance at the far end of a chain of ``kind``, ``d_here`` at this end, ``d_far`` at the other."""
    if kind == LINK_PENDANT:
        return _INF
    return d_here if kind == LINK_LOOP else d_far


@njit(cache=True, inline="always")
def _add(
    counts: np.ndarray, tg: _Targets, slot: int, d: float, sign: int, row: int, item_lo: int, item_hi: int
) -> None:
    """Add ``sign`` times the tally of ``slot`` reached at distance ``d`` (see :func:`_tally`)."""
    k0 = 0
    for k in range(tg.thresholds.shape[0] - 1):  # no branch: thresholds are few, d anywhere below
        k0 += tg.thresholds[k] < d
    if tg.from_destinations:
        row = slot if tg.by_slot else tg.slot_row[slot]
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
    d_far: float,
    cutoff: float,
    sign: int,
    row: int,
    item_lo: int,
    item_hi: int,
) -> None:
    """Add ``sign`` times the tally of the nodes of the chain core entry ``j`` leads into.

    ``d_here`` is the distance of the entry's core node, ``d_far`` that of the chain's other end.
    """
    lk = core.entries[j, ENTRY_LINK]
    kind = lk & 3
    w0 = core.entries[j, ENTRY_SEQ]
    k = core.entries[j + 1, ENTRY_SEQ] - w0
    if kind != LINK_PENDANT:
        k -= 1
    _chain_distances(core.seq_w, w0, k, d_here, d_far, ws.chain_dist)
    first = core.n_core + (lk >> 2)
    for q in range(k):
        d = ws.chain_dist[q]
        slot = first + k - 1 - q if kind == LINK_THROUGH_B else first + q
        _add(counts, tg, slot, d, sign * (d <= cutoff), row, item_lo, item_hi)


@njit(cache=True)
def _retract(
    core: ChainContraction,
    tg: _Targets,
    ws: _Workspace,
    counts: np.ndarray,
    u: int,
    before: float,
    n_todo: int,
    cutoff: float,
    row: int,
    item_lo: int,
    item_hi: int,
) -> None:
    """Take back the tallies of core node ``u`` and its chains ``ws.todo[:n_todo]`` expanded at ``before``."""
    _add(counts, tg, u, before, -1, row, item_lo, item_hi)
    for t in range(n_todo):
        j = ws.todo[t]
        d_far = _far_end(core.entries[j, ENTRY_LINK] & 3, before, ws.state[core.entries[j, ENTRY_NODE], 1])
        _add_chain(counts, tg, core, ws, j, before, d_far, cutoff, -1, row, item_lo, item_hi)


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
    bucket_m: float,
) -> None:
    """One bounded search from slot ``root`` over the core, tallying every reached node (see :func:`_tally`).

    A bucket queue (buckets ``bucket_m`` wide, each a last-in-first-out list) replaces the heap: a node is
    expanded whenever it comes out with its current distance, so one that improves after its expansion
    (within one bucket) is expanded again — the distances are the same fixed point of
    ``d(v) = min(d(u) + w)`` as a heap's. An entry into a chain adds the chain's lengths one at a time, as
    a search along the chain would, so every distance is the very float the plain search finds.

    A node's tally, and that of each chain it ends, is added when it is expanded (a chain between two core
    nodes once both ends are), and taken back should it be expanded again at a shorter distance. Chains
    with one end reached only, and the root's own chain, are tallied after the search.
    """
    n_core = core.n_core
    state = ws.state
    groups = state.view(np.int64)
    entries = core.entries
    lengths = entries.view(np.float64)
    seq_w = core.seq_w
    todo = ws.todo
    pending = ws.pending
    capacity = ws.pool.shape[0]
    inv_width = 1.0 / bucket_m
    top = 0
    n_touched = 0
    n_pending = 0

    # The seeds: the root, or the ends of its chain at their distances along it.
    own = -1  # the root's chain, if it lies on one
    own_first = -1
    if root < n_core:
        top, n_touched = _relax(ws, top, n_touched, root, 0.0, cutoff, inv_width)
    else:
        own = core.slot_chain[root - n_core]
        own_first = core.chain_ptr[own]
        r = root - n_core - own_first
        k = core.chain_ptr[own + 1] - own_first
        base = own_first + own
        to_a = 0.0
        for q in range(r, -1, -1):
            to_a += core.chain_w[base + q]
        top, n_touched = _relax(ws, top, n_touched, core.chain_a[own], to_a, cutoff, inv_width)
        if core.chain_b[own] >= 0:
            to_b = 0.0
            for q in range(r + 1, k + 1):
                to_b += core.chain_w[base + q]
            top, n_touched = _relax(ws, top, n_touched, core.chain_b[own], to_b, cutoff, inv_width)

    b = 0
    n_buckets = ws.head.shape[0]
    while b < n_buckets:
        e = ws.head[b]
        if e < 0:
            b += 1
            continue
        ws.head[b] = ws.pool[e, 1]
        u = ws.pool[e, 0]
        du = state[u, 0]
        before = state[u, 1]  # inf unless expanded before, at a longer distance
        if before == du or np.int64(du * inv_width) != b:
            continue  # a stale entry: the node was expanded at this distance, or reached closer since
        state[u, 1] = du
        again = before < _INF
        lo = groups[u, 2] & 0xFFFFFFFF
        mid = groups[u, 2] >> 32
        mid2 = groups[u, 3] & 0xFFFFFFFF
        hi = groups[u, 3] >> 32
        if top + hi - lo >= capacity:
            raise MemoryError("search queue is full")
        for j in range(lo, mid):  # plain edges
            nbr = entries[j, ENTRY_NODE]
            top, n_touched = _relax(ws, top, n_touched, nbr, du + lengths[j, ENTRY_LENGTH], cutoff, inv_width)
        n_todo = 0  # chains to tally now
        for j in range(mid, mid2):  # into chains that lead on to another core node
            nbr = entries[j, ENTRY_NODE]
            if (entries[j, ENTRY_LINK] >> 2) != own_first:
                if state[nbr, 1] < _INF:  # the far end is expanded: tally the chain now
                    todo[n_todo] = j
                    n_todo += 1
                elif not again:  # perhaps by the far end, else after the search
                    pending[n_pending, 0] = u
                    pending[n_pending, 1] = j
                    n_pending += 1
            # Walk the chain only if its far end may improve: the chain's lengths summed in one go bound
            # the walked sum within (k + 2) * 2**-51 of it (k additions of non-negative terms, each
            # rounding by at most 2**-53), so a lower bound not below the far end's distance (or past
            # the cutoff) settles it without the walk.
            s0 = entries[j, ENTRY_SEQ]
            s1 = entries[j + 1, ENTRY_SEQ]
            approx = du + lengths[j, ENTRY_LENGTH]
            low = approx - approx * ((s1 - s0 + 2) * _ULP_51)
            if low <= cutoff and low < state[nbr, 0]:
                d = du
                for q in range(s0, s1):
                    d += seq_w[q]
                top, n_touched = _relax(ws, top, n_touched, nbr, d, cutoff, inv_width)
        for j in range(mid2, hi):  # into pendant paths and loops
            if (entries[j, ENTRY_LINK] >> 2) != own_first:
                todo[n_todo] = j
                n_todo += 1
        if again:
            _retract(core, tg, ws, counts, u, before, n_todo, cutoff, row, item_lo, item_hi)
        _add(counts, tg, u, du, 1, row, item_lo, item_hi)
        for t in range(n_todo):
            j = todo[t]
            d_far = _far_end(entries[j, ENTRY_LINK] & 3, du, state[entries[j, ENTRY_NODE], 1])
            _add_chain(counts, tg, core, ws, j, du, d_far, cutoff, 1, row, item_lo, item_hi)

    # Chains with one end reached only, and the root's own chain.
    for p in range(n_pending):
        j = pending[p, 1]
        if state[entries[j, ENTRY_NODE], 0] == _INF:  # the far end was never reached
            u = pending[p, 0]
            _add_chain(counts, tg, core, ws, j, state[u, 0], _INF, cutoff, 1, row, item_lo, item_hi)
    if own >= 0:
        a = core.chain_a[own]
        b = core.chain_b[own]
        k = core.chain_ptr[own + 1] - own_first
        base = own_first + own
        out = ws.chain_dist
        _chain_distances(core.chain_w, base, k, state[a, 0], state[b, 0] if b >= 0 else _INF, out)
        r = root - n_core - own_first
        out[r] = 0.0
        d = 0.0
        for q in range(r + 1, k):
            d += core.chain_w[base + q]
            out[q] = min(out[q], d)
        d = 0.0
        for q in range(r - 1, -1, -1):
            d += core.chain_w[base + q + 1]
            out[q] = min(out[q], d)
        for q in range(k):
            _add(counts, tg, n_core + own_first + q, out[q], out[q] <= cutoff, row, item_lo, item_hi)
    for s in range(n_touched):
        u = ws.touched[s]
        state[u, 0] = _INF
        state[u, 1] = _INF


@njit(cache=True, nogil=True)
def _tally_chunk(
    core: ChainContraction,
    tg: _Targets,
    ws: _Workspace,
    counts: np.ndarray,
    roots: np.ndarray,
    root_row: np.ndarray,
    root_item_ptr: np.ndarray,
    lo: int,
    hi: int,
    bucket_m: float,
) -> None:
    """Bounded searches from roots ``lo … hi - 1`` into one thread's ``counts`` (see :func:`_tally`)."""
    cutoff = tg.thresholds[tg.thresholds.shape[0] - 1]
    for i in range(lo, hi):
        if tg.from_destinations:
            row, item_lo, item_hi = -1, root_item_ptr[i], root_item_ptr[i + 1]
        else:
            row, item_lo, item_hi = root_row[i], 0, 0
        _count_from_root(core, tg, ws, counts, roots[i], row, item_lo, item_hi, cutoff, bucket_m)


#: Roots per chunk handed to a thread: enough to amortise a call, few enough to balance busy cores.
_CHUNKS_PER_THREAD = 24
_MIN_CHUNK = 8


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
    caller sums them up over thresholds.

    ``n_threads`` threads (the compiled searches release the GIL) take chunks of consecutive roots —
    neighbours, so a thread's consecutive searches find their part of the graph still in cache — from one
    shared queue, so a thread on a core busy with other work simply takes fewer chunks. Each thread adds
    into its own counts; their sum does not depend on who took which chunk.
    """
    thresholds = tg.thresholds
    n_thr = thresholds.shape[0]
    cutoff = float(thresholds[n_thr - 1])
    n_roots = roots.shape[0]
    bucket_m = max(_BUCKET_M, cutoff / (_MAX_BUCKETS - 2))
    n_buckets = max(int(cutoff / bucket_m), 0) + 2
    n_threads = max(1, min(n_threads, n_roots))
    partial = np.zeros((n_threads, n_cat, n_thr, n_rows), dtype=np.int32)
    chunk = max(_MIN_CHUNK, -(-n_roots // (n_threads * _CHUNKS_PER_THREAD)))
    starts = iter(range(0, n_roots, chunk))
    lock = threading.Lock()

    def work(t: int) -> None:
        ws = _workspace(core, n_buckets)
        while True:
            with lock:
                lo = next(starts, None)
            if lo is None:
                return
            hi = min(lo + chunk, n_roots)
            _tally_chunk(core, tg, ws, partial[t], roots, root_row, root_item_ptr, lo, hi, bucket_m)

    if n_threads == 1:
        work(0)
    else:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            for done in [pool.submit(work, t) for t in range(n_threads)]:
                done.result()
    return partial.sum(axis=0, dtype=np.int32)


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
    if core.entries.shape[0] >= 1 << 31:
        raise ValueError("graph too large: the core has more than 2**31 entries")
    slot_row = node_row[core.slot_node]
    from_destinations = uniq_nodes.shape[0] <= targets.shape[0]
    if from_destinations:
        roots, root_row = core.node_slot[uniq_nodes], np.empty(0, dtype=np.int64)
        slot_item_ptr = np.zeros(1, dtype=np.int64)
    else:
        roots, root_row = core.node_slot[targets], np.arange(targets.shape[0], dtype=np.int64)
        item_slot = core.node_slot[item_node]
        order = np.argsort(item_slot, kind="stable")
        item_cat, item_mult = item_cat[order], item_mult[order]
        slot_item_ptr = np.zeros(n_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(item_slot, minlength=n_nodes), out=slot_item_ptr[1:])
    # With most nodes targets, count by slot (no look-up per reached node) and pick the targets after.
    by_slot = from_destinations and 2 * targets.shape[0] >= n_nodes
    targets_info = _Targets(
        from_destinations, by_slot, slot_row, slot_item_ptr, item_cat, item_mult, thresholds
    )
    first_reached = _tally(
        core,
        targets_info,
        roots,
        root_row,
        root_item_ptr,
        n_nodes if by_slot else targets.shape[0],
        int(n_categories),
        numba.get_num_threads(),
    )
    if by_slot:
        first_reached = first_reached[:, :, core.node_slot[targets]]
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
