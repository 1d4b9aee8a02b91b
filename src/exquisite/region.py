"""A study region made ready for analysis: its boundary, walking network, origins and destinations."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from exquisite.boundary import check_overlap, load_boundary, region_crs, utm_crs
from exquisite.errors import InputError
from exquisite.network.build import build_network
from exquisite.network.graph import WalkNetwork
from exquisite.network.snap import Snapped, snap_points
from exquisite.places import destinations_from_features
from exquisite.sources.gtfs import GtfsStops, read_gtfs
from exquisite.sources.osm import OsmData, read_osm
from exquisite.sources.population import Population, load_population
from exquisite.taxonomy import Taxonomy, load_taxonomy

if TYPE_CHECKING:
    from exquisite.config import StudyRegion

#: Categories given to GTFS stops by capacity class (SDG 11.2.1: low = bus/tram, high = rail/metro/ferry).
GTFS_CATEGORIES = {"low": "gtfs_stop_low", "high": "gtfs_stop_high"}

StepReporter = Callable[[str, float], None]


@dataclass(frozen=True)
class Region:
    """Everything the access engine needs about one city, in one projected CRS.

    Attributes
    ----------
    config
        The study region as configured.
    boundary
        The study area (EPSG:4326).
    crs
        Projected CRS of the network, origins and destinations.
    network
        The walking network (covering the study area plus the largest walking distance around it).
    population
        The population source's result; ``population.origins`` are the origins.
    destinations
        One row per (point, category), projected: category, osm_type, osm_id, name, area_m2, entrance,
        plus ``capacity`` and ``headway_min`` for GTFS stops.
    categories
        Every category of the taxonomy (and the GTFS ones when feeds are given), in report order.
    origin_snap, destination_snap
        Where origins and destinations meet the network.
    transit
        The GTFS stops, when feeds were given.
    osm
        What was read from the PBF.
    warnings
        Things the user should know (dropped stops, estimates …), as sentences.
    timings
        Seconds per step.
    """

    config: StudyRegion
    boundary: shapely.Geometry
    crs: str
    network: WalkNetwork
    population: Population
    destinations: gpd.GeoDataFrame
    categories: list[str]
    origin_snap: Snapped
    destination_snap: Snapped
    taxonomy: Taxonomy
    osm: OsmData
    transit: GtfsStops | None = None
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def origins(self) -> gpd.GeoDataFrame:
        """The populated origins (projected points with ``population`` and age groups when known)."""
        return self.population.origins


def prepare_region(config: StudyRegion, cutoff_m: float, report: StepReporter | None = None) -> Region:
    """Read a study region's sources and build its network, origins and destinations.

    Parameters
    ----------
    config
        The validated study region.
    cutoff_m
        The largest walking distance that will be asked of the network; it is built this far beyond the
        study area so that trips near the edge are not cut short.
    report
        Called with each finished step's name and duration (for progress display).

    Returns
    -------
    Region
        The region, ready for :func:`exquisite.access.run.run_access`.
    """
    timings: dict[str, float] = {}
    warnings: list[str] = []

    def done(step: str, started: float) -> None:
        timings[step] = time.perf_counter() - started
        if report is not None:
            report(step, timings[step])

    t0 = time.perf_counter()
    taxonomy = load_taxonomy(None if config.taxonomy == "default" else config.taxonomy)
    boundary = None if config.boundary is None else load_boundary(config)
    read_area = None if boundary is None else _buffer_wgs84(boundary, cutoff_m)
    osm = read_osm(config.osm, taxonomy, bbox=None if read_area is None else tuple(read_area.bounds))
    if boundary is None:
        boundary = shapely.box(*osm.bounds)
        read_area = _buffer_wgs84(boundary, cutoff_m)
    else:
        check_overlap(boundary, osm.bounds, f"the OSM extract {config.osm.name}", str(config.osm))
    crs = region_crs(config, boundary)
    done("read OSM", t0)

    t0 = time.perf_counter()
    network = build_network(osm.walk_ways, crs, area=read_area)
    if network.n_edges == 0:
        raise InputError(
            config.osm,
            "there is no walkable street or path inside the study area",
            "Check that the boundary lies over the extract's streets (lon/lat order in a bbox).",
        )
    done("walking network", t0)

    t0 = time.perf_counter()
    pop = config.population
    population = load_population(
        pop.source,
        config.osm if pop.source == "buildings" else pop.path,  # the file the buildings come from
        boundary=boundary,
        crs=crs,
        column=pop.column,
        id_column=pop.id_column,
        band=pop.band or 1,
        buildings=osm.buildings if pop.source == "buildings" else None,
        floor_area_per_person_m2=pop.floor_area_per_person_m2,
        total=pop.total,
        age_shares=pop.age_shares,
        age_columns=pop.age_columns,
    )
    if population.is_estimate:
        warnings.append(f"Population is an estimate: {population.description}.")
    done("population", t0)

    t0 = time.perf_counter()
    destinations = destinations_from_features(osm.features, taxonomy, network)
    categories = list(taxonomy.categories)
    transit = None
    if config.gtfs:
        transit = read_gtfs(
            list(config.gtfs),
            boundary=read_area,
            **({"window": config.gtfs_window} if config.gtfs_window else {}),
        )
        warnings.extend(transit.warnings)
        destinations = pd.concat([destinations, _gtfs_destinations(transit, crs)], ignore_index=True)
        categories += list(GTFS_CATEGORIES.values())
    destinations = gpd.GeoDataFrame(destinations, geometry="geometry", crs=crs)
    done("destinations", t0)

    t0 = time.perf_counter()
    origins = population.origins
    origin_snap = snap_points(network, origins.geometry.x.to_numpy(), origins.geometry.y.to_numpy())
    node_ids = np.where(destinations["osm_type"].eq("node"), destinations["osm_id"].fillna(-1), -1)
    destination_snap = snap_points(
        network,
        destinations.geometry.x.to_numpy(),
        destinations.geometry.y.to_numpy(),
        osm_node_id=node_ids.astype(np.int64),
    )
    done("snap", t0)

    return Region(
        config=config,
        boundary=boundary,
        crs=crs,
        network=network,
        population=population,
        destinations=destinations,
        categories=categories,
        origin_snap=origin_snap,
        destination_snap=destination_snap,
        taxonomy=taxonomy,
        osm=osm,
        transit=transit,
        warnings=warnings,
        timings=timings,
    )


def _gtfs_destinations(transit: GtfsStops, crs: str) -> gpd.GeoDataFrame:
    """GTFS stops as destinations, one category per capacity class."""
    stops = transit.stops.to_crs(crs)
    return gpd.GeoDataFrame(
        {
            "category": stops["capacity"].map(GTFS_CATEGORIES).to_numpy(),
            "osm_type": "gtfs",
            "osm_id": -1,
            "name": stops["name"].to_numpy(),
            "stop_id": stops["stop_id"].to_numpy(),
            "capacity": stops["capacity"].to_numpy(),
            "headway_min": stops["headway_min"].to_numpy(),
            "area_m2": np.nan,
            "entrance": False,
        },
        geometry=stops.geometry.to_numpy(),
        crs=crs,
    )


def _buffer_wgs84(area: shapely.Geometry, metres: float) -> shapely.Geometry:
    """``area`` (EPSG:4326) buffered by ``metres``, computed in its local UTM zone."""
    crs = utm_crs(area)
    projected = gpd.GeoSeries([area], crs="EPSG:4326").to_crs(crs)
    return projected.buffer(metres).to_crs("EPSG:4326").iloc[0]
