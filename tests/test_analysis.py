"""The whole analysis of a study region: records, aggregation origin → grid → district → city, run folder."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import exquisite
from exquisite.analysis import Analysis
from exquisite.config import region_from_dict
from exquisite.demo import demo_pbf
from exquisite.indicators.parameters import definitions

#: What DESIGN.md puts in a run folder, and nothing else.
RUN_FOLDER = {
    "manifest.json",
    "origins.parquet",
    "areas.parquet",
    "destinations.parquet",
    "network.parquet",
    "indicators.json",
    "indicators.csv",
    "report.html",
}
RECORD_KEYS = {
    "id",
    "value",
    "unit",
    "numerator",
    "denominator",
    "group",
    "area",
    "parameters",
    "sources",
    "method_version",
    "caveats",
}


@pytest.fixture(scope="module")
def districts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo area cut into a west and an east half, saved in another CRS (EPSG:3067) than the run's."""
    west, south, east, north = 24.9351762, 60.1641550, 24.9534145, 60.1791130
    middle = (west + east) / 2
    frame = gpd.GeoDataFrame(
        {"name": ["Länsi / 西区", "Itä / 东区"]},
        geometry=[shapely.box(west, south, middle, north), shapely.box(middle, south, east, north)],
        crs=4326,
    ).to_crs(3067)
    path = tmp_path_factory.mktemp("districts") / "districts.gpkg"
    frame.to_file(path)
    return path


@pytest.fixture(scope="module")
def analysis(districts_file: Path) -> Analysis:
    pbf = demo_pbf()
    region = region_from_dict(
        {
            "name": "Helsinki (demo)",
            "country": "FI",
            "osm": str(pbf),
            "population": {
                "source": "buildings",
                "age_shares": {"child": 0.12, "adult": 0.65, "older": 0.23},
            },
            "districts": str(districts_file),
        },
        base_dir=pbf.parent,
    )
    return exquisite.analyse(region)


def test_every_record_is_complete_and_defined(analysis: Analysis) -> None:
    defs = definitions()
    assert len(analysis.indicators) > 100
    for record in analysis.indicators:
        data = record.to_dict()
        assert set(data) == RECORD_KEYS
        assert record.id in defs, f"{record.id} has no definition in its family file"
        for lang in ("en", "zh"):
            assert defs[record.id]["label"][lang]
            assert defs[record.id]["definition"][lang]
        assert record.method_version.endswith(("v1", "v2", "v3"))
        assert record.sources
        assert all("vintage" in s for s in record.sources)
        assert record.group in {"all", "child", "adult", "older"}
        assert record.value is None or np.isfinite(record.value)
    ids = {r.id for r in analysis.indicators}
    for required in ("sdg_11_2_1", "sdg_11_7_1_access", "lifecircle_15min_completeness", "equity_gap"):
        assert required in ids


def test_city_and_districts_add_up(analysis: Analysis) -> None:
    assert [a.name for a in analysis.areas] == ["city", "Länsi / 西区", "Itä / 东区"]
    city = analysis.find("sdg_11_7_1_access", variant="large")
    parts = [analysis.find("sdg_11_7_1_access", area=a.name, variant="large") for a in analysis.areas[1:]]
    # every origin lies in one half, so the halves' people and served people add up to the city's
    assert sum(p.denominator for p in parts) == pytest.approx(city.denominator)
    assert sum(p.numerator for p in parts) == pytest.approx(city.numerator)
    assert analysis.origins["district"].notna().all()


def test_grid_is_population_weighted(analysis: Analysis) -> None:
    grid = analysis.grid()
    assert grid.crs == analysis.origins.crs
    assert grid["population"].sum() == pytest.approx(analysis.origins["population"].sum())
    column = "lifecircle__15min__completeness__gb50180"
    # the population-weighted mean over grid cells is the city's (origin → grid → city)
    city = analysis.find("lifecircle_15min_completeness", profile="gb50180")
    mean = float(np.average(grid[column], weights=grid["population"]))
    assert 100 * mean == pytest.approx(city.value)
    assert np.allclose(grid.geometry.area, 100 * 100)  # 100 m cells for a buildings estimate


def test_age_groups_are_reported(analysis: Analysis) -> None:
    groups = {r.group for r in analysis.indicators if r.id == "sdg_11_2_1"}
    assert groups == {"all", "child", "adult", "older"}
    older = analysis.find("sdg_11_2_1", group="older")
    assert older.denominator == pytest.approx(0.23 * analysis.find("sdg_11_2_1").denominator)


def test_run_folder_is_complete_and_opens_in_duckdb(analysis: Analysis, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    folder = analysis.write(tmp_path, lang="zh")
    assert {p.name for p in folder.iterdir()} == RUN_FOLDER
    records = json.loads((folder / "indicators.json").read_text(encoding="utf-8"))
    assert len(records) == len(analysis.indicators)
    assert all(set(r) == RECORD_KEYS for r in records)
    table = pd.read_csv(folder / "indicators.csv")
    assert len(table) == len(records)
    assert list(table.columns) == list(records[0])
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["indicators"] == len(records)
    assert set(manifest["parameters"]["indicators"]) == {
        "lifecircles.yml",
        "sdg11.yml",
        "ghsci.yml",
        "equity.yml",
    }
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert 'lang="zh' in html
    # GeoParquet as it is: DuckDB reads it, and the geo metadata that QGIS and GDAL use is there
    con = duckdb.connect()
    n = con.execute(f"select count(*) from read_parquet('{folder / 'origins.parquet'}')").fetchone()[0]
    assert n == len(analysis.origins)
    served = con.execute(
        f"select sum(population) from read_parquet('{folder / 'origins.parquet'}') "
        'where "sdg11__open_space_served__large"'
    ).fetchone()[0]
    assert served == pytest.approx(analysis.find("sdg_11_7_1_access", variant="large").numerator)
    import pyarrow.parquet as pq

    for name in ("origins", "areas", "destinations", "network"):
        geo = json.loads(pq.read_schema(folder / f"{name}.parquet").metadata[b"geo"])
        assert geo["primary_column"] == "geometry"
    origins = gpd.read_parquet(folder / "origins.parquet")
    assert origins.crs == analysis.origins.crs
    # the areas the run reports on: the study area named after the region, then each district
    areas = gpd.read_parquet(folder / "areas.parquet")
    assert areas.crs == analysis.origins.crs
    assert list(areas["name"]) == ["Helsinki (demo)", "Länsi / 西区", "Itä / 东区"]
    assert list(areas["level"]) == ["city", "district", "district"]
    assert list(areas.columns) == ["name", "level", "area_km2", "caveat", "geometry"]
    assert areas["caveat"].isna().all()  # a districts file's boundaries are not approximate
    assert np.allclose(areas["area_km2"], areas.geometry.area / 1e6)
    assert (areas["area_km2"] > 0).all()
    assert manifest["parameters"]["districts"] == {
        "source": str(analysis.access.region.config.districts),
        "count": 2,
        "approximate": False,
    }
    assert manifest["inputs"]["districts"]["sha256"]
    counted = con.execute(
        f"select count(*) from read_parquet('{folder / 'areas.parquet'}') where level = 'district'"
    ).fetchone()[0]
    assert counted == 2
