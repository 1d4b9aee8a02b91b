"""Population origins: from a raster, a vector grid, an H3 table, or estimated from OSM buildings.

Every source ends as the same :class:`Population`: one origin point per populated cell, feature or building
inside the study area, in the study region's projected CRS, with its population (and, when asked, its
population by age group), plus the matching cell polygons for aggregating results back to a grid.

A cell belongs to the study area when its centre (a raster pixel's centre, a polygon's centroid, an H3 cell's
centre, a building's centroid) lies inside or on the boundary. Zero, negative, NaN and nodata values are
missing, never people. The parameters of the ``buildings`` estimate are in ``data/population.yml``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Literal

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import pyproj
import rasterio
import rasterio.errors
import shapely
import yaml
from rasterio.windows import Window

from exquisite.errors import InputError

__all__ = [
    "AGE_GROUPS",
    "SOURCES",
    "Population",
    "PopulationParameters",
    "load_parameters",
    "load_population",
]

SourceKind = Literal["raster", "vector", "h3", "buildings"]

SOURCES: tuple[str, ...] = ("raster", "vector", "h3", "buildings")
"""The population sources :func:`load_population` reads."""

AGE_GROUPS: tuple[str, ...] = ("child", "adult", "older")
"""Age groups: children 0–14, adults 15–64, older people 65+; columns ``pop_<group>`` of the origins."""

_WGS84 = pyproj.CRS.from_epsg(4326)
_H3_ID_COLUMNS = ("id", "h3", "hex_id")
_POLYGONAL = ("Polygon", "MultiPolygon")
_VECTOR_TYPES = ("Point", "MultiPoint", "Polygon", "MultiPolygon")
_BUILDING_COLUMNS = ("levels", "residential", "osm_id")
_SHARE_TOLERANCE = 1e-6
_FIRST_FEW = 5


@dataclass(frozen=True)
class Population:
    """Population origins of a study area, ready to be snapped onto the walk network.

    Attributes
    ----------
    origins
        One row per populated cell, in the output CRS: ``origin_id`` (int64, 0..n-1), ``cell_id`` (str:
        raster ``"row_col"``, vector id or feature id, H3 index, building OSM id), ``population`` (float64,
        > 0), ``pop_child``, ``pop_adult``, ``pop_older`` (only with an age split; they sum to
        ``population``), and a Point geometry: the cell centre or feature / building centroid.
    cells
        The same rows and columns with the cell's own geometry: pixel square, vector feature (a point stays
        a point), H3 hexagon or building footprint.
    source
        The source kind: ``"raster"``, ``"vector"``, ``"h3"`` or ``"buildings"``.
    is_estimate
        True when the population is modelled rather than counted (the ``buildings`` estimate).
    description
        One sentence for reports and manifests: what was read, how, and how many people it gives.
    total
        The total population of the origins.
    """

    origins: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame
    source: str
    is_estimate: bool
    description: str
    total: float


@dataclass(frozen=True)
class PopulationParameters:
    """Defaults from ``data/population.yml`` (each documented there with its source).

    Attributes
    ----------
    floor_area_per_person_m2
        Floor area per resident for the ``buildings`` estimate, m².
    default_levels
        Levels assumed for a residential building without a usable ``building:levels`` tag.
    residential_building_values
        OSM ``building=*`` values that are homes.
    age_shares
        Default age shares (None: no age split).
    method_version
        Version of these parameters, for the run manifest.
    """

    floor_area_per_person_m2: float
    default_levels: float
    residential_building_values: tuple[str, ...]
    age_shares: Mapping[str, float] | None
    method_version: int


@dataclass
class _Cells:
    """What a reader found inside the study area, before the age split and scaling."""

    x: np.ndarray
    y: np.ndarray
    polygons: np.ndarray
    population: np.ndarray
    cell_id: np.ndarray
    description: str
    age_counts: dict[str, np.ndarray] = field(default_factory=dict)
    where: str = "population"


@functools.cache
def load_parameters() -> PopulationParameters:
    """Read the population defaults shipped in ``exquisite/data/population.yml``.

    Returns
    -------
    PopulationParameters
        The defaults; a study region's configuration may override each of them.
    """
    text = files("exquisite").joinpath("data/population.yml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    buildings = raw["buildings"]
    shares = raw.get("age_shares")
    return PopulationParameters(
        floor_area_per_person_m2=float(buildings["floor_area_per_person_m2"]),
        default_levels=float(buildings["default_levels"]),
        residential_building_values=tuple(str(v) for v in buildings["residential_building_values"]),
        age_shares=None if shares is None else {str(k): float(v) for k, v in shares.items()},
        method_version=int(raw["method_version"]),
    )


def load_population(
    source: SourceKind,
    path: Path | None,
    *,
    boundary: shapely.Geometry,
    crs: str,
    column: str | None = None,
    id_column: str | None = None,
    band: int = 1,
    buildings: gpd.GeoDataFrame | None = None,
    floor_area_per_person_m2: float | None = None,
    total: float | None = None,
    age_shares: Mapping[str, float] | None = None,
    age_columns: Mapping[str, str] | None = None,
) -> Population:
    """Read or estimate the population of a study area as origin points.

    Parameters
    ----------
    source
        ``"raster"`` (a GeoTIFF such as GHS-POP or WorldPop, any CRS), ``"vector"`` (any file GDAL reads,
        with polygons or points and a population column), ``"h3"`` (a CSV or Parquet table of H3 cells with
        a population column) or ``"buildings"`` (an estimate from OSM residential buildings).
    path
        The population file; for ``"buildings"`` optional (the OSM file the buildings came from, used only
        to name it in messages).
    boundary
        The study area, a (multi)polygon in EPSG:4326 longitude/latitude.
    crs
        The projected CRS of the output, in metres (for example ``"EPSG:32635"``).
    column
        Vector or H3: the population column (default ``"population"``).
    id_column
        H3: the column of cell indexes (default the first of ``id``, ``h3``, ``hex_id``). Vector: the column
        used as ``cell_id`` (default ``id`` when present, else the feature id).
    band
        Raster: the band to read, from 1.
    buildings
        For ``"buildings"``: footprints (EPSG:4326 when the frame has no CRS) with columns ``levels``
        (float, NaN when untagged), ``residential`` (bool) and ``osm_id``.
    floor_area_per_person_m2
        For ``"buildings"``: floor area per resident; None takes the default of ``data/population.yml``.
    total
        Scale the population so that it sums to this (any source), for instance a census total.
    age_shares
        Split every cell by these shares: ``child`` and ``older`` (``adult`` = 1 − the rest, or given so
        that the three sum to 1). None takes the default of ``data/population.yml`` (no split).
    age_columns
        Vector or H3: columns holding counts per age group, ``child`` and ``older`` (``adult`` = population
        − the rest, or given, in which case the three are taken as proportions). Cells whose counts are
        missing or negative take the average split of the others.

    Returns
    -------
    Population
        The origins and their cells in ``crs``.

    Raises
    ------
    InputError
        For a missing or unreadable file, a file without CRS, a wrong column or band, invalid H3 indexes,
        a study area outside the data, no population inside it, or a bad parameter.
    """
    out_crs = _projected_crs(crs)
    area = _study_area(boundary)
    params = load_parameters()
    shares = _check_age_options(source, age_shares, age_columns, params)
    if total is not None and not (math.isfinite(total) and total > 0):
        raise InputError(
            "population: total", f"the total population must be a positive number, not {total!r}"
        )

    if source == "buildings":
        fa = params.floor_area_per_person_m2 if floor_area_per_person_m2 is None else floor_area_per_person_m2
        if not (math.isfinite(fa) and fa > 0):
            raise InputError(
                "population: floor_area_per_person_m2",
                f"the floor area per person must be a positive number of m², not {fa!r}",
            )
        where = str(path) if path is not None else "OSM buildings"
        cells = _estimate_from_buildings(
            buildings, area, out_crs, floor_area=fa, default_levels=params.default_levels, where=where
        )
    else:
        file = _existing_file(path, source)
        if source == "raster":
            cells = _read_raster(file, area, out_crs, band)
        elif source == "vector":
            cells = _read_vector(
                file, area, out_crs, column=column, id_column=id_column, age_columns=age_columns
            )
        else:
            cells = _read_h3(file, area, out_crs, column=column, id_column=id_column, age_columns=age_columns)
    return _assemble(cells, source, out_crs, total, shares)


# --- checks of the arguments -----------------------------------------------------------------------------


def _projected_crs(crs: str) -> pyproj.CRS:
    try:
        out = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise InputError(
            "crs", f"{crs!r} is not a coordinate reference system ({exc})", "give one such as 'EPSG:32635'"
        ) from None
    units = {axis.unit_name.lower() for axis in out.axis_info}
    if not out.is_projected or not units <= {"metre", "meter", "m"}:
        raise InputError(
            "crs",
            f"{crs!r} is not a projected CRS in metres",
            "give the local UTM zone, such as 'EPSG:32635' for Helsinki",
        )
    return out


def _study_area(boundary: shapely.Geometry) -> shapely.Geometry:
    if not isinstance(boundary, shapely.Geometry) or boundary.is_empty:
        raise InputError("boundary", "the study area boundary is missing or empty", "give a polygon")
    geom = boundary if boundary.is_valid else shapely.make_valid(boundary)
    if geom.geom_type == "GeometryCollection":
        parts = [g for g in shapely.get_parts(geom) if g.geom_type in _POLYGONAL]
        geom = shapely.union_all(parts) if parts else geom
    if geom.geom_type not in _POLYGONAL:
        raise InputError(
            "boundary", f"the study area must be a polygon, not a {boundary.geom_type}", "give a polygon"
        )
    xmin, ymin, xmax, ymax = geom.bounds
    if xmin < -180 or xmax > 180 or ymin < -90 or ymax > 90:
        raise InputError(
            "boundary",
            f"the study area's bounds {geom.bounds} are not longitude/latitude",
            "give the boundary in EPSG:4326",
        )
    shapely.prepare(geom)
    return geom


def _check_age_options(
    source: str,
    age_shares: Mapping[str, float] | None,
    age_columns: Mapping[str, str] | None,
    params: PopulationParameters,
) -> dict[str, float] | None:
    """Validate the age options; return the shares to apply uniformly (None: none, or from columns)."""
    if source not in SOURCES:
        raise InputError(
            "population: source", f"unknown population source {source!r}", f"use one of {', '.join(SOURCES)}"
        )
    if age_shares is not None and age_columns is not None:
        raise InputError(
            "population: age_shares", "age_shares and age_columns are both given", "give only one of them"
        )
    if age_columns is not None:
        if source not in ("vector", "h3"):
            raise InputError(
                "population: age_columns",
                f"age columns apply to a vector grid or an H3 table, not to a {source} source",
                "give age_shares instead",
            )
        _check_age_keys(age_columns, "population: age_columns")
        return None
    shares = params.age_shares if age_shares is None else age_shares
    if shares is None:
        return None
    _check_age_keys(shares, "population: age_shares")
    values = {}
    for key, value in shares.items():
        try:
            share = float(value)
        except (TypeError, ValueError):
            share = math.nan
        if not (math.isfinite(share) and 0 <= share <= 1):
            raise InputError(
                f"population: age_shares: {key}", f"a share must be between 0 and 1, not {value!r}"
            )
        values[key] = share
    rest = values["child"] + values["older"]
    if rest > 1 + _SHARE_TOLERANCE:
        raise InputError(
            "population: age_shares", f"the child and older shares add up to {rest:g}, more than 1"
        )
    if "adult" in values and abs(rest + values["adult"] - 1) > _SHARE_TOLERANCE:
        raise InputError(
            "population: age_shares",
            f"the shares add up to {rest + values['adult']:g}, not 1",
            "give child and older only (adult = 1 − the rest), or three shares that sum to 1",
        )
    values["adult"] = max(0.0, 1.0 - rest)
    return values


def _check_age_keys(mapping: Mapping[str, object], where: str) -> None:
    unknown = sorted(set(mapping) - set(AGE_GROUPS))
    if unknown:
        raise InputError(where, f"unknown age group(s) {unknown}", f"use {', '.join(AGE_GROUPS)}")
    if not {"child", "older"} <= set(mapping):
        raise InputError(
            where, "both 'child' and 'older' are needed", "adult is the rest when it is not given"
        )


def _existing_file(path: Path | str | None, source: str) -> Path:
    if path is None:
        raise InputError("population: path", f"no file given for the {source} population source")
    file = Path(path)
    if not file.exists():
        raise InputError(str(file), "file not found", "Check the population path of the study region")
    return file


# --- readers ---------------------------------------------------------------------------------------------


def _read_raster(path: Path, area: shapely.Geometry, crs: pyproj.CRS, band: int) -> _Cells:
    where = str(path)
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise InputError(
                    where, "the raster has no coordinate reference system", "give a GeoTIFF with its CRS"
                )
            if not 1 <= band <= src.count:
                raise InputError(
                    f"{where}: band", f"band {band} does not exist; the raster has {src.count} band(s)"
                )
            raster_crs = pyproj.CRS.from_user_input(src.crs.to_wkt())
            affine = src.transform
            window = _window(affine, src.width, src.height, area, raster_crs)
            if window is None:
                covers = _bounds_in_wgs84(src.bounds, raster_crs)
                raise InputError(
                    where,
                    "the study area lies outside the population raster",
                    f"the raster covers lon/lat {_fmt_bounds(covers)}, the study area "
                    f"{_fmt_bounds(area.bounds)}; check the boundary or give the raster of this city",
                )
            data = src.read(band, window=window, masked=True)
    except (rasterio.errors.RasterioError, pyproj.exceptions.CRSError) as exc:
        raise InputError(where, f"cannot be read as a raster ({exc})", "give a GeoTIFF") from None

    values = np.ma.filled(data.astype("float64"), np.nan)
    known = np.isfinite(values) & (values >= 0)
    rows, cols = np.nonzero(known & (values > 0))
    pop = values[rows, cols]
    rows = rows + window.row_off
    cols = cols + window.col_off
    x, y = _apply_affine(affine, cols + 0.5, rows + 0.5)
    inside = _inside(x, y, raster_crs, area)
    if not inside.any():
        state = "only nodata" if not known.any() else "no value above zero"
        raise InputError(
            where,
            "the population raster has no populated cell inside the study area",
            f"its {values.size:,} cells around the study area hold {state}; check the boundary, the band "
            "and the raster's nodata value",
        )
    rows, cols, pop, x, y = rows[inside], cols[inside], pop[inside], x[inside], y[inside]

    corner_c = np.stack([cols, cols + 1, cols + 1, cols, cols], axis=1)
    corner_r = np.stack([rows, rows, rows + 1, rows + 1, rows], axis=1)
    cx, cy = _apply_affine(affine, corner_c, corner_r)
    squares = shapely.polygons(np.stack([cx, cy], axis=-1))
    px, py = _transform(x, y, raster_crs, crs)
    cell_id = pd.Series(rows).astype(str).str.cat(pd.Series(cols).astype(str), sep="_").to_numpy()
    size = abs(affine.a * affine.e - affine.b * affine.d) ** 0.5
    unit = raster_crs.axis_info[0].unit_name if raster_crs.axis_info else ""
    description = (
        f"{len(pop):,} populated cells of the raster {path.name} (band {band}, {size:g} {unit} pixels, "
        f"{raster_crs.name}) with their centre inside the study area"
    )
    return _Cells(px, py, _project(squares, raster_crs, crs), pop, cell_id, description, where=where)


def _window(
    affine: rasterio.Affine, width: int, height: int, area: shapely.Geometry, raster_crs: pyproj.CRS
) -> Window | None:
    """Return the raster window covering the study area, or None when they do not overlap."""
    to_raster = pyproj.Transformer.from_crs(_WGS84, raster_crs, always_xy=True)
    try:
        left, bottom, right, top = to_raster.transform_bounds(*area.bounds, densify_pts=21)
    except pyproj.exceptions.ProjError:
        return None
    if not all(math.isfinite(v) for v in (left, bottom, right, top)):
        return None
    xs, ys = np.array([left, left, right, right]), np.array([bottom, top, bottom, top])
    cols, rows = _apply_affine(~affine, xs, ys)
    col0, col1 = max(math.floor(cols.min()), 0), min(math.ceil(cols.max()), width)
    row0, row1 = max(math.floor(rows.min()), 0), min(math.ceil(rows.max()), height)
    if col0 >= col1 or row0 >= row1:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def _read_vector(
    path: Path,
    area: shapely.Geometry,
    crs: pyproj.CRS,
    *,
    column: str | None,
    id_column: str | None,
    age_columns: Mapping[str, str] | None,
) -> _Cells:
    where = str(path)
    try:
        info = pyogrio.read_info(path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        raise InputError(
            where, f"cannot be read as a vector file ({exc})", "give a GeoPackage, GeoJSON or Shapefile"
        ) from None
    if info.get("crs") is None:
        raise InputError(
            where,
            "the file has no coordinate reference system",
            "save it with its CRS (a Shapefile needs its .prj), e.g. ogr2ogr -a_srs EPSG:4326",
        )
    fields = [str(f) for f in info["fields"]]
    column = column or "population"
    _require_columns(where, [column], fields, "population column")
    if id_column is not None:
        _require_columns(where, [id_column], fields, "id column")
    elif "id" in fields:
        id_column = "id"
    age_names = list(age_columns.values()) if age_columns else []
    _require_columns(where, age_names, fields, "age column")

    try:
        data_crs = pyproj.CRS.from_user_input(info["crs"])
        to_data = pyproj.Transformer.from_crs(_WGS84, data_crs, always_xy=True)
        bbox = to_data.transform_bounds(*area.bounds, densify_pts=21)
        wanted = list(dict.fromkeys([column, *([id_column] if id_column else []), *age_names]))
        frame = pyogrio.read_dataframe(path, columns=wanted, bbox=bbox, fid_as_index=True)
    except (
        pyogrio.errors.DataSourceError,
        pyogrio.errors.DataLayerError,
        pyproj.exceptions.CRSError,
        pyproj.exceptions.ProjError,
    ) as exc:
        raise InputError(where, f"cannot be read ({exc})", "Check the file and its CRS") from None
    frame = frame[~(frame.geometry.isna() | frame.geometry.is_empty)]
    kinds = set(frame.geom_type.unique())
    if not kinds <= set(_VECTOR_TYPES):
        raise InputError(
            where,
            f"the features are {sorted(kinds)}; population needs polygons or points",
            "give a grid of polygons or points",
        )
    pop = _numeric(frame[column], f"{where}: {column}")
    populated = np.isfinite(pop) & (pop > 0)
    frame, pop = frame[populated], pop[populated]
    if frame.empty:
        raise InputError(
            f"{where}: {column}",
            "the file has no populated feature inside the study area",
            f"the file covers lon/lat {_fmt_bounds(_file_bounds(path, data_crs))}, the study area "
            f"{_fmt_bounds(area.bounds)}; check the boundary, the column and the file",
        )
    projected = frame.geometry.to_crs(crs)
    centroids = projected.centroid
    x, y = centroids.x.to_numpy(), centroids.y.to_numpy()
    inside = _inside(x, y, crs, area)
    if not inside.any():
        raise InputError(
            where,
            "no populated feature has its centroid inside the study area",
            f"the file covers lon/lat {_fmt_bounds(_file_bounds(path, data_crs))}, the study area "
            f"{_fmt_bounds(area.bounds)}; check the boundary or the file",
        )
    frame = frame[inside]
    ids = frame[id_column] if id_column else frame.index.to_series()
    ages = {
        group: _numeric(frame[name], f"{where}: {name}", negative_ok=True)
        for group, name in (age_columns or {}).items()
    }
    description = (
        f"{int(inside.sum()):,} populated features of {path.name} (column {column!r}) "
        "with their centroid inside the study area"
    )
    return _Cells(
        x[inside],
        y[inside],
        projected.to_numpy()[inside],
        pop[inside],
        ids.astype(str).to_numpy(),
        description,
        ages,
        where,
    )


def _read_h3(
    path: Path,
    area: shapely.Geometry,
    crs: pyproj.CRS,
    *,
    column: str | None,
    id_column: str | None,
    age_columns: Mapping[str, str] | None,
) -> _Cells:
    where = str(path)
    names = list(_read_table(path, header_only=True).columns)
    if id_column is None:
        id_column = next((c for c in _H3_ID_COLUMNS if c in names), None)
        if id_column is None:
            raise InputError(
                where,
                f"no column of H3 cell ids ({', '.join(_H3_ID_COLUMNS)}); the columns are {names}",
                "name the id column in the study region",
            )
    _require_columns(where, [id_column], names, "H3 id column")
    column = column or "population"
    _require_columns(where, [column], names, "population column")
    age_names = list(age_columns.values()) if age_columns else []
    _require_columns(where, age_names, names, "age column")
    table = _read_table(path, text_column=id_column)

    ids = _h3_ids(table[id_column])
    valid = np.array([h3.is_valid_cell(c) for c in ids], dtype=bool)
    if not valid.all():
        bad = ", ".join(repr(str(v)) for v in table[id_column][~valid].fillna("").head(_FIRST_FEW))
        raise InputError(
            f"{where}: {id_column}",
            f"{int((~valid).sum()):,} of {len(ids):,} ids are not valid H3 cells (first: {bad})",
            "give H3 cell indexes as hexadecimal strings such as '89a901291abffff'",
        )
    duplicated = pd.Series(ids).duplicated()
    if duplicated.any():
        first = ", ".join(repr(v) for v in pd.Series(ids)[duplicated].unique()[:_FIRST_FEW])
        raise InputError(
            f"{where}: {id_column}",
            f"{int(duplicated.sum()):,} H3 cells appear more than once (first: {first})",
            "give one row per cell",
        )
    pop = _numeric(table[column], f"{where}: {column}")
    populated = np.isfinite(pop) & (pop > 0)
    if not populated.any():
        raise InputError(f"{where}: {column}", "the table has no cell with a population above zero")
    ids, pop, table = ids[populated], pop[populated], table[populated]
    latlng = np.array([h3.cell_to_latlng(c) for c in ids], dtype="float64")
    lat, lon = latlng[:, 0], latlng[:, 1]
    inside = shapely.intersects_xy(area, lon, lat)
    if not inside.any():
        raise InputError(
            where,
            "no populated H3 cell has its centre inside the study area",
            f"the cells span lon/lat {_fmt_bounds((lon.min(), lat.min(), lon.max(), lat.max()))}, the study "
            f"area {_fmt_bounds(area.bounds)}; check the boundary or the file",
        )
    ids, pop, lon, lat = ids[inside], pop[inside], lon[inside], lat[inside]
    table = table[inside]
    hexagons = _h3_polygons(ids)
    x, y = _transform(lon, lat, _WGS84, crs)
    ages = {
        group: _numeric(table[name], f"{where}: {name}", negative_ok=True)
        for group, name in (age_columns or {}).items()
    }
    resolutions = sorted({h3.get_resolution(c) for c in ids})
    description = (
        f"{len(ids):,} populated H3 cells (resolution {', '.join(map(str, resolutions))}) of {path.name} "
        f"(column {column!r}) with their centre inside the study area"
    )
    return _Cells(x, y, _project(hexagons, _WGS84, crs), pop, ids, description, ages, where)


def _read_table(path: Path, *, header_only: bool = False, text_column: str | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet table; with ``header_only`` just its (string) column names."""
    where = str(path)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            table = pd.read_parquet(path)
        elif header_only:
            table = pd.read_csv(path, nrows=0)
        else:
            table = pd.read_csv(path, dtype={text_column: str} if text_column else None)
        table.columns = [str(c) for c in table.columns]
        return table.head(0) if header_only else table
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise InputError(
            where, f"cannot be read as a table ({exc})", "give a CSV file with a header"
        ) from None


def _h3_ids(values: pd.Series) -> np.ndarray:
    """Return H3 indexes as lower-case hexadecimal strings; decimal integers are converted."""
    text = values.astype("string").fillna("").str.strip().str.lower()
    decimal = text.str.fullmatch(r"\d{17,20}").fillna(False).to_numpy(dtype=bool)
    ids = text.to_numpy(dtype=object)
    if decimal.any():
        ids[decimal] = [h3.int_to_str(int(v)) for v in ids[decimal]]
    return ids.astype(str)


def _h3_polygons(ids: np.ndarray) -> np.ndarray:
    """Return the hexagons (and pentagons) of H3 cells as shapely polygons in lon/lat."""
    rings = [h3.cell_to_boundary(c) for c in ids]
    counts = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
    latlng = np.array([vertex for ring in rings for vertex in ring], dtype="float64")
    ring_index = np.repeat(np.arange(len(rings)), counts)
    linear = shapely.linearrings(latlng[:, ::-1], indices=ring_index)
    return shapely.polygons(linear)


def _estimate_from_buildings(
    buildings: gpd.GeoDataFrame | None,
    area: shapely.Geometry,
    crs: pyproj.CRS,
    *,
    floor_area: float,
    default_levels: float,
    where: str,
) -> _Cells:
    if not isinstance(buildings, gpd.GeoDataFrame):
        raise InputError(
            where,
            "the buildings estimate needs the OSM buildings, and none were given",
            "give an OSM file with buildings, or another population source",
        )
    missing = [c for c in _BUILDING_COLUMNS if c not in buildings.columns]
    if missing:
        raise InputError(
            where, f"the buildings lack the column(s) {missing}; they have {list(buildings.columns)}"
        )
    frame = buildings if buildings.crs is not None else buildings.set_crs(_WGS84)
    geoms = frame.geometry
    residential = frame["residential"].eq(True).to_numpy(dtype=bool)
    keep = residential & geoms.notna().to_numpy() & ~geoms.is_empty.to_numpy()
    keep &= geoms.geom_type.isin(_POLYGONAL).to_numpy()
    frame = frame[keep]
    footprints = frame.geometry.to_crs(crs)
    centroids = footprints.centroid
    x, y = centroids.x.to_numpy(), centroids.y.to_numpy()
    inside = _inside(x, y, crs, area) if len(frame) else np.zeros(0, dtype=bool)
    area_m2 = footprints.area.to_numpy()
    inside &= area_m2 > 0
    if not inside.any():
        raise InputError(
            where,
            f"no residential building lies inside the study area ({int(residential.sum()):,} residential "
            f"of {len(buildings):,} buildings in all)",
            "Check the boundary, or give a population raster, grid or H3 table",
        )
    levels = pd.to_numeric(frame["levels"], errors="coerce").to_numpy(dtype="float64")[inside]
    untagged = ~(np.isfinite(levels) & (levels > 0))
    levels = np.where(untagged, default_levels, levels)
    pop = area_m2[inside] * levels / floor_area
    n, k = int(inside.sum()), int(untagged.sum())
    description = (
        f"estimated from {n:,} OSM residential buildings: footprint × levels ÷ {floor_area:g} m² per person "
        f"({k:,} without a levels tag counted as {default_levels:g} levels)"
    )
    return _Cells(
        x[inside],
        y[inside],
        footprints.to_numpy()[inside],
        pop,
        frame["osm_id"].astype(str).to_numpy()[inside],
        description,
        where=where,
    )


# --- assembly --------------------------------------------------------------------------------------------


def _assemble(
    cells: _Cells, source: str, crs: pyproj.CRS, total: float | None, shares: Mapping[str, float] | None
) -> Population:
    pop = np.asarray(cells.population, dtype="float64")
    found = float(pop.sum())
    if not found > 0:
        raise InputError(cells.where, "the total population inside the study area is zero")
    description = cells.description
    attributes: dict[str, np.ndarray] = {
        "origin_id": np.arange(len(pop), dtype=np.int64),
        "cell_id": np.asarray(cells.cell_id, dtype=str),
        "population": pop,
    }
    if cells.age_counts:
        split, note = _split_by_counts(pop, cells.age_counts, cells.where)
        attributes |= split
        description += note
    elif shares is not None:
        attributes |= {f"pop_{g}": pop * shares[g] for g in AGE_GROUPS}
        shown = ", ".join(f"{g} {shares[g]:.1%}" for g in AGE_GROUPS)
        description += f"; split by age shares ({shown})"
    if total is not None:
        factor = total / found
        for name in list(attributes):
            if name == "population" or name.startswith("pop_"):
                attributes[name] = attributes[name] * factor
        description += f"; scaled ×{factor:.4g} from {found:,.0f} to the given total of {total:,.0f}"
    final = float(attributes["population"].sum())
    description += f"; {final:,.0f} people"
    origins = gpd.GeoDataFrame(attributes, geometry=shapely.points(cells.x, cells.y), crs=crs)
    polygons = gpd.GeoDataFrame(dict(attributes), geometry=np.asarray(cells.polygons, dtype=object), crs=crs)
    return Population(
        origins=origins,
        cells=polygons,
        source=source,
        is_estimate=source == "buildings",
        description=description,
        total=final,
    )


def _split_by_counts(
    pop: np.ndarray, counts: Mapping[str, np.ndarray], where: str
) -> tuple[dict[str, np.ndarray], str]:
    """Split each cell by its own age counts; cells with unusable counts take the average split."""
    child, older = counts["child"], counts["older"]
    usable = np.isfinite(child) & np.isfinite(older) & (child >= 0) & (older >= 0)
    if "adult" in counts:
        adult = counts["adult"]
        usable &= np.isfinite(adult) & (adult >= 0)
        scale = np.where(usable, child + older + adult, 0.0)
        usable &= scale > 0
    else:
        scale = np.where(usable, np.maximum(pop, child + older), 0.0)
    if not usable.any():
        raise InputError(where, "no cell has usable age counts", "Check the age columns")
    with np.errstate(invalid="ignore", divide="ignore"):
        share_child = np.where(usable, child / scale, np.nan)
        share_older = np.where(usable, older / scale, np.nan)
    weight = pop[usable]
    mean_child = float(np.average(share_child[usable], weights=weight))
    mean_older = float(np.average(share_older[usable], weights=weight))
    share_child = np.where(usable, share_child, mean_child)
    share_older = np.where(usable, share_older, mean_older)
    pop_child = pop * share_child
    pop_older = pop * share_older
    pop_adult = np.maximum(pop - pop_child - pop_older, 0.0)
    note = "; split by the age columns"
    unusable = int((~usable).sum())
    if unusable:
        note += f" ({unusable:,} cells without usable age counts took the average split)"
    return {"pop_child": pop_child, "pop_adult": pop_adult, "pop_older": pop_older}, note


# --- helpers ---------------------------------------------------------------------------------------------


def _require_columns(where: str, wanted: Sequence[str], available: Sequence[str], what: str) -> None:
    for name in wanted:
        if name not in available:
            raise InputError(
                f"{where}: {name}",
                f"no {what} {name!r}; the columns are {', '.join(map(str, available))}",
                "name one of these columns in the study region",
            )


def _numeric(values: pd.Series, where: str, *, negative_ok: bool = False) -> np.ndarray:
    """Return a column as float64 (NaN when missing); text must parse, negatives only when allowed."""
    if pd.api.types.is_bool_dtype(values.dtype):
        raise InputError(where, "the column holds true/false values, not numbers", "name a numeric column")
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.astype("float64").to_numpy()
    else:
        parsed = pd.to_numeric(values, errors="coerce")
        bad = parsed.isna() & values.notna() & values.astype("string").str.strip().ne("")
        if bad.any():
            first = ", ".join(repr(str(v)) for v in values[bad].head(_FIRST_FEW))
            raise InputError(
                where,
                f"the column is not numeric ({int(bad.sum()):,} values such as {first})",
                "name a column of population counts",
            )
        numbers = parsed.astype("float64").to_numpy()
    if not negative_ok and (numbers < 0).any():
        raise InputError(
            where,
            f"{int((numbers < 0).sum()):,} values are negative",
            "population counts must be zero or more; leave missing values empty",
        )
    return numbers


def _transform(
    x: np.ndarray, y: np.ndarray, src: pyproj.CRS, dst: pyproj.CRS
) -> tuple[np.ndarray, np.ndarray]:
    if src == dst:
        return np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
    transformer = pyproj.Transformer.from_crs(src, dst, always_xy=True)
    tx, ty = transformer.transform(np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64"))
    return np.asarray(tx), np.asarray(ty)


def _project(geoms: np.ndarray, src: pyproj.CRS, dst: pyproj.CRS) -> np.ndarray:
    if src == dst:
        return geoms
    transformer = pyproj.Transformer.from_crs(src, dst, always_xy=True)

    def reproject(coords: np.ndarray) -> np.ndarray:
        tx, ty = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([tx, ty])

    return shapely.transform(geoms, reproject)


def _inside(x: np.ndarray, y: np.ndarray, src: pyproj.CRS, area: shapely.Geometry) -> np.ndarray:
    """Tell whether each point (in ``src``) lies inside or on the study area (EPSG:4326)."""
    if len(x) == 0:
        return np.zeros(0, dtype=bool)
    lon, lat = _transform(x, y, src, _WGS84)
    return np.asarray(shapely.intersects_xy(area, lon, lat), dtype=bool)


def _apply_affine(affine: rasterio.Affine, col: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    col = np.asarray(col, dtype="float64")
    row = np.asarray(row, dtype="float64")
    return affine.a * col + affine.b * row + affine.c, affine.d * col + affine.e * row + affine.f


def _bounds_in_wgs84(bounds: Sequence[float], src: pyproj.CRS) -> tuple[float, float, float, float]:
    try:
        to_wgs84 = pyproj.Transformer.from_crs(src, _WGS84, always_xy=True)
        return tuple(to_wgs84.transform_bounds(*bounds, densify_pts=21))
    except pyproj.exceptions.ProjError:
        return (math.nan,) * 4


def _file_bounds(path: Path, data_crs: pyproj.CRS) -> tuple[float, float, float, float]:
    try:
        info = pyogrio.read_info(path, force_total_bounds=True)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError):
        return (math.nan,) * 4
    bounds = info.get("total_bounds")
    if bounds is None:
        return (math.nan,) * 4
    return _bounds_in_wgs84(bounds, data_crs)


def _fmt_bounds(bounds: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.4f}" for v in bounds) + ")"
