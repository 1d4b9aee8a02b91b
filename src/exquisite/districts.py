"""Districts (communities): named polygons that indicators are also reported for.

They come from a polygon file (:func:`load_districts`), or, for a city without one, from the OSM extract's
place nodes (:func:`osm_districts`: approximate Voronoi cells, with a caveat from ``data/osm_districts.yml``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
import yaml

from exquisite.boundary import read_polygon_file
from exquisite.errors import InputError
from exquisite.indicators.records import Area

#: Columns tried, in order, for the names when the study region does not name one.
NAME_COLUMNS = ("name", "NAME", "Name", "name_en", "name_zh", "nimi", "district", "community")

#: The data file of :func:`osm_districts`.
OSM_DISTRICTS_FILE = "osm_districts.yml"


@dataclass(frozen=True)
class Districts:
    """Named districts in the run's CRS.

    Attributes
    ----------
    names
        District names, unique, in file order.
    geometries
        One (multi)polygon per name, projected.
    columns
        Further text columns, one value per district (e.g. ``name:zh`` and ``name:en`` of OSM districts).
    caveat
        What every output using these districts must say (approximate boundaries); None for a file's.
    source
        Where they come from: the districts file's path, or ``"osm"``.
    """

    names: list[str]
    geometries: list[shapely.Geometry]
    columns: dict[str, list[str | None]] = field(default_factory=dict)
    caveat: str | None = None
    source: str = ""

    def assign(self, points: gpd.GeoSeries) -> np.ndarray:
        """The district name of each point (None outside every district; the first one when they overlap)."""
        result = np.full(len(points), None, dtype=object)
        tree = shapely.STRtree(self.geometries)
        point_i, district_i = tree.query(points.to_numpy(), predicate="intersects")
        first = np.unique(point_i, return_index=True)[1]
        result[point_i[first]] = np.asarray(self.names, dtype=object)[district_i[first]]
        return result

    def areas(self, assigned: np.ndarray) -> list[Area]:
        """One :class:`Area` per district, with the origins ``assigned`` to it."""
        return [
            Area(name, "district", geometry, assigned == name)
            for name, geometry in zip(self.names, self.geometries, strict=True)
        ]


def load_districts(path: Path, name_column: str | None, crs: str, boundary: shapely.Geometry) -> Districts:
    """Read a districts file (any CRS) into the run's CRS.

    Parameters
    ----------
    path
        GeoJSON, GeoPackage or Shapefile with one polygon per district.
    name_column
        The column holding the names; None: the first of :data:`NAME_COLUMNS` present.
    crs
        The run's projected CRS.
    boundary
        The study area in ``crs``: districts must overlap it.

    Raises
    ------
    InputError
        When the file is missing or unreadable, has no CRS, no name column, no polygons, or lies outside
        the study area.
    """
    where = str(path)
    frame = read_polygon_file(path, "districts")
    columns = [c for c in frame.columns if c != "geometry"]
    if name_column is None:
        name_column = next((c for c in NAME_COLUMNS if c in columns), None)
        if name_column is None:
            raise InputError(
                where,
                f"has no column of district names (columns: {', '.join(columns) or 'none'})",
                "Name it in the study region: district_name_column: <column>.",
            )
    elif name_column not in columns:
        raise InputError(
            f"{where}: district_name_column",
            f"there is no column {name_column!r} (columns: {', '.join(columns) or 'none'})",
            "Set district_name_column to one of the file's columns.",
        )
    frame = frame[frame.geometry.notna() & frame.geom_type.isin(["Polygon", "MultiPolygon"])]
    if frame.empty:
        raise InputError(where, "has no polygons", "Districts must be areas: Polygons or MultiPolygons.")
    projected = frame.to_crs(crs)
    projected["geometry"] = shapely.make_valid(projected.geometry.to_numpy())
    names = projected[name_column].astype(str).str.strip()
    if names.eq("").any() or projected[name_column].isna().any():
        raise InputError(
            f"{where}: {name_column}", "some districts have no name", "Give every district a name."
        )
    dissolved = projected.assign(_name=names).dissolve(by="_name", sort=False)
    inside = dissolved.geometry.intersects(boundary)
    if not inside.any():
        raise InputError(
            where,
            f"none of its {len(dissolved)} districts overlaps the study area "
            f"(file CRS {frame.crs.to_string()})",
            "Check that the districts belong to this city and that the file's CRS is right.",
        )
    dissolved = dissolved[inside.to_numpy()]
    return Districts(
        names=list(dissolved.index), geometries=list(dissolved.geometry.to_numpy()), source=str(path)
    )


@cache
def osm_district_settings() -> dict[str, Any]:
    """``data/osm_districts.yml``: the place values, name tags, the least number of places and the caveat."""
    text = files("exquisite").joinpath("data", OSM_DISTRICTS_FILE).read_text(encoding="utf-8")
    return dict(yaml.safe_load(text))


def osm_districts(pbf: Path, crs: str, boundary: shapely.Geometry) -> tuple[Districts | None, list[str]]:
    """Approximate districts from an OSM extract's place nodes: their Voronoi cells clipped to the study area.

    The nodes tagged ``place=`` one of ``place_values`` of ``data/osm_districts.yml`` and named by its
    ``name_tag``, inside ``boundary``, seed the cells; nodes of one name make one district. The
    ``extra_name_tags`` that any node has become :attr:`Districts.columns`.

    Parameters
    ----------
    pbf
        The OSM PBF extract of the run.
    crs
        The run's projected CRS.
    boundary
        The study area in ``crs``.

    Returns
    -------
    tuple
        The districts (None when fewer than ``min_places`` named nodes lie inside the area), and warnings for
        the run's manifest: the caveat when districts were made, else why there are none; nodes left out
        for want of a name.
    """
    settings = osm_district_settings()
    values = [str(v) for v in settings["place_values"]]
    name_tag = str(settings["name_tag"])
    least = int(settings["min_places"])
    places_text = ", ".join(f"place={v}" for v in values)
    lon, lat, tags = _place_nodes(pbf, values)
    warnings: list[str] = []
    if tags:
        from pyproj import Transformer

        x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
        inside = shapely.intersects_xy(boundary, np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        nodes = [(xi, yi, t) for xi, yi, t, keep in zip(x, y, tags, inside, strict=True) if keep]
    else:
        nodes = []
    seeds = [(xi, yi, t) for xi, yi, t in nodes if t.get(name_tag, "").strip()]
    if len(seeds) < len(nodes):
        warnings.append(
            f"{len(nodes) - len(seeds)} OSM place node(s) ({places_text}) inside the study area have no "
            f"{name_tag} tag and were left out of the districts."
        )
    # one seed per spot (a Voronoi diagram needs distinct points); nodes of one name become one district
    seeds = list({(round(xi, 3), round(yi, 3)): (xi, yi, t) for xi, yi, t in seeds}.values())
    seed_names = [t[name_tag].strip() for *_xy, t in seeds]
    names = list(dict.fromkeys(seed_names))
    if len(names) < least:
        warnings.append(
            f"No districts: the OSM file has {len(names)} named place node(s) ({places_text}) inside the "
            f"study area, and at least {least} are needed to divide it. Give the study region a districts "
            "file (districts: <polygon file>) to report on districts."
        )
        return None, warnings
    points = shapely.multipoints(np.array([(xi, yi) for xi, yi, _t in seeds]))
    cells = shapely.get_parts(shapely.voronoi_polygons(points, extend_to=boundary, ordered=True))
    clipped = shapely.make_valid(shapely.intersection(cells, boundary))
    geometries = [
        _polygonal(shapely.union_all([g for g, n in zip(clipped, seed_names, strict=True) if n == name]))
        for name in names
    ]
    columns: dict[str, list[str | None]] = {}
    for tag in [str(t) for t in settings["extra_name_tags"]]:
        found: dict[str, str] = {}
        for name, (*_xy, t) in zip(seed_names, seeds, strict=True):
            if t.get(tag, "").strip():
                found.setdefault(name, t[tag].strip())
        if found:
            columns[tag] = [found.get(name) for name in names]
    caveat = " ".join(str(settings["caveat"]).split()).format(places=places_text)
    warnings.insert(0, caveat)
    districts = Districts(names=names, geometries=geometries, columns=columns, caveat=caveat, source="osm")
    return districts, warnings


def _place_nodes(pbf: Path, values: list[str]) -> tuple[list[float], list[float], list[dict[str, str]]]:
    """Longitude, latitude and tags of the PBF's nodes tagged ``place=`` one of ``values``."""
    import osmium
    import osmium.filter

    processor = osmium.FileProcessor(str(pbf), osmium.osm.NODE).with_filter(
        osmium.filter.TagFilter(*(("place", v) for v in values))
    )
    nodes = [(n.location.lon, n.location.lat, dict(n.tags)) for n in processor if n.location.valid()]
    return [n[0] for n in nodes], [n[1] for n in nodes], [n[2] for n in nodes]


def _polygonal(geometry: shapely.Geometry) -> shapely.Geometry:
    """The polygons of a geometry (a clipped cell may carry slivers of lines or points along the boundary)."""
    parts = shapely.get_parts(geometry)
    polygons = [p for p in parts if shapely.get_type_id(p) in (3, 6)]
    return shapely.union_all(polygons) if polygons else shapely.Polygon()
