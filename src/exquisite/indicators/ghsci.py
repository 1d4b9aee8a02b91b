"""The peer-comparable set: densities, access within 500 m and daily living, as GHSCI defines them.

The Global Healthy and Sustainable City Indicators (GHSCI) are the open peer a city is most likely to have
figures from. Each indicator here follows the peer's definition (shared/reference/peer-ghsci.md §2.3, §2.6,
§2.7) so that the two can be compared; where our inputs differ from the peer's, the record says so in its
caveats. Numbers (500 m, 12 m, the 25-city percentiles …) live in ``data/ghsci.yml``.

Per origin (columns of the origins table):

- ``ghsci__access_500m__<destination>``: 1 when the nearest destination is at most 500 m away along the
  network, else 0 (the peer's ``binary_access_score``);
- ``ghsci__daily_living``: the sum of the fresh-food, convenience and public-transport scores (0–3).

Per area (indicator records): ``ghsci_population_density``, ``ghsci_intersection_density``,
``ghsci_access_500m`` (parameter ``destination``) and ``ghsci_daily_living``.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from exquisite.access.compute import nearest_column
from exquisite.indicators.inputs import AnalysisInputs
from exquisite.indicators.parameters import load_parameters, method_version
from exquisite.indicators.records import Area, Indicator, population_share, weighted_mean
from exquisite.network.intersections import consolidated_intersections
from exquisite.region import GTFS_CATEGORIES

FILE = "ghsci.yml"

_ORIGIN_CAVEAT = (
    "Origins are the population's own cells or buildings, each weighted by the people living there; GHSCI "
    "uses sample points every 30 m along streets, averages them per 100 m grid cell and weights the cells by "
    "population, so figures can differ by a few points."
)
_SNAP_CAVEAT = (
    "Distances run along the walking network from where a home and a destination meet their nearest path; "
    "the straight-line distance to that path is not added, as in GHSCI."
)
_OPEN_SPACE_CAVEAT = (
    "Open spaces are measured polygon by polygon, with entrance points at most 50 m apart along their edge; "
    "GHSCI clusters adjoining spaces before measuring their size and places entry points every 20 m within "
    "30 m of a street."
)
_NO_PEOPLE = "No people live in this area, so the share cannot be computed."


def _params() -> dict[str, Any]:
    return load_parameters(FILE)["parameters"]


def destination_sets(destinations: gpd.GeoDataFrame) -> dict[str, np.ndarray]:
    """GTFS stops with a weekday daytime departure, and those with regular service (headway ≤ 20 min).

    The peer counts a GTFS stop as public transport when it has any departure in its weekday 07:00–19:00
    window (``pt_gtfs_any``), and as regular service when its headway is at most 20 minutes
    (``pt_gtfs_freq_20``). Both capacity classes count. Without GTFS stops there are no sets.

    Parameters
    ----------
    destinations
        The region's destinations; GTFS stops have ``headway_min``.

    Returns
    -------
    dict
        Set name → boolean mask over ``destinations``.
    """
    if "headway_min" not in destinations.columns:
        return {}
    params = _params()
    gtfs = destinations["category"].isin(list(GTFS_CATEGORIES.values())).to_numpy()
    headway = pd.to_numeric(destinations["headway_min"], errors="coerce").to_numpy(dtype=float)
    served = gtfs & np.isfinite(headway)
    sets: dict[str, np.ndarray] = {}
    for spec in params["destinations"].values():
        name = spec.get("gtfs")
        if name is None:
            continue
        if spec.get("gtfs_only"):
            sets[name] = served & (headway <= float(params["gtfs_regular_headway_min"]))
        else:
            sets[name] = served
    return sets


def origin_values(inputs: AnalysisInputs) -> pd.DataFrame:
    """Per origin: the binary access score of each destination and the daily-living score.

    A destination whose category is not in the run's taxonomy (or a GTFS-only one without GTFS) has no
    column; the daily-living score then has none either.
    """
    params = _params()
    columns: dict[str, np.ndarray] = {}
    scores = _access_scores(inputs)
    for name, within in scores.items():
        columns[f"ghsci__access_500m__{name}"] = within.astype(np.int8)
    parts = params["daily_living"]
    if all(part in scores for part in parts):
        columns["ghsci__daily_living"] = np.sum([scores[p] for p in parts], axis=0).astype(np.int8)
    return pd.DataFrame(columns, index=inputs.origins.index)


def indicators(inputs: AnalysisInputs, area: Area) -> list[Indicator]:
    """Population density, intersection density, access within 500 m and the daily-living score of ``area``.

    Parameters
    ----------
    inputs
        The run, with every family's per-origin columns.
    area
        The city or one district.

    Returns
    -------
    list of Indicator
        Records for the whole population (the peer gives no age breakdown).
    """
    params = _params()
    version = method_version(FILE)
    weights = inputs.weights("all")[area.origins]
    records = [
        _population_density(inputs, area, weights, version),
        _intersection_density(inputs, area, version, params),
    ]
    scores = _access_scores(inputs)
    has_gtfs = _has_gtfs(inputs)
    distance = float(params["access_distance_m"])
    searched = inputs.cutoff_m >= distance
    for name, spec in params["destinations"].items():
        if spec.get("gtfs_only") and not has_gtfs:
            continue
        caveats = _access_caveats(name, spec, has_gtfs)
        parameters: dict[str, Any] = {
            "destination": name,
            "distance_m": distance,
            "peer_indicator": spec["peer"],
        }
        if spec.get("category"):
            parameters["category"] = spec["category"]
        if spec.get("gtfs") and has_gtfs:
            parameters["gtfs_set"] = spec["gtfs"]
        reference = params["reference_25_cities"].get(spec.get("reference", ""))
        if reference is not None:
            parameters["peer_reference_25_cities"] = dict(reference)
        value, num, den = None, None, float(np.sum(weights))
        if name not in scores:
            caveats.append(f"The category {spec.get('category')} is not in this run's taxonomy.")
        elif not searched:
            caveats.append(
                f"The access run searched only {inputs.cutoff_m:.0f} m, less than {distance:.0f} m."
            )
        else:
            value, num, den = population_share(weights, scores[name][area.origins])
            if value is None:
                caveats.append(_NO_PEOPLE)
        if value is not None and reference is not None:
            parameters["peer_position"] = peer_position(value, reference)
        sources = inputs.pick_sources("osm", "population", *(("gtfs",) if spec.get("gtfs") else ()))
        records.append(
            Indicator(
                id="ghsci_access_500m",
                value=value,
                unit="%",
                numerator=num,
                denominator=den,
                area=area.name,
                parameters=parameters,
                sources=sources,
                method_version=version,
                caveats=caveats,
            )
        )
    records.append(_daily_living(inputs, area, weights, scores, params, version, has_gtfs))
    return records


def peer_position(value: float, reference: dict[str, float]) -> str:
    """Where ``value`` falls among the peer's 25 cities.

    Returns
    -------
    str
        ``"below p25"``, ``"p25-p50"``, ``"p50-p75"`` or ``"above p75"``.
    """
    if value < reference["p25"]:
        return "below p25"
    if value < reference["p50"]:
        return "p25-p50"
    if value < reference["p75"]:
        return "p50-p75"
    return "above p75"


def _has_gtfs(inputs: AnalysisInputs) -> bool:
    names = [spec["gtfs"] for spec in _params()["destinations"].values() if spec.get("gtfs")]
    return bool(names) and all(nearest_column(n) in inputs.origins.columns for n in names)


def _access_scores(inputs: AnalysisInputs) -> dict[str, np.ndarray]:
    """Destination → boolean per origin: nearest at most the access distance (best of OSM and GTFS)."""
    params = _params()
    distance = float(params["access_distance_m"])
    origins = inputs.origins
    has_gtfs = _has_gtfs(inputs)
    scores: dict[str, np.ndarray] = {}
    for name, spec in params["destinations"].items():
        columns = []
        if spec.get("category"):
            if nearest_column(spec["category"]) not in origins.columns:
                continue
            columns.append(nearest_column(spec["category"]))
        if spec.get("gtfs") and has_gtfs:
            columns.append(nearest_column(spec["gtfs"]))
        if not columns:
            continue
        nearest = np.full(len(origins), np.nan)
        for column in columns:
            nearest = np.fmin(nearest, origins[column].to_numpy(dtype=float))
        scores[name] = np.nan_to_num(nearest, nan=np.inf) <= distance
    return scores


def _access_caveats(name: str, spec: dict[str, Any], has_gtfs: bool) -> list[str]:
    caveats = [_ORIGIN_CAVEAT, _SNAP_CAVEAT]
    if "open_space" in name:
        caveats.append(_OPEN_SPACE_CAVEAT)
    if spec.get("gtfs") and not spec.get("gtfs_only"):
        if has_gtfs:
            caveats.append(
                "A home counts as served by the nearer of an OSM stop and a GTFS stop with a weekday daytime "
                "departure, as GHSCI's pt_any does."
            )
        else:
            caveats.append("No GTFS feed was given: OSM stops only, whereas GHSCI also counts GTFS stops.")
    if spec.get("gtfs_only"):
        caveats.append(
            "Headway per stop is the busiest direction's weekday 07:00-19:00 headway on the analysed day; "
            "GHSCI averages it over the weekdays of a date range."
        )
    return caveats


def _population_density(inputs: AnalysisInputs, area: Area, weights: np.ndarray, version: str) -> Indicator:
    people = float(np.sum(weights))
    km2 = area.area_km2
    caveats = [
        "People are those of the origins inside the area; GHSCI sums whole 100 m grid cells that touch its "
        "urban study region (the boundary cut to the GHSL urban centre) and divides by that region's area."
    ]
    if inputs.population.is_estimate:
        caveats.append(f"The population is an estimate: {inputs.population.description}.")
    value = people / km2 if km2 > 0 else None
    if value is None:
        caveats.append("The area has no extent.")
    return Indicator(
        id="ghsci_population_density",
        value=value,
        unit="per km²",
        numerator=people,
        denominator=km2,
        area=area.name,
        parameters={"area_km2": km2},
        sources=inputs.pick_sources("population", "boundary"),
        method_version=version,
        caveats=caveats,
    )


def _intersection_density(
    inputs: AnalysisInputs, area: Area, version: str, params: dict[str, Any]
) -> Indicator:
    spec = params["intersections"]
    intersections = consolidated_intersections(
        inputs.network,
        float(spec["tolerance_m"]),
        int(spec["min_degree"]),
        tuple(spec["exclude_highway"]),
    )
    count = float(intersections.count_within(area.geometry))
    km2 = area.area_km2
    caveats = [
        "The walking network includes footways, sidewalks and crossings mapped as their own ways, as GHSCI's "
        "pedestrian network does; where sidewalks are mapped, nodes within 24 m chain into one intersection.",
        "Intersections are nodes where at least three segments meet on the unsimplified network; GHSCI drops "
        "dead ends from OSMnx's simplified graph, which may keep a few joints of two ways (e.g. where a way "
        "changes) that are not counted here.",
        "GHSCI keeps only the largest connected piece of the network by default; every piece with at least "
        "the minimum number of nodes is kept here.",
    ]
    value = count / km2 if km2 > 0 else None
    if value is None:
        caveats.append("The area has no extent.")
    return Indicator(
        id="ghsci_intersection_density",
        value=value,
        unit="per km²",
        numerator=count,
        denominator=km2,
        area=area.name,
        parameters={
            "tolerance_m": float(spec["tolerance_m"]),
            "min_degree": int(spec["min_degree"]),
            "exclude_highway": list(spec["exclude_highway"]),
            "area_km2": km2,
        },
        sources=inputs.pick_sources("osm", "boundary"),
        method_version=version,
        caveats=caveats,
    )


def _daily_living(
    inputs: AnalysisInputs,
    area: Area,
    weights: np.ndarray,
    scores: dict[str, np.ndarray],
    params: dict[str, Any],
    version: str,
    has_gtfs: bool,
) -> Indicator:
    parts = list(params["daily_living"])
    caveats = [_ORIGIN_CAVEAT, _SNAP_CAVEAT]
    if not has_gtfs:
        caveats.append("No GTFS feed was given: public transport counts OSM stops only.")
    value, num, den = None, None, float(np.sum(weights))
    missing = [p for p in parts if p not in scores]
    if missing:
        caveats.append(f"Not in this run's taxonomy: {', '.join(missing)}.")
    elif inputs.cutoff_m < float(params["access_distance_m"]):
        caveats.append(f"The access run searched only {inputs.cutoff_m:.0f} m.")
    else:
        score = np.sum([scores[p][area.origins] for p in parts], axis=0).astype(float)
        value, num, den = weighted_mean(weights, score)
        if value is None:
            caveats.append("No people live in this area, so the mean cannot be computed.")
    return Indicator(
        id="ghsci_daily_living",
        value=value,
        unit="score",
        numerator=num,
        denominator=den,
        area=area.name,
        parameters={
            "components": parts,
            "distance_m": float(params["access_distance_m"]),
            "range": [0, len(parts)],
            "peer_indicator": "pop_daily_living",
        },
        sources=inputs.pick_sources("osm", "population", *(("gtfs",) if has_gtfs else ())),
        method_version=version,
        caveats=caveats,
    )
