"""The study area: one (multi)polygon in longitude/latitude, and the projected CRS to measure it in.

The area comes from a polygon file (GeoJSON, GeoPackage, Shapefile, ...; any CRS; every polygon dissolved into
one), from a box in degrees, or, when the study region gives neither, from the extent of its OSM extract.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shapely
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from exquisite.config import BoundingBox, bbox_problem
from exquisite.errors import InputError

if TYPE_CHECKING:
    from exquisite.config import StudyRegion

__all__ = ["check_overlap", "load_boundary", "region_crs", "utm_crs"]

_POLYGONAL = {"Polygon", "MultiPolygon"}
_NOT_AREAS = ("Point", "MultiPoint", "LineString", "MultiLineString", "None")


def load_boundary(
    region: StudyRegion | None = None,
    *,
    path: str | Path | None = None,
    bbox: tuple[float, float, float, float] | list[float] | None = None,
) -> BaseGeometry:
    """Read the study area as one dissolved (multi)polygon in EPSG:4326.

    Give either a study region, a polygon file or a box. A region without a boundary uses the extent of its
    OSM extract (the header's box, or the extent of its nodes when the header has none).

    Parameters
    ----------
    region
        A study region; its ``boundary`` is used.
    path
        A polygon file in any CRS that GDAL reads (GeoJSON, GeoPackage, Shapefile, ...).
    bbox
        ``(min_lon, min_lat, max_lon, max_lat)`` in degrees.

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon
        The study area in longitude/latitude, valid.

    Raises
    ------
    InputError
        For a file that cannot be read, is empty, has no polygons, has no CRS or has coordinates that do not
        match its CRS; for a polygon that stays invalid after repair; for a bad box.
    """
    given = sum(item is not None for item in (region, path, bbox))
    if given != 1:
        raise TypeError("load_boundary takes exactly one of region, path or bbox")
    if region is not None:
        where = f"{region.source_file or region.name}: boundary"
        if isinstance(region.boundary, BoundingBox):
            return _bbox_polygon(region.boundary.bbox, where)
        if region.boundary is not None:
            return _read_polygons(Path(region.boundary))
        return _pbf_extent(region.osm)
    if bbox is not None:
        return _bbox_polygon(bbox, "bbox")
    return _read_polygons(Path(path))  # type: ignore[arg-type]


def utm_crs(geometry_wgs84: BaseGeometry) -> str:
    """Return the UTM zone of a geometry's centroid, as an EPSG code.

    Parameters
    ----------
    geometry_wgs84
        A geometry in longitude/latitude (EPSG:4326).

    Returns
    -------
    str
        ``"EPSG:326zz"`` north of the equator, ``"EPSG:327zz"`` south of it; e.g. ``"EPSG:32635"`` for
        Helsinki and ``"EPSG:32722"`` for Porto Alegre. The regular 6-degree zones are used, without the
        Norway and Svalbard exceptions.

    Raises
    ------
    ValueError
        For an empty geometry or one whose centroid is not a longitude/latitude.
    """
    if geometry_wgs84 is None or geometry_wgs84.is_empty:
        raise ValueError("utm_crs needs a non-empty geometry")
    centre = geometry_wgs84.centroid
    lon, lat = centre.x, centre.y
    if not (math.isfinite(lon) and math.isfinite(lat)) or abs(lon) > 180.000001 or abs(lat) > 90.000001:
        raise ValueError(f"utm_crs needs longitude/latitude; the centroid is ({lon}, {lat})")
    zone = min(max(int((lon + 180.0) // 6.0) + 1, 1), 60)
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def region_crs(region: StudyRegion, boundary_wgs84: BaseGeometry) -> str:
    """Return the CRS to measure a region in: its ``crs`` setting, or the local UTM zone.

    Parameters
    ----------
    region
        The study region.
    boundary_wgs84
        Its study area, from :func:`load_boundary`.

    Returns
    -------
    str
        A projected CRS in metres, e.g. ``"EPSG:3067"``.
    """
    return region.crs or utm_crs(boundary_wgs84)


def check_overlap(
    boundary: BaseGeometry, data_bounds: tuple[float, float, float, float], what: str, where: str
) -> None:
    """Raise when the study area and a dataset's extent do not meet.

    Parameters
    ----------
    boundary
        The study area in EPSG:4326.
    data_bounds
        The dataset's ``(min_lon, min_lat, max_lon, max_lat)`` in EPSG:4326.
    what
        The dataset as the user knows it, e.g. ``"the OSM extract helsinki.osm.pbf"``.
    where
        What the error names, e.g. ``"my_city.yml: population.path"``.

    Raises
    ------
    InputError
        When the dataset is empty or lies entirely outside the boundary.
    """
    values = [float(v) for v in data_bounds]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InputError(
            where, f"{what} has no data (its extent is empty)", "Check that the file has features."
        )
    extent = box(*values) if values[0] < values[2] or values[1] < values[3] else shapely.Point(values[:2])
    if not boundary.intersects(extent):
        raise InputError(
            where,
            f"the boundary lies outside {what}",
            f"The boundary covers {_bounds_text(boundary.bounds)} but the data cover {_bounds_text(values)} "
            "(lon/lat); check that both describe the same city and that the files' CRSs are right.",
        )


# ------------------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------------------


def _bounds_text(bounds: Any) -> str:
    min_x, min_y, max_x, max_y = bounds
    return f"[{min_x:.4f}, {min_y:.4f}, {max_x:.4f}, {max_y:.4f}]"


def _bbox_polygon(values: Any, where: str) -> BaseGeometry:
    problem = bbox_problem(values)
    if problem:
        raise InputError(where, *problem)
    return box(*(float(v) for v in values))


def _read_polygons(path: Path) -> BaseGeometry:
    """Read every polygon of a file, dissolve them and return the result in EPSG:4326."""
    where = str(path)
    frame = read_polygon_file(path, "boundary", columns=[])
    parts = _polygon_parts(frame.geometry.to_numpy())
    if not parts:
        kinds = sorted({geom.geom_type for geom in frame.geometry.dropna()})
        raise InputError(
            where,
            f"has no polygons (found {', '.join(kinds)})",
            "The boundary must be an area: a Polygon or MultiPolygon.",
        )
    dissolved = shapely.union_all(parts)
    import geopandas

    projected = geopandas.GeoSeries([dissolved], crs=frame.crs).to_crs(4326).iloc[0]
    return _check_lonlat(_valid(projected, where), where, frame.crs)


def read_polygon_file(path: Path, what: str, columns: list[str] | None = None) -> Any:
    """Read a polygon file's one layer as a GeoDataFrame in its own CRS, with one clear error per problem.

    Parameters
    ----------
    path
        A GeoJSON, GeoPackage or Shapefile.
    what
        What the file is (``"boundary"``, ``"districts"``), for the messages.
    columns
        Attribute columns to read (None: all).
    """
    import pyogrio

    where = str(path)
    if not path.is_file():
        raise InputError(where, "file not found", f"Check the path of the {what} file.")
    try:
        layers = [(str(name), str(kind)) for name, kind in pyogrio.list_layers(path) if kind is not None]
        candidates = [name for name, kind in layers if not kind.startswith(_NOT_AREAS)]
        if len(candidates) > 1:
            raise InputError(
                where,
                f"has {len(candidates)} layers that may hold polygons ({', '.join(candidates)})",
                f"Keep only the {what} layer in the file.",
            )
        layer = candidates[0] if candidates else layers[0][0] if layers else None
        frame = pyogrio.read_dataframe(path, layer=layer, columns=columns)
    except InputError:
        raise
    except Exception as error:  # GDAL raises many kinds; the user needs the file named
        raise InputError(
            where,
            f"cannot be read as a polygon file ({str(error).strip() or type(error).__name__})",
            "Use a GeoJSON, GeoPackage or Shapefile with polygons.",
        ) from None
    if frame.empty or frame.geometry.isna().all():
        raise InputError(where, "has no features", f"Draw the {what} as polygons and save them.")
    if frame.crs is None:
        raise InputError(
            where,
            "has no coordinate reference system",
            "Save it with its CRS (a Shapefile needs its .prj file), "
            "e.g. `ogr2ogr -a_srs EPSG:4326 out.gpkg in.shp`.",
        )
    return frame


def _polygon_parts(geometries: Any) -> list[BaseGeometry]:
    """Return the polygons of the geometries, repaired with ``make_valid`` where needed."""
    parts: list[BaseGeometry] = []
    for geometry in geometries:
        if geometry is None or geometry.is_empty:
            continue
        fixed = geometry if geometry.is_valid else shapely.make_valid(geometry)
        for part in shapely.get_parts(fixed):
            if part.geom_type == "GeometryCollection":
                parts.extend(_polygon_parts(shapely.get_parts(part)))
            elif part.geom_type in _POLYGONAL and not part.is_empty and part.area > 0:
                parts.append(part)
    return parts


def _valid(geometry: BaseGeometry, where: str) -> BaseGeometry:
    if not geometry.is_valid:
        geometry = shapely.union_all(_polygon_parts([shapely.make_valid(geometry)]))
    if geometry.is_empty or not geometry.is_valid or geometry.geom_type not in _POLYGONAL:
        raise InputError(
            where,
            "the boundary polygon is invalid and could not be repaired",
            "Fix it in a GIS (e.g. QGIS: Vector > Geometry Tools > Fix Geometries).",
        )
    return geometry


def _check_lonlat(geometry: BaseGeometry, where: str, crs: Any) -> BaseGeometry:
    min_x, min_y, max_x, max_y = geometry.bounds
    if not all(math.isfinite(v) for v in (min_x, min_y, max_x, max_y)) or (
        min_x < -180.0001 or max_x > 180.0001 or min_y < -90.0001 or max_y > 90.0001
    ):
        raise InputError(
            where,
            f"its coordinates do not fit its CRS ({crs.to_string()}): they fall outside longitude/latitude",
            "The file probably declares the wrong CRS (GeoJSON is always read as EPSG:4326 unless it names "
            "another); save it again with the CRS its coordinates are in.",
        )
    return geometry


def _pbf_extent(path: Path) -> BaseGeometry:
    """Return the extent of an OSM PBF as a box: the header's box, else the extent of its nodes."""
    import osmium

    where = str(path)
    try:
        reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
        try:
            header_box = reader.header().box()
        finally:
            reader.close()
        if header_box.valid():
            bounds = (
                header_box.bottom_left.lon,
                header_box.bottom_left.lat,
                header_box.top_right.lon,
                header_box.top_right.lat,
            )
        else:
            bounds = _node_extent(path)
    except RuntimeError as error:
        raise InputError(
            where,
            f"cannot be read as an OSM PBF file ({error})",
            "Check that the file is a .osm.pbf extract.",
        ) from None
    if bounds is None:
        raise InputError(where, "has no nodes, so it has no extent", "Use an OSM extract with data in it.")
    if not (bounds[0] < bounds[2] and bounds[1] < bounds[3]):
        raise InputError(
            where,
            "its extent is a point or a line, not an area",
            "Give a boundary: {bbox: [min_lon, min_lat, max_lon, max_lat]} in the study region.",
        )
    return box(*bounds)


def _node_extent(path: Path) -> tuple[float, float, float, float] | None:
    import osmium

    min_x = min_y = math.inf
    max_x = max_y = -math.inf
    for node in osmium.FileProcessor(str(path), osmium.osm.NODE):
        location = node.location
        if not location.valid():
            continue
        x, y = location.lon, location.lat
        min_x, max_x = min(min_x, x), max(max_x, x)
        min_y, max_y = min(min_y, y), max(max_y, y)
    if not math.isfinite(min_x):
        return None
    return (min_x, min_y, max_x, max_y)
