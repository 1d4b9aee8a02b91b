"""The four engines of the access benchmark, each behind the same small interface.

Every engine receives the same :class:`~tiling.BenchGraph` (nodes, undirected edges with lengths, origins,
destinations as nodes with a category) and answers two tasks for every origin:

* ``nearest`` — distance to the nearest destination of each category, ``inf`` beyond the cutoff;
* ``counts`` — number of destinations of each category within each threshold (inclusive).

An engine's ``prepare`` turns the shared arrays into the engine's own structure (a pandana ``Network``, a
cityseer ``NetworkStructure`` + ``DataMap``, a SciPy sparse matrix); ours reads the CSR arrays as they are.
cityseer answers both tasks in one traversal (``nearest+counts``).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from tiling import BenchGraph

CUTOFF_M = 1200.0
THRESHOLDS_M = (400.0, 800.0, 1200.0)


class Engine:
    """One engine: ``prepare`` once, then ``nearest`` / ``counts`` (or ``both``) as often as timed.

    Parameters
    ----------
    graph
        The shared benchmark graph.
    cutoff
        Largest distance searched for the nearest destination, metres.
    thresholds
        Count thresholds in metres, ascending; the last one bounds the count searches.
    """

    name: ClassVar[str] = ""
    #: Tasks the engine answers: ``("nearest", "counts")`` or ``("nearest+counts",)``.
    tasks: ClassVar[tuple[str, ...]] = ("nearest", "counts")

    def __init__(
        self, graph: BenchGraph, cutoff: float = CUTOFF_M, thresholds: tuple[float, ...] = THRESHOLDS_M
    ) -> None:
        self.graph = graph
        self.cutoff = float(cutoff)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.origins = graph.origins
        self.n_cat = len(graph.categories)

    def prepare(self) -> None:
        """Build the engine's own structure from the shared arrays (timed as the ``prepare`` task)."""

    def nearest(self) -> np.ndarray:
        """Nearest distance, shape ``(n_origins, n_categories)``, ``inf`` beyond the cutoff."""
        raise NotImplementedError

    def counts(self) -> np.ndarray:
        """Counts, shape ``(n_origins, n_categories, n_thresholds)``, ``int32``."""
        raise NotImplementedError

    def both(self) -> tuple[np.ndarray, np.ndarray]:
        """Nearest and counts from one call (engines that compute them together)."""
        return self.nearest(), self.counts()

    def reset(self, task: str) -> None:
        """Untimed set-up before each timed run of ``task`` (a fresh structure when a run leaves state)."""

    def run(self, task: str) -> dict[str, np.ndarray]:
        """Run one task by name; return its arrays keyed ``nearest`` / ``counts``."""
        if task == "prepare":
            self.prepare()
            return {}
        if task == "nearest":
            return {"nearest": self.nearest()}
        if task == "counts":
            return {"counts": self.counts()}
        if task == "nearest+counts":
            nearest, counts = self.both()
            return {"nearest": nearest, "counts": counts}
        raise ValueError(f"unknown task {task!r}")

    def _groups(self) -> list[np.ndarray]:
        """Destination nodes of each category (with repeats when several share a node)."""
        g = self.graph
        return [g.dest_node[g.dest_cat == c] for c in range(self.n_cat)]


class Ours(Engine):
    """This project's Numba kernels (:mod:`exquisite.access.kernels`) on the CSR arrays."""

    name = "exquisite"

    def prepare(self) -> None:
        """Nothing to build: the kernels read the CSR adjacency (made outside the timing, as for SciPy)."""

    def __init__(self, graph: BenchGraph, *args: Any, **kwargs: Any) -> None:
        super().__init__(graph, *args, **kwargs)
        self.indptr, self.indices, self.weights = graph.csr()

    def nearest(self) -> np.ndarray:
        from exquisite.access.kernels import multi_source_distances

        return multi_source_distances(
            self.indptr, self.indices, self.weights, self._groups(), self.cutoff, targets=self.origins
        )

    def counts(self) -> np.ndarray:
        from exquisite.access.kernels import counts_within

        g = self.graph
        return counts_within(
            self.indptr,
            self.indices,
            self.weights,
            g.dest_node,
            g.dest_cat,
            self.n_cat,
            np.asarray(self.thresholds),
            targets=self.origins,
        )


class Scipy(Engine):
    """``scipy.sparse.csgraph.dijkstra``: one multi-source search per category for nearest; for counts,
    bounded searches from the destinations of each grid cell, restricted to the sub-network within the
    cutoff (straight line) of the cell — the method behind the SciPy figures of benchmarks.md. The
    reference for every other engine.
    """

    name = "scipy"
    #: Side of the grid cells that group destinations for the count searches, metres.
    cell_m: ClassVar[float] = 400.0

    def __init__(self, graph: BenchGraph, *args: Any, **kwargs: Any) -> None:
        super().__init__(graph, *args, **kwargs)
        self.indptr, self.indices, self.weights = graph.csr()
        self.matrix: Any = None

    def prepare(self) -> None:
        """A CSR matrix with parallel edges reduced to the shortest (SciPy would add duplicates up) and
        zero lengths lifted to 1e-9 m (an explicit zero could be dropped as "no edge")."""
        import scipy.sparse as sp

        n = self.graph.n_nodes
        src = np.repeat(np.arange(n, dtype=np.int64), np.diff(self.indptr))
        dst = self.indices
        # entries are sorted by (src, dst): keep the minimum weight of each run of equal pairs
        start = np.r_[True, (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])]
        first = np.flatnonzero(start)
        w = np.minimum.reduceat(self.weights, first) if first.size else self.weights
        w = np.maximum(w, 1e-9)
        self.matrix = sp.csr_matrix((w, (src[first], dst[first])), shape=(n, n))

    def nearest(self) -> np.ndarray:
        from scipy.sparse.csgraph import dijkstra

        out = np.full((self.origins.shape[0], self.n_cat), np.inf)
        for c, nodes in enumerate(self._groups()):
            if nodes.size:
                dist = dijkstra(
                    self.matrix, directed=True, indices=np.unique(nodes), min_only=True, limit=self.cutoff
                )
                out[:, c] = dist[self.origins]
        return out

    def counts(self) -> np.ndarray:
        from scipy.sparse.csgraph import dijkstra
        from scipy.spatial import cKDTree

        g = self.graph
        limit = self.thresholds[-1]
        thr = np.asarray(self.thresholds)
        # (node, category) multiplicities
        pairs, mult = np.unique(np.column_stack([g.dest_node, g.dest_cat]), axis=0, return_counts=True)
        nodes = np.unique(pairs[:, 0])
        weight = np.zeros((nodes.shape[0], self.n_cat))
        np.add.at(weight, (np.searchsorted(nodes, pairs[:, 0]), pairs[:, 1]), mult)
        cell = np.floor(np.column_stack([g.node_x[nodes], g.node_y[nodes]]) / self.cell_m).astype(np.int64)
        _, cell_id = np.unique(cell, axis=0, return_inverse=True)
        cell_id = cell_id.reshape(-1)
        tree = cKDTree(np.column_stack([g.node_x, g.node_y]))
        total = np.zeros((g.n_nodes, self.n_cat, thr.shape[0]))
        for cid in range(int(cell_id.max()) + 1):
            members = np.flatnonzero(cell_id == cid)
            mx, my = g.node_x[nodes[members]], g.node_y[nodes[members]]
            cx, cy = (mx.min() + mx.max()) / 2, (my.min() + my.max()) / 2
            radius = np.hypot(mx.max() - mx.min(), my.max() - my.min()) / 2 + limit + 1.0
            sub = np.sort(np.asarray(tree.query_ball_point([cx, cy], radius), dtype=np.int64))
            local = self.matrix[sub][:, sub]
            roots = np.searchsorted(sub, nodes[members])
            dist = dijkstra(local, directed=True, indices=roots, limit=limit)  # (k, n_sub)
            for k, t in enumerate(thr):
                total[sub, :, k] += (dist <= t).T.astype(np.float64) @ weight[members]
        return total[self.origins].astype(np.int32)


class Pandana(Engine):
    """pandana 0.8: contraction hierarchies; ``nearest_pois`` for nearest, ``precompute`` + ``aggregate``
    (``type="count"``, ``decay="flat"``) per category and threshold for counts.

    POIs are given by coordinates (``set_pois`` maps them to the nearest node, as a pandana user would);
    the count variables by node id (``set``).
    """

    name = "pandana"

    def __init__(self, graph: BenchGraph, *args: Any, **kwargs: Any) -> None:
        super().__init__(graph, *args, **kwargs)
        self.net: Any = None
        self._calls = 0

    def prepare(self) -> None:
        import pandana
        import pandas as pd

        g = self.graph
        self.net = None  # free the previous run's network before building the next
        self.net = pandana.Network(
            pd.Series(g.node_x),
            pd.Series(g.node_y),
            pd.Series(g.edge_u),
            pd.Series(g.edge_v),
            pd.DataFrame({"length": g.edge_w}),
            twoway=True,
        )

    def reset(self, task: str) -> None:
        """A fresh network before each counts run: ``precompute`` on a network that has already run it
        appends to the stored ranges, and the counts of the next run come out doubled."""
        if task == "counts" and self._calls:
            self.prepare()

    def nearest(self) -> np.ndarray:
        import pandas as pd

        g = self.graph
        out = np.full((self.origins.shape[0], self.n_cat), np.inf)
        self._calls += 1
        for c, nodes in enumerate(self._groups()):
            if nodes.size == 0:
                continue
            name = f"cat{c}_{self._calls}"  # a fresh category per run, as for counts
            self.net.set_pois(name, self.cutoff, 1, pd.Series(g.node_x[nodes]), pd.Series(g.node_y[nodes]))
            res = self.net.nearest_pois(self.cutoff, name, num_pois=1, max_distance=np.inf)
            out[:, c] = res[1].to_numpy()[self.origins]
        return out

    def counts(self) -> np.ndarray:
        import pandas as pd

        out = np.zeros((self.origins.shape[0], self.n_cat, len(self.thresholds)), dtype=np.int32)
        self._calls += 1
        self.net.precompute(self.thresholds[-1])  # part of the counts' cost: timed here
        for c, nodes in enumerate(self._groups()):
            if nodes.size == 0:
                continue
            # set() under an existing name adds to the old values: a fresh name for every run
            name = f"count{c}_{self._calls}"
            self.net.set(pd.Series(nodes), variable=pd.Series(np.ones(nodes.shape[0])), name=name)
            for k, t in enumerate(self.thresholds):
                res = self.net.aggregate(t, type="count", decay="flat", name=name)
                out[:, c, k] = np.rint(res.to_numpy()[self.origins]).astype(np.int32)
        return out


class Cityseer(Engine):
    """cityseer 5.8 (Rust): ``DataMap.accessibility`` gives counts and the nearest distance per category
    and threshold in one traversal from every live node (origins live, inserted points not).

    cityseer measures an edge by its geometry, so each edge gets a polyline of exactly its length: the
    straight segment when the length equals the straight-line distance, otherwise a two-segment "tent"
    between its end nodes. Destinations are points at their node's coordinates, assigned by cityseer's own
    ``assign_data_to_network`` (nearest edge).
    """

    name = "cityseer"
    tasks = ("nearest+counts",)

    def __init__(self, graph: BenchGraph, *args: Any, **kwargs: Any) -> None:
        super().__init__(graph, *args, **kwargs)
        self.structure: Any = None
        self.data_map: Any = None
        self.landuses: dict[int, str] = {}

    def prepare(self) -> None:
        from cityseer import rustalgos

        g = self.graph
        self.structure = self.data_map = None  # free the previous run's structures first
        ns = rustalgos.graph.NetworkStructure()
        live = g.is_network_node
        for i in range(g.n_nodes):
            ns.add_street_node(i, float(g.node_x[i]), float(g.node_y[i]), bool(live[i]), 1.0)
        seen: dict[tuple[int, int], int] = {}
        for e, wkt in enumerate(edge_wkts(g)):
            u, v = int(g.edge_u[e]), int(g.edge_v[e])
            key = (min(u, v), max(u, v))
            k = seen.get(key, 0)
            seen[key] = k + 1
            ns.add_street_edge(u, v, k, u, v, wkt)
            ns.add_street_edge(v, u, k, v, u, _reverse_wkt(wkt))
        ns.build_edge_rtree()
        dm = rustalgos.data.DataMap()
        for d in range(g.dest_node.shape[0]):
            n = g.dest_node[d]
            dm.insert(d, f"POINT ({float(g.node_x[n])!r} {float(g.node_y[n])!r})")
        dm.assign_data_to_network(ns, 100.0, 50)
        self.structure, self.data_map = ns, dm
        self.landuses = {d: g.categories[c] for d, c in enumerate(g.dest_cat.tolist())}

    def both(self) -> tuple[np.ndarray, np.ndarray]:
        distances = [round(t) for t in self.thresholds]
        res = self.data_map.accessibility(
            self.structure,
            self.landuses,
            list(self.graph.categories),
            distances=distances,
            pbar_disabled=True,
        )
        row_of = np.full(self.graph.n_nodes, -1, dtype=np.int64)
        row_of[np.asarray(res.node_indices, dtype=np.int64)] = np.arange(len(res.node_indices))
        rows = row_of[self.origins]
        nearest = np.full((self.origins.shape[0], self.n_cat), np.inf)
        counts = np.zeros((self.origins.shape[0], self.n_cat, len(distances)), dtype=np.int32)
        for c, cat in enumerate(self.graph.categories):
            if cat not in res.result:
                continue
            acc = res.result[cat]
            d = np.asarray(acc.distance[distances[-1]], dtype=np.float64)[rows]
            nearest[:, c] = np.where(np.isfinite(d) & (d <= self.cutoff), d, np.inf)
            for k, t in enumerate(distances):
                counts[:, c, k] = np.nan_to_num(np.asarray(acc.count[t], dtype=np.float64)[rows]).astype(
                    np.int32
                )
        return nearest, counts


def edge_wkts(graph: BenchGraph) -> list[str]:
    """A WKT polyline of exactly each edge's length between its end nodes (straight or a two-segment tent)."""
    ux, uy = graph.node_x[graph.edge_u], graph.node_y[graph.edge_u]
    vx, vy = graph.node_x[graph.edge_v], graph.node_y[graph.edge_v]
    dx, dy = vx - ux, vy - uy
    d = np.hypot(dx, dy)
    w = graph.edge_w
    tent = w > d * (1 + 1e-9) + 1e-9
    h = np.sqrt(np.maximum((w / 2) ** 2 - (d / 2) ** 2, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        nx_ = np.where(d > 0, -dy / d, 0.0)
        ny_ = np.where(d > 0, dx / d, 1.0)
    ax, ay = (ux + vx) / 2 + h * nx_, (uy + vy) / 2 + h * ny_
    out = []
    rows = zip(
        tent.tolist(),
        ux.tolist(),
        uy.tolist(),
        ax.tolist(),
        ay.tolist(),
        vx.tolist(),
        vy.tolist(),
        strict=True,
    )
    for is_tent, x0, y0, x1, y1, x2, y2 in rows:
        if is_tent:
            out.append(f"LINESTRING ({x0!r} {y0!r}, {x1!r} {y1!r}, {x2!r} {y2!r})")
        else:
            out.append(f"LINESTRING ({x0!r} {y0!r}, {x2!r} {y2!r})")
    return out


def _reverse_wkt(wkt: str) -> str:
    inner = wkt[len("LINESTRING (") : -1]
    return "LINESTRING (" + ", ".join(reversed(inner.split(", "))) + ")"


ENGINES: dict[str, type[Engine]] = {e.name: e for e in (Ours, Pandana, Cityseer, Scipy)}


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    """Wall-clock seconds of one call, and its result."""
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out
