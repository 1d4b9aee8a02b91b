"""Load and durability of the governance service: Open311 reports under load, the server killed halfway.

A uvicorn server (a subprocess in its own process group, 127.0.0.1, a free port, 2 workers) serves a demo run
with the app of ``exquisite serve`` (``exquisite.web.app:served_app``) and the governance service on a fresh
store — SQLite (a file, WAL, ``synchronous=FULL``) and/or PostgreSQL (a database created for the run and
dropped after it). An API key is made directly in the store before the server starts. ``--clients`` asyncio
clients (each an ``httpx.AsyncClient`` on its own keep-alive connection) then send, back to back, for
``--seconds``:

- half of the time ``POST /open311/v2/requests.json`` (form-encoded: api_key, service_code, lat/long at one of
  the run's origins moved up to 20 m, description with a unique marker, the service's required attributes);
- otherwise a ``GET /open311/v2/requests/{id}.json`` of a random acknowledged report, or (one GET in five)
  the list ``GET /open311/v2/requests.json``.

Halfway, the whole server process group (master and workers) is killed with SIGKILL — requests in flight are
cut — and started again; the clients keep going (errors during the outage are counted). A post is
*acknowledged* when its answer carried a ``service_request_id``, *unknown* when no answer arrived (the
connection broke after the request left), *refused* when the server answered with an error or could not be
reached at all. At the end the store is read directly: every acknowledged id must exist with its marker
(0 lost), no marker may appear twice (0 duplicated); rows of unknown posts are counted apart (either outcome
is correct), and a row of a refused post would be a phantom.

Printed per database: requests/s, p50/p95/p99 latency of POST, GET one and GET list, acknowledged, stored,
lost, duplicated, unknown (and how many of them were stored), outage seconds.

Run ``python benchmarks/governance_load.py`` (makes a demo run first, ~15 s) or ``--runs runs/`` to serve
existing runs; ``--database sqlite`` for one backend; ``--json`` for the rows as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Environment variable naming the PostgreSQL server (a role that may create databases), as in the tests.
POSTGRES_ENV = "EXQUISITE_TEST_POSTGRES_URL"
#: The server used when the variable is unset (the one ``.ci/run`` starts).
DEFAULT_POSTGRES_URL = "postgresql://exquisite:exquisite@127.0.0.1:5432/exquisite_test"
#: uvicorn worker processes of the server.
WORKERS = 2
#: Share of the requests that post a report; the rest are GETs.
POST_SHARE = 0.5
#: Share of the GETs that ask for the list instead of one report.
LIST_SHARE = 0.2
#: Every report's rate limit is raised to this, so that the load measures the service, not its throttle.
RAISED_LIMIT = 1_000_000_000
#: How far (m) a report's point is moved from the run's origin it starts from.
JITTER_M = 20.0
#: Seconds a client waits after a request got no answer (the server is down), doubled after each further
#: failure up to BACKOFF_MAX_S, so that the clients do not take the CPU the restarting server needs.
BACKOFF_S = 0.05
BACKOFF_MAX_S = 1.0
#: Seconds a request may take before the client gives up on it.
TIMEOUT_S = 30.0
#: Seconds the load may last past ``--seconds`` while a bounded run waits for reports around the kill.
MAX_EXTRA_S = 120.0
#: Seconds the server may take to start answering.
START_TIMEOUT_S = 120.0
OPEN311 = "/open311/v2"
#: The readiness probe: the service list needs the app, its governance service and the store.
PROBE = f"{OPEN311}/services.json"
MARKER_PREFIX = "loadmark"
_MARKER = re.compile(rf"{MARKER_PREFIX}-[0-9a-f]+-\d+-\d+")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_runs(folder: Path) -> Path:
    """A runs folder with one demo run (the embedded Helsinki extract) under ``folder``."""
    from exquisite.analysis import analyse
    from exquisite.demo import demo_region

    analyse(demo_region()).write(folder / "helsinki-demo", "en")
    return folder


def report_points(run: Any, n: int, seed: int) -> list[tuple[float, float]]:
    """``n`` points ``(lat, long)`` inside the run's jurisdiction: its origins, each moved up to 20 m."""
    import pyproj

    from exquisite.governance.communities import jurisdiction_of_run

    jurisdiction = jurisdiction_of_run(run)
    origins = run.origins
    to_wgs = pyproj.Transformer.from_crs(origins.crs, "EPSG:4326", always_xy=True)
    xs, ys = origins.geometry.x.to_numpy(), origins.geometry.y.to_numpy()
    rng = np.random.default_rng(seed)
    out: list[tuple[float, float]] = []
    for _ in range(50 * n):
        k = int(rng.integers(len(xs)))
        angle, r = rng.uniform(0, 2 * np.pi), rng.uniform(0, JITTER_M)
        lon, lat = to_wgs.transform(xs[k] + r * np.cos(angle), ys[k] + r * np.sin(angle))
        lon, lat = round(float(lon), 6), round(float(lat), 6)
        if jurisdiction.contains(lon, lat):
            out.append((lat, lon))
            if len(out) == n:
                return out
    raise SystemExit(f"found only {len(out)} points inside {jurisdiction.id} near the run's origins")


def report_forms() -> list[tuple[str, dict[str, str | list[str]]]]:
    """Each service's code with an answer to every required question of its definition (the catalogue's)."""
    from exquisite.governance.services import load_services

    forms = []
    for service in load_services():
        answers: dict[str, str | list[str]] = {}
        for question in service.questions:
            if not question.required:
                continue
            if question.datatype == "singlevaluelist":
                answers[question.code] = question.values[0].key
            elif question.datatype == "multivaluelist":
                answers[question.code] = [question.values[0].key]
            elif question.datatype == "number":
                answers[question.code] = "1"
            elif question.datatype == "datetime":
                answers[question.code] = "2026-01-01T08:00:00+00:00"
            else:
                answers[question.code] = "seen on the way"
        forms.append((service.code, answers))
    return forms


def write_settings(folder: Path, database_url: str) -> Path:
    """A governance settings file in ``folder``: its own data folder and store, rate limits raised.

    Email goes to a loopback port where nothing listens (the API's reports send none).
    """
    import yaml

    from exquisite.governance.settings import load_settings

    limits = load_settings(None).rate_limits
    raised = {name: RAISED_LIMIT for name in type(limits).model_fields if name.startswith("reports_")}
    data = {
        "data_dir": str(folder / "governance-data"),
        "database_url": database_url,
        "smtp": {"host": "127.0.0.1", "port": free_port()},
        "rate_limits": raised,
    }
    path = folder / "governance.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    load_settings(path)  # refuse a wrong file here, not in the server's workers
    return path


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on ``server_url``'s server (its URL), dropped ``WITH (FORCE)`` after."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = f"exquisite_load_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_libpq(server_url), autocommit=True, connect_timeout=5) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(server_url), autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def make_api_key(database_url: str) -> str:
    """Migrate the store at ``database_url`` and create an API key in it, as an operator would."""
    from exquisite.governance.apikeys import create_api_key
    from exquisite.governance.db import Store

    store = Store(database_url)
    try:
        with store.session() as session:
            return create_api_key(session, "governance load benchmark")
    finally:
        store.dispose()


class Server:
    """``exquisite serve``'s app under uvicorn, in a process group of its own so that it can be killed whole.

    Parameters
    ----------
    runs
        The runs folder served (``$EXQUISITE_RUNS``).
    settings
        The governance settings file (``$EXQUISITE_GOVERNANCE``).
    port
        The loopback port.
    workers
        uvicorn worker processes.
    """

    def __init__(self, runs: Path, settings: Path, port: int, workers: int = WORKERS) -> None:
        from exquisite.governance.settings import DATABASE_ENV
        from exquisite.web.app import GOVERNANCE_ENV, RUNS_ENV

        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, RUNS_ENV: str(runs), GOVERNANCE_ENV: str(settings)}
        self.env.pop(DATABASE_ENV, None)  # the settings file names the store
        self.cmd = [
            sys.executable, "-m", "uvicorn", "exquisite.web.app:served_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        """Start the server (returns at once; see :meth:`wait_until_up`)."""
        self.proc = subprocess.Popen(self.cmd, env=self.env, start_new_session=True)
        self.starts += 1

    def pids(self) -> list[int]:
        """Processes still alive (not zombies) in the server's process group."""
        if self.proc is None:
            return []
        alive = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.proc.pid and fields[0] != "Z":
                alive.append(int(entry.name))
        return alive

    def kill(self) -> None:
        """SIGKILL the whole process group (master and workers) and wait until none of them is left."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        t_end = time.monotonic() + 10.0
        while self.pids() and time.monotonic() < t_end:
            time.sleep(0.02)
        if self.pids():
            raise RuntimeError(f"server processes {self.pids()} survived SIGKILL")

    def stop(self) -> None:
        """Stop the server gracefully (SIGTERM to the group), killing it when it takes over 20 s."""
        if self.proc is None or self.proc.poll() is not None:
            self.kill()
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=20)
        self.kill()

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) used so far by the server's live processes (master and workers)."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    async def wait_until_up(self, timeout: float = START_TIMEOUT_S) -> float:
        """Poll the service list until it answers 200; the seconds waited."""
        import httpx

        t0 = time.perf_counter()
        async with httpx.AsyncClient(base_url=self.base, timeout=2.0) as probe:
            while time.perf_counter() - t0 < timeout:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"uvicorn exited with status {self.proc.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await probe.get(PROBE)).status_code == 200:
                        return time.perf_counter() - t0
                await asyncio.sleep(0.1)
        raise RuntimeError(f"the server did not answer {PROBE} within {timeout:.0f} s")


@dataclass
class Load:
    """What the clients saw."""

    seconds: float = 0.0
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: {"post": [], "get": [], "list": []})
    no_answer: Counter[str] = field(default_factory=Counter)
    error_status: Counter[str] = field(default_factory=Counter)
    acknowledged: dict[str, str] = field(default_factory=dict)
    acknowledged_at: dict[str, float] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    get_missing: int = 0
    kill_at: float | None = None
    outage_s: float | None = None
    server_cpu_s: float = 0.0

    def up_seconds(self) -> float:
        """Seconds of the load during which the server was up (the load's length less the outage in it)."""
        if self.kill_at is None or self.outage_s is None:
            return self.seconds
        down = min(self.seconds, self.kill_at + self.outage_s) - min(self.seconds, self.kill_at)
        return self.seconds - down


async def drive(
    server: Server,
    *,
    api_key: str,
    points: list[tuple[float, float]],
    forms: list[tuple[str, dict[str, str | list[str]]]],
    clients: int,
    seconds: float,
    kill_after: float | None,
    tag: str,
    seed: int,
    min_after_restart: float = 0.0,
    min_acknowledged: int = 0,
) -> Load:
    """Run ``clients`` clients for ``seconds``, killing and restarting the server after ``kill_after`` s.

    The kill waits until ``min_acknowledged`` reports were acknowledged, and the load goes on for at least
    ``min_after_restart`` seconds and ``min_acknowledged`` acknowledged reports after the restarted server
    first answers (at most :data:`MAX_EXTRA_S` seconds past ``seconds``): a bounded test on a busy machine
    still sees the server take reports before the kill and serve again after it.
    """
    import httpx

    load = Load()
    t_start = time.perf_counter()
    deadline = t_start + seconds
    hard_end = t_start + seconds + MAX_EXTRA_S
    # the clients stop at the deadline, but not while the killer still waits for what it needs
    restarting = [kill_after is not None and (min_after_restart > 0 or min_acknowledged > 0)]
    acked_ids: list[str] = []

    async def client(k: int) -> None:
        rnd = random.Random(seed * 100_003 + k)
        seq = 0
        pause = BACKOFF_S
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=server.base, timeout=TIMEOUT_S, limits=limits) as http:
            while (now := time.perf_counter()) < hard_end and (now < deadline or restarting[0]):
                if rnd.random() < POST_SHARE or not acked_ids:
                    kind = "post"
                    seq += 1
                    marker = f"{MARKER_PREFIX}-{tag}-{k}-{seq}"
                    code, answers = forms[rnd.randrange(len(forms))]
                    lat, lon = points[rnd.randrange(len(points))]
                    form: dict[str, Any] = {
                        "api_key": api_key,
                        "service_code": code,
                        "lat": str(lat),
                        "long": str(lon),
                        "description": f"Load test report {marker}, seen on the way to work.",
                    }
                    for name, answer in answers.items():
                        form[f"attribute[{name}]" + ("[]" if isinstance(answer, list) else "")] = answer
                    request = http.build_request("POST", f"{OPEN311}/requests.json", data=form)
                elif rnd.random() < LIST_SHARE:
                    kind, marker = "list", ""
                    request = http.build_request("GET", f"{OPEN311}/requests.json")
                else:
                    kind = "get"
                    wanted = acked_ids[rnd.randrange(len(acked_ids))]
                    marker = load.acknowledged[wanted]
                    request = http.build_request("GET", f"{OPEN311}/requests/{wanted}.json")
                t0 = time.perf_counter()
                try:
                    response = await http.send(request)
                    body = response.content
                except (httpx.ConnectError, httpx.ConnectTimeout):
                    load.no_answer[kind] += 1
                    if kind == "post":
                        load.refused.add(marker)  # nothing reached a server
                    await asyncio.sleep(pause)
                    pause = min(2 * pause, BACKOFF_MAX_S)
                    continue
                except httpx.TransportError:
                    load.no_answer[kind] += 1
                    if kind == "post":
                        load.unknown.add(marker)  # sent; whether it was stored is not known
                    await asyncio.sleep(pause)
                    pause = min(2 * pause, BACKOFF_MAX_S)
                    continue
                pause = BACKOFF_S
                elapsed_ms = (time.perf_counter() - t0) * 1000.0
                if kind == "post" and response.status_code in (200, 201):
                    try:
                        ident = str(json.loads(body)[0]["service_request_id"])
                    except (ValueError, LookupError, TypeError):
                        ident = ""
                    if ident:
                        load.acknowledged[ident] = marker
                        load.acknowledged_at[ident] = time.perf_counter() - t_start
                        acked_ids.append(ident)
                        load.latencies_ms[kind].append(elapsed_ms)
                        continue
                    load.unknown.add(marker)  # accepted without an id: it may be stored
                    load.error_status[kind] += 1
                    continue
                if kind == "get" and response.status_code == 404:
                    load.get_missing += 1  # an acknowledged report the service no longer finds
                elif response.status_code == 200 and (kind != "get" or marker.encode() in body):
                    load.latencies_ms[kind].append(elapsed_ms)
                    continue
                load.error_status[kind] += 1
                if kind == "post":
                    load.refused.add(marker)

    async def killer(after: float) -> None:
        try:
            await asyncio.sleep(after)
            while len(load.acknowledged) < min_acknowledged and time.perf_counter() < hard_end:
                await asyncio.sleep(0.05)
            t_kill = time.perf_counter()
            load.kill_at = t_kill - t_start
            cpu["before kill"] = server.cpu_seconds() - cpu.pop("start")
            await asyncio.to_thread(server.kill)
            server.start()
            await server.wait_until_up()
            up = time.perf_counter()
            load.outage_s = up - t_kill
            cpu["restarted"] = server.cpu_seconds()  # its start is not the load's
            before = len(load.acknowledged)
            while time.perf_counter() < hard_end and (
                time.perf_counter() < up + min_after_restart
                or len(load.acknowledged) - before < min_acknowledged
            ):
                await asyncio.sleep(0.05)
        finally:
            restarting[0] = False  # the clients finish even when the restart failed (raised below)

    cpu = {"start": server.cpu_seconds()}
    killing = asyncio.create_task(killer(kill_after)) if kill_after is not None else None
    await asyncio.gather(*(client(k) for k in range(clients)))
    load.seconds = time.perf_counter() - t_start
    if "start" in cpu:  # not killed yet
        load.server_cpu_s = server.cpu_seconds() - cpu["start"]
    elif "restarted" in cpu:
        load.server_cpu_s = cpu["before kill"] + server.cpu_seconds() - cpu["restarted"]
    else:  # the load ended during the outage
        load.server_cpu_s = cpu["before kill"]
    if killing is not None:  # a kill or restart still to come: wait for it all the same
        await killing
    return load


def check_store(database_url: str, load: Load, tag: str) -> dict[str, int]:
    """Read the store directly: lost, duplicated, unknown-and-stored and phantom reports of this run."""
    from sqlalchemy import select

    from exquisite.governance.db import Store
    from exquisite.governance.models import Report

    store = Store(database_url)
    try:
        with store.session() as session:
            rows = session.execute(
                select(Report.id, Report.token, Report.description).where(
                    Report.description.like(f"%{MARKER_PREFIX}-{tag}-%")
                )
            ).all()
    finally:
        store.dispose()
    marker_of: dict[str, str] = {}
    markers: Counter[str] = Counter()
    for ident, token, description in rows:
        found = _MARKER.search(description or "")
        marker = found.group(0) if found else ""
        marker_of[str(ident)] = marker_of[str(token)] = marker
        markers[marker] += 1
    acknowledged = set(load.acknowledged.values())
    return {
        "stored": len(rows),
        "lost": sum(1 for ident, marker in load.acknowledged.items() if marker_of.get(ident) != marker),
        "duplicated": sum(n - 1 for n in markers.values() if n > 1),
        "unknown_stored": sum(1 for marker in markers if marker in load.unknown),
        "phantom": sum(n for marker, n in markers.items() if marker not in acknowledged | load.unknown),
    }


async def served_after_restart(server: Server, load: Load) -> bool:
    """Whether the restarted server gives back a report acknowledged before the kill (and with its marker)."""
    import httpx

    before = [i for i, t in load.acknowledged_at.items() if load.kill_at is not None and t < load.kill_at]
    if not before:
        return False
    ident = before[0]
    async with httpx.AsyncClient(base_url=server.base, timeout=TIMEOUT_S) as http:
        response = await http.get(f"{OPEN311}/requests/{ident}.json")
    return response.status_code == 200 and load.acknowledged[ident] in response.text


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99)}


def run_case(
    database_url: str,
    runs: Path,
    *,
    seconds: float,
    clients: int,
    kill_after: float | None,
    min_after_restart: float = 0.0,
    min_acknowledged: int = 0,
    seed: int = 1,
    workers: int = WORKERS,
) -> dict[str, Any]:
    """One run of the load on one store: key, server, clients, kill and restart, the store checked.

    Parameters
    ----------
    database_url
        An empty (or any) store's URL; the run's reports are told apart by a marker of their own.
    runs
        The runs folder served; its newest run is the jurisdiction reported to.
    seconds, clients
        How long the load lasts, and how many clients send it.
    kill_after
        Seconds after which the server is killed (SIGKILL to its process group) and restarted; None: never.
    min_after_restart, min_acknowledged
        The kill waits for ``min_acknowledged`` acknowledged reports; after the restart the load lasts at
        least ``min_after_restart`` seconds and ``min_acknowledged`` more (see :func:`drive`).
    seed
        Seed of the clients' choices and of the report points.
    workers
        uvicorn worker processes.

    Returns
    -------
    dict
        The row: requests/s, latencies per kind, errors, acknowledged, stored, lost, duplicated, unknown
        (and stored), phantom, outage seconds, and whether the restarted server serves a report acknowledged
        before the kill.
    """
    from sqlalchemy.engine import make_url

    from exquisite.web.catalogue import RunCatalogue

    run = RunCatalogue(runs).latest()
    if run is None:
        raise SystemExit(f"no run folder under {runs}")
    points = report_points(run, 500, seed)
    forms = report_forms()
    tag = uuid.uuid4().hex[:8]
    api_key = make_api_key(database_url)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="governance-load-") as tmp:
        settings = write_settings(Path(tmp), database_url)
        server = Server(runs, settings, free_port(), workers)
        server.start()
        try:
            startup_s = asyncio.run(server.wait_until_up())
            client0 = time.process_time()
            load = asyncio.run(
                drive(
                    server,
                    api_key=api_key,
                    points=points,
                    forms=forms,
                    clients=clients,
                    seconds=seconds,
                    kill_after=kill_after,
                    tag=tag,
                    seed=seed,
                    min_after_restart=min_after_restart,
                    min_acknowledged=min_acknowledged,
                )
            )
            client_cpu = time.process_time() - client0
            served = asyncio.run(served_after_restart(server, load)) if kill_after is not None else None
        finally:
            server.stop()
    check = check_store(database_url, load, tag)
    answered = sum(len(v) for v in load.latencies_ms.values())
    after_kill = sum(
        1 for t in load.acknowledged_at.values() if load.kill_at is not None and t > load.kill_at
    )
    return {
        "database": make_url(database_url).get_backend_name(),
        "clients": clients,
        "seconds": load.seconds,
        "workers": workers,
        "startup_s": startup_s,
        "answered": answered,
        "up_seconds": load.up_seconds(),
        "req_per_s": answered / load.seconds,
        "req_per_s_up": answered / max(load.up_seconds(), 1e-9),
        "latency": {
            kind: {"n": len(values), **_percentiles(values)} for kind, values in load.latencies_ms.items()
        },
        "no_answer": dict(load.no_answer),
        "error_status": dict(load.error_status),
        "get_missing": load.get_missing,
        "posted": len(load.acknowledged) + len(load.unknown) + len(load.refused),
        "acknowledged": len(load.acknowledged),
        "acknowledged_after_restart": after_kill,
        "unknown": len(load.unknown),
        "refused": len(load.refused),
        **check,
        "kill_at_s": load.kill_at,
        "outage_s": load.outage_s,
        "served_after_restart": served,
        "server_cpu_ms_per_request": 1000 * load.server_cpu_s / max(answered, 1),
        "client_cpu_ms_per_request": 1000 * client_cpu / max(answered, 1),
        "load_average": [load_before, os.getloadavg()[0]],
    }


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, help="runs folder to serve (default: a fresh demo run)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the load lasts (default 60)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--no-kill", action="store_true", help="do not kill the server halfway")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)

    backends = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    server_url = os.environ.get(POSTGRES_ENV) or DEFAULT_POSTGRES_URL
    rows = []
    with tempfile.TemporaryDirectory(prefix="governance-load-runs-") as tmp:
        runs = args.runs or demo_runs(Path(tmp) / "runs")
        for backend in backends:
            with contextlib.ExitStack() as stack:
                if backend == "sqlite":
                    url = f"sqlite:///{Path(tmp) / 'governance.sqlite3'}"
                else:
                    url = stack.enter_context(postgres_database(server_url))
                rows.append(
                    run_case(
                        url,
                        runs,
                        seconds=args.seconds,
                        clients=args.clients,
                        kill_after=None if args.no_kill else args.seconds / 2,
                        seed=args.seed,
                    )
                )
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(
        f"{args.clients} clients × {args.seconds:.0f} s per database, uvicorn {WORKERS} workers (the app of "
        f"`exquisite serve`), {os.cpu_count()} CPUs; every report rate limit raised to {RAISED_LIMIT:,} so "
        f"that the load is not throttled; "
        + ("no kill" if args.no_kill else "server killed (SIGKILL, master and workers) halfway and restarted")
    )
    print(
        f"Mix: {POST_SHARE:.0%} POST requests.json; of the GETs {1 - LIST_SHARE:.0%} requests/{{id}}.json of "
        f"an acknowledged report, {LIST_SHARE:.0%} the list requests.json"
    )
    print()
    print(
        "| database | req/s (while up) | POST p50/p95/p99 ms | GET one p50/p95/p99 ms "
        "| GET list p50/p95/p99 ms "
        "| acknowledged | stored | lost | duplicated | unknown (stored) | phantom | outage s | load avg |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        lat = [
            "/".join(_ms(r["latency"][kind][p]) for p in ("p50_ms", "p95_ms", "p99_ms"))
            for kind in ("post", "get", "list")
        ]
        outage = "–" if r["outage_s"] is None else f"{r['outage_s']:.1f}"
        cells = [
            r["database"],
            f"{r['req_per_s']:.0f} ({r['req_per_s_up']:.0f})",
            *lat,
            str(r["acknowledged"]),
            str(r["stored"]),
        ]
        cells += [str(r["lost"]), str(r["duplicated"]), f"{r['unknown']} ({r['unknown_stored']})"]
        cells += [str(r["phantom"]), outage, "–".join(f"{x:.1f}" for x in r["load_average"])]
        print("| " + " | ".join(cells) + " |")
    print()
    for r in rows:
        failed = {k: r["no_answer"].get(k, 0) + r["error_status"].get(k, 0) for k in ("post", "get", "list")}
        print(
            f"{r['database']}: {r['answered']} answered in {r['seconds']:.1f} s; failed post/get/list "
            f"{failed['post']}/{failed['get']}/{failed['list']} (no answer {sum(r['no_answer'].values())}, "
            f"error status {sum(r['error_status'].values())}); acknowledged reports not found by GET: "
            f"{r['get_missing']}; {r['acknowledged_after_restart']} acknowledged after the restart; a report "
            f"acknowledged before the kill served after it: {r['served_after_restart']}; server start "
            f"{r['startup_s']:.1f} s; CPU per answered request: server "
            f"{r['server_cpu_ms_per_request']:.1f} ms, "
            f"clients {r['client_cpu_ms_per_request']:.1f} ms"
        )
    ok = all(r["lost"] == 0 and r["duplicated"] == 0 and r["phantom"] == 0 for r in rows)
    print()
    print(f"Durability: {'0 lost, 0 duplicated' if ok else 'REPORTS LOST OR DUPLICATED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
