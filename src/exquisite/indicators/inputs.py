"""What every indicator family reads: an access run's origins, destinations, network and sources."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import shapely

from exquisite.config import Profile, StudyRegion

if TYPE_CHECKING:
    from exquisite.access.run import AccessRun
    from exquisite.network.graph import WalkNetwork
    from exquisite.sources.osm import OsmData
    from exquisite.sources.population import Population

#: Population column of each group (``all`` always exists; the others only with an age split).
GROUP_COLUMNS = {"all": "population", "child": "pop_child", "adult": "pop_adult", "older": "pop_older"}


@dataclass(frozen=True)
class AnalysisInputs:
    """An access run seen by the indicator families.

    Attributes
    ----------
    origins
        One row per origin, projected: ``population`` (and ``pop_child``, ``pop_adult``, ``pop_older`` with
        an age split), ``nearest_m__<category or set>`` (NaN beyond ``cutoff_m``) and
        ``count__<category>__<profile>__<threshold>``.
    destinations
        One row per destination point and category, projected: ``category``, ``osm_id``, ``name``,
        ``area_m2`` (open spaces), ``entrance``, and for GTFS stops ``capacity`` and ``headway_min``.
    network
        The walking network (it reaches ``cutoff_m`` beyond the boundary).
    osm
        What was read from the PBF (features and buildings in EPSG:4326).
    population
        The population source's result (``cells`` has each origin's own cell geometry).
    boundary
        The study area in ``crs``.
    crs
        The projected CRS.
    profiles
        The run's walking profiles.
    cutoffs
        Profile → threshold label → metres.
    cutoff_m
        The largest distance searched: a nearest distance beyond it is unknown (NaN).
    categories
        Destination categories, in report order.
    sources
        ``osm``, ``population``, ``gtfs``, ``boundary``, ``built_up`` (those given): ``{"name", "file",
        "vintage"}``.
    config
        The study region as configured (None for inputs assembled by hand).
    """

    origins: gpd.GeoDataFrame
    destinations: gpd.GeoDataFrame
    network: WalkNetwork
    osm: OsmData
    population: Population
    boundary: shapely.Geometry
    crs: str
    profiles: dict[str, Profile]
    cutoffs: dict[str, dict[str, float]]
    cutoff_m: float
    categories: list[str]
    sources: dict[str, list[dict[str, Any]]]
    config: StudyRegion | None = None

    @property
    def groups(self) -> dict[str, str]:
        """Population group → origins column, for the groups this population has."""
        return {g: c for g, c in GROUP_COLUMNS.items() if c in self.origins.columns}

    def weights(self, group: str = "all") -> Any:
        """People per origin of ``group`` (float array)."""
        return self.origins[GROUP_COLUMNS[group]].to_numpy(dtype=float)

    def pick_sources(self, *keys: str) -> list[dict[str, Any]]:
        """The source records of the given kinds (``osm``, ``population``, ``gtfs``, ``boundary``)."""
        return [record for key in keys for record in self.sources.get(key, [])]

    @classmethod
    def from_run(cls, run: AccessRun) -> AnalysisInputs:
        """The inputs of an access run."""
        region = run.region
        boundary = gpd.GeoSeries([region.boundary], crs="EPSG:4326").to_crs(region.crs).iloc[0]
        return cls(
            origins=run.origins,
            destinations=region.destinations,
            network=region.network,
            osm=region.osm,
            population=region.population,
            boundary=boundary,
            crs=region.crs,
            profiles=dict(region.config.profiles),
            cutoffs=run.access.cutoffs,
            cutoff_m=run.access.cutoff_m,
            categories=list(run.access.categories),
            sources=_sources(run),
            config=region.config,
        )


def _sources(run: AccessRun) -> dict[str, list[dict[str, Any]]]:
    cfg = run.region.config
    population = run.region.population
    sources: dict[str, list[dict[str, Any]]] = {
        "osm": [{"name": "OpenStreetMap", "file": cfg.osm.name, "vintage": _osm_vintage(cfg.osm)}],
        "population": [
            {
                "name": f"population ({population.source})",
                "file": cfg.population.path.name if cfg.population.path is not None else cfg.osm.name,
                "vintage": str(cfg.year) if cfg.year else _mtime(cfg.population.path or cfg.osm),
                "description": population.description,
            }
        ],
    }
    if cfg.gtfs:
        sources["gtfs"] = [{"name": "GTFS", "file": p.name, "vintage": _mtime(p)} for p in cfg.gtfs]
    if isinstance(cfg.boundary, Path):
        sources["boundary"] = [
            {"name": "boundary", "file": cfg.boundary.name, "vintage": _mtime(cfg.boundary)}
        ]
    if cfg.built_up is not None:
        path = cfg.built_up.path
        sources["built_up"] = [{"name": "built-up raster", "file": path.name, "vintage": _mtime(path)}]
    return sources


def _osm_vintage(path: Path) -> str:
    """The extract's replication timestamp from its header, else the file's modification date."""
    import osmium

    try:
        header = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
        stamp = header.header().get("osmosis_replication_timestamp")
        header.close()
    except (RuntimeError, OSError):
        stamp = ""
    return stamp or _mtime(path)


def _mtime(path: Path) -> str:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).date().isoformat()
    except OSError:
        return "unknown"
