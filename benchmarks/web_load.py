"""Load benchmark of the web API: "services near a point" under 20 concurrent clients, on loopback.

A uvicorn server (a subprocess, 127.0.0.1, a free port) serves a demo run folder with the app of
``exquisite serve`` (``exquisite.web.app:served_app``: indexes built and the GC frozen at start).
``--clients`` asyncio clients, each on its own keep-alive connection, then ask back to back for the
services near random points of the city — points on random streets, moved up to 30 m off them, with a
random walking profile — and, for one request in ten each, the access at a point and a place search. The
run stops after ``--seconds`` or ``--max-requests``, whichever comes first, after a warm-up.
The server's and the clients' CPU seconds are printed too, since a loaded machine slows the answers down.

Printed: a table of requests, errors, requests/s and latency p50/p95/p99 (ms) per endpoint, and whether the
goal of issue #4 — services near a point in ≤ 100 ms at p95 with 20 concurrent clients — is met.

Run ``python benchmarks/web_load.py`` (makes a demo run in a temporary folder first, ~40 s) or
``--runs runs/`` to serve existing runs; ``--json`` for the rows as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

HERE = Path(__file__).resolve().parent
GOAL_P95_MS = 100.0
GOAL_ENDPOINT = "services"
#: A few real names of the demo extract, some misspelt, some Chinese, for the place-search share of the load.
QUERIES = (
    "Mannerheimintie",
    "Aleksanterinkatu 52",
    "Kluuvin Aptekki",
    "市政厅",
    "Lidl",
    "Senaatintori",
    "katu",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _demo_runs(tmp: Path) -> Path:
    from exquisite.analysis import analyse
    from exquisite.demo import demo_region

    analyse(demo_region()).write(tmp / "helsinki-demo")
    return tmp


def _points(run_folder: Path, n: int, seed: int) -> list[tuple[float, float]]:
    """Points near random streets of the run (lon, lat): an edge, a point along it, up to 30 m off it."""
    import geopandas as gpd
    import pyproj
    import shapely

    edges = gpd.read_parquet(run_folder / "network.parquet")
    manifest = json.loads((run_folder / "manifest.json").read_text(encoding="utf-8"))
    west, south, east, north = manifest["parameters"]["boundary_wgs84_bounds"]
    to_wgs = pyproj.Transformer.from_crs(edges.crs, "EPSG:4326", always_xy=True)
    rng = np.random.default_rng(seed)
    out: list[tuple[float, float]] = []
    while len(out) < n:
        line = edges.geometry.iloc[int(rng.integers(len(edges)))]
        p = shapely.line_interpolate_point(line, float(rng.uniform(0, 1)), normalized=True)
        angle, r = rng.uniform(0, 2 * np.pi), rng.uniform(0, 30)
        lon, lat = to_wgs.transform(p.x + r * np.cos(angle), p.y + r * np.sin(angle))
        if west <= lon <= east and south <= lat <= north:
            out.append((round(float(lon), 6), round(float(lat), 6)))
    return out


class _Connection:
    """One keep-alive HTTP/1.1 connection: a light client, so that the load measures the server, not httpx.

    (httpx's async client costs about 6 ms of CPU per request with 20 connections on this machine, as much as
    the server; a bare asyncio stream costs a tenth of that.)
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, target: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode())
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
        }
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        else:  # chunked
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(p[:-2] for p in parts)
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def _load(
    host: str,
    port: int,
    run_id: str,
    points: list[tuple[float, float]],
    profiles: list[str],
    clients: int,
    seconds: float,
    max_requests: int,
) -> tuple[dict[str, list[float]], dict[str, int], float]:
    latencies: dict[str, list[float]] = {"services": [], "access": [], "places": []}
    errors = dict.fromkeys(latencies, 0)
    sent = 0
    deadline = time.perf_counter() + seconds

    async def client(k: int) -> None:
        nonlocal sent
        rnd = random.Random(k)
        conn = _Connection(host, port)
        try:
            while time.perf_counter() < deadline and sent < max_requests:
                sent += 1
                lon, lat = points[rnd.randrange(len(points))]
                pick = rnd.random()
                if pick < 0.8:
                    endpoint, params = "services", {"lat": lat, "lon": lon, "profile": rnd.choice(profiles)}
                elif pick < 0.9:
                    endpoint, params = "access", {"lat": lat, "lon": lon}
                else:
                    endpoint, params = "places", {"q": rnd.choice(QUERIES), "limit": 10}
                target = f"/api/runs/{run_id}/{endpoint}?{urlencode(params)}"
                t0 = time.perf_counter()
                try:
                    status, body = await conn.get(target)
                    ok = status == 200 and body[:1] in (b"{", b"[")
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    ok = False
                    await conn.close()
                latencies[endpoint].append((time.perf_counter() - t0) * 1000.0)
                if not ok:
                    errors[endpoint] += 1
        finally:
            await conn.close()

    t_start = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    return latencies, errors, time.perf_counter() - t_start


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children (uvicorn's workers), from /proc."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(_cpu_seconds(int(c)) for c in children)


def _wait_until_up(base: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    import httpx

    t_end = time.perf_counter() + timeout
    while time.perf_counter() < t_end:
        if proc.poll() is not None:
            raise SystemExit(f"uvicorn exited with status {proc.returncode}")
        try:
            if httpx.get(f"{base}/api/runs", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the server did not answer within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=Path, help="runs folder to serve (default: a fresh demo run in a temp dir)"
    )
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the load lasts (default 20)")
    parser.add_argument("--max-requests", type=int, default=50_000, help="stop after this many requests")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="uvicorn worker processes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="web-load-") as tmp:
        runs = args.runs or _demo_runs(Path(tmp))
        from exquisite.web.catalogue import RunCatalogue

        run = RunCatalogue(runs).latest()
        if run is None:
            raise SystemExit(f"no run folder under {runs}")
        points = _points(run.folder, 2000, args.seed)
        profiles = ["adult", "older", "child", "wheelchair"]
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        from exquisite.web.app import RUNS_ENV

        env = {**os.environ, RUNS_ENV: str(runs)}
        cmd = [
            sys.executable, "-m", "uvicorn", "exquisite.web.app:served_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers),
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, env=env)
        try:
            _wait_until_up(base, proc)
            # warm-up: every worker builds the run's finder and place index before the clock starts
            asyncio.run(_load("127.0.0.1", port, run.id, points, profiles, 2 * args.workers, 3.0, 200))
            load_before = os.getloadavg()[0]
            server0, client0 = _cpu_seconds(proc.pid), time.process_time()
            latencies, errors, elapsed = asyncio.run(
                _load(
                    "127.0.0.1", port, run.id, points, profiles, args.clients, args.seconds, args.max_requests
                )
            )
            server_cpu, client_cpu = _cpu_seconds(proc.pid) - server0, time.process_time() - client0
            load_after = os.getloadavg()[0]
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    rows = []
    for endpoint, values in latencies.items():
        if not values:
            continue
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        rows.append(
            {
                "endpoint": endpoint,
                "requests": len(values),
                "errors": errors[endpoint],
                "req_per_s": len(values) / elapsed,
                "p50_ms": float(p50),
                "p95_ms": float(p95),
                "p99_ms": float(p99),
            }
        )
    total = sum(r["requests"] for r in rows)
    goal = next((r for r in rows if r["endpoint"] == GOAL_ENDPOINT), None)
    met = goal is not None and goal["p95_ms"] <= GOAL_P95_MS and goal["errors"] == 0
    cpu = {
        "server_cpu_ms_per_request": 1000 * server_cpu / max(total, 1),
        "client_cpu_ms_per_request": 1000 * client_cpu / max(total, 1),
        "load_average_before": load_before,
        "load_average_after": load_after,
    }
    if args.json:
        out = {"rows": rows, "seconds": elapsed, "clients": args.clients, "goal_met": met, **cpu}
        print(json.dumps(out, indent=1))
        return 0
    print(
        f"{args.clients} clients, {elapsed:.1f} s, {total} requests ({total / elapsed:.0f}/s), "
        f"uvicorn workers: {args.workers} (the app of `exquisite serve`), run {run.id}, "
        f"CPUs: {os.cpu_count()}"
    )
    print(
        f"CPU per request: server {cpu['server_cpu_ms_per_request']:.2f} ms, clients "
        f"{cpu['client_cpu_ms_per_request']:.2f} ms; load average {load_before:.1f} before, {load_after:.1f} "
        f"after (on {os.cpu_count()} CPUs: above that, other processes share the cores)"
    )
    print()
    print("| endpoint | requests | errors | req/s | p50 ms | p95 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        cells = [r["endpoint"], str(r["requests"]), str(r["errors"])]
        cells += [f"{r[k]:.1f}" for k in ("req_per_s", "p50_ms", "p95_ms", "p99_ms")]
        print("| " + " | ".join(cells) + " |")
    print()
    verdict = "met" if met else "NOT met"
    shown = f"{goal['p95_ms']:.1f} ms" if goal else "no requests"
    print(f"Goal (issue #4): {GOAL_ENDPOINT} p95 ≤ {GOAL_P95_MS:.0f} ms, 20 clients: {verdict}, {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
