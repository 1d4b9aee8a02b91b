"""The access benchmark's harness: tiling per benchmarks.md, and every engine's answers on a tiny network."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from peers import ENGINES, Scipy  # noqa: E402
from tiling import BenchGraph, tile  # noqa: E402


def _square() -> BenchGraph:
    """A 100 m square with a tail; node 4 is an inserted destination point on edge 0–1."""
    x = np.array([0.0, 100.0, 100.0, 0.0, 50.0])
    y = np.array([0.0, 10.0, 100.0, 90.0, 5.0])
    u = np.array([0, 4, 1, 2, 3])
    v = np.array([4, 1, 2, 3, 0])
    w = np.hypot(x[u] - x[v], y[u] - y[v])
    return BenchGraph(
        x,
        y,
        u,
        v,
        w,
        np.array([True, True, True, True, False]),
        np.array([4, 2]),
        np.array([0, 1]),
        ("a", "b"),
    )


def _grid(seed: int = 1, n: int = 12, spacing: float = 70.0) -> BenchGraph:
    """A jittered grid with missing links, curved (longer than straight) edges and random destinations."""
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(np.arange(n) * spacing, np.arange(n) * spacing)
    x = gx.ravel() + rng.uniform(-8, 8, n * n)
    y = gy.ravel() + rng.uniform(-8, 8, n * n)
    idx = np.arange(n * n).reshape(n, n)
    u = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()]
    v = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()]
    keep = rng.random(u.size) > 0.1
    u, v = u[keep], v[keep]
    w = np.hypot(x[u] - x[v], y[u] - y[v]) * rng.uniform(1.0, 1.3, u.size)
    is_net = np.ones(n * n, dtype=bool)
    is_net[rng.choice(n * n, 10, replace=False)] = False
    dest = rng.choice(n * n, 30)
    return BenchGraph(x, y, u, v, w, is_net, dest, rng.integers(0, 3, 30), ("a", "b", "c"))


def test_tile_copies_and_joins_neighbours() -> None:
    g = _square()
    t = tile(g, 2, 1)
    assert t.n_nodes == 2 * g.n_nodes
    assert t.is_network_node.sum() == 2 * g.is_network_node.sum()
    # copy 1 is shifted by the width of the network nodes (100 m), not moved vertically
    np.testing.assert_allclose(t.node_x[5:], g.node_x + 100.0)
    np.testing.assert_allclose(t.node_y[5:], g.node_y)
    # destinations are copied with their tile
    np.testing.assert_array_equal(t.dest_node, [4, 2, 9, 7])
    np.testing.assert_array_equal(t.dest_cat, [0, 1, 0, 1])
    # join edges: the right side of copy 0 (nodes 1, 2) meets the left side of copy 1 (nodes 5, 8) at x=100
    joins = {
        (min(a, b), max(a, b)): w
        for a, b, w in zip(
            t.edge_u[2 * g.n_edges :], t.edge_v[2 * g.n_edges :], t.edge_w[2 * g.n_edges :], strict=True
        )
    }
    assert joins.keys() == {(1, 5), (2, 8)}
    assert joins[(1, 5)] == pytest.approx(10.0)  # (100, 10) to (100, 0)
    assert joins[(2, 8)] == pytest.approx(10.0)  # (100, 100) to (100, 90)
    # the inserted point (node 4) is never a border node, even within 40 m of the outline
    join_nodes = np.r_[t.edge_u[2 * g.n_edges :], t.edge_v[2 * g.n_edges :]]
    assert 4 not in join_nodes
    assert 9 not in join_nodes


def test_tile_grid_shape_and_csr() -> None:
    g = _grid()
    t = tile(g, 2, 5)
    assert t.n_nodes == 10 * g.n_nodes
    assert t.dest_node.shape[0] == 10 * g.dest_node.shape[0]
    assert np.all(t.dest_node // g.n_nodes == np.repeat(np.arange(10), g.dest_node.shape[0]))
    # tiles in the grid: 2 columns, 5 rows
    width = np.ptp(g.node_x[g.is_network_node])
    height = np.ptp(g.node_y[g.is_network_node])
    np.testing.assert_allclose(t.node_x[9 * g.n_nodes :], g.node_x + width)
    np.testing.assert_allclose(t.node_y[9 * g.n_nodes :], g.node_y + 4 * height)
    assert t.n_edges > 10 * g.n_edges  # some join edges
    indptr, _, weights = t.csr()
    assert indptr[-1] == 2 * t.n_edges
    assert np.all(weights > 0)
    # the graph is connected across tiles: a destination of tile 0 reaches the far tile
    s = Scipy(t)
    s.prepare()
    from scipy.sparse.csgraph import connected_components

    assert connected_components(s.matrix, directed=False)[0] == 1


def test_save_load_roundtrip(tmp_path: Path) -> None:
    g = tile(_grid(), 2, 1)
    g.save(tmp_path / "g.npz")
    h = BenchGraph.load(tmp_path / "g.npz")
    assert h.categories == g.categories
    for name in ("node_x", "edge_u", "edge_w", "is_network_node", "dest_node", "dest_cat"):
        np.testing.assert_array_equal(getattr(h, name), getattr(g, name))


@pytest.fixture(scope="module")
def tiny() -> tuple[BenchGraph, dict[str, np.ndarray], Scipy]:
    g = tile(_grid(), 2, 2)
    ref = Scipy(g)
    ref.prepare()
    return g, {"nearest": ref.nearest(), "counts": ref.counts()}, ref


def _counts_with_slack(g: BenchGraph, slack: float) -> np.ndarray:
    e = Scipy(g, thresholds=tuple(t + slack for t in (400.0, 800.0, 1200.0)))
    e.prepare()
    return e.counts()


@pytest.mark.parametrize("name", ["exquisite", "pandana", "cityseer"])
def test_engines_agree_with_scipy(tiny: tuple, name: str) -> None:
    if name != "exquisite":
        pytest.importorskip(name)
    g, ref, _ = tiny
    engine = ENGINES[name](g)
    engine.prepare()
    out: dict[str, np.ndarray] = {}
    for task in engine.tasks:
        out.update(engine.run(task))
    assert out["nearest"].shape == ref["nearest"].shape == (g.origins.shape[0], 3)
    assert out["counts"].shape == ref["counts"].shape == (g.origins.shape[0], 3, 3)
    np.testing.assert_array_equal(np.isfinite(out["nearest"]), np.isfinite(ref["nearest"]))
    both = np.isfinite(ref["nearest"])
    if name == "exquisite":
        np.testing.assert_allclose(out["nearest"][both], ref["nearest"][both], atol=1e-6)
        np.testing.assert_array_equal(out["counts"], ref["counts"])
    else:
        # pandana rounds distances (~0.01–0.1 m); cityseer uses 32-bit floats and whole seconds
        np.testing.assert_allclose(out["nearest"][both], ref["nearest"][both], atol=0.1)
        low, high = _counts_with_slack(g, -0.5), _counts_with_slack(g, 0.5)
        assert np.all((out["counts"] >= low) & (out["counts"] <= high))
    assert ref["counts"].sum() > 0


def test_pandana_counts_repeatable(tiny: tuple) -> None:
    """pandana's precompute appends to a network that already ran it: each timed run needs reset()."""
    pytest.importorskip("pandana")
    g, _, _ = tiny
    engine = ENGINES["pandana"](g)
    engine.prepare()
    first = engine.run("counts")["counts"]
    engine.reset("counts")
    second = engine.run("counts")["counts"]
    np.testing.assert_array_equal(first, second)
