"""SDG 11.2.1 (convenient access to public transport) and SDG 11.7.1 (open public space).

Formulas (parameters and their sources in ``exquisite/data/sdg11.yml``; spec: ``methods.md`` §1 and §2):

* **11.2.1** ``sdg_11_2_1``: an origin is served when its walk along the network to the nearest
  low-capacity stop is ≤ 500 m, or to the nearest high-capacity stop ≤ 1,000 m; the value is people served ÷
  people × 100. Variant ``any``: OSM stops (``bus_stop``, ``tram_stop`` as configured, ``rail_station``) and
  every GTFS stop; variants ``gtfs_headway_le_<h>min``: GTFS stops whose weekday daytime headway is ≤ h
  minutes (their distances come from :func:`destination_sets`).
* **11.7.1 access** ``sdg_11_7_1_access``: people within a 400 m walk of an open-space entrance ÷ people,
  for any open public space and for those larger than 1.5 ha.
* **11.7.1 land share**, inside the area: ``OPS`` = area of the union of open-space polygons; ``S`` = Σ edge
  length (inside the area, outside open space) × the width of its highway class; ``B`` = area of the union
  of buildings, built-up land use and open space, plus the street area outside that union. The three series
  are ``OPS / B``, ``S / B`` and ``(OPS + S) / B`` in %, and OPS per resident (m²/person) as context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from exquisite.indicators.inputs import AnalysisInputs
from exquisite.indicators.parameters import load_parameters, method_version
from exquisite.indicators.records import Area, Indicator, population_share
from exquisite.region import GTFS_CATEGORIES
from exquisite.sources.builtup import built_up_area_m2

__all__ = ["LandShare", "destination_sets", "indicators", "land_share", "origin_values"]

FAMILY_FILE = "sdg11.yml"
_POLYGONAL = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)


def _parameters() -> dict[str, Any]:
    return load_parameters(FAMILY_FILE)["parameters"]


# ---------------------------------------------------------------------------------------------- 11.2.1


def _headway_label(minutes: float) -> str:
    return f"{minutes:g}".replace(".", "_")


def _headway_set(capacity: str, minutes: float) -> str:
    """Name of the destination set of GTFS stops of ``capacity`` with headway ≤ ``minutes``."""
    return f"sdg11_gtfs_{capacity}_headway_le_{_headway_label(minutes)}"


def destination_sets(destinations: gpd.GeoDataFrame) -> dict[str, np.ndarray]:
    """GTFS stops of each capacity class with a headway at most each threshold of ``sdg11.yml``.

    Parameters
    ----------
    destinations
        The region's destinations (``category``; GTFS stops also have ``headway_min``, NaN when nothing
        departs in the weekday daytime window).

    Returns
    -------
    dict
        ``sdg11_gtfs_<low|high>_headway_le_<h>`` → boolean mask over the destinations; empty without GTFS.
    """
    category = destinations["category"].to_numpy(dtype=object)
    gtfs = np.isin(category, list(GTFS_CATEGORIES.values()))
    if "headway_min" not in destinations.columns or not gtfs.any():
        return {}
    headway = pd.to_numeric(destinations["headway_min"], errors="coerce").to_numpy(dtype=np.float64)
    sets = {}
    for threshold in _parameters()["transit"]["headway_thresholds_min"]:
        minutes = float(threshold)
        with np.errstate(invalid="ignore"):
            frequent = headway <= minutes  # NaN (no daytime service) is never frequent
        for capacity, name in GTFS_CATEGORIES.items():
            sets[_headway_set(capacity, minutes)] = (category == name) & frequent
    return sets


@dataclass(frozen=True)
class _TransitVariant:
    """Which nearest-distance columns count as low- and high-capacity stops for one 11.2.1 variant."""

    name: str
    low: list[str]
    high: list[str]
    max_headway_min: float | None
    caveats: list[str]


def _transit_variants(inputs: AnalysisInputs) -> list[_TransitVariant]:
    """The 11.2.1 variants this run has data for: ``any`` always, the headway ones with GTFS."""
    transit = _parameters()["transit"]
    classes: dict[str, list[str]] = {"low": [], "high": []}
    caveats = []
    for category, given in transit["osm_categories"].items():
        capacity = transit["tram_capacity"] if given == "tram" else given
        if category in inputs.categories:
            classes[capacity].append(category)
        else:
            caveats.append(f"The taxonomy has no '{category}' category: those stops are not counted.")
    has_gtfs = any(name in inputs.categories for name in GTFS_CATEGORIES.values())
    for capacity, name in GTFS_CATEGORIES.items():
        if name in inputs.categories:
            classes[capacity].append(name)
    if not has_gtfs:
        caveats.append(
            "No GTFS feed was given: OSM stops only, whatever their service frequency; the headway variants "
            "(≤ 30, ≤ 20, ≤ 10 min) need a feed and are not reported."
        )
    else:
        caveats.append(
            "OSM stops and GTFS stops with any service on the analysed day count, whatever their frequency."
        )
    variants = [
        _TransitVariant(
            "any",
            [f"nearest_m__{c}" for c in classes["low"]],
            [f"nearest_m__{c}" for c in classes["high"]],
            None,
            caveats,
        )
    ]
    if not has_gtfs:
        return variants
    for threshold in transit["headway_thresholds_min"]:
        minutes = float(threshold)
        low, high = (f"nearest_m__{_headway_set(c, minutes)}" for c in ("low", "high"))
        if low not in inputs.origins.columns or high not in inputs.origins.columns:
            continue
        variants.append(
            _TransitVariant(
                f"gtfs_headway_le_{_headway_label(minutes)}min",
                [low],
                [high],
                minutes,
                [
                    f"GTFS stops only, with a weekday daytime average headway of at most {minutes:g} min "
                    "(departures in the gtfs.yml window, busiest direction); OSM stops are not counted."
                ],
            )
        )
    return variants


def _nearest(origins: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The smallest of ``columns`` per origin (NaN where all are NaN or there is no column)."""
    if not columns:
        return np.full(len(origins), np.nan)
    values = origins[columns].to_numpy(dtype=np.float64)
    with np.errstate(all="ignore"):
        return np.fmin.reduce(values, axis=1)


def _served_by_transit(origins: pd.DataFrame, variant: _TransitVariant) -> np.ndarray:
    transit = _parameters()["transit"]
    with np.errstate(invalid="ignore"):
        low = _nearest(origins, variant.low) <= float(transit["low_capacity_m"])
        high = _nearest(origins, variant.high) <= float(transit["high_capacity_m"])
    return low | high


def _open_space_variants() -> dict[str, str]:
    """Access variant → open-space category (``any``, ``large``)."""
    return dict(_parameters()["open_space"]["categories"])


def _served_by_open_space(origins: pd.DataFrame, category: str) -> np.ndarray:
    column = f"nearest_m__{category}"
    if column not in origins.columns:
        return np.zeros(len(origins), dtype=bool)
    with np.errstate(invalid="ignore"):
        return origins[column].to_numpy(dtype=np.float64) <= float(_parameters()["open_space"]["access_m"])


def origin_values(inputs: AnalysisInputs) -> pd.DataFrame:
    """Per origin: served by public transport (each 11.2.1 variant) and by open public space (11.7.1).

    Returns
    -------
    pandas.DataFrame
        Boolean columns ``sdg11__transit_served__<variant>`` and ``sdg11__open_space_served__<any|large>``,
        in the row order of ``inputs.origins``.
    """
    origins = inputs.origins
    columns: dict[str, np.ndarray] = {}
    for variant in _transit_variants(inputs):
        columns[f"sdg11__transit_served__{variant.name}"] = _served_by_transit(origins, variant)
    for name, category in _open_space_variants().items():
        columns[f"sdg11__open_space_served__{name}"] = _served_by_open_space(origins, category)
    return pd.DataFrame(columns, index=origins.index)


# ---------------------------------------------------------------------------------------------- 11.7.1 land


@dataclass(frozen=True)
class LandShare:
    """The parts of the SDG 11.7.1 land share inside one area, in m².

    Attributes
    ----------
    open_space_m2
        Area of open public space (union of its polygons) inside the area.
    streets_m2
        Land allocated to streets: Σ edge length inside the area and outside open space × class width.
    built_up_m2
        Built-up area: union of buildings, built-up land use and open space inside the area, plus the
        street area outside that union.
    street_length_m
        Length of the edges counted for ``streets_m2`` (those with a width above zero).
    streets_outside_m2
        The street area lying outside buildings, built-up land use and open space (part of ``built_up_m2``).
    """

    open_space_m2: float
    streets_m2: float
    built_up_m2: float
    street_length_m: float
    streets_outside_m2: float


@dataclass(frozen=True)
class _LandLayers:
    """Dissolved polygons and street lines of a run, computed once and clipped to each area."""

    open_space: np.ndarray  # disjoint polygons (parts of the union)
    built_up: np.ndarray  # polygons without overlaps: buildings ∪ built-up landuse ∪ open space
    lines: np.ndarray  # edges with a width > 0
    widths: np.ndarray  # m, per line


_LAYERS: dict[str, tuple[object, object, _LandLayers]] = {}


def _layers(inputs: AnalysisInputs) -> _LandLayers:
    """The run's land layers (cached for the last run seen: every area of a run reuses them)."""
    cached = _LAYERS.get(inputs.crs)
    if cached is not None and cached[0] is inputs.osm and cached[1] is inputs.network:
        return cached[2]
    params = _parameters()
    category = params["open_space"]["land_share_category"]
    features = inputs.osm.features
    chosen = np.array([category in cats for cats in features["categories"]], dtype=bool)
    open_space = _dissolve(_projected(features.geometry.values[chosen], inputs.crs))
    land = getattr(inputs.osm, "landuse", None)
    landuse = _projected(land.geometry.values, inputs.crs) if land is not None else np.empty(0, dtype=object)
    buildings = _projected(inputs.osm.buildings.geometry.values, inputs.crs)
    lines, widths = _street_lines(inputs)
    layers = _LandLayers(open_space, _built_up(open_space, landuse, buildings), lines, widths)
    _LAYERS.clear()
    _LAYERS[inputs.crs] = (inputs.osm, inputs.network, layers)
    return layers


def _projected(geometry: np.ndarray, crs: str) -> np.ndarray:
    """Valid polygons of ``geometry`` (EPSG:4326) in ``crs``, one row per polygon part."""
    if len(geometry) == 0:
        return np.empty(0, dtype=object)
    polygons = np.asarray(gpd.GeoSeries(geometry, crs="EPSG:4326").to_crs(crs).values, dtype=object)
    polygons = polygons[np.isin(shapely.get_type_id(polygons), _POLYGONAL)]
    invalid = ~shapely.is_valid(polygons)
    polygons[invalid] = shapely.make_valid(polygons[invalid])
    parts = shapely.get_parts(polygons)
    return parts[shapely.get_type_id(parts) == shapely.GeometryType.POLYGON]


def _dissolve(polygons: np.ndarray) -> np.ndarray:
    """Disjoint polygons covering the union of ``polygons``."""
    if len(polygons) == 0:
        return np.empty(0, dtype=object)
    parts = shapely.get_parts(shapely.union_all(polygons))
    return parts[shapely.get_type_id(parts) == shapely.GeometryType.POLYGON]


def _built_up(open_space: np.ndarray, landuse: np.ndarray, buildings: np.ndarray) -> np.ndarray:
    """Polygons covering buildings ∪ built-up land use ∪ open space, without overlaps between them.

    Land use and open space are dissolved; buildings are not (a union of every building takes seconds in a
    large city): a building wholly inside that land is left out, one partly inside keeps only its part
    outside, and the others are kept whole. Buildings are taken not to overlap one another (an overlap in
    OSM is a mapping error), so two overlapping buildings outside land use would count their overlap twice.
    """
    zones = _dissolve(np.concatenate([open_space, landuse]))
    if len(zones) == 0 or len(buildings) == 0:
        return np.concatenate([zones, buildings])
    shapely.prepare(zones)
    zone_i, building_i = shapely.STRtree(buildings).query(zones, predicate="intersects")
    inside = shapely.contains_properly(zones[zone_i], buildings[building_i])
    kept = buildings.copy()
    kept[np.unique(building_i[inside])] = None
    cut_zone, cut_building = zone_i[~inside], building_i[~inside]
    cut = ~shapely.is_missing(kept[cut_building])
    cut_zone, cut_building = cut_zone[cut], cut_building[cut]
    # a building crossing one zone's edge loses that part in one vectorised step; one crossing several,
    # one zone at a time
    ones, counts = np.unique(cut_building, return_counts=True)
    single = np.isin(cut_building, ones[counts == 1])
    kept[cut_building[single]] = shapely.difference(kept[cut_building[single]], zones[cut_zone[single]])
    for z, b in zip(cut_zone[~single], cut_building[~single], strict=True):
        kept[b] = shapely.difference(kept[b], zones[z])
    kept = kept[~shapely.is_missing(kept)]
    pieces = shapely.get_parts(kept)
    polygon = shapely.get_type_id(pieces) == shapely.GeometryType.POLYGON
    pieces = pieces[polygon & (shapely.area(pieces) > 0)]
    return np.concatenate([zones, pieces])


def _street_lines(inputs: AnalysisInputs) -> tuple[np.ndarray, np.ndarray]:
    """The network's edges with a street width above zero, and their widths (m)."""
    streets = _parameters()["streets"]
    table = {str(k): float(v) for k, v in streets["widths_m"].items()}
    highway = pd.Series(inputs.network.edge_highway.astype(str))
    widths = highway.map(table).fillna(float(streets["default_width_m"])).to_numpy(dtype=np.float64)
    keep = widths > 0
    if not keep.any():
        return np.empty(0, dtype=object), np.empty(0)
    return inputs.network.edge_lines()[keep], widths[keep]


def _clip_lines(lines: np.ndarray, area: shapely.Geometry) -> tuple[np.ndarray, np.ndarray]:
    """The parts of ``lines`` inside ``area`` and the index of the line each comes from."""
    if len(lines) == 0:
        return lines, np.empty(0, dtype=np.int64)
    shapely.prepare(area)
    index = shapely.STRtree(lines).query(area, predicate="intersects")
    index.sort()
    chosen = lines[index]
    whole = shapely.contains_properly(area, chosen)
    clipped = chosen.copy()
    clipped[~whole] = shapely.intersection(chosen[~whole], area)
    return clipped, index


def _length_inside(lines: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Length of each line inside the union of disjoint ``polygons``."""
    result = np.zeros(len(lines))
    if len(lines) == 0 or len(polygons) == 0:
        return result
    shapely.prepare(polygons)  # the polygons are the query geometries: prepared once each
    poly_i, line_i = shapely.STRtree(lines).query(polygons, predicate="intersects")
    whole = shapely.contains_properly(polygons[poly_i], lines[line_i])
    length = shapely.length(lines[line_i])
    part = ~whole
    length[part] = shapely.length(shapely.intersection(lines[line_i[part]], polygons[poly_i[part]]))
    np.add.at(result, line_i, length)
    return result


def _area_inside(polygons: np.ndarray, area: shapely.Geometry) -> float:
    """Area of the union of disjoint ``polygons`` inside ``area``."""
    if len(polygons) == 0:
        return 0.0
    shapely.prepare(area)
    index = shapely.STRtree(polygons).query(area, predicate="intersects")
    chosen = polygons[index]
    whole = shapely.contains_properly(area, chosen)
    total = float(shapely.area(chosen[whole]).sum())
    return total + float(shapely.area(shapely.intersection(chosen[~whole], area)).sum())


def land_share(
    area: shapely.Geometry,
    open_space: np.ndarray,
    built_up: np.ndarray,
    lines: np.ndarray,
    widths: np.ndarray,
) -> LandShare:
    """The open space, street and built-up areas of SDG 11.7.1 inside ``area``.

    Parameters
    ----------
    area
        The city or district (projected, metres).
    open_space
        Disjoint open public space polygons (the parts of their union).
    built_up
        Disjoint polygons of buildings ∪ built-up land use ∪ open space (``open_space`` must lie inside).
    lines, widths
        Street centre lines and their right-of-way widths in metres.

    Returns
    -------
    LandShare
        ``open_space_m2`` = area(OPS ∩ area); ``streets_m2`` = Σ width × length(line ∩ area − OPS);
        ``built_up_m2`` = area(built-up ∩ area) + Σ width × length(line ∩ area − built-up).
    """
    ops_m2 = _area_inside(open_space, area)
    clipped, index = _clip_lines(lines, area)
    width = widths[index]
    length = shapely.length(clipped) if len(clipped) else np.empty(0)
    outside_ops = length - _length_inside(clipped, open_space)
    outside_built = length - _length_inside(clipped, built_up)
    streets_m2 = float(np.sum(width * np.clip(outside_ops, 0.0, None)))
    streets_outside_m2 = float(np.sum(width * np.clip(outside_built, 0.0, None)))
    built_m2 = _area_inside(built_up, area) + streets_outside_m2
    street_length = float(np.sum(np.clip(outside_ops, 0.0, None)))
    return LandShare(ops_m2, streets_m2, built_m2, street_length, streets_outside_m2)


# ---------------------------------------------------------------------------------------------- records


def indicators(inputs: AnalysisInputs, area: Area) -> list[Indicator]:
    """The SDG 11.2.1 and 11.7.1 records of one area (the city or a district).

    Parameters
    ----------
    inputs
        The run, its origins holding this family's per-origin columns (:func:`origin_values`).
    area
        The area and its origins.

    Returns
    -------
    list of Indicator
        ``sdg_11_2_1`` per variant and population group; ``sdg_11_7_1_access`` for any and large open
        space per group; ``sdg_11_7_1_share_ops``, ``_share_streets``, ``_share_ops_and_streets`` and
        ``sdg_11_7_1_ops_per_capita`` for everyone.
    """
    if not {c for c in inputs.origins.columns if c.startswith("sdg11__")}:
        values = origin_values(inputs)
        origins = pd.concat([inputs.origins, values], axis=1)
    else:
        origins = inputs.origins
    return [
        *_transit_records(inputs, origins, area),
        *_open_space_records(inputs, origins, area),
        *_land_records(inputs, area),
    ]


def _shares(
    inputs: AnalysisInputs, origins: pd.DataFrame, area: Area, served: np.ndarray
) -> list[tuple[str, float | None, float, float]]:
    """(group, %, people served, people) for each population group of the area."""
    mask = np.asarray(area.origins, dtype=bool)
    result = []
    for group in inputs.groups:
        weights = inputs.weights(group)[mask]
        result.append((group, *population_share(weights, served[mask])))
    return result


_NO_PEOPLE = "No population lives in this area: the share cannot be computed."


def _transit_records(inputs: AnalysisInputs, origins: pd.DataFrame, area: Area) -> list[Indicator]:
    transit = _parameters()["transit"]
    records = []
    for variant in _transit_variants(inputs):
        served = origins[f"sdg11__transit_served__{variant.name}"].to_numpy(dtype=bool)
        caveats = list(variant.caveats)
        caveats.append(
            "Accessibility for people with disabilities and the stop environment (metadata criteria) are not "
            "assessed; ferry piers are counted only when they are in a GTFS feed."
        )
        if inputs.cutoff_m < float(transit["high_capacity_m"]):
            caveats.append(
                f"Distances were searched only to {inputs.cutoff_m:g} m: high-capacity stops farther than "
                "that are not counted."
            )
        parameters = {
            "variant": variant.name,
            "low_capacity_m": float(transit["low_capacity_m"]),
            "high_capacity_m": float(transit["high_capacity_m"]),
            "low_capacity": [c.removeprefix("nearest_m__") for c in variant.low],
            "high_capacity": [c.removeprefix("nearest_m__") for c in variant.high],
            "tram_capacity": transit["tram_capacity"],
            "max_headway_min": variant.max_headway_min,
        }
        keys = ("osm", "population") if variant.max_headway_min is None else ("population",)
        sources = inputs.pick_sources(*keys, "gtfs")
        for group, value, num, den in _shares(inputs, origins, area, served):
            records.append(
                Indicator(
                    id="sdg_11_2_1",
                    value=value,
                    unit="%",
                    numerator=num,
                    denominator=den,
                    group=group,
                    area=area.name,
                    parameters=parameters,
                    sources=sources,
                    method_version=method_version(FAMILY_FILE),
                    caveats=caveats + ([_NO_PEOPLE] if value is None else []),
                )
            )
    return records


def _open_space_records(inputs: AnalysisInputs, origins: pd.DataFrame, area: Area) -> list[Indicator]:
    open_space = _parameters()["open_space"]
    records = []
    for name, category in _open_space_variants().items():
        served = origins[f"sdg11__open_space_served__{name}"].to_numpy(dtype=bool)
        caveats = [
            "Open public space is what OpenStreetMap maps as public parks, squares, green and recreation "
            "areas (taxonomy.yml); its completeness varies by city.",
            "Entrances are points every 50 m along each space's edge near a path, not mapped gates.",
        ]
        if category not in inputs.categories:
            caveats.append(f"The taxonomy has no '{category}' category: nobody is counted as served.")
        parameters = {"variant": name, "category": category, "distance_m": float(open_space["access_m"])}
        for group, value, num, den in _shares(inputs, origins, area, served):
            records.append(
                Indicator(
                    id="sdg_11_7_1_access",
                    value=value,
                    unit="%",
                    numerator=num,
                    denominator=den,
                    group=group,
                    area=area.name,
                    parameters=parameters,
                    sources=inputs.pick_sources("osm", "population"),
                    method_version=method_version(FAMILY_FILE),
                    caveats=caveats + ([_NO_PEOPLE] if value is None else []),
                )
            )
    return records


def _land_records(inputs: AnalysisInputs, area: Area) -> list[Indicator]:
    params = _parameters()
    layers = _layers(inputs)
    share = land_share(area.geometry, layers.open_space, layers.built_up, layers.lines, layers.widths)
    streets = params["streets"]
    parameters = {
        "open_space_category": params["open_space"]["land_share_category"],
        "street_widths_m": {str(k): float(v) for k, v in streets["widths_m"].items()},
        "default_street_width_m": float(streets["default_width_m"]),
        "built_up": params["built_up"]["definition"],
        "street_length_m": round(share.street_length_m, 1),
    }
    caveats = [
        "Street land is an estimate: edge length × an assumed right-of-way width per road class "
        "(sdg11.yml, mostly [M] assumptions); roads closed to walkers (motorways, foot=no) are not in the "
        "walking network and are left out.",
        "Open space, land use and buildings come from OpenStreetMap and are only as complete as its mapping.",
    ]
    raster = inputs.config.built_up if inputs.config is not None else None
    sources = inputs.pick_sources("osm")
    if raster is not None:
        built = built_up_area_m2(raster, area.geometry, inputs.crs)
        parameters["built_up"] = f"cells of {raster.path.name} (band {raster.band}) with {raster.rule()}"
        sources += inputs.pick_sources("built_up")
        caveats.append(
            "The built-up area is the built-up raster's cells whose centre lies in the area; open space and "
            "streets come from OpenStreetMap, so the shares mix two sources and may exceed what the raster "
            "counts as built up."
        )
    else:
        built = share.built_up_m2
        caveats.append(
            "The built-up area is built from OSM vectors (buildings, built-up land use, open space, "
            "streets), not from a built-up raster; every open public space inside the area counts, however "
            "large."
        )
    if built <= 0:
        caveats.append("No built-up land was found in this area: the shares cannot be computed.")
    elif raster is None and share.streets_outside_m2 > float(params["built_up"]["warn_street_share"]) * built:
        caveats.append(
            f"{100 * share.streets_outside_m2 / built:.0f} % of the built-up area is street land outside any "
            "mapped building or built-up land use: OSM maps few of them here, so the street share is "
            "overstated and the shares are not comparable with other cities."
        )
    series = {
        "sdg_11_7_1_share_ops": share.open_space_m2,
        "sdg_11_7_1_share_streets": share.streets_m2,
        "sdg_11_7_1_share_ops_and_streets": share.open_space_m2 + share.streets_m2,
    }
    common = {
        "area": area.name,
        "parameters": parameters,
        "sources": sources,
        "method_version": method_version(FAMILY_FILE),
    }
    records = [
        Indicator(
            id=indicator_id,
            value=100.0 * numerator / built if built > 0 else None,
            unit="%",
            numerator=numerator,
            denominator=built,
            caveats=list(caveats),
            **common,
        )
        for indicator_id, numerator in series.items()
    ]
    mask = np.asarray(area.origins, dtype=bool)
    people = float(np.sum(inputs.weights("all")[mask]))
    records.append(
        Indicator(
            id="sdg_11_7_1_ops_per_capita",
            value=share.open_space_m2 / people if people > 0 else None,
            unit="m²/person",
            numerator=share.open_space_m2,
            denominator=people,
            area=area.name,
            parameters={"open_space_category": params["open_space"]["land_share_category"]},
            sources=inputs.pick_sources("osm", "population"),
            method_version=method_version(FAMILY_FILE),
            caveats=[caveats[1]] + ([_NO_PEOPLE] if people <= 0 else []),
        )
    )
    return records
