"""Whole runs on real cities: Helsinki with the HSY grid, Porto Alegre with GTFS and H3 population."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from exquisite.access.run import run_access
from exquisite.config import StudyRegion, region_from_dict


def test_helsinki_with_the_hsy_grid(helsinki_hsy_region: StudyRegion, tmp_path: Path) -> None:
    region = helsinki_hsy_region
    run = run_access(region)
    origins = run.origins
    assert 5 <= len(origins) <= 92
    assert origins.crs.to_epsg() == 32635
    np.testing.assert_allclose(
        origins[["pop_child", "pop_adult", "pop_older"]].sum(axis=1), origins["population"]
    )
    # central Helsinki: every populated cell reaches a tram stop within 15 minutes for an adult
    assert (origins["count__tram_stop__adult__15min"] > 0).all()
    # an older person reaches no more than an adult in the same minutes
    for cat in run.access.categories:
        assert (origins[f"count__{cat}__older__10min"] <= origins[f"count__{cat}__adult__10min"]).all()
    folder = run.write(tmp_path / "runs")
    back = gpd.read_parquet(folder / "origins.parquet")
    assert len(back) == len(origins)


@pytest.mark.slow
def test_porto_alegre_with_gtfs_and_h3(shared_data: Path, tmp_path: Path) -> None:
    poa = shared_data / "porto-alegre"
    region = region_from_dict(
        {
            "name": "Porto Alegre",
            "country": "BR",
            "osm": str(poa / "poa_osm.pbf"),
            "population": {"source": "h3", "path": str(poa / "poa_hexgrid.csv"), "column": "population"},
            "gtfs": [str(poa / "poa_eptc.zip"), str(poa / "poa_trensurb.zip")],
            "profiles": ["adult", "gb50180"],
        },
        base_dir=tmp_path,
    )
    run = run_access(region)
    origins = run.origins
    assert run.region.crs == "EPSG:32722"
    assert len(origins) > 1000
    assert origins["population"].sum() == pytest.approx(812_935, rel=0.02)
    low = origins["nearest_m__gtfs_stop_low"]
    high = origins["nearest_m__gtfs_stop_high"]
    # buses serve most of the city within 500 m; the metro line only a corridor
    weights = origins["population"]
    share_bus_500 = weights[low <= 500].sum() / weights.sum()
    share_rail_1000 = weights[high <= 1000].sum() / weights.sum()
    assert share_bus_500 > 0.6
    assert 0.0 < share_rail_1000 < 0.3
    dest = run.region.destinations
    assert (dest["category"] == "gtfs_stop_high").sum() > 0
    assert dest.loc[dest["category"] == "gtfs_stop_low", "headway_min"].notna().all()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["liechtenstein", "oslo_east_filtered", "porto_portugal"])
def test_robustness_extracts_run_or_fail_clearly(shared_data: Path, tmp_path: Path, name: str) -> None:
    from exquisite.errors import InputError

    region = region_from_dict(
        {
            "name": name,
            "country": "LI" if name == "liechtenstein" else "NO",
            "osm": str(shared_data / "robustness" / f"{name}.osm.pbf"),
            "population": {"source": "buildings"},
        },
        base_dir=tmp_path,
    )
    try:
        run = run_access(region)
    except InputError as error:  # e.g. an extract of highways only has no buildings to estimate people from
        failure = error
    else:
        assert len(run.origins) > 0
        assert run.origins["population"].gt(0).all()
        return
    assert name in str(failure)
    assert failure.hint
