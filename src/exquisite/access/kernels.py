"""Compiled shortest-path kernels over a symmetric CSR graph (Numba).

Two searches serve every access question:

* :func:`multi_source_distances` — one Dijkstra from all destinations of a category at once (a super-source),
  bounded by a cutoff: the distance from every node to its nearest destination.
* :func:`counts_within` — bounded searches from one side (destinations, or targets when they are fewer)
  that tally how many destinations of each category lie within each threshold of each target node.

Both work on node ids of a graph whose points of interest are nodes already (see
:mod:`exquisite.network.augment`), so a distance is exact along the edges. Memory grows with the graph and the
number of targets, never with targets × destinations.

The counting searches are the bulk of the work. They run over the graph's core only — its chains of
degree-2 nodes and its pendant paths contracted (see :mod:`exquisite.access.contraction`) — sixteen roots at
a time, one per lane of a vector (see :mod:`exquisite.access.lanes`): a node holds its distances from the
sixteen roots side by side and relaxes them with a few vector instructions, and nearby roots share most of
their ground. Each chain's nodes get their distances from the chain's ends afterwards; every node reached
then adds each lane's destinations to the count of the lane's category in the first threshold the lane is
within (its *bin*), and the bins are summed into counts within each threshold at the end. Every distance is
summed edge by edge in the same order as a plain Dijkstra from its root over the whole graph would, so the
counts are exactly the same.
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
from exquisite.access.lanes import (
    LANES,
    lanes_add_band_counts,
    lanes_bins,
    lanes_equal,
    lanes_lower,
    lanes_may_lower,
    lanes_min,
    lanes_set,
    lanes_within,
    lowest_bit,
)

_INF = np.inf

#: Width (metres) of a bucket of the searches' bucket queues; at most _MAX_BUCKETS buckets per search.
_BUCKET_M = 2.0
_MAX_BUCKETS = 1 << 16


def _bucket_width(cutoff: float) -> float:
    """Width of a bucket for searches up to ``cutoff``: ``_BUCKET_M``, wider for very long cutoffs."""
    return max(_BUCKET_M, cutoff / (_MAX_BUCKETS - 2))


@njit(cache=True)
def _bounded_dijkstra(
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    roots: np.ndarray,
    cutoff: float,
    bucket_m: float,
    dist: np.ndarray,
    head: np.ndarray,
    pool: np.ndarray,
    touched: np.ndarray,
) -> int:
    """Shortest distances from ``roots`` (distance 0) up to ``cutoff``.

    A bucket queue (buckets ``bucket_m`` wide, each a last-in-first-out list) in place of a heap: a node is
    expanded whenever it comes out with its current distance, so one that improves after its expansion
    (within one bucket) is expanded again — the distances are the same least fixed point of
    ``d(v) = min(d(u) + w)`` as a heap's, the very floats.

    ``dist`` must be all ``inf`` and ``head`` all ``-1`` on entry (see :func:`_scratch`); on return ``dist``
    holds the distances of the reached nodes, whose ids are ``touched[:n]`` (each once; the caller resets
    exactly those), and ``head`` is all ``-1`` again. ``pool`` holds the queue's entries and is replaced by
    a larger one when full.
    """
    inv_width = 1.0 / bucket_m
    n_buckets = head.shape[0]
    top = 0
    n_touched = 0
    for r in roots:
        if dist[r] == _INF:
            touched[n_touched] = r
            n_touched += 1
            dist[r] = 0.0
            if top == pool.shape[0]:
                pool = _grown(pool)
            pool[top, 0] = r
            pool[top, 1] = head[0]
            head[0] = top
            top += 1
    b = 0
    while b < n_buckets:
        e = head[b]
        if e < 0:
            b += 1
            continue
        head[b] = pool[e, 1]
        u = pool[e, 0]
        d = dist[u]
        if np.int64(d * inv_width) != b:
            continue  # a stale entry: the node was reached by a shorter path since
        if top + indptr[u + 1] - indptr[u] > pool.shape[0]:
            pool = _grown(pool)
        for j in range(indptr[u], indptr[u + 1]):
            nd = d + weights[j]
            v = indices[j]
            old = dist[v]
            if nd <= cutoff and nd < old:
                if old == _INF:
                    touched[n_touched] = v
                    n_touched += 1
                dist[v] = nd
                bucket = max(np.int64(nd * inv_width), b)
                pool[top, 0] = v
                pool[top, 1] = head[bucket]
                head[bucket] = top
                top += 1
    return n_touched


@njit(cache=True)
def _grown(pool: np.ndarray) -> np.ndarray:
    """A queue pool twice as large, with the entries of ``pool``."""
    larger = np.empty((2 * pool.shape[0] + 16, 2), dtype=np.int64)
    larger[: pool.shape[0]] = pool
    return larger


@njit(cache=True)
def _scratch(
    n_nodes: int, n_entries: int, cutoff: float, bucket_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One search's working arrays: distances (all inf), bucket heads (all -1), queue pool, touched list."""
    return (
        np.full(n_nodes, _INF),
        np.full(max(np.int64(cutoff / bucket_m), 0) + 2, -1, dtype=np.int64),
        np.empty((n_entries + n_nodes + 16, 2), dtype=np.int64),
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
    bucket_m: float,
    targets: np.ndarray,
) -> np.ndarray:
    n_groups = source_ptr.shape[0] - 1
    n_nodes = indptr.shape[0] - 1
    out = np.full((targets.shape[0], n_groups), _INF)
    for g in prange(n_groups):
        dist, head, pool, touched = _scratch(n_nodes, indices.shape[0], cutoff, bucket_m)
        roots = sources[source_ptr[g] : source_ptr[g + 1]]
        _bounded_dijkstra(indptr, indices, weights, roots, cutoff, bucket_m, dist, head, pool, touched)
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
        Largest distance searched (finite, metres); farther targets get ``inf``.
    targets
        Node ids to report; ``None`` means every node.

    Returns
    -------
    numpy.ndarray
        ``float64`` array of shape ``(n_targets, n_groups)``; ``inf`` where no source lies within ``cutoff``.
    """
    if not np.isfinite(cutoff) or cutoff < 0:
        raise ValueError(f"cutoff must be a finite distance of at least 0 m, not {cutoff}")
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
    cutoff = float(cutoff)
    return _multi_source_many(
        indptr, indices, weights, source_ptr, sources, cutoff, _bucket_width(cutoff), targets
    )


#: 2**-51: four times the unit roundoff of float64, the slack of a summed chain length (see _search_batch).
_ULP_51 = 2.0**-51


class _Workspace(NamedTuple):
    """One thread's working arrays for :func:`_search_batch` and :func:`_tally_batch`."""

    dist: np.ndarray  # rows of LANES distances: the core nodes, a scratch row, a walk row, one chain's nodes
    queued: np.ndarray  # bucket of each core node's live queue entry, -1: none
    seen: np.ndarray  # core node has a finite distance in some lane
    touched: np.ndarray  # core nodes seen, each once (+1: a relaxation writes one ahead)
    head: np.ndarray  # first pool entry of each bucket, -1 when empty
    own: np.ndarray  # (LANES,): first chain slot of each lane's root's own chain, -1: on the core
    bins: np.ndarray  # (LANES,): the bin of each lane's distance at the node being tallied
    bands: np.ndarray  # (n_thresholds,): the lanes in each bin at the node being tallied, as bit masks
    table: np.ndarray  # (_BAND_WORK * LANES,): see _tally_chunk


class _Targets(NamedTuple):
    """What a reached slot adds to the counts (see :func:`_tally_batch`)."""

    from_destinations: bool
    by_slot: bool  # count rows are slots (with from_destinations), not target rows
    slot_row: np.ndarray
    slot_item_ptr: np.ndarray
    item_cat: np.ndarray
    item_mult: np.ndarray
    thresholds: np.ndarray


class _Lanes(NamedTuple):
    """The roots of the searches, one per lane; batches are runs of ``LANES`` consecutive lanes."""

    slot: np.ndarray  # root slot of each lane
    row: np.ndarray  # from targets: the lane's row of counts (from destinations: -1)
    item_ptr: np.ndarray  # from destinations: the lane's items are item_ptr[lane] … item_ptr[lane + 1] - 1
    item_cat: np.ndarray  # category of each item
    item_weight: np.ndarray  # number of destinations of that category at the lane's root


@njit(cache=True)
def _workspace(core: ChainContraction, n_buckets: int, n_thresholds: int) -> _Workspace:
    """Working arrays for searches over ``core`` with ``n_buckets`` buckets, ready for the first batch."""
    n_core = core.n_core
    return _Workspace(
        np.full((n_core + 2 + core.max_chain) * LANES, _INF),
        np.full(n_core, -1, dtype=np.int64),
        np.zeros(n_core, dtype=np.bool_),
        np.empty(n_core + 1, dtype=np.int64),
        np.full(n_buckets, -1, dtype=np.int64),
        np.full(LANES, -1, dtype=np.int64),
        np.zeros(LANES, dtype=np.int64),
        np.zeros(n_thresholds, dtype=np.int64),
        np.zeros(_BAND_WORK * LANES, dtype=np.int64),
    )


@njit(cache=True)
def _search_batch(
    core: ChainContraction,
    ws: _Workspace,
    pool: np.ndarray,
    roots: np.ndarray,
    cutoff: float,
    bucket_m: float,
) -> int:
    """Bounded searches over the core from up to ``LANES`` root slots at once, one lane each.

    Label-correcting with a bucket queue ordered by the smallest improved distance: a node is expanded
    whenever one of its lanes improved since it was last expanded, and relaxes all lanes at once (a few
    vector instructions). Each lane ends at the least fixed point of ``d(v) = min(d(u) + w)`` from its
    seeds: the very floats a Dijkstra from that root alone finds, chains walked edge by edge.

    The seeds, the plain edges and the walked chains all feed one relaxation at the bottom of one loop:
    a helper taking arrays would have Numba count references on every call, which costs more than the
    relaxation itself.

    Returns the number of touched core nodes (``ws.touched``), or ``-1`` when the pool was too small
    (the workspace must then be cleared and the batch run again with a larger pool).
    """
    n_core = core.n_core
    dist = ws.dist
    seen = ws.seen
    touched = ws.touched
    queued = ws.queued
    head = ws.head
    own = ws.own
    scratch = n_core * LANES  # distances walked along a chain, or a seed
    entries = core.entries
    lengths = entries.view(np.float64)
    seq_w = core.seq_w
    indptr = core.indptr
    group_ptr = core.group_ptr
    chain_w = core.chain_w
    capacity = pool.shape[0]
    inv_width = 1.0 / bucket_m
    n_buckets = head.shape[0]
    if capacity < 2 * LANES:
        return -1
    for x in range(LANES):
        own[x] = -1
    top = 0
    n_touched = 0
    n_seeds = 0
    u = -1  # the node being expanded; -1: the seeds, -2: about to expand the first node
    j = 0
    j_end = 0
    mid = 0
    b = 0
    src = 0
    add = 0.0
    while True:
        # The next row of candidate distances (row src plus add) for core node v.
        if u == -1:  # the seeds: each lane's root, or the ends of its chain at their distances along it
            if n_seeds == 2 * roots.shape[0]:
                u = -2
                continue
            lane = n_seeds >> 1
            far = n_seeds & 1
            n_seeds += 1
            root = roots[lane]
            for x in range(LANES):
                dist[scratch + x] = _INF
            if root < n_core:
                if far:
                    continue
                v = root
                dist[scratch + lane] = 0.0
            else:
                c = core.slot_chain[root - n_core]
                first = core.chain_ptr[c]
                own[lane] = first
                r = root - n_core - first
                d = 0.0
                if not far:
                    v = core.chain_a[c]
                    for q in range(r, -1, -1):
                        d += chain_w[first + c + q]
                else:
                    v = core.chain_b[c]
                    if v < 0:
                        continue
                    for q in range(r + 1, core.chain_ptr[c + 1] - first + 1):
                        d += chain_w[first + c + q]
                dist[scratch + lane] = d
            src = scratch
            add = 0.0
        else:
            if u == -2 or j == j_end:  # expand the next node out of the queue
                x = -1
                while b < n_buckets:
                    e = head[b]
                    if e < 0:
                        b += 1
                        continue
                    head[b] = pool[e, 1]
                    x = pool[e, 0]
                    if queued[x] == b:
                        break
                    x = -1  # a stale entry: the node was queued again, sooner, and expanded since
                if x < 0:
                    break
                u = x
                queued[u] = -1
                j = indptr[u]
                mid = group_ptr[u, 0]
                j_end = group_ptr[u, 1]
                if top + j_end - j >= capacity:
                    return -1
                if j == j_end:
                    continue
            at = u * LANES
            v = entries[j, ENTRY_NODE]
            j += 1
            if j <= mid:  # a plain edge
                src = at
                add = lengths[j - 1, ENTRY_LENGTH]
            else:  # into a chain that leads on to another core node
                s0 = entries[j - 1, ENTRY_SEQ]
                s1 = entries[j, ENTRY_SEQ]
                # Walk the chain only if the far end may improve in some lane: the chain's lengths summed
                # in one go bound the walked sum within (k + 2) * 2**-51 of it (k additions of
                # non-negative terms, each rounding by at most 2**-53).
                slack = 1.0 - (s1 - s0 + 2) * _ULP_51
                if not lanes_may_lower(dist, at, v * LANES, lengths[j - 1, ENTRY_LENGTH], slack, cutoff):
                    continue
                lanes_set(dist, scratch, at, seq_w[s0])
                for q in range(s0 + 1, s1):
                    lanes_set(dist, scratch, scratch, seq_w[q])
                src = scratch
                add = 0.0
        # Lower v's distances lane by lane where shorter and within the cutoff; queue v if any were,
        # without branches (whether a lane improved is a coin toss to the CPU): the queue entry is always
        # written, and kept only if v is to be queued (not already, in this bucket or a sooner one).
        bucket = lanes_lower(dist, src, v * LANES, add, cutoff, inv_width)
        improved = bucket >= 0
        touched[n_touched] = v
        n_touched += improved & (not seen[v])
        seen[v] |= improved
        bucket = max(bucket, b)
        q = queued[v]
        push = improved & ((q < 0) | (bucket < q))
        pool[top, 0] = v
        pool[top, 1] = head[bucket]
        head[bucket] = top if push else head[bucket]
        queued[v] = bucket if push else q
        top += push
    return n_touched


@njit(cache=True)
def _clear(ws: _Workspace, n_touched: int) -> None:
    """Make the workspace ready for the next batch (``n_touched < 0``: clear it all)."""
    dist = ws.dist
    if n_touched < 0:
        dist[:] = _INF
        ws.seen[:] = False
        ws.queued[:] = -1
    touched = ws.touched
    seen = ws.seen
    for s in range(max(n_touched, 0)):
        u = touched[s]
        at = u * LANES
        for lane in range(LANES):
            dist[at + lane] = _INF
        seen[u] = False
    ws.head[:] = -1


@njit(cache=True)
def _tally_batch(
    core: ChainContraction,
    tg: _Targets,
    ws: _Workspace,
    counts: np.ndarray,
    lanes: _Lanes,
    start: int,
    stop: int,
    n_touched: int,
    n_planes: int,
) -> None:
    """Add every slot a batch's searches reached to the counts, by bin (see :func:`_tally`).

    The batch's lanes are ``start … stop - 1`` of ``lanes``. From destinations, a reached slot adds the
    weight of each item of each lane to the item's category and the lane's bin in its row (``by_slot``: the
    slot itself; else its target row, if any): with ``n_planes`` bits of weights, by counting bits — of
    the lanes in a bin that have an item of a given category with a given bit of its weight set
    (``ws.table``, see :func:`_tally_chunk`), for a whole row of counts at once — else (``n_planes`` 0)
    lane by lane.
    From targets, each destination item of a reached slot adds its multiplicity to its category and each
    lane's bin in the lane's row.

    The core nodes reached, then the chains between them (each tallied once: from its A end, or from its B
    end when the A end was not reached; pendant paths and loops from their one core node), then each lane's
    own chain, from its ends and along the chain from the root.
    """
    n_core = core.n_core
    roots = lanes.slot[start:stop]
    n_lanes = stop - start
    n_thr = tg.thresholds.shape[0]
    dist = ws.dist
    seen = ws.seen
    own = ws.own
    lane_item_ptr = lanes.item_ptr
    lane_item_cat = lanes.item_cat
    lane_item_weight = lanes.item_weight
    lane_row = lanes.row
    bins = ws.bins
    bands = ws.bands
    table = ws.table
    row_len = counts.shape[1]
    walk = (n_core + 1) * LANES
    cd = (n_core + 2) * LANES  # the rows of a chain's nodes
    entries = core.entries
    seq_w = core.seq_w
    chain_w = core.chain_w
    indptr = core.indptr
    group_ptr = core.group_ptr
    touched = ws.touched
    thresholds = tg.thresholds
    item_cat = tg.item_cat
    item_mult = tg.item_mult
    slot_row = tg.slot_row
    slot_item_ptr = tg.slot_item_ptr
    from_destinations = tg.from_destinations
    by_slot = tg.by_slot
    for s in range(n_touched + n_lanes):
        if s < n_touched:
            u = touched[s]
            at = u * LANES
            j_lo = group_ptr[u, 0] - 1  # the core node itself, then an entry per chain
            j_hi = indptr[u + 1]
        else:
            lane = s - n_touched
            if own[lane] < 0:
                continue
            j_lo = 0
            j_hi = 1
        for j in range(j_lo, j_hi):
            if s >= n_touched:  # the lane's own chain: in its lane of the chain rows, the other lanes off
                root = roots[lane]
                c = core.slot_chain[root - n_core]
                first = own[lane]
                k = core.chain_ptr[c + 1] - first
                base = first + c
                a = core.chain_a[c]
                bb = core.chain_b[c]
                d = dist[a * LANES + lane]
                for i in range(k):
                    d += chain_w[base + i]
                    dist[cd + i * LANES + lane] = d
                if bb >= 0:
                    d = dist[bb * LANES + lane]
                    for i in range(k - 1, -1, -1):
                        d += chain_w[base + i + 1]
                        dist[cd + i * LANES + lane] = min(dist[cd + i * LANES + lane], d)
                r = root - n_core - first
                dist[cd + r * LANES + lane] = 0.0
                d = 0.0
                for i in range(r + 1, k):
                    d += chain_w[base + i]
                    dist[cd + i * LANES + lane] = min(dist[cd + i * LANES + lane], d)
                d = 0.0
                for i in range(r - 1, -1, -1):
                    d += chain_w[base + i + 1]
                    dist[cd + i * LANES + lane] = min(dist[cd + i * LANES + lane], d)
                off = ~(1 << lane)
                row0, slot0, step = cd, n_core + first, 1
            elif j == j_lo:  # the core node itself
                k = 1
                off = 0
                row0, slot0, step = at, u, 0
            else:
                lk = entries[j, ENTRY_LINK]
                kind = lk & 3
                far = entries[j, ENTRY_NODE]
                if kind == LINK_THROUGH_B and seen[far]:
                    continue  # tallied from its A end
                w0 = entries[j, ENTRY_SEQ]
                k = entries[j + 1, ENTRY_SEQ] - w0
                if kind != LINK_PENDANT:
                    k -= 1
                # The chain's nodes in walking order from u: summed from u, then from the far end.
                lanes_set(dist, cd, at, seq_w[w0])
                for i in range(1, k):
                    lanes_set(dist, cd + i * LANES, cd + (i - 1) * LANES, seq_w[w0 + i])
                if kind != LINK_PENDANT:
                    lanes_set(dist, walk, at if kind == LINK_LOOP else far * LANES, seq_w[w0 + k])
                    lanes_min(dist, cd + (k - 1) * LANES, walk)
                    for i in range(k - 2, -1, -1):
                        lanes_set(dist, walk, walk, seq_w[w0 + i + 1])
                        lanes_min(dist, cd + i * LANES, walk)
                first = lk >> 2
                off = lanes_equal(own, first)  # a lane's own chain is tallied apart
                row0 = cd
                if kind == LINK_THROUGH_B:
                    slot0, step = n_core + first + k - 1, -1
                else:
                    slot0, step = n_core + first, 1
            for i in range(k):
                slot = slot0 + step * i
                row_at = row0 + i * LANES
                if from_destinations:
                    row = slot if by_slot else slot_row[slot]
                    if row < 0:
                        continue
                    if n_planes:  # bit counts, sixteen counts at a time
                        inner = 0
                        for t in range(n_thr):
                            within = lanes_within(dist, row_at, thresholds[t]) & ~off
                            bands[t] = within & ~inner
                            inner = within
                        for b in range(n_planes):
                            for q in range(0, row_len, LANES):
                                at_table = (b * row_len + q) * n_thr
                                lanes_add_band_counts(counts, row * row_len + q, bands, table, at_table, b)
                    else:  # lane by lane
                        within = lanes_bins(dist, row_at, thresholds, bins) & ~off
                        while within:
                            x = lowest_bit(within)
                            within &= within - 1
                            for it in range(lane_item_ptr[start + x], lane_item_ptr[start + x + 1]):
                                counts[row, lane_item_cat[it] * n_thr + bins[x]] += lane_item_weight[it]
                elif slot_item_ptr[slot + 1] > slot_item_ptr[slot]:
                    within = lanes_bins(dist, row_at, thresholds, bins) & ~off
                    for it in range(slot_item_ptr[slot], slot_item_ptr[slot + 1]):
                        at_cat = item_cat[it] * n_thr
                        lanes = within
                        while lanes:
                            x = lowest_bit(lanes)
                            lanes &= lanes - 1
                            counts[lane_row[start + x], at_cat + bins[x]] += item_mult[it]


@njit(cache=True, nogil=True)
def _tally_chunk(
    core: ChainContraction,
    tg: _Targets,
    ws: _Workspace,
    counts: np.ndarray,
    lanes: _Lanes,
    batch_ptr: np.ndarray,
    lo: int,
    hi: int,
    bucket_m: float,
    pool_rows: int,
) -> None:
    """Batches ``lo … hi - 1`` (lanes ``batch_ptr[i] … batch_ptr[i + 1] - 1``) into one thread's counts.

    The search queue starts with ``pool_rows`` entries and doubles whenever a batch needs more.
    """
    n_thr = tg.thresholds.shape[0]
    cutoff = tg.thresholds[n_thr - 1]
    row_len = counts.shape[1]
    pool = np.empty((pool_rows, 2), dtype=np.int64)
    for i in range(lo, hi):
        start, stop = batch_ptr[i], batch_ptr[i + 1]
        batch = lanes.slot[start:stop]
        # Bit counts need a table row of LANES masks per bit of the weights, threshold and LANES counts.
        n_planes = 0
        for it in range(lanes.item_ptr[start], lanes.item_ptr[stop]):
            while lanes.item_weight[it] >> n_planes:
                n_planes += 1
        if n_planes * row_len * n_thr > _BAND_WORK * LANES:
            n_planes = 0  # counted lane by lane
        table = ws.table
        table[: n_planes * row_len * n_thr] = 0
        for x in range(stop - start):
            for it in range(lanes.item_ptr[start + x], lanes.item_ptr[start + x + 1]):
                for b in range(n_planes):
                    if (lanes.item_weight[it] >> b) & 1:
                        for t in range(n_thr):
                            p = lanes.item_cat[it] * n_thr + t  # the count of the item's category in bin t
                            q = p - p % LANES
                            table[(b * row_len + q) * n_thr + t * LANES + p % LANES] |= 1 << x
        while True:
            n_touched = _search_batch(core, ws, pool, batch, cutoff, bucket_m)
            if n_touched >= 0:
                break
            _clear(ws, -1)  # a full pool: start the batch again, with a larger one
            pool = np.empty((2 * pool.shape[0], 2), dtype=np.int64)
        _tally_batch(core, tg, ws, counts, lanes, start, stop, n_touched, n_planes)
        _clear(ws, n_touched)


#: Batches per chunk handed to a thread: enough to amortise a call, few enough to balance busy cores.
_CHUNKS_PER_THREAD = 24
#: A batch whose rows of counts (categories × thresholds, rounded up to LANES) × thresholds × bits of the
#: weights need at most this many vectors of LANES masks counts a node by bit counts, else lane by lane.
_BAND_WORK = 8
#: Entries of a search queue to start with, per core node (a batch typically queues fewer than 1.5).
_QUEUE_PER_CORE_NODE = 4


def _tally(
    core: ChainContraction,
    tg: _Targets,
    lanes: _Lanes,
    batch_ptr: np.ndarray,
    out_row: np.ndarray,
    n_out: int,
    n_cat: int,
    n_threads: int,
) -> np.ndarray:
    """Run the batches on ``n_threads`` threads; return the counts ``(n_out, n_cat, n_thresholds)``.

    The searches count into rows that go to row ``out_row[row]`` of the answer (none when ``-1``).

    A reached node adds a lane's destinations to the lane's *bin*: the first threshold its distance is
    within, which costs the same for any number of categories and thresholds; a cumulative sum over the
    bins then gives the counts within each threshold.

    The compiled searches release the GIL; threads take chunks of consecutive batches (neighbours, so a
    thread's consecutive searches find their part of the graph still in cache) from one shared queue, so a
    thread on a core busy with other work simply takes fewer. Each thread adds into its own counts; their
    sum does not depend on who took which chunk.
    """
    thresholds = tg.thresholds
    n_thr = thresholds.shape[0]
    cutoff = float(thresholds[n_thr - 1])
    n_batches = batch_ptr.shape[0] - 1
    bucket_m = _bucket_width(cutoff)
    n_buckets = max(int(cutoff / bucket_m), 0) + 2
    n_threads = max(1, min(n_threads, n_batches))
    row_len = -(-n_cat * n_thr // LANES) * LANES  # the counts of a row: by category, then bin
    partial = np.zeros((n_threads, out_row.shape[0], row_len), dtype=np.int32)
    chunk = max(1, -(-n_batches // (n_threads * _CHUNKS_PER_THREAD)))
    pool_rows = _QUEUE_PER_CORE_NODE * core.n_core + 2 * LANES
    starts = iter(range(0, n_batches, chunk))
    lock = threading.Lock()

    def work(t: int) -> None:
        ws = _workspace(core, n_buckets, n_thr)
        while True:
            with lock:
                lo = next(starts, None)
            if lo is None:
                return
            hi = min(lo + chunk, n_batches)
            _tally_chunk(
                core,
                tg,
                ws,
                partial[t],
                lanes,
                batch_ptr,
                lo,
                hi,
                bucket_m,
                pool_rows,
            )

    if n_threads == 1:
        work(0)
    else:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            for done in [pool.submit(work, t) for t in range(n_threads)]:
                done.result()
    return _within(partial, out_row, n_out, n_cat, n_thr)


@njit(cache=True)
def _within(partial: np.ndarray, out_row: np.ndarray, n_out: int, n_cat: int, n_thr: int) -> np.ndarray:
    """Counts within each threshold: the threads' counts by bin, added up into rows ``out_row`` of the answer.

    Read row by row in memory order (picking the answer's rows in turn would miss the cache on each).
    """
    out = np.zeros((n_out, n_cat, n_thr), dtype=np.int32)
    for row in range(out_row.shape[0]):
        r = out_row[row]
        if r < 0:
            continue
        for c in range(n_cat):
            total = 0
            for t in range(n_thr):
                for th in range(partial.shape[0]):
                    total += partial[th, row, c * n_thr + t]
                out[r, c, t] = total
    return out


def _neighbours_together(core: ChainContraction, slots: np.ndarray) -> np.ndarray:
    """An order of ``slots`` that keeps neighbours together, for batches of nearby roots.

    Core nodes in core order, each chain's nodes at its A end (in slot order they would all come after
    every core node), then by slot.

    ×10 and ×100 benchmark graphs: 7 % fewer node expansions than plain slot order; as few as a greedy
    clustering of the roots sixteen by sixteen along the network (within 0.5 %).
    """
    place = slots.copy()
    on_chain = slots >= core.n_core
    place[on_chain] = core.chain_a[core.slot_chain[slots[on_chain] - core.n_core]]
    return np.lexsort((slots, place))


def _batches(n_lanes: int) -> np.ndarray:
    """Start of each batch of ``LANES`` consecutive lanes, and the end."""
    return np.r_[np.arange(0, n_lanes, LANES), n_lanes].astype(np.int64)


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
    thresholds = np.ascontiguousarray(thresholds, dtype=np.float64)
    if thresholds.size == 0 or np.any(np.diff(thresholds) <= 0) or not np.isfinite(thresholds).all():
        raise ValueError("thresholds must be a non-empty, strictly ascending sequence of finite distances")
    targets = np.arange(n_nodes, dtype=np.int64) if targets is None else np.asarray(targets, dtype=np.int64)
    node_row = np.full(n_nodes, -1, dtype=np.int64)
    node_row[targets] = np.arange(targets.shape[0])

    # Group destinations into (node, category, multiplicity) items.
    dnodes = np.asarray(destination_nodes, dtype=np.int64)
    dcats = np.asarray(destination_categories, dtype=np.int64)
    if dnodes.size == 0:
        return np.zeros((targets.shape[0], n_categories, thresholds.shape[0]), dtype=np.int32)
    n_cat = max(int(n_categories), 1)
    keys, mult = np.unique(dnodes * n_cat + dcats, return_counts=True)
    item_node, item_cat, item_mult = keys // n_cat, keys % n_cat, mult.astype(np.int64)

    # Search the contracted core; every node id below becomes a slot (see exquisite.access.contraction).
    core = contract_chains(indptr, indices, weights)
    if core.entries.shape[0] >= 1 << 31:
        raise ValueError("graph too large: the core has more than 2**31 entries")
    slot_row = node_row[core.slot_node]
    item_slot = core.node_slot[item_node]
    from_destinations = np.unique(item_node).shape[0] <= targets.shape[0]
    if from_destinations:
        # A lane per destination node with all its items, neighbours together in a batch, whatever their
        # categories: the closer a batch's roots, the fewer nodes its searches expand (×10 benchmark graph:
        # 16 % fewer than with a category's items in batches of their own).
        order = _neighbours_together(core, item_slot)
        root, cat, weight = item_slot[order], item_cat[order], item_mult[order]
        first = np.flatnonzero(np.r_[True, root[1:] != root[:-1]])
        lanes = _Lanes(root[first], np.full(first.shape[0], -1), np.r_[first, root.shape[0]], cat, weight)
        slot_item_ptr = np.zeros(1, dtype=np.int64)
    else:
        # A lane per target, neighbours together.
        target_slot = core.node_slot[targets]
        order = _neighbours_together(core, target_slot)
        n_lanes = order.shape[0]
        lanes = _Lanes(
            target_slot[order],
            order.astype(np.int64),
            np.arange(n_lanes + 1),
            np.zeros(n_lanes, dtype=np.int64),
            np.ones(n_lanes, dtype=np.int64),
        )
        order = np.argsort(item_slot, kind="stable")
        item_cat, item_mult = item_cat[order], item_mult[order]
        slot_item_ptr = np.zeros(n_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(item_slot, minlength=n_nodes), out=slot_item_ptr[1:])
    # With most nodes targets, count by slot (no look-up per reached node) and pick the targets after.
    by_slot = from_destinations and 2 * targets.shape[0] >= n_nodes
    targets_info = _Targets(
        from_destinations, by_slot, slot_row, slot_item_ptr, item_cat, item_mult, thresholds
    )
    return _tally(
        core,
        targets_info,
        lanes,
        _batches(lanes.slot.shape[0]),
        slot_row if by_slot else np.arange(targets.shape[0]),
        targets.shape[0],
        int(n_categories),
        numba.get_num_threads(),
    )


def _as_csr(
    indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CSR arrays with the dtypes the kernels are compiled for."""
    return (
        np.ascontiguousarray(indptr, dtype=np.int64),
        np.ascontiguousarray(indices, dtype=np.int64),
        np.ascontiguousarray(weights, dtype=np.float64),
    )
