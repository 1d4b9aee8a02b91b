"""The counting kernel over the chain-contracted core against SciPy's Dijkstra, exactly.

The graphs are made of what contraction has to get right: chains between junctions, a root or targets on
chains, pendant paths, chains from a junction back to itself, parallel edges and parallel chains,
zero-length edges, self-loops, a pure cycle, a bare path, isolated nodes — and distances that fall exactly
on a threshold (lengths in halves of a metre add up exactly), or within rounding of one (branching dead-end
trees with lengths in tenths of a metre, whose sums depend on the order they are added in).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from exquisite.access.contraction import LINK_LOOP, LINK_PENDANT, contract_chains
from exquisite.access.kernels import counts_within, multi_source_distances
from exquisite.network.build import csr_from_edges


def _graph(edges: list[tuple[int, int, float]], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u, v, w = (np.array(c) for c in zip(*edges, strict=True))
    indptr, indices, weights, _ = csr_from_edges(u.astype(np.int64), v.astype(np.int64), w.astype(float), n)
    return indptr, indices, weights


def _reference_distances(indptr, indices, weights, sources) -> np.ndarray:
    """SciPy's Dijkstra on the graph with the shortest of parallel edges and no self-loops."""
    n = indptr.shape[0] - 1
    src = np.repeat(np.arange(n), np.diff(indptr))
    keep = src != indices
    src, dst, w = src[keep], indices[keep], weights[keep]
    order = np.lexsort((w, dst, src))  # for each (src, dst), the shortest first
    src, dst, w = src[order], dst[order], w[order]
    first = np.r_[True, (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])]
    graph = sp.csr_matrix((w[first], (src[first], dst[first])), shape=(n, n))  # explicit zeros stay edges
    return dijkstra(graph, indices=np.asarray(sources))


def _reference_counts(indptr, indices, weights, dest_nodes, dest_cats, n_cat, thresholds, targets):
    n = indptr.shape[0] - 1
    targets = np.arange(n) if targets is None else np.asarray(targets)
    nodes = np.unique(dest_nodes)
    dist = _reference_distances(indptr, indices, weights, nodes)
    row = {node: i for i, node in enumerate(nodes)}
    out = np.zeros((targets.shape[0], n_cat, len(thresholds)), dtype=np.int32)
    for node, cat in zip(dest_nodes, dest_cats, strict=True):
        d = dist[row[node]][targets]
        for k, threshold in enumerate(thresholds):
            out[:, cat, k] += d <= threshold
    return out


def _check(indptr, indices, weights, dest_nodes, dest_cats, n_cat, thresholds, targets=None):
    got = counts_within(indptr, indices, weights, dest_nodes, dest_cats, n_cat, thresholds, targets)
    want = _reference_counts(indptr, indices, weights, dest_nodes, dest_cats, n_cat, thresholds, targets)
    assert got.dtype == np.int32
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def _handmade() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Junctions 0, 1, 2 (a triangle of chains) and every special case hanging off or beside them."""
    edges = [
        # chain 0 – 3 – 4 – 5 – 1 (with a zero-length edge inside)
        (0, 3, 1.5),
        (3, 4, 0.0),
        (4, 5, 2.0),
        (5, 1, 1.0),
        # a parallel chain 0 – 6 – 1, and a plain edge 1 – 2 with a parallel twin
        (0, 6, 2.5),
        (6, 1, 2.5),
        (1, 2, 3.0),
        (1, 2, 4.5),
        # chain 2 – 7 – 0
        (2, 7, 1.0),
        (7, 0, 2.0),
        # a pendant path 2 – 8 – 9 – 10 (dead end at 10)
        (2, 8, 1.0),
        (8, 9, 1.5),
        (9, 10, 0.5),
        # a loop 0 – 11 – 12 – 0, and a one-node loop 1 – 13 – 1 over two parallel edges
        (0, 11, 1.0),
        (11, 12, 1.0),
        (12, 0, 2.0),
        (1, 13, 0.5),
        (13, 1, 1.5),
        # a degree-2 node with a self-loop (so it stays a core node) on a chain 2 – 14 – 15 – 1
        (2, 14, 1.0),
        (14, 14, 0.5),
        (14, 15, 1.0),
        (15, 1, 1.0),
        # a pendant single node, and a junction with a zero-length edge to it
        (0, 16, 0.5),
        (1, 17, 0.0),
        # a pure cycle 18 – 19 – 20 – 18, a bare path 21 – 22 – 23, a single edge 24 – 25
        (18, 19, 1.0),
        (19, 20, 2.0),
        (20, 18, 1.5),
        (21, 22, 1.0),
        (22, 23, 2.5),
        (24, 25, 3.0),
        # node 26 is isolated; node 27 has only a self-loop
        (27, 27, 1.0),
    ]
    return _graph(edges, 28)


def test_contraction_covers_every_node_once() -> None:
    indptr, indices, weights = _handmade()
    core = contract_chains(indptr, indices, weights)
    n = indptr.shape[0] - 1
    np.testing.assert_array_equal(np.sort(core.slot_node), np.arange(n))
    np.testing.assert_array_equal(core.node_slot[core.slot_node], np.arange(n))
    degree = np.diff(indptr)
    core_nodes = set(core.slot_node[: core.n_core].tolist())
    assert {0, 1, 2, 14, 26, 27} <= core_nodes  # junctions, the self-loop, the isolated nodes
    assert not {3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17} & core_nodes
    assert all(degree[v] != 2 or v in core_nodes or v not in (0, 1, 2) for v in range(n))
    # each component without a junction got exactly one core node
    assert len(core_nodes & {18, 19, 20}) == 1
    assert len(core_nodes & {21, 22, 23}) == 1
    assert len(core_nodes & {24, 25}) == 1
    kinds = core.entries[:-1, 2][core.entries[:-1, 2] >= 0] & 3
    assert (kinds == LINK_PENDANT).any()
    assert (kinds == LINK_LOOP).any()
    assert core.slot_chain.shape[0] == n - core.n_core


@pytest.mark.parametrize("thresholds", [[1.0, 2.5, 4.0], [0.0, 3.5], [6.0]])
def test_handmade_every_root_and_target(thresholds: list[float]) -> None:
    indptr, indices, weights = _handmade()
    n = indptr.shape[0] - 1
    dest_nodes = np.arange(n)  # a destination on every node: roots in chains, loops, pendant paths …
    dest_cats = np.arange(n) % 3
    _check(indptr, indices, weights, dest_nodes, dest_cats, 3, thresholds)


def test_handmade_from_targets_on_chains() -> None:
    indptr, indices, weights = _handmade()
    n = indptr.shape[0] - 1
    dest_nodes = np.r_[np.arange(n), [4, 4, 9, 12, 13]]  # more destinations than targets; shared nodes
    dest_cats = np.arange(dest_nodes.shape[0]) % 2
    targets = np.array([4, 5, 9, 10, 12, 13, 16, 17, 19, 22, 26])  # mostly chain nodes
    _check(indptr, indices, weights, dest_nodes, dest_cats, 2, [1.0, 2.5, 5.0], targets)


def test_handmade_few_targets_from_destinations() -> None:
    indptr, indices, weights = _handmade()
    dest_nodes = np.array([3, 9, 11, 20])
    dest_cats = np.array([0, 1, 1, 0])
    targets = np.array([0, 4, 5, 6, 7, 8, 10, 11, 12, 13, 18, 19, 20, 23])  # fewer than half the nodes
    _check(indptr, indices, weights, dest_nodes, dest_cats, 2, [1.0, 2.0, 3.5], targets)


def _random_network(seed: int, n_junctions: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random street-like graph: junction edges split into chains, with pendant paths and oddities."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (n_junctions, 2))
    edges: list[tuple[int, int, float]] = []
    n = n_junctions

    def add_chain(a: int, b: int, length: float) -> None:
        nonlocal n
        cuts = np.sort(rng.uniform(0, length, rng.integers(0, 4)))
        stops = [a, *range(n, n + cuts.shape[0]), b]
        n += cuts.shape[0]
        offsets = np.r_[0.0, cuts, length]
        if rng.random() < 0.5:  # lengths in halves of a metre: sums are exact, ties at thresholds happen
            offsets = np.round(offsets * 2) / 2
        for s, t, d in zip(stops[:-1], stops[1:], np.diff(offsets), strict=True):
            edges.append((s, t, float(d)))

    for a in range(n_junctions):
        near = np.argsort(np.hypot(*(xy - xy[a]).T))[1:4]
        for b in near:
            if a < b or rng.random() < 0.1:  # a few parallel streets
                add_chain(a, int(b), float(np.hypot(*(xy[a] - xy[b]))) * rng.uniform(1, 1.3))
    for _ in range(n_junctions // 4):  # pendant paths
        a = int(rng.integers(n_junctions))
        for _ in range(int(rng.integers(1, 4))):
            edges.append((a, n, float(rng.integers(0, 20)) / 2))
            a, n = n, n + 1
    for _ in range(5):  # loops back to a junction, zero-length edges, self-loops
        a = int(rng.integers(n_junctions))
        edges += [(a, n, 3.0), (n, n + 1, 0.0), (n + 1, a, 4.5)]
        n += 2
        edges.append((int(rng.integers(n)), int(rng.integers(n)), 0.0))
        edges.append((int(rng.integers(n)), int(rng.integers(n)), 0.0))
        c = int(rng.integers(n))
        edges.append((c, c, 1.0))
    edges += [(n, n + 1, 2.0), (n + 1, n + 2, 2.0), (n + 2, n, 2.0)]  # a pure cycle
    n += 3
    return _graph(edges, n)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_networks(seed: int) -> None:
    indptr, indices, weights = _random_network(seed)
    n = indptr.shape[0] - 1
    rng = np.random.default_rng(100 + seed)
    thresholds = [10.0, 25.0, 40.0]
    dest_nodes = rng.integers(0, n, 60)
    dest_cats = rng.integers(0, 4, 60)
    _check(indptr, indices, weights, dest_nodes, dest_cats, 4, thresholds)  # from the destinations
    targets = rng.choice(n, 40, replace=False)
    _check(indptr, indices, weights, dest_nodes, dest_cats, 4, thresholds, targets)  # from the targets
    _check(indptr, indices, weights, dest_nodes[:10], dest_cats[:10], 4, thresholds, targets)


def test_ties_exactly_at_thresholds() -> None:
    # a long chain of unit lengths: each node lies exactly on some threshold from the root
    n = 40
    edges = [(i, i + 1, 1.0) for i in range(n - 1)] + [(0, n - 1, 50.0), (5, 20, 15.0), (20, 30, 10.0)]
    indptr, indices, weights = _graph(edges, n)
    thresholds = [3.0, 7.0, 15.0, 22.0]
    for root in (0, 2, 12, 25, 39):
        _check(indptr, indices, weights, np.array([root]), np.array([0]), 1, thresholds)


def test_no_destinations_and_nearest_unchanged() -> None:
    indptr, indices, weights = _handmade()
    n = indptr.shape[0] - 1
    empty = counts_within(indptr, indices, weights, np.empty(0, int), np.empty(0, int), 2, [1.0])
    assert empty.shape == (n, 2, 1)
    assert not empty.any()
    got = multi_source_distances(indptr, indices, weights, [np.array([3, 9]), np.array([26])], 5.0)
    want = _reference_distances(indptr, indices, weights, [3, 9]).min(axis=0)
    want[want > 5.0] = np.inf
    np.testing.assert_array_equal(got[:, 0], want)
    assert got[26, 1] == 0.0
    assert np.isinf(np.delete(got[:, 1], 26)).all()


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_counts_do_not_depend_on_threads_or_chunks(threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads take chunks of batches from a shared queue; the counts are the same whoever took which, and
    a search queue that starts too small grows."""
    import numba

    import exquisite.access.kernels as kernels

    indptr, indices, weights = _random_network(7)
    n = indptr.shape[0] - 1
    rng = np.random.default_rng(7)
    dest_nodes = rng.integers(0, n, 120)
    dest_cats = rng.integers(0, 3, 120)
    thresholds = [10.0, 25.0, 40.0]
    want = _reference_counts(indptr, indices, weights, dest_nodes, dest_cats, 3, thresholds, None)
    monkeypatch.setattr(kernels, "_CHUNKS_PER_THREAD", 10_000)  # chunks of one batch
    monkeypatch.setattr(kernels, "_QUEUE_PER_CORE_NODE", 0)  # queues that must grow
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        got = counts_within(indptr, indices, weights, dest_nodes, dest_cats, 3, thresholds)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n_thresholds", [1, 3, 12])
def test_counts_with_categories_sharing_batches(n_thresholds: int) -> None:
    """A batch holds lanes of every category, a node twice when it has destinations of two (each lane
    counted in its own category and bin); the counts are right for one, a few or many thresholds."""
    indptr, indices, weights = _random_network(11)
    n = indptr.shape[0] - 1
    rng = np.random.default_rng(11)
    dest_nodes = rng.integers(0, n, 90)
    dest_cats = rng.integers(0, 5, 90)
    dest_cats[:3] = 4  # (and one category with a node twice)
    dest_nodes[1] = dest_nodes[0]
    dest_nodes[3], dest_cats[3] = dest_nodes[0], 2  # a node with destinations of two categories
    thresholds = np.linspace(45.0 / n_thresholds, 45.0, n_thresholds)
    want = _reference_counts(indptr, indices, weights, dest_nodes, dest_cats, 6, thresholds, None)
    got = counts_within(indptr, indices, weights, dest_nodes, dest_cats, 6, thresholds)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("n_categories", "thresholds"), [(2, [15.0, 40.0]), (9, [10.0, 15.0, 25.0, 40.0, 60.0])]
)
def test_counts_of_destinations_stacked_on_nodes(n_categories: int, thresholds: list[float]) -> None:
    """Several destinations of a category on one node make one lane of that weight; a weight is counted
    bit by bit (two categories × two thresholds: a row of counts at once) or lane by lane (nine × five: too
    many counts for that)."""
    indptr, indices, weights = _random_network(13)
    n = indptr.shape[0] - 1
    rng = np.random.default_rng(13)
    nodes = rng.integers(0, n, 12)
    dest_nodes = np.repeat(nodes, rng.integers(1, 8, 12))  # up to seven on a node: three bits
    dest_cats = rng.integers(0, n_categories, dest_nodes.shape[0])
    want = _reference_counts(indptr, indices, weights, dest_nodes, dest_cats, n_categories, thresholds, None)
    got = counts_within(indptr, indices, weights, dest_nodes, dest_cats, n_categories, thresholds)
    np.testing.assert_array_equal(got, want)
    assert got.max() >= 4  # stacked destinations were counted within reach


def test_nearest_search_queue_grows_and_cutoff_is_checked() -> None:
    """A search whose queue starts too small gets a larger one, with the same distances; an infinite or
    negative cutoff is refused with a clear message."""
    from exquisite.access.kernels import _bounded_dijkstra, _bucket_width, _scratch

    indptr, indices, weights = _random_network(5)
    n = indptr.shape[0] - 1
    roots = np.array([0, 7, 7, 31])
    want = _reference_distances(indptr, indices, weights, roots).min(axis=0)
    want[want > 60.0] = np.inf
    dist, head, _, touched = _scratch(n, indices.shape[0], 60.0, _bucket_width(60.0))
    tiny = np.empty((1, 2), dtype=np.int64)
    k = _bounded_dijkstra(
        indptr, indices, weights, roots, 60.0, _bucket_width(60.0), dist, head, tiny, touched
    )
    np.testing.assert_array_equal(dist, want)
    assert sorted(touched[:k]) == sorted(np.flatnonzero(np.isfinite(want)))
    assert (head == -1).all()
    for bad in (np.inf, -1.0):
        with pytest.raises(ValueError, match="cutoff must be a finite distance"):
            multi_source_distances(indptr, indices, weights, [roots], bad)


@pytest.mark.parametrize("thresholds", [[], [20.0, 10.0], [10.0, 10.0], [10.0, np.inf], [np.nan]])
def test_counts_refuse_thresholds_that_are_not_ascending_finite_distances(thresholds: list[float]) -> None:
    """Empty, unordered, repeated, infinite or NaN thresholds get one clear message, before any search."""
    indptr, indices, weights = _random_network(3)
    with pytest.raises(ValueError, match="strictly ascending sequence of finite distances"):
        counts_within(indptr, indices, weights, np.array([0, 5]), np.array([0, 1]), 2, thresholds)


def _tree_network(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A cycle of junctions with branching dead-end trees (lengths in tenths of a metre, whose sums round
    differently in different orders), hanging off junctions, chain nodes and each other; parallel edges and
    a self-loop inside the trees, and a component that is a tree alone."""
    rng = np.random.default_rng(seed)
    lengths = [0.0, 0.1, 0.2, 0.3, 0.7, 1.1]
    edges = [(i, (i + 1) % 6, float(rng.choice(lengths[1:]))) for i in range(6)] + [(0, 3, 0.9)]
    n = 6
    for _ in range(40):
        parent = int(rng.integers(n))
        w = float(rng.choice(lengths))
        edges.append((parent, n, w))
        if rng.random() < 0.1:
            edges.append((n, parent, w + 0.1))  # a longer parallel edge
        if rng.random() < 0.05:
            edges.append((n, n, 0.1))
        n += 1
    tree = n
    edges += [(tree + int(rng.integers(i)), tree + i, float(rng.choice(lengths))) for i in range(1, 6)]
    return _graph(edges, tree + 6)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_dead_end_trees(seed: int) -> None:
    indptr, indices, weights = _tree_network(seed)
    n = indptr.shape[0] - 1
    thresholds = [0.3, 0.6, 0.9, 1.0, 1.5]
    dest_nodes = np.arange(n)  # roots in every tree, at every depth
    _check(indptr, indices, weights, dest_nodes, np.arange(n) % 2, 2, thresholds)
    # From the targets (fewer than the destination nodes): each distance is summed from the target, which
    # in tenths of a metre may round otherwise than from the destination, so the reference is from them too.
    targets = np.random.default_rng(seed).choice(n, 12, replace=False)
    got = counts_within(indptr, indices, weights, dest_nodes, np.arange(n) % 2, 2, thresholds, targets)
    dist = _reference_distances(indptr, indices, weights, targets)
    want = np.stack([(dist[:, c::2, None] <= thresholds).sum(axis=1) for c in range(2)], axis=1)
    np.testing.assert_array_equal(got, want)
