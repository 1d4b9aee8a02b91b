"""One access run for a study region: from its configuration to a run folder."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from exquisite import __version__
from exquisite.access.compute import AccessResult, compute_access
from exquisite.config import StudyRegion, load_region
from exquisite.outputs.runfolder import file_record, versions, write_run_folder
from exquisite.region import Region, StepReporter, prepare_region

#: Attribution every output built from OpenStreetMap carries.
OSM_ATTRIBUTION = "© OpenStreetMap contributors (ODbL)"


@dataclass(frozen=True)
class AccessRun:
    """The result of :func:`run_access`.

    Attributes
    ----------
    region
        The prepared region (network, origins, destinations).
    access
        The per-origin access table and its parameters.
    origins
        The origins as a GeoDataFrame (projected) with population, snapping and access columns.
    timings
        Seconds per step, the region's and the access engine's.
    """

    region: Region
    access: AccessResult
    origins: gpd.GeoDataFrame
    timings: dict[str, float]

    def manifest(self) -> dict[str, Any]:
        """What the run folder's ``manifest.json`` says: inputs with hashes, parameters, versions, timings."""
        cfg = self.region.config
        inputs: dict[str, Any] = {"osm": file_record(cfg.osm)}
        if cfg.population.path is not None:
            inputs["population"] = file_record(cfg.population.path)
        if cfg.gtfs:
            inputs["gtfs"] = [file_record(p) for p in cfg.gtfs]
        if isinstance(cfg.boundary, Path):
            inputs["boundary"] = file_record(cfg.boundary)
        if cfg.source_file is not None:
            inputs["config"] = file_record(cfg.source_file)
        pop = self.region.population
        dest_counts = self.region.destinations["category"].value_counts()
        return {
            "region": {"name": cfg.name, "country": cfg.country, "year": cfg.year},
            "created_by": f"exquisite-city {__version__}",
            "inputs": inputs,
            "parameters": {
                "crs": self.region.crs,
                "boundary_wgs84_bounds": list(self.region.boundary.bounds),
                "profiles": {name: p.model_dump() for name, p in cfg.profiles.items()},
                "cutoffs_m": self.access.cutoffs,
                "largest_distance_m": self.access.cutoff_m,
                "taxonomy": str(cfg.taxonomy),
                "population": cfg.population.model_dump(mode="json"),
                "distance": "along the walking network from where each point meets its nearest edge; "
                "the straight-line snapping distance is recorded (snap_m) but not added",
            },
            "population": {
                "source": pop.source,
                "is_estimate": pop.is_estimate,
                "description": pop.description,
                "total": pop.total,
                "origins": len(self.origins),
            },
            "network": {"nodes": self.region.network.n_nodes, "edges": self.region.network.n_edges},
            "destinations": {cat: int(dest_counts.get(cat, 0)) for cat in self.access.categories},
            "warnings": list(self.region.warnings),
            "attribution": [OSM_ATTRIBUTION],
            "versions": versions(),
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }

    def write(self, out: str | os.PathLike[str]) -> Path:
        """Write the run folder ``<out>/<timestamp>/`` atomically and return its path.

        It holds ``origins.parquet`` (GeoParquet, one row per origin with its access columns),
        ``destinations.parquet``, ``network.parquet`` (edges as lines) and ``manifest.json``.
        """
        return write_run_folder(out, self.writers(), self.manifest())

    def writers(self) -> dict[str, Callable[[Path], object]]:
        """File name → function writing that file, for the run folder's GeoParquet files."""
        network = self.region.network
        edges = gpd.GeoDataFrame(
            {
                "u": network.edge_u,
                "v": network.edge_v,
                "length_m": network.edge_length_m,
                "osm_way_id": network.edge_osm_way_id,
                "highway": network.edge_highway.astype(str),
            },
            geometry=network.edge_lines(),
            crs=network.crs,
        )
        snap = self.region.destination_snap
        destinations = self.region.destinations.assign(
            snap_edge=snap.edge, snap_offset_m=snap.offset_m, snap_m=snap.distance_m
        )
        return {
            "origins.parquet": lambda p: self.origins.to_parquet(p, index=False),
            "destinations.parquet": lambda p: destinations.to_parquet(p, index=False),
            "network.parquet": lambda p: edges.to_parquet(p, index=False),
        }


def run_access(
    config: StudyRegion | str | os.PathLike[str],
    report: StepReporter | None = None,
    nearest_sets: Callable[[gpd.GeoDataFrame], Mapping[str, np.ndarray]] | None = None,
    nearest_cutoff_m: float = 0.0,
) -> AccessRun:
    """Compute access for every origin of a study region.

    Parameters
    ----------
    config
        A validated :class:`~exquisite.config.StudyRegion`, or the path of its YAML file.
    report
        Called with each finished step's name and duration.
    nearest_sets
        Given the region's destinations, further sets of them (name → boolean mask) whose nearest distance
        is wanted too (see :func:`~exquisite.access.compute.compute_access`).
    nearest_cutoff_m
        Search nearest distances at least this far (metres), beyond the profiles' thresholds if need be.

    Returns
    -------
    AccessRun
        Origins with their access columns, and everything needed to write the run folder.
    """
    region_config = config if isinstance(config, StudyRegion) else load_region(config)
    cutoffs = {name: profile.cutoffs_m() for name, profile in region_config.profiles.items()}
    largest = max((d for c in cutoffs.values() for d in c.values()), default=0.0)
    largest = max(largest, nearest_cutoff_m)
    region = prepare_region(region_config, largest, report)

    t0 = time.perf_counter()
    access = compute_access(
        region.network,
        region.origin_snap,
        region.destination_snap,
        region.destinations["category"].to_numpy(),
        region.categories,
        cutoffs,
        None if nearest_sets is None else nearest_sets(region.destinations),
        nearest_cutoff_m,
    )
    timings = dict(region.timings)
    timings["access"] = time.perf_counter() - t0
    if report is not None:
        report("access", timings["access"])
    origins = region.origins.reset_index(drop=True)
    origins = gpd.GeoDataFrame(
        pd.concat([origins, pd.DataFrame({"snap_m": region.origin_snap.distance_m}), access.table], axis=1),
        geometry="geometry",
        crs=region.crs,
    )
    return AccessRun(region=region, access=access, origins=origins, timings=timings)
