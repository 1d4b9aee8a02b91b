"""Population origins from rasters, vector grids, H3 tables and OSM buildings, and their bad inputs."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
import shapely
from rasterio import Affine

from exquisite.errors import InputError
from exquisite.sources.population import AGE_GROUPS, Population, load_parameters, load_population

HELSINKI_CRS = "EPSG:32635"
PORTO_ALEGRE_CRS = "EPSG:32722"
NODATA = -99999.0


def from_origin(west: float, north: float, xsize: float, ysize: float) -> Affine:
    """North-up pixel grid (rasterio's own from_origin warns about Affine's ``*``)."""
    return Affine(xsize, 0.0, west, 0.0, -ysize, north)


def _to_wgs84(geom: shapely.Geometry, crs: str) -> shapely.Geometry:
    transformer = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    return shapely.transform(geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def _write_raster(path: Path, values: np.ndarray, crs: str, transform, nodata: float | None = NODATA) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=values.shape[1],
        height=values.shape[0],
        count=1,
        dtype=values.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(values, 1)
    return path


def _check_contract(pop: Population, crs: str) -> None:
    origins, cells = pop.origins, pop.cells
    n = len(origins)
    assert n == len(cells) > 0
    assert origins.crs == pyproj.CRS(crs)
    assert cells.crs == pyproj.CRS(crs)
    assert origins["origin_id"].dtype == np.int64
    np.testing.assert_array_equal(origins["origin_id"], np.arange(n))
    assert origins["population"].dtype == np.float64
    assert (origins["population"] > 0).all()
    assert pd.api.types.is_string_dtype(origins["cell_id"])
    assert (origins.geom_type == "Point").all()
    np.testing.assert_array_equal(origins["cell_id"], cells["cell_id"])
    np.testing.assert_array_equal(origins["population"], cells["population"])
    assert pop.total == pytest.approx(origins["population"].sum())
    if "pop_child" in origins:
        summed = origins[[f"pop_{g}" for g in AGE_GROUPS]].sum(axis=1)
        np.testing.assert_allclose(summed, origins["population"], rtol=1e-12)
        assert (origins[[f"pop_{g}" for g in AGE_GROUPS]] >= 0).all().all()


# --- real data -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hsy(shared_data: Path) -> tuple[Path, gpd.GeoDataFrame]:
    path = shared_data / "helsinki" / "population_grid_2020.gpkg"
    return path, gpd.read_file(path)


@pytest.fixture(scope="module")
def poa(shared_data: Path) -> tuple[Path, pd.DataFrame]:
    path = shared_data / "porto-alegre" / "poa_hexgrid.csv"
    return path, pd.read_csv(path, dtype={"id": str})


def test_hsy_grid_inside_its_own_bounds(hsy: tuple[Path, gpd.GeoDataFrame]) -> None:
    path, grid = hsy
    pop = load_population("vector", path, boundary=shapely.box(*grid.total_bounds), crs=HELSINKI_CRS)
    _check_contract(pop, HELSINKI_CRS)
    assert len(pop.origins) == 92
    assert pop.total == grid["population"].sum() == 71_724
    assert not pop.is_estimate
    assert pop.source == "vector"
    assert "population_grid_2020.gpkg" in pop.description
    assert sorted(pop.origins["cell_id"], key=int) == [str(i) for i in grid["id"]]
    # each origin is its cell's centroid, and each 250 m cell is about 62,500 m² in UTM
    assert pop.cells.contains(pop.origins.geometry).all()
    assert pop.cells.area.between(60_000, 65_000).all()


def test_hsy_grid_keeps_cells_whose_centroid_is_inside(hsy: tuple[Path, gpd.GeoDataFrame]) -> None:
    path, grid = hsy
    xmin, ymin, xmax, ymax = grid.total_bounds
    west = shapely.box(xmin, ymin, (xmin + xmax) / 2, ymax)
    pop = load_population("vector", path, boundary=west, crs=HELSINKI_CRS)
    centroids = grid.to_crs(HELSINKI_CRS).centroid.to_crs("EPSG:4326")
    expected = grid.loc[centroids.intersects(west), "population"]
    assert 0 < len(expected) < len(grid)
    assert len(pop.origins) == len(expected)
    assert pop.total == expected.sum()


def test_porto_alegre_h3_table(poa: tuple[Path, pd.DataFrame]) -> None:
    path, table = poa
    boundary = shapely.box(table.lon.min(), table.lat.min(), table.lon.max(), table.lat.max()).buffer(0.01)
    pop = load_population("h3", path, boundary=boundary, crs=PORTO_ALEGRE_CRS)
    _check_contract(pop, PORTO_ALEGRE_CRS)
    populated = table[table["population"] > 0]
    assert len(pop.origins) == len(populated) == 1124
    assert pop.total == populated["population"].sum() == 812_935
    assert set(pop.origins["cell_id"]) == set(populated["id"])
    assert "resolution 9" in pop.description
    # the origin is the H3 cell centre, the cell its hexagon (resolution 9: about 0.09 km² here)
    first = pop.origins.iloc[0]
    lat, lng = h3.cell_to_latlng(first["cell_id"])
    back = _to_wgs84(first.geometry, PORTO_ALEGRE_CRS)
    assert back.x == pytest.approx(lng, abs=1e-9)
    assert back.y == pytest.approx(lat, abs=1e-9)
    assert pop.cells.contains(pop.origins.geometry).all()
    assert pop.cells.area.between(85_000, 95_000).all()


def test_porto_alegre_h3_age_columns(poa: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    table = poa[1].copy()
    table["kids"] = np.floor(table["population"] * 0.2)
    table["old"] = np.floor(table["population"] * 0.1)
    table.loc[table.index[:40], "old"] = np.nan  # suppressed counts take the average split
    csv = tmp_path / "poa_ages.csv"
    table.rename(columns={"id": "hex_id"}).to_csv(csv, index=False)
    boundary = shapely.box(-51.3, -30.3, -51.0, -29.9)
    pop = load_population(
        "h3",
        csv,
        boundary=boundary,
        crs=PORTO_ALEGRE_CRS,
        age_columns={"child": "kids", "older": "old"},
        total=1_000_000,
    )
    _check_contract(pop, PORTO_ALEGRE_CRS)
    assert pop.total == pytest.approx(1_000_000)
    assert pop.origins["pop_child"].sum() / pop.total == pytest.approx(0.2, abs=0.01)
    assert pop.origins["pop_older"].sum() / pop.total == pytest.approx(0.1, abs=0.01)
    assert "average split" in pop.description


# --- rasters ---------------------------------------------------------------------------------------------


def test_raster_wgs84_with_nodata(tmp_path: Path) -> None:
    # WorldPop-style: EPSG:4326, float32, 0.01° pixels from (24.90, 60.20), nodata, NaN, negatives, zeros
    values = np.arange(1, 101, dtype="float32").reshape(10, 10) / 4
    values[0, 0] = NODATA
    values[1, 1] = np.nan
    values[2, 2] = -5
    values[3, 3] = 0
    path = _write_raster(
        tmp_path / "worldpop.tif", values, "EPSG:4326", from_origin(24.90, 60.20, 0.01, 0.01)
    )
    # centres of columns 0..5 (lon 24.905..24.955) and rows 0..5 (lat 60.195..60.145)
    boundary = shapely.box(24.90, 60.14, 24.96, 60.20)
    pop = load_population("raster", path, boundary=boundary, crs=HELSINKI_CRS)
    _check_contract(pop, HELSINKI_CRS)
    block = values[:6, :6].astype("float64")
    block[(block == NODATA) | ~np.isfinite(block) | (block <= 0)] = 0
    assert pop.total == block.sum()
    assert len(pop.origins) == np.count_nonzero(block) == 36 - 4
    assert "0_0" not in set(pop.origins["cell_id"])
    row = pop.origins.set_index("cell_id").loc["4_5"]
    assert row["population"] == values[4, 5]
    centre = _to_wgs84(row.geometry, HELSINKI_CRS)
    assert (centre.x, centre.y) == pytest.approx((24.955, 60.155), abs=1e-9)
    assert pop.cells.contains(pop.origins.geometry).all()


def test_raster_mollweide_ghs_pop(tmp_path: Path) -> None:
    # GHS-POP-style: ESRI:54009, 100 m pixels, around central Helsinki
    to_moll = pyproj.Transformer.from_crs("EPSG:4326", "ESRI:54009", always_xy=True)
    x0, y0 = to_moll.transform(24.90, 60.19)
    x0, y0 = np.floor(x0 / 100) * 100, np.ceil(y0 / 100) * 100
    rng = np.random.default_rng(7)
    values = rng.integers(0, 50, size=(40, 40)).astype("float32")
    values[:, 5] = -200  # the GHS-POP nodata value
    path = _write_raster(tmp_path / "ghs_pop.tif", values, "ESRI:54009", from_origin(x0, y0, 100, 100), -200)
    boundary = shapely.box(24.91, 60.165, 24.94, 60.18)
    pop = load_population("raster", path, boundary=boundary, crs=HELSINKI_CRS)
    _check_contract(pop, HELSINKI_CRS)
    rows, cols = np.indices(values.shape)
    cx, cy = x0 + (cols + 0.5) * 100, y0 - (rows + 0.5) * 100
    lon, lat = pyproj.Transformer.from_crs("ESRI:54009", "EPSG:4326", always_xy=True).transform(cx, cy)
    inside = shapely.intersects_xy(boundary, lon, lat) & (values > 0)
    assert 50 < inside.sum() < values.size
    assert len(pop.origins) == inside.sum()
    assert pop.total == values[inside].astype("float64").sum()
    assert "ghs_pop.tif" in pop.description
    # the cell polygons are 100 m squares, reprojected
    assert pop.cells.area.between(9_900, 10_100).all()


def test_raster_total_and_age_shares(tmp_path: Path) -> None:
    values = np.full((4, 4), 10, dtype="int32")
    path = _write_raster(tmp_path / "int.tif", values, "EPSG:4326", from_origin(24.90, 60.20, 0.01, 0.01), -1)
    boundary = shapely.box(24.90, 60.16, 24.94, 60.20)
    shares = {"child": 0.15, "older": 0.22}
    pop = load_population("raster", path, boundary=boundary, crs=HELSINKI_CRS, total=100.0, age_shares=shares)
    _check_contract(pop, HELSINKI_CRS)
    assert pop.total == pytest.approx(100.0)
    assert pop.origins["pop_older"].sum() == pytest.approx(22.0)
    assert pop.origins["pop_adult"].sum() == pytest.approx(63.0)
    assert "scaled" in pop.description
    plain = load_population("raster", path, boundary=boundary, crs=HELSINKI_CRS)
    assert plain.total == 160.0
    assert "pop_child" not in plain.origins


# --- buildings -------------------------------------------------------------------------------------------


@pytest.fixture
def buildings() -> gpd.GeoDataFrame:
    # footprints laid out in UTM 35N (central Helsinki), then given in EPSG:4326 as the OSM reader does
    x0, y0 = 385_000.0, 6_672_000.0
    rows = [
        (1, shapely.box(x0, y0, x0 + 20, y0 + 10), 3.0, True),  # 200 m² × 3
        (2, shapely.box(x0 + 50, y0, x0 + 80, y0 + 20), np.nan, True),  # 600 m² × default
        (3, shapely.box(x0 + 100, y0, x0 + 110, y0 + 10), 5.0, False),  # not residential
        (4, shapely.box(x0 + 5_000, y0, x0 + 5_020, y0 + 10), 2.0, True),  # outside
        (5, shapely.Point(x0 + 200, y0), 1.0, True),  # not a footprint
    ]
    frame = gpd.GeoDataFrame(
        {
            "osm_id": [r[0] for r in rows],
            "levels": [r[2] for r in rows],
            "residential": [r[3] for r in rows],
        },
        geometry=[r[1] for r in rows],
        crs=HELSINKI_CRS,
    )
    return frame.to_crs("EPSG:4326")


def test_buildings_estimate(buildings: gpd.GeoDataFrame) -> None:
    boundary = _to_wgs84(shapely.box(384_900, 6_671_900, 385_300, 6_672_300), HELSINKI_CRS)
    params = load_parameters()
    pop = load_population("buildings", None, boundary=boundary, crs=HELSINKI_CRS, buildings=buildings)
    _check_contract(pop, HELSINKI_CRS)
    assert pop.is_estimate
    assert pop.source == "buildings"
    assert list(pop.origins["cell_id"]) == ["1", "2"]
    fa, levels = params.floor_area_per_person_m2, params.default_levels
    expected = [200 * 3 / fa, 600 * levels / fa]
    np.testing.assert_allclose(pop.origins["population"], expected, rtol=1e-6)
    assert "2 OSM residential buildings" in pop.description
    assert f"÷ {fa:g} m² per person" in pop.description
    assert pop.cells.geom_type.isin(["Polygon"]).all()

    denser = load_population(
        "buildings",
        None,
        boundary=boundary,
        crs=HELSINKI_CRS,
        buildings=buildings,
        floor_area_per_person_m2=30,
        age_shares={"child": 0.1, "adult": 0.7, "older": 0.2},
    )
    _check_contract(denser, HELSINKI_CRS)
    assert denser.total == pytest.approx(pop.total * fa / 30)


def test_parameters_file_has_sources() -> None:
    params = load_parameters()
    assert 30 <= params.floor_area_per_person_m2 <= 50
    assert params.default_levels >= 1
    assert "apartments" in params.residential_building_values
    assert params.age_shares is None


# --- bad input -------------------------------------------------------------------------------------------


HEL_BOX = shapely.box(24.90, 60.15, 24.96, 60.18)


def _only_nodata(tmp: Path) -> tuple[dict, str]:
    values = np.full((5, 5), NODATA, dtype="float32")
    path = _write_raster(tmp / "empty.tif", values, "EPSG:4326", from_origin(24.90, 60.20, 0.02, 0.02))
    return {"source": "raster", "path": path}, "no populated cell inside the study area"


def _outside_raster(tmp: Path) -> tuple[dict, str]:
    values = np.ones((5, 5), dtype="float32")
    path = _write_raster(tmp / "far.tif", values, "EPSG:4326", from_origin(10.0, 50.0, 0.01, 0.01))
    return {"source": "raster", "path": path}, "outside the population raster"


def _no_band(tmp: Path) -> tuple[dict, str]:
    values = np.ones((5, 5), dtype="float32")
    path = _write_raster(tmp / "one.tif", values, "EPSG:4326", from_origin(24.90, 60.20, 0.02, 0.02))
    return {"source": "raster", "path": path, "band": 2}, "band 2 does not exist"


def _not_a_raster(tmp: Path) -> tuple[dict, str]:
    path = tmp / "text.tif"
    path.write_text("not a raster")
    return {"source": "raster", "path": path}, "cannot be read as a raster"


def _grid(crs: str | None, **columns: list) -> gpd.GeoDataFrame:
    cells = [shapely.box(24.90 + i * 0.01, 60.16, 24.91 + i * 0.01, 60.17) for i in range(3)]
    return gpd.GeoDataFrame(columns or {"population": [1, 2, 3]}, geometry=cells, crs=crs)


def _shapefile_without_prj(tmp: Path) -> tuple[dict, str]:
    path = tmp / "grid.shp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        _grid(None).to_file(path)
    return {"source": "vector", "path": path}, "no coordinate reference system"


def _geopackage_without_crs(tmp: Path) -> tuple[dict, str]:
    path = tmp / "grid.gpkg"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        _grid(None).to_file(path)
    return {"source": "vector", "path": path}, "no coordinate reference system"


def _missing_column(tmp: Path) -> tuple[dict, str]:
    path = tmp / "grid.gpkg"
    _grid("EPSG:4326", pop_total=[1, 2, 3], name=["a", "b", "c"]).to_file(path)
    problem = "no population column 'population'; the columns are pop_total, name"
    return {"source": "vector", "path": path}, problem


def _text_column(tmp: Path) -> tuple[dict, str]:
    path = tmp / "grid.geojson"
    _grid("EPSG:4326", population=["many", "few", "3"]).to_file(path)
    return {"source": "vector", "path": path}, "the column is not numeric"


def _vector_outside(tmp: Path) -> tuple[dict, str]:
    path = tmp / "grid.gpkg"
    _grid("EPSG:4326").to_file(path)
    far = shapely.box(10, 50, 11, 51)
    return {"source": "vector", "path": path, "boundary": far}, "inside the study area"


def _bad_h3_ids(tmp: Path) -> tuple[dict, str]:
    path = tmp / "hex.csv"
    ids = ["891126d32a7ffff", "not-a-cell", "891126d33c7ffff", "8f", ""]
    pd.DataFrame({"id": ids, "population": [1, 2, 3, 4, 5]}).to_csv(path, index=False)
    return {"source": "h3", "path": path}, "3 of 5 ids are not valid H3 cells (first: 'not-a-cell', '8f', '')"


def _zero_h3_population(tmp: Path) -> tuple[dict, str]:
    path = tmp / "hex.csv"
    pd.DataFrame({"id": ["891126d32a7ffff"], "population": [0]}).to_csv(path, index=False)
    return {"source": "h3", "path": path}, "no cell with a population above zero"


def _h3_without_id(tmp: Path) -> tuple[dict, str]:
    path = tmp / "hex.csv"
    pd.DataFrame({"cell": ["891126d32a7ffff"], "population": [3]}).to_csv(path, index=False)
    return {"source": "h3", "path": path}, "no column of H3 cell ids"


def _missing_file(tmp: Path) -> tuple[dict, str]:
    return {"source": "vector", "path": tmp / "nowhere.gpkg"}, "file not found"


def _no_residential(tmp: Path) -> tuple[dict, str]:
    frame = _grid("EPSG:4326", levels=[1.0, 2.0, np.nan], residential=[False] * 3, osm_id=[1, 2, 3])
    return {"source": "buildings", "path": None, "buildings": frame}, "no residential building"


BAD_INPUTS = [
    _only_nodata,
    _outside_raster,
    _no_band,
    _not_a_raster,
    _shapefile_without_prj,
    _geopackage_without_crs,
    _missing_column,
    _text_column,
    _vector_outside,
    _bad_h3_ids,
    _zero_h3_population,
    _h3_without_id,
    _missing_file,
    _no_residential,
]


@pytest.mark.parametrize("make", BAD_INPUTS, ids=lambda f: f.__name__.strip("_"))
def test_bad_input_names_the_file(make, tmp_path: Path) -> None:
    kwargs, problem = make(tmp_path)
    kwargs.setdefault("boundary", HEL_BOX)
    source, path = kwargs.pop("source"), kwargs.pop("path")
    with pytest.raises(InputError) as caught:
        load_population(source, path, crs=HELSINKI_CRS, **kwargs)
    message = str(caught.value)
    assert problem in message
    assert (str(path) if path is not None else "OSM buildings") in message


@pytest.mark.parametrize(
    ("kwargs", "where"),
    [
        ({"crs": "EPSG:4326"}, "crs"),
        ({"crs": "not a crs"}, "crs"),
        ({"boundary": shapely.LineString([(0, 0), (1, 1)])}, "boundary"),
        ({"boundary": shapely.box(300_000, 6_600_000, 400_000, 6_700_000)}, "boundary"),
        ({"total": 0}, "population: total"),
        ({"age_shares": {"child": 0.6, "older": 0.6}}, "population: age_shares"),
        ({"age_shares": {"kids": 0.2}}, "population: age_shares"),
        ({"age_shares": {"child": 0.2, "older": 0.1}, "age_columns": {"child": "c", "older": "o"}}, "pop"),
        ({"age_columns": {"child": "a", "older": "b"}}, "population: age_columns"),
        ({"floor_area_per_person_m2": -1.0, "source": "buildings"}, "population: floor_area_per_person_m2"),
        ({"source": "census"}, "population: source"),
        ({"path": None}, "population: path"),
    ],
)
def test_bad_parameters(kwargs: dict, where: str, tmp_path: Path) -> None:
    path = _write_raster(
        tmp_path / "ok.tif", np.ones((3, 3), "float32"), "EPSG:4326", from_origin(24.9, 60.2, 0.01, 0.01)
    )
    args = {"source": "raster", "path": path, "boundary": HEL_BOX, "crs": HELSINKI_CRS} | kwargs
    with pytest.raises(InputError) as caught:
        load_population(args.pop("source"), args.pop("path"), **args)
    assert caught.value.where.startswith(where)


def test_vector_age_columns_must_exist(tmp_path: Path) -> None:
    path = tmp_path / "grid.gpkg"
    _grid("EPSG:4326", population=[10, 20, 30], kids=[1, 2, 3]).to_file(path)
    with pytest.raises(InputError, match="no age column 'old'") as caught:
        load_population(
            "vector",
            path,
            boundary=HEL_BOX,
            crs=HELSINKI_CRS,
            age_columns={"child": "kids", "older": "old"},
        )
    assert caught.value.where == f"{path}: old"


def test_vector_points_and_age_columns(tmp_path: Path) -> None:
    path = tmp_path / "points.geojson"
    frame = gpd.GeoDataFrame(
        {"people": [10.0, 20.0, 0.0, 40.0], "kids": [2, 4, 0, 50], "old": [1, 2, 0, 5], "code": list("abcd")},
        geometry=[shapely.Point(24.91 + i * 0.01, 60.16) for i in range(4)],
        crs="EPSG:4326",
    ).to_crs("EPSG:3067")
    frame.to_file(path)
    pop = load_population(
        "vector",
        path,
        boundary=HEL_BOX,
        crs=HELSINKI_CRS,
        column="people",
        id_column="code",
        age_columns={"child": "kids", "older": "old"},
    )
    _check_contract(pop, HELSINKI_CRS)
    assert list(pop.origins["cell_id"]) == ["a", "b", "d"]
    np.testing.assert_allclose(pop.origins["pop_child"], [2, 4, 40 * 50 / 55])
    np.testing.assert_allclose(pop.origins["pop_adult"], [7, 14, 0], atol=1e-9)
    assert (pop.cells.geom_type == "Point").all()
