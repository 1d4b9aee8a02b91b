"""A built-up raster as the denominator of the SDG 11.7.1 land share: areas worked by hand, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

import exquisite
from exquisite.config import BuiltUp, region_from_dict
from exquisite.demo import demo_pbf
from exquisite.errors import InputError
from exquisite.sources.builtup import built_up_area_m2

CRS = "EPSG:3067"
X0, Y0 = 385_000.0, 6_672_000.0  # top-left corner of the rasters below


def _raster(
    path: Path, values: np.ndarray, crs: str | None = CRS, cell: float = 10.0, nodata: float = -1
) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=values.shape[1],
        height=values.shape[0],
        count=1,
        dtype="float32",
        crs=crs,
        transform=from_origin(X0, Y0, cell, cell),
        nodata=nodata,
    ) as dst:
        dst.write(values.astype("float32"), 1)
    return path


def test_area_of_built_cells_worked_by_hand(tmp_path: Path) -> None:
    # 10 × 10 cells of 10 m: the left half (50 cells) is built (value 255), one of them is nodata
    values = np.zeros((10, 10))
    values[:, :5] = 255
    values[0, 0] = -1
    path = _raster(tmp_path / "built.tif", values)
    square = shapely.box(X0, Y0 - 100, X0 + 100, Y0)
    # 49 built cells × 100 m² = 4,900 m²
    assert built_up_area_m2(BuiltUp(path=path), square, CRS) == pytest.approx(4_900)
    # only the cells whose centre lies in the area count: the top 3 rows of the left half (3 × 5 − 1 = 14)
    top = shapely.box(X0, Y0 - 30, X0 + 100, Y0)
    assert built_up_area_m2(BuiltUp(path=path), top, CRS) == pytest.approx(1_400)
    # a class rule: value 255 only; a threshold above every value: nothing
    assert built_up_area_m2(BuiltUp(path=path, values=(255,)), square, CRS) == pytest.approx(4_900)
    assert built_up_area_m2(BuiltUp(path=path, min_value=255), square, CRS) == 0.0


def test_geographic_raster_cells_by_latitude(tmp_path: Path) -> None:
    # a lon/lat raster of 0.001° cells at 60° N: each cell is about 55.8 m × 111.4 m
    values = np.ones((20, 20))
    path = tmp_path / "lonlat.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=20,
        height=20,
        count=1,
        dtype="uint8",
        crs="EPSG:4326",
        transform=from_origin(24.93, 60.17, 0.001, 0.001),
    ) as dst:
        dst.write(values.astype("uint8"), 1)
    # cell centres lie at x.xxx5°: this area holds the centres of 15 × 15 cells, with 0.0003° to spare
    area_wgs84 = shapely.box(24.9302, 60.1552, 24.9448, 60.1698)
    import geopandas as gpd

    projected = gpd.GeoSeries([area_wgs84], crs=4326).to_crs(CRS).iloc[0]
    expected = gpd.GeoSeries([shapely.box(24.930, 60.155, 24.945, 60.170)], crs=4326).to_crs(CRS).area.iloc[0]
    assert built_up_area_m2(BuiltUp(path=path), projected, CRS) == pytest.approx(expected, rel=0.005)


def test_bad_rasters_are_clear_errors(tmp_path: Path) -> None:
    square = shapely.box(X0, Y0 - 100, X0 + 100, Y0)
    no_crs = _raster(tmp_path / "nocrs.tif", np.ones((10, 10)), crs=None)
    with pytest.raises(InputError, match="has no coordinate reference system"):
        built_up_area_m2(BuiltUp(path=no_crs), square, CRS)
    good = _raster(tmp_path / "good.tif", np.ones((10, 10)))
    with pytest.raises(InputError, match="there is no band 2"):
        built_up_area_m2(BuiltUp(path=good, band=2), square, CRS)
    far = shapely.affinity.translate(square, 50_000, 0)
    with pytest.raises(InputError, match="does not cover the study area"):
        built_up_area_m2(BuiltUp(path=good), far, CRS)
    text = tmp_path / "notes.tif"
    text.write_text("not a raster")
    with pytest.raises(InputError, match="cannot be read as a raster"):
        built_up_area_m2(BuiltUp(path=text), square, CRS)


def test_config_typo_and_missing_file(tmp_path: Path) -> None:
    base = {"name": "T", "country": "FI", "osm": str(demo_pbf()), "population": {"source": "buildings"}}
    _raster(tmp_path / "built.tif", np.ones((2, 2)))
    with pytest.raises(InputError, match="Did you mean 'values'"):
        region_from_dict(base | {"built_up": {"path": "built.tif", "valuez": [1]}}, base_dir=tmp_path)
    with pytest.raises(InputError, match=r"nowhere\.tif"):
        region_from_dict(base | {"built_up": {"path": "nowhere.tif"}}, base_dir=tmp_path)


def test_land_share_over_a_raster(tmp_path: Path) -> None:
    """The demo city with a raster that calls every cell of the study area built up."""
    import geopandas as gpd

    west, south, east, north = 24.9351762, 60.1641550, 24.9534145, 60.1791130
    crs = "EPSG:32635"
    x0, y1, x1, y0 = (
        gpd.GeoSeries(shapely.points([west, east], [north, south]), crs=4326).to_crs(crs).total_bounds
    )
    x0, y0 = np.floor(x0 / 10) * 10 - 100, np.ceil(y0 / 10) * 10 + 100
    cols, rows = int((x1 - x0) / 10) + 20, int((y0 - y1) / 10) + 20
    path = tmp_path / "all_built.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=cols,
        height=rows,
        count=1,
        dtype="uint8",
        crs=crs,
        transform=from_origin(x0, y0, 10, 10),
    ) as dst:
        dst.write(np.full((rows, cols), 255, dtype="uint8"), 1)
    region = region_from_dict(
        {
            "name": "Helsinki (demo)",
            "country": "FI",
            "osm": str(demo_pbf()),
            "population": {"source": "buildings"},
            "built_up": {"path": str(path), "values": [255]},
        },
        base_dir=tmp_path,
    )
    analysis = exquisite.analyse(region)
    share = analysis.find("sdg_11_7_1_share_ops_and_streets")
    # every cell is built up: the denominator is the study area (to the raster's 10 m cells)
    assert share.denominator == pytest.approx(analysis.areas[0].geometry.area, rel=0.01)
    assert "all_built.tif (band 1) with value in 255" in share.parameters["built_up"]
    assert any(s["name"] == "built-up raster" for s in share.sources)
    assert any("raster" in c for c in share.caveats)
