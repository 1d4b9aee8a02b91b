"""Districts: read in any CRS, named, assigned to origins; every mistake is one clear message."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from exquisite.districts import load_districts
from exquisite.errors import InputError

# Two 1 km squares side by side in EPSG:3067 (Finland), west and east of x = 386,000.
CRS = "EPSG:3067"
WEST = shapely.box(385_000, 6_671_000, 386_000, 6_672_000)
EAST = shapely.box(386_000, 6_671_000, 387_000, 6_672_000)
BOUNDARY = shapely.box(385_000, 6_671_000, 387_000, 6_672_000)


def _write(tmp_path: Path, frame: gpd.GeoDataFrame, name: str = "districts.gpkg") -> Path:
    path = tmp_path / name
    frame.to_file(path)
    return path


def test_districts_in_another_crs_are_reprojected(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"name": ["Kallio", "Kamppi"]}, geometry=[WEST, EAST], crs=CRS).to_crs(4326)
    districts = load_districts(_write(tmp_path, frame), None, CRS, BOUNDARY)
    assert districts.names == ["Kallio", "Kamppi"]
    assert districts.geometries[0].area == pytest.approx(1e6, rel=1e-3)
    points = gpd.GeoSeries(shapely.points([385_500, 386_500, 390_000], [6_671_500] * 3), crs=CRS)
    assigned = districts.assign(points)
    assert list(assigned) == ["Kallio", "Kamppi", None]
    areas = districts.areas(assigned)
    assert [a.name for a in areas] == ["Kallio", "Kamppi"]
    assert areas[1].origins.tolist() == [False, True, False]


def test_parts_with_the_same_name_are_one_district(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"nimi": ["A", "A"]}, geometry=[WEST, EAST], crs=CRS)
    districts = load_districts(_write(tmp_path, frame), None, CRS, BOUNDARY)
    assert districts.names == ["A"]
    assert districts.geometries[0].area == pytest.approx(2e6)


def test_named_column(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"code": ["1", "2"], "label": ["W", "E"]}, geometry=[WEST, EAST], crs=CRS)
    assert load_districts(_write(tmp_path, frame), "label", CRS, BOUNDARY).names == ["W", "E"]


@pytest.mark.parametrize(
    ("columns", "name_column", "fragment"),
    [
        ({"code": ["1", "2"]}, None, "has no column of district names (columns: code)"),
        ({"code": ["1", "2"]}, "naam", "there is no column 'naam' (columns: code)"),
        ({"name": ["W", ""]}, None, "some districts have no name"),
    ],
)
def test_name_problems(tmp_path: Path, columns: dict, name_column: str | None, fragment: str) -> None:
    frame = gpd.GeoDataFrame(columns, geometry=[WEST, EAST], crs=CRS)
    with pytest.raises(InputError, match=r"districts\.gpkg") as info:
        load_districts(_write(tmp_path, frame), name_column, CRS, BOUNDARY)
    assert fragment in info.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_districts(tmp_path / "nowhere.gpkg", None, CRS, BOUNDARY)
    assert "nowhere.gpkg" in info.value.message
    assert "file not found" in info.value.message
    assert "districts file" in info.value.message


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_file_without_crs(tmp_path: Path) -> None:
    path = tmp_path / "districts.shp"  # a shapefile without its .prj
    gpd.GeoDataFrame({"name": ["A"]}, geometry=[WEST]).to_file(path)
    with pytest.raises(InputError) as info:
        load_districts(path, None, CRS, BOUNDARY)
    assert "has no coordinate reference system" in info.value.message


def test_districts_elsewhere(tmp_path: Path) -> None:
    far = shapely.affinity.translate(WEST, 500_000, 0)
    frame = gpd.GeoDataFrame({"name": ["Far"]}, geometry=[far], crs=CRS)
    with pytest.raises(InputError) as info:
        load_districts(_write(tmp_path, frame), None, CRS, BOUNDARY)
    assert "none of its 1 districts overlaps the study area (file CRS EPSG:3067)" in info.value.message


def test_no_polygons(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"name": ["P"]}, geometry=[shapely.Point(385_500, 6_671_500)], crs=CRS)
    with pytest.raises(InputError) as info:
        load_districts(_write(tmp_path, frame), None, CRS, BOUNDARY)
    assert "has no polygons" in info.value.message
