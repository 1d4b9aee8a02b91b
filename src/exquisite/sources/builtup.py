"""A built-up raster: how much of an area is built up, for the SDG 11.7.1 land share."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Geod

from exquisite.config import BuiltUp
from exquisite.errors import InputError

_GEOD = Geod(ellps="WGS84")


def built_up_area_m2(spec: BuiltUp, area: shapely.Geometry, crs: str) -> float:
    """Area (m²) of the raster's built-up cells whose centre lies inside ``area``.

    Parameters
    ----------
    spec
        The raster and its rule: a cell is built-up when its value is above ``min_value``, or one of
        ``values``; nodata cells are not.
    area
        The city or district, in ``crs``.
    crs
        The run's projected CRS.

    Raises
    ------
    InputError
        When the raster cannot be read, has no CRS or no such band, or does not reach the area.
    """
    import rasterio
    from rasterio.errors import WindowError
    from rasterio.features import geometry_mask
    from rasterio.windows import Window, from_bounds

    where = str(spec.path)
    try:
        src = rasterio.open(spec.path)
    except rasterio.errors.RasterioIOError as error:
        raise InputError(
            where, f"cannot be read as a raster ({error})", "Give a GeoTIFF of built-up land."
        ) from None
    with src:
        if src.crs is None:
            raise InputError(where, "has no coordinate reference system", "Save the raster with its CRS.")
        if spec.band > src.count:
            raise InputError(
                f"{where}: band",
                f"there is no band {spec.band} (the raster has {src.count})",
                "Pick another band.",
            )
        shape = gpd.GeoSeries([area], crs=crs).to_crs(src.crs).iloc[0]
        window = from_bounds(*shape.bounds, transform=src.transform).round_offsets().round_lengths()
        try:
            window = window.intersection(Window(0, 0, src.width, src.height))
        except WindowError:
            window = None
        if window is None or window.width < 1 or window.height < 1:
            raise InputError(
                where,
                f"does not cover the study area (raster CRS {src.crs.to_string()})",
                "Give a raster of this city's built-up land.",
            )
        data = src.read(spec.band, window=window, masked=True)
        transform = src.window_transform(window)
        inside = ~geometry_mask([shape], out_shape=data.shape, transform=transform)
        values = np.ma.filled(data.astype(np.float64), np.nan)
        built = np.isin(values, spec.values) if spec.values is not None else values > spec.min_value
        cells_per_row = np.sum(built & inside, axis=1)
        return float(np.sum(cells_per_row * _cell_area_m2(src.crs, transform, data.shape[0])))


def _cell_area_m2(raster_crs: Any, transform: Any, rows: int) -> np.ndarray:
    """Area (m²) of one cell in each row: constant in a projected CRS, by latitude in a geographic one."""
    width, height = abs(transform.a), abs(transform.e)
    if raster_crs.is_projected:
        metres = raster_crs.linear_units_factor[1]
        return np.full(rows, width * height * metres * metres)
    tops = transform.f + transform.e * np.arange(rows)
    bottoms = tops + transform.e
    return np.array(
        [
            abs(_GEOD.polygon_area_perimeter([0, width, width, 0], [t, t, b, b])[0])
            for t, b in zip(tops, bottoms, strict=True)
        ]
    )
