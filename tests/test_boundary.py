"""The study area: polygon files in any CRS, boxes, the OSM extent, UTM zones and overlap checks."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

from exquisite.boundary import check_overlap, load_boundary, region_crs, utm_crs
from exquisite.config import region_from_dict
from exquisite.errors import InputError

# Two overlapping squares in central Helsinki, in ETRS-TM35FIN (EPSG:3067) metres.
HELSINKI_3067 = [box(385_000, 6_671_000, 387_000, 6_673_000), box(386_000, 6_672_000, 388_000, 6_674_000)]


def feature_collection(path: Path, geometries: list[dict]) -> Path:
    features = [{"type": "Feature", "properties": {}, "geometry": g} for g in geometries]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def region(tmp_path: Path, **settings: object):
    (tmp_path / "city.osm.pbf").write_bytes(b"")
    data = {"name": "X", "country": "FI", "osm": "city.osm.pbf", "population": {"source": "buildings"}}
    return region_from_dict({**data, **settings}, tmp_path, source="my_city.yml")


# ---------------------------------------------------------------------------------------------------------
# UTM zones
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [
        (24.94, 60.17, "EPSG:32635"),  # Helsinki
        (-51.2, -30.03, "EPSG:32722"),  # Porto Alegre, southern hemisphere
        (122.12, 37.51, "EPSG:32651"),  # Weihai
        (-0.13, 51.51, "EPSG:32630"),  # London, just west of Greenwich
        (180.0, 10.0, "EPSG:32660"),  # the antimeridian stays in zone 60
    ],
)
def test_utm_zone(lon: float, lat: float, expected: str) -> None:
    assert utm_crs(Point(lon, lat)) == expected
    assert utm_crs(Point(lon, lat).buffer(0.001)) == expected


def test_utm_zone_rejects_projected_coordinates() -> None:
    with pytest.raises(ValueError, match="longitude/latitude"):
        utm_crs(Point(385_000, 6_671_000))
    with pytest.raises(ValueError, match="non-empty"):
        utm_crs(Polygon())


def test_region_crs_prefers_the_setting(tmp_path: Path) -> None:
    area = box(24.9, 60.15, 24.96, 60.18)
    assert region_crs(region(tmp_path, crs="EPSG:3067"), area) == "EPSG:3067"
    assert region_crs(region(tmp_path), area) == "EPSG:32635"


# ---------------------------------------------------------------------------------------------------------
# Reading a boundary
# ---------------------------------------------------------------------------------------------------------


def test_geojson_in_epsg_3067_is_dissolved_and_reprojected(tmp_path: Path) -> None:
    path = tmp_path / "boundary.geojson"
    gpd.GeoDataFrame({"name": ["a", "b"]}, geometry=HELSINKI_3067, crs=3067).to_file(path, driver="GeoJSON")
    area = load_boundary(path=path)
    assert area.geom_type == "Polygon"  # the two squares became one
    assert area.is_valid
    min_lon, min_lat, max_lon, max_lat = area.bounds
    assert 24.8 < min_lon < max_lon < 25.1
    assert 60.1 < min_lat < max_lat < 60.3
    back = gpd.GeoSeries([area], crs=4326).to_crs(3067).iloc[0]
    assert back.area == pytest.approx(shapely.union_all(HELSINKI_3067).area, rel=1e-3)
    assert utm_crs(area) == "EPSG:32635"


def test_geopackage_with_multipolygons_and_a_point_layer(tmp_path: Path) -> None:
    path = tmp_path / "boundary.gpkg"
    far = box(390_000, 6_671_000, 391_000, 6_672_000)
    gpd.GeoDataFrame(geometry=[*HELSINKI_3067, far], crs=3067).to_file(path, layer="area")
    gpd.GeoDataFrame(geometry=[Point(386_000, 6_672_000)], crs=3067).to_file(path, layer="centre")
    area = load_boundary(path=path)
    assert area.geom_type == "MultiPolygon"
    assert len(area.geoms) == 2


def test_boundary_from_region_file(tmp_path: Path) -> None:
    gpd.GeoDataFrame(geometry=HELSINKI_3067, crs=3067).to_file(tmp_path / "b.gpkg")
    area = load_boundary(region(tmp_path, boundary="b.gpkg"))
    assert area.geom_type == "Polygon"
    assert area.bounds[0] > 24


def test_bbox(tmp_path: Path) -> None:
    assert load_boundary(bbox=(24.9, 60.15, 24.96, 60.18)).equals(box(24.9, 60.15, 24.96, 60.18))
    area = load_boundary(region(tmp_path, boundary={"bbox": [24.9, 60.15, 24.96, 60.18]}))
    assert area.bounds == pytest.approx((24.9, 60.15, 24.96, 60.18))


def test_bad_bbox_argument() -> None:
    with pytest.raises(InputError, match=r"min_lon .* must be less than max_lon"):
        load_boundary(bbox=(25, 60, 24, 61))


def test_exactly_one_source() -> None:
    with pytest.raises(TypeError):
        load_boundary()
    with pytest.raises(TypeError):
        load_boundary(path="a.gpkg", bbox=(0, 0, 1, 1))


def test_file_without_crs(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.shp"
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        gpd.GeoDataFrame(geometry=HELSINKI_3067).to_file(path)
    assert not path.with_suffix(".prj").exists()
    with pytest.raises(InputError) as caught:
        load_boundary(path=path)
    assert caught.value.where == str(path)
    assert "has no coordinate reference system" in caught.value.problem
    assert ".prj" in caught.value.hint


def test_geojson_with_metres_but_no_crs(tmp_path: Path) -> None:
    path = feature_collection(tmp_path / "b.geojson", [json.loads(shapely.to_geojson(HELSINKI_3067[0]))])
    with pytest.raises(InputError, match="do not fit its CRS"):
        load_boundary(path=path)


def test_empty_file(tmp_path: Path) -> None:
    path = feature_collection(tmp_path / "empty.geojson", [])
    with pytest.raises(InputError, match="has no features"):
        load_boundary(path=path)


def test_no_polygons(tmp_path: Path) -> None:
    path = feature_collection(
        tmp_path / "points.geojson", [{"type": "LineString", "coordinates": [[24.9, 60.1], [25.0, 60.2]]}]
    )
    with pytest.raises(InputError) as caught:
        load_boundary(path=path)
    assert "has no polygons (found LineString)" in caught.value.problem


def test_invalid_polygon_is_repaired(tmp_path: Path) -> None:
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[24.9, 60.1], [25.0, 60.2], [25.0, 60.1], [24.9, 60.2], [24.9, 60.1]]],
    }
    area = load_boundary(path=feature_collection(tmp_path / "bowtie.geojson", [bowtie]))
    assert area.is_valid
    assert area.geom_type == "MultiPolygon"
    assert area.area == pytest.approx(0.005)


def test_degenerate_polygon_has_no_area(tmp_path: Path) -> None:
    flat = {"type": "Polygon", "coordinates": [[[24.9, 60.1], [25.0, 60.1], [24.95, 60.1], [24.9, 60.1]]]}
    with pytest.raises(InputError, match="has no polygons"):
        load_boundary(path=feature_collection(tmp_path / "flat.geojson", [flat]))


def test_not_a_gis_file(tmp_path: Path) -> None:
    path = tmp_path / "boundary.geojson"
    path.write_text("this is not GeoJSON", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_boundary(path=path)
    assert caught.value.where == str(path)
    assert "cannot be read as a polygon file" in caught.value.problem


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        load_boundary(path=tmp_path / "nowhere.gpkg")


def test_several_polygon_layers(tmp_path: Path) -> None:
    path = tmp_path / "two.gpkg"
    gpd.GeoDataFrame(geometry=HELSINKI_3067[:1], crs=3067).to_file(path, layer="one")
    gpd.GeoDataFrame(geometry=HELSINKI_3067[1:], crs=3067).to_file(path, layer="two")
    with pytest.raises(InputError, match="2 layers"):
        load_boundary(path=path)


# ---------------------------------------------------------------------------------------------------------
# The OSM extent when the region has no boundary
# ---------------------------------------------------------------------------------------------------------


def test_region_without_boundary_uses_the_pbf_header(tmp_path: Path, helsinki_pbf: Path) -> None:
    data = {
        "name": "Helsinki",
        "country": "FI",
        "osm": str(helsinki_pbf),
        "population": {"source": "buildings"},
    }
    area = load_boundary(region_from_dict(data, tmp_path))
    assert area.bounds == pytest.approx((24.9351762, 60.1641550, 24.9534145, 60.1791130))


def test_pbf_without_header_box_uses_its_nodes(tmp_path: Path, shared_data: Path) -> None:
    pbf = shared_data / "porto-alegre" / "poa_osm.pbf"
    data = {"name": "Porto Alegre", "country": "BR", "osm": str(pbf), "population": {"source": "buildings"}}
    area = load_boundary(region_from_dict(data, tmp_path))
    min_lon, min_lat, max_lon, max_lat = area.bounds
    assert -51.3 < min_lon < max_lon < -51.1
    assert -30.2 < min_lat < max_lat < -29.9
    assert utm_crs(area) == "EPSG:32722"


def test_unreadable_pbf(tmp_path: Path) -> None:
    (tmp_path / "bad.osm.pbf").write_bytes(b"not a pbf at all")
    data = {"name": "X", "country": "FI", "osm": "bad.osm.pbf", "population": {"source": "buildings"}}
    with pytest.raises(InputError, match="cannot be read as an OSM PBF file"):
        load_boundary(region_from_dict(data, tmp_path))


# ---------------------------------------------------------------------------------------------------------
# Overlap
# ---------------------------------------------------------------------------------------------------------


def test_check_overlap() -> None:
    area = box(24.9, 60.15, 24.96, 60.18)
    check_overlap(area, (24.95, 60.17, 25.0, 60.2), "the OSM extract", "my_city.yml: osm")
    with pytest.raises(InputError) as caught:
        check_overlap(
            area, (-51.27, -30.11, -51.13, -29.99), "the OSM extract poa.osm.pbf", "my_city.yml: osm"
        )
    assert caught.value.where == "my_city.yml: osm"
    assert caught.value.problem == "the boundary lies outside the OSM extract poa.osm.pbf"
    assert "-51.2700" in caught.value.hint


def test_check_overlap_with_a_single_point_and_empty_data() -> None:
    area = box(24.9, 60.15, 24.96, 60.18)
    check_overlap(area, (24.93, 60.16, 24.93, 60.16), "one stop", "gtfs")
    with pytest.raises(InputError, match="has no data"):
        check_overlap(area, (float("nan"),) * 4, "the population grid", "population.path")
