"""The runs a server shows: run folders found under a runs folder, read once and kept."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd

#: Files a run folder must hold to be served.
RUN_FILES = (
    "manifest.json",
    "indicators.json",
    "origins.parquet",
    "areas.parquet",
    "destinations.parquet",
    "network.parquet",
)
#: Files that run folders written by older versions lack: such a run is skipped with "run it again".
NEWER_FILES = ("areas.parquet",)
#: Files a reader may download, in the order the dashboard lists them (not manifest.json: it names the
#: server's own file paths).
DOWNLOADABLE = (
    "indicators.csv",
    "indicators.json",
    "origins.parquet",
    "areas.parquet",
    "destinations.parquet",
    "network.parquet",
    "report.html",
)
#: Columns of destinations.parquet the finder routes with (run folders written before them are not served).
ROUTING_COLUMNS = ("snap_edge", "snap_offset_m")


@dataclass(frozen=True)
class Run:
    """One run folder, read lazily (each file once).

    Attributes
    ----------
    id
        ``"<region folder>/<timestamp>"``, as in URLs (``/runs/helsinki-demo/20261129T192217Z``).
    folder
        The run folder.
    manifest
        Its ``manifest.json``.
    """

    id: str
    folder: Path
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        """The region's name."""
        return str(self.manifest.get("region", {}).get("name", self.id))

    @property
    def created(self) -> str:
        """The run's timestamp (its folder name, UTC)."""
        return self.folder.name

    @cached_property
    def indicators(self) -> list[dict[str, Any]]:
        """The indicator records (``indicators.json``)."""
        return json.loads((self.folder / "indicators.json").read_text(encoding="utf-8"))

    @cached_property
    def origins(self) -> gpd.GeoDataFrame:
        """Origins with population and access columns (projected)."""
        return gpd.read_parquet(self.folder / "origins.parquet")

    @cached_property
    def areas(self) -> gpd.GeoDataFrame:
        """The areas the run reports on (``areas.parquet``, projected).

        The study area (``level`` ``city``, named after the region) and each district (``level``
        ``district``), with ``name``, ``area_km2`` and ``caveat`` (set when district boundaries are
        approximate).
        """
        return gpd.read_parquet(self.folder / "areas.parquet")

    @cached_property
    def destinations(self) -> gpd.GeoDataFrame:
        """Destinations: category, name, snap_edge, snap_offset_m … (projected)."""
        return gpd.read_parquet(self.folder / "destinations.parquet")

    @cached_property
    def network(self) -> gpd.GeoDataFrame:
        """Network edges (row = edge id): u, v, length_m, highway, line geometry (projected)."""
        return gpd.read_parquet(self.folder / "network.parquet")

    def file(self, name: str) -> Path:
        """A file of the run folder that may be downloaded (KeyError for any other name)."""
        if name not in DOWNLOADABLE:
            raise KeyError(name)
        path = self.folder / name
        if not path.is_file():
            raise KeyError(name)
        return path


class RunCatalogue:
    """The run folders under ``root``: ``root/<region>/<timestamp>/`` (or ``root`` itself being one region).

    Parameters
    ----------
    root
        A runs folder (as written by ``exquisite analyse --out runs/<region>``).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._runs: dict[str, Run] = {}
        #: Run folders found servable: a written run folder never changes, so each is checked once.
        self._servable: set[Path] = set()
        self._lock = threading.Lock()

    def runs(self) -> list[Run]:
        """Every run that can be served, newest first (rescanned on each call; loaded runs are kept)."""
        found = []
        for folder in self._folders():
            if folder not in self._servable:
                if _unservable(folder):
                    continue
                self._servable.add(folder)
            region = folder.parent.name if folder.parent != self.root else self.root.name
            found.append(self._run(f"{region}/{folder.name}", folder))
        return sorted(found, key=lambda r: r.created, reverse=True)

    def skipped(self) -> dict[Path, str]:
        """Run folders that cannot be served, and why."""
        return {folder: reason for folder in self._folders() if (reason := _unservable(folder))}

    def _folders(self) -> list[Path]:
        manifests = sorted(self.root.glob("*/*/manifest.json")) + sorted(self.root.glob("*/manifest.json"))
        return [m.parent for m in manifests]

    def get(self, run_id: str) -> Run:
        """The run with this id (KeyError when there is none)."""
        for run in self.runs():
            if run.id == run_id:
                return run
        raise KeyError(run_id)

    def latest(self) -> Run | None:
        """The newest run, or None when the folder holds none."""
        runs = self.runs()
        return runs[0] if runs else None

    def _run(self, run_id: str, folder: Path) -> Run:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
                run = self._runs[run_id] = Run(run_id, folder, manifest)
            return run


def _unservable(folder: Path) -> str:
    """Why a run folder cannot be served ("" when it can)."""
    missing = [name for name in RUN_FILES if not (folder / name).is_file()]
    if missing:
        reason = f"it has no {', '.join(missing)}"
        if set(missing) <= set(NEWER_FILES) and (folder / "manifest.json").is_file():
            reason += " (it was written by an older version); run it again"
        return reason
    import pyarrow.parquet as pq

    try:
        columns = set(pq.read_schema(folder / "destinations.parquet").names)
    except (OSError, ValueError) as error:
        return f"destinations.parquet cannot be read ({error})"
    if not set(ROUTING_COLUMNS) <= columns:
        return "it was written by an older version (destinations.parquet has no snap_offset_m); run it again"
    return ""
