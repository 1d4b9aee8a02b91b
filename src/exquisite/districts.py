"""Districts (communities): named polygons that indicators are also reported for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from exquisite.boundary import read_polygon_file
from exquisite.errors import InputError
from exquisite.indicators.records import Area

#: Columns tried, in order, for the names when the study region does not name one.
NAME_COLUMNS = ("name", "NAME", "Name", "name_en", "name_zh", "nimi", "district", "community")


@dataclass(frozen=True)
class Districts:
    """Named districts in the run's CRS.

    Attributes
    ----------
    names
        District names, unique, in file order.
    geometries
        One (multi)polygon per name, projected.
    """

    names: list[str]
    geometries: list[shapely.Geometry]

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
    return Districts(names=list(dissolved.index), geometries=list(dissolved.geometry.to_numpy()))
