"""Destination points from matched OSM features: one point per facility, entrances along open spaces.

A facility mapped as a node is its own point; one mapped as an area gives a point inside it
(``shapely.point_on_surface``). An open space (a park, a square) is entered from its edge, so it gives
entrance points along its exterior boundary, as GHSCI does for public open space (every 20 m, kept within
30 m of the network; here as the taxonomy's ``open_space_entrances`` say: every 50 m, within 30 m, by
default).
The points are snapped onto the walking network afterwards (``exquisite.network.snap``).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from exquisite.errors import InputError
from exquisite.network.graph import WalkNetwork
from exquisite.taxonomy import Taxonomy, default_taxonomy

__all__ = [
    "DESTINATION_COLUMNS",
    "OPEN_SPACE_COLUMNS",
    "destinations_from_features",
    "open_spaces",
]

DESTINATION_COLUMNS = ["category", "osm_type", "osm_id", "name", "area_m2", "entrance"]
OPEN_SPACE_COLUMNS = ["osm_type", "osm_id", "name", "categories", "area_m2"]
_POLYGONAL = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)


def destinations_from_features(
    features: gpd.GeoDataFrame,
    taxonomy: Taxonomy,
    network: WalkNetwork,
    *,
    entrance_spacing_m: float | None = None,
    entrance_max_distance_m: float | None = None,
) -> gpd.GeoDataFrame:
    """Destination points, one row per (point, category), in the network's CRS.

    Parameters
    ----------
    features
        Matched OSM features as read by :func:`exquisite.sources.osm.read_osm` (``osm_type``, ``osm_id``,
        ``name``, ``categories``, geometry), in any CRS.
    taxonomy
        The categories; a feature's categories that the taxonomy lacks are ignored.
    network
        The walking network: its CRS is the output CRS, and open-space entrances are kept near its edges.
    entrance_spacing_m
        Largest distance between two entrance points along an open space's boundary (metres); None for
        the taxonomy's ``open_space_entrances`` (50 m in the default taxonomy).
    entrance_max_distance_m
        An entrance point is kept only within this straight-line distance of a network edge (None: the
        taxonomy's, 30 m by default). An open space with no such point keeps the one point of its boundary
        nearest to the network, so that it can still be reached.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``category`` (str), ``osm_type`` (``"node"``, ``"way"``, ``"relation"``), ``osm_id`` (int64),
        ``name`` (str or None), ``area_m2`` (float: the area's size in the projected CRS, NaN for a node or
        line), ``entrance`` (bool: a point on an open space's edge) and Point geometry. Rows are grouped by
        category in taxonomy order. Open-space categories with ``min_area_ha`` only keep spaces strictly
        larger than that.
    """
    entrances = taxonomy.entrances or default_taxonomy().entrances
    if entrance_spacing_m is None:
        entrance_spacing_m = entrances.spacing_m
    if entrance_max_distance_m is None:
        entrance_max_distance_m = entrances.max_distance_m
    if not entrance_spacing_m > 0:
        raise ValueError(f"entrance_spacing_m must be > 0, not {entrance_spacing_m!r}")
    if not entrance_max_distance_m >= 0:
        raise ValueError(f"entrance_max_distance_m must be >= 0, not {entrance_max_distance_m!r}")
    projected = _projected(features, network.crs)
    rows = _per_category(projected, taxonomy)
    tree = None
    parts = []
    for name in taxonomy.categories:
        chosen = rows[rows["category"] == name]
        if chosen.empty:
            continue
        category = taxonomy.categories[name]
        if category.kind == "open_space":
            if tree is None and network.n_edges:
                tree = shapely.STRtree(network.edge_lines())
            spaces = _large_enough(chosen, category.min_area_ha)
            parts.append(_entrances(spaces, tree, entrance_spacing_m, entrance_max_distance_m))
        else:
            parts.append(_points(chosen))
    if not parts:
        return _empty(DESTINATION_COLUMNS, network.crs)
    result = pd.concat(parts, ignore_index=True)
    return gpd.GeoDataFrame(result[DESTINATION_COLUMNS], geometry=result["geometry"].values, crs=network.crs)


def open_spaces(features: gpd.GeoDataFrame, taxonomy: Taxonomy, crs: str) -> gpd.GeoDataFrame:
    """Open-space polygons, one row per OSM object, for land-share indicators (SDG 11.7.1).

    Parameters
    ----------
    features
        Matched OSM features as read by :func:`exquisite.sources.osm.read_osm`.
    taxonomy
        The categories; only those of kind ``open_space`` count.
    crs
        A projected CRS in metres for the output and its areas.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``osm_type``, ``osm_id`` (int64), ``name``, ``categories`` (list of the open-space categories
        the polygon belongs to, ``min_area_ha`` applied), ``area_m2`` and Polygon/MultiPolygon geometry in
        ``crs``. Polygons may overlap (a playground inside a park); dissolve before summing areas.
    """
    projected = _projected(features, crs)
    kinds = {name: c for name, c in taxonomy.categories.items() if c.kind == "open_space"}
    polygonal = np.isin(shapely.get_type_id(projected.geometry.values), _POLYGONAL)
    projected = projected[polygonal].reset_index(drop=True)
    area = shapely.area(projected.geometry.values)
    categories = [
        [name for name in cats if name in kinds and _passes(a, kinds[name].min_area_ha)]
        for cats, a in zip(projected["categories"], area, strict=True)
    ]
    keep = np.array([bool(c) for c in categories], dtype=bool)
    frame = pd.DataFrame(
        {
            "osm_type": projected["osm_type"].to_numpy(dtype=object)[keep],
            "osm_id": projected["osm_id"].to_numpy(dtype=np.int64)[keep],
            "name": pd.Series(_names(projected["name"])[keep], dtype=object),
            "categories": pd.Series([c for c, k in zip(categories, keep, strict=True) if k], dtype=object),
            "area_m2": area[keep],
        },
        columns=OPEN_SPACE_COLUMNS,
    )
    return gpd.GeoDataFrame(frame, geometry=projected.geometry.values[keep], crs=crs)


def _projected(features: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
    target = pyproj.CRS.from_user_input(crs)
    if not target.is_projected:
        raise InputError(
            "crs",
            f"{crs} is not a projected CRS; distances and areas need metres",
            "Use a local UTM zone (e.g. EPSG:32635) or leave crs out for the default.",
        )
    if features.crs is None:
        raise InputError("features", "the features have no CRS", "Read them with read_osm (EPSG:4326).")
    valid = features[~(features.geometry.isna() | features.geometry.is_empty)]
    return valid.to_crs(target).reset_index(drop=True)


def _per_category(features: gpd.GeoDataFrame, taxonomy: Taxonomy) -> pd.DataFrame:
    """One row per (feature, category in the taxonomy), keeping the feature's order."""
    frame = pd.DataFrame(
        {
            "osm_type": features["osm_type"].to_numpy(dtype=object),
            "osm_id": features["osm_id"].to_numpy(dtype=np.int64),
            "name": pd.Series(_names(features["name"]), dtype=object),
            "category": features["categories"].to_numpy(dtype=object),
            "geometry": features.geometry.values,
        }
    )
    frame = frame.explode("category", ignore_index=True)
    frame = frame[frame["category"].isin(list(taxonomy.categories))]
    return frame.reset_index(drop=True)


def _names(names: pd.Series) -> np.ndarray:
    """Names as an object array with None (not NaN) where there is none."""
    values = np.array(names.to_numpy(dtype=object), dtype=object)
    values[pd.isna(values)] = None
    return values


def _points(rows: pd.DataFrame) -> pd.DataFrame:
    """Point categories: a node is its own point, an area or line gives a point on it."""
    geometry = np.asarray(rows["geometry"].values, dtype=object)
    is_point = shapely.get_type_id(geometry) == shapely.GeometryType.POINT
    polygonal = np.isin(shapely.get_type_id(geometry), _POLYGONAL)
    point = geometry.copy()
    point[~is_point] = shapely.point_on_surface(geometry[~is_point])
    area = np.where(polygonal, shapely.area(geometry), np.nan)
    return _rows(rows, point, area, np.zeros(len(rows), dtype=bool))


def _large_enough(rows: pd.DataFrame, min_area_ha: float | None) -> pd.DataFrame:
    """Polygonal rows only, larger than ``min_area_ha`` (strictly) when it is set."""
    geometry = np.asarray(rows["geometry"].values, dtype=object)
    keep = np.isin(shapely.get_type_id(geometry), _POLYGONAL)
    if min_area_ha is not None:
        keep &= shapely.area(geometry) > min_area_ha * 10_000.0
    return rows[keep].reset_index(drop=True)


def _passes(area_m2: float, min_area_ha: float | None) -> bool:
    return min_area_ha is None or area_m2 > min_area_ha * 10_000.0


def _entrances(
    rows: pd.DataFrame, tree: shapely.STRtree | None, spacing: float, max_distance: float
) -> pd.DataFrame:
    """Entrance points along each open space's exterior boundary, near the network's edges (``tree``).

    Without a network (``tree`` None) every sampled point is kept.
    """
    if rows.empty:
        return _rows(rows, np.empty(0, dtype=object), np.empty(0), np.empty(0, dtype=bool))
    spaces = np.asarray(rows["geometry"].values, dtype=object)
    area = shapely.area(spaces)
    polygons, space_of_polygon = shapely.get_parts(spaces, return_index=True)
    rings = shapely.get_exterior_ring(polygons)
    length = shapely.length(rings)
    count = np.maximum(np.ceil(length / spacing).astype(np.int64), 1)
    ring_of_point = np.repeat(np.arange(rings.shape[0]), count)
    first = np.repeat(np.cumsum(count) - count, count)
    step = np.arange(ring_of_point.shape[0]) - first  # 0 .. count-1 along each ring
    offset = step * (length / count)[ring_of_point]
    points = shapely.line_interpolate_point(rings[ring_of_point], offset)
    space_of_point = space_of_polygon[ring_of_point]
    if tree is None:
        return _rows(rows.iloc[space_of_point], points, area[space_of_point], np.ones(points.shape[0], bool))
    near = np.unique(tree.query_nearest(points, max_distance=max_distance)[0])
    keep = np.zeros(points.shape[0], dtype=bool)
    keep[near] = True
    reached = np.zeros(spaces.shape[0], dtype=bool)
    reached[space_of_point[keep]] = True
    stranded = np.flatnonzero(~reached)
    extra = _nearest_boundary_points(rings, space_of_polygon, stranded, tree)
    point = np.concatenate([points[keep], extra])
    space = np.concatenate([space_of_point[keep], stranded])
    order = np.argsort(space, kind="stable")
    point, space = point[order], space[order]
    return _rows(rows.iloc[space], point, area[space], np.ones(point.shape[0], dtype=bool))


def _nearest_boundary_points(
    rings: np.ndarray, space_of_ring: np.ndarray, spaces: np.ndarray, tree: shapely.STRtree
) -> np.ndarray:
    """For each space in ``spaces``, the point of its exterior boundary nearest to any network edge."""
    if spaces.shape[0] == 0:
        return np.empty(0, dtype=object)
    chosen = np.isin(space_of_ring, spaces)
    boundary = shapely.multilinestrings(rings[chosen], indices=np.searchsorted(spaces, space_of_ring[chosen]))
    pairs = tree.query_nearest(boundary, all_matches=False)
    edges = np.empty(spaces.shape[0], dtype=np.int64)
    edges[pairs[0]] = pairs[1]
    lines = shapely.shortest_line(boundary, tree.geometries[edges])
    return shapely.get_point(lines, 0)


def _rows(rows: pd.DataFrame, point: np.ndarray, area: np.ndarray, entrance: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "category": rows["category"].to_numpy(dtype=object),
            "osm_type": rows["osm_type"].to_numpy(dtype=object),
            "osm_id": rows["osm_id"].to_numpy(dtype=np.int64),
            "name": pd.Series(rows["name"].to_numpy(dtype=object), dtype=object),
            "area_m2": np.asarray(area, dtype=np.float64),
            "entrance": np.asarray(entrance, dtype=bool),
            "geometry": np.asarray(point, dtype=object),
        }
    )


def _empty(columns: list[str], crs: str) -> gpd.GeoDataFrame:
    frame = pd.DataFrame(
        {
            "category": pd.Series(dtype=object),
            "osm_type": pd.Series(dtype=object),
            "osm_id": pd.Series(dtype=np.int64),
            "name": pd.Series(dtype=object),
            "area_m2": pd.Series(dtype=np.float64),
            "entrance": pd.Series(dtype=bool),
        },
        columns=columns,
    )
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=crs).values, crs=crs)
