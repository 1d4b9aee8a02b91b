"""The whole analysis on real cities, from PBF to report: Porto Alegre with GTFS and H3, Helsinki with HSY."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

import exquisite
from exquisite.config import StudyRegion, region_from_dict


@pytest.mark.slow
def test_porto_alegre_from_pbf_to_report(shared_data: Path, tmp_path: Path) -> None:
    poa = shared_data / "porto-alegre"
    region = region_from_dict(
        {
            "name": "Porto Alegre",
            "country": "BR",
            "osm": str(poa / "poa_osm.pbf"),
            "population": {
                "source": "h3",
                "path": str(poa / "poa_hexgrid.csv"),
                "column": "population",
                "age_shares": {"child": 0.17, "older": 0.15},
            },
            "gtfs": [str(poa / "poa_eptc.zip"), str(poa / "poa_trensurb.zip")],
        },
        base_dir=tmp_path,
    )
    analysis = exquisite.analyse(region)
    city = [r for r in analysis.indicators if r.area == "city" and r.group == "all"]
    transit = [r for r in city if r.id == "sdg_11_2_1"]
    variants = {r.parameters["variant"]: r.value for r in transit}
    assert set(variants) == {"any", "gtfs_headway_le_30min", "gtfs_headway_le_20min", "gtfs_headway_le_10min"}
    # a stricter headway never serves more people
    assert variants["any"] >= variants["gtfs_headway_le_30min"] >= variants["gtfs_headway_le_20min"]
    assert variants["gtfs_headway_le_20min"] >= variants["gtfs_headway_le_10min"] > 0
    # the H3 cells are the grid: one grid cell per origin
    grid = analysis.grid()
    assert len(grid) == len(analysis.origins)
    assert grid["population"].sum() == pytest.approx(analysis.origins["population"].sum())
    # the extract maps streets but hardly any buildings: the land share says it is not meaningful
    streets = analysis.find("sdg_11_7_1_share_streets")
    assert any("street" in c.lower() for c in streets.caveats)
    folder = analysis.write(tmp_path / "runs", lang="en")
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "Porto Alegre" in html
    assert "http" not in html
    assert (folder / "report.html").stat().st_size < 5_000_000
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["inputs"]["gtfs"]) == 2


@pytest.mark.slow
def test_helsinki_hsy_grid_with_districts(helsinki_hsy_region: StudyRegion, tmp_path: Path) -> None:
    # two districts: north and south of the study area's middle, saved in EPSG:3067
    west, south, east, north = helsinki_hsy_region.boundary.bbox
    middle = (south + north) / 2
    districts = gpd.GeoDataFrame(
        {"nimi": ["Pohjoinen", "Etelä"]},
        geometry=[shapely.box(west, middle, east, north), shapely.box(west, south, east, middle)],
        crs=4326,
    ).to_crs(3067)
    districts.to_file(tmp_path / "districts.gpkg")
    region = helsinki_hsy_region.model_copy(update={"districts": tmp_path / "districts.gpkg"})
    analysis = exquisite.analyse(region)
    assert [a.name for a in analysis.areas] == ["city", "Pohjoinen", "Etelä"]
    city = analysis.find("ghsci_population_density")
    parts = [analysis.find("ghsci_population_density", area=a) for a in ("Pohjoinen", "Etelä")]
    assert sum(p.numerator for p in parts) == pytest.approx(city.numerator)
    # the grid cells are the population's own 250 m cells
    assert analysis.grid().geometry.area.median() == pytest.approx(250 * 250, rel=0.05)
    folder = analysis.write(tmp_path / "runs", lang="zh")
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "Pohjoinen" in html
    assert "Etelä" in html
