"""The command line: a real run on the demo city, and one clear message for every kind of bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml
from rasterio.transform import from_origin
from shapely.geometry import box
from typer.testing import CliRunner

from exquisite.cli import EXIT_BAD_INPUT, app

runner = CliRunner()


def _write_config(folder: Path, **entries: object) -> Path:
    path = folder / "city.yml"
    path.write_text(yaml.safe_dump(entries, sort_keys=False))
    return path


def _base(folder: Path, pbf: Path) -> dict:
    local = folder / "city.osm.pbf"
    if not local.exists():
        shutil.copy(pbf, local)
    return {
        "name": "Test city",
        "country": "FI",
        "osm": local.name,
        "population": {"source": "buildings"},
    }


def _expect_clear_error(args: list[str], *fragments: str, out: Path | None = None) -> str:
    result = runner.invoke(app, args)
    text = result.output
    assert result.exit_code == EXIT_BAD_INPUT, text
    assert "Traceback" not in text
    for fragment in fragments:
        assert fragment in text, text
    if out is not None:
        assert not out.exists() or not any(out.iterdir()), "a run folder was left behind"
    return text


def test_demo_writes_a_run_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    folder = Path(result.output.strip())
    assert folder.parent == tmp_path
    names = {p.name for p in folder.iterdir()}
    assert names == {
        "manifest.json",
        "origins.parquet",
        "destinations.parquet",
        "network.parquet",
        "areas.parquet",
        "indicators.json",
        "indicators.csv",
        "report.html",
    }
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["population"]["is_estimate"] is True
    assert len(manifest["inputs"]["osm"]["sha256"]) == 64
    assert "© OpenStreetMap contributors (ODbL)" in manifest["attribution"]
    origins = gpd.read_parquet(folder / "origins.parquet")
    assert origins.crs.to_epsg() == 32635
    assert len(origins) == manifest["population"]["origins"] > 0
    assert (origins["population"] > 0).all()
    # every profile and threshold has its count column, and counts grow with the threshold
    for profile, labels in (("adult", ["5min", "10min", "15min"]), ("gb50180", ["300m", "500m", "1000m"])):
        cols = [f"count__pharmacy__{profile}__{label}" for label in labels]
        values = origins[cols].to_numpy()
        assert (np.diff(values, axis=1) >= 0).all()
    # nearest is within the largest distance, or missing
    near = origins["nearest_m__pharmacy"].dropna()
    assert (near <= manifest["parameters"]["largest_distance_m"]).all()


def test_access_command_on_a_config(tmp_path: Path, helsinki_pbf: Path) -> None:
    config = _write_config(tmp_path, **_base(tmp_path, helsinki_pbf), profiles=["older"])
    out = tmp_path / "runs"
    result = runner.invoke(app, ["access", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "older" in result.output
    assert "OpenStreetMap" in result.output
    (folder,) = list(out.iterdir())
    columns = pd.read_parquet(folder / "origins.parquet").columns
    assert "count__pharmacy__older__15min" in columns
    assert not any(c.startswith("count__") and "__adult__" in c for c in columns)


def test_demo_from_a_real_shell(tmp_path: Path) -> None:
    """The installed console script runs the demo in Chinese and exits 0 (as the README says)."""
    exe = Path(sys.executable).with_name("exquisite")
    if not exe.exists():
        pytest.skip("the exquisite console script is not installed next to this Python")
    done = subprocess.run(
        [str(exe), "demo", "--out", str(tmp_path), "--lang", "zh"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "200"},  # the summary table on one line per row
    )
    assert done.returncode == 0, done.stderr
    assert "SDG 11.2.1" in done.stdout
    assert "15-minute life circle completeness" in done.stdout
    assert "© OpenStreetMap contributors" in done.stdout
    assert "Traceback" not in done.stderr
    (folder,) = list(tmp_path.iterdir())
    assert '<html lang="zh"' in (folder / "report.html").read_text(encoding="utf-8")


def _districts(folder: Path, crs: int | None = 3067, offset_deg: float = 0.0) -> Path:
    """Two halves of the demo extract as districts, saved in ``crs`` (another CRS than the run's)."""
    west, south, east, north = 24.9351762 + offset_deg, 60.1641550, 24.9534145 + offset_deg, 60.1791130
    middle = (west + east) / 2
    frame = gpd.GeoDataFrame(
        {"name": ["West", "East"]},
        geometry=[box(west, south, middle, north), box(middle, south, east, north)],
        crs=4326,
    )
    path = folder / "districts.shp"
    if crs is None:
        frame.set_crs(None, allow_override=True).to_file(path)
    else:
        frame.to_crs(crs).to_file(path)
    return path


def test_analyse_with_districts_in_another_crs(tmp_path: Path, helsinki_pbf: Path) -> None:
    entries = _base(tmp_path, helsinki_pbf) | {"districts": _districts(tmp_path).name}
    out = tmp_path / "runs"
    result = runner.invoke(app, ["analyse", str(_write_config(tmp_path, **entries)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for step in ("read OSM", "access", "indicators", "report"):
        assert f"✓ {step}" in result.output
    assert "Daily living score" in result.output
    (folder,) = list(out.iterdir())
    records = json.loads((folder / "indicators.json").read_text(encoding="utf-8"))
    assert {r["area"] for r in records} == {"city", "West", "East"}
    # kindergartens are not in this extract: a result (zero coverage with a caveat), not a crash
    kindergarten = [
        r
        for r in records
        if r["id"] == "lifecircle_5min_coverage"
        and r["area"] == "city"
        and r["parameters"]["item"] == "kindergarten"
    ]
    assert kindergarten
    assert all(r["value"] == 0 for r in kindergarten)
    assert all(
        any("no kindergarten" in c.lower() or "unmapped" in c.lower() for c in r["caveats"])
        for r in kindergarten
    )


def test_analyse_unknown_language(tmp_path: Path) -> None:
    _expect_clear_error(["analyse", str(tmp_path / "city.yml"), "--lang", "fr"], "--lang", "en, zh")


def test_missing_district_file(tmp_path: Path, helsinki_pbf: Path) -> None:
    entries = _base(tmp_path, helsinki_pbf) | {"districts": "communities.gpkg"}
    _expect_clear_error(["analyse", str(_write_config(tmp_path, **entries))], "districts", "communities.gpkg")


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_district_file_without_crs(tmp_path: Path, helsinki_pbf: Path) -> None:
    entries = _base(tmp_path, helsinki_pbf) | {"districts": _districts(tmp_path, crs=None).name}
    out = tmp_path / "runs"
    _expect_clear_error(
        ["analyse", str(_write_config(tmp_path, **entries)), "--out", str(out)],
        "districts.shp",
        "has no coordinate reference system",
        out=out,
    )


def test_districts_of_another_city(tmp_path: Path, helsinki_pbf: Path) -> None:
    entries = _base(tmp_path, helsinki_pbf) | {"districts": _districts(tmp_path, offset_deg=3.0).name}
    out = tmp_path / "runs"
    _expect_clear_error(
        ["analyse", str(_write_config(tmp_path, **entries)), "--out", str(out)],
        "districts.shp",
        "overlaps the study area",
        out=out,
    )


def test_empty_region(tmp_path: Path, helsinki_pbf: Path) -> None:
    """A study area with nobody living in it (a corner of the extract without homes)."""
    entries = _base(tmp_path, helsinki_pbf) | {"boundary": {"bbox": [24.9352, 60.1642, 24.9360, 60.1646]}}
    out = tmp_path / "runs"
    _expect_clear_error(
        ["analyse", str(_write_config(tmp_path, **entries)), "--out", str(out)], "population", out=out
    )


# --- the bad-input corpus ------------------------------------------------------------------------------


def test_yaml_typo_names_the_key(tmp_path: Path, helsinki_pbf: Path) -> None:
    entries = _base(tmp_path, helsinki_pbf)
    entries["populaton"] = entries.pop("population")
    config = _write_config(tmp_path, **entries)
    _expect_clear_error(["access", str(config), "--out", str(tmp_path / "runs")], "populaton", "population")


def test_missing_config_file(tmp_path: Path) -> None:
    _expect_clear_error(["access", str(tmp_path / "nope.yml")], "nope.yml")


def test_empty_pbf(tmp_path: Path, helsinki_pbf: Path) -> None:
    entries = _base(tmp_path, helsinki_pbf)
    (tmp_path / "empty.osm.pbf").write_bytes(b"")
    entries["osm"] = "empty.osm.pbf"
    out = tmp_path / "runs"
    _expect_clear_error(
        ["access", str(_write_config(tmp_path, **entries)), "--out", str(out)], "empty.osm.pbf", out=out
    )


def test_truncated_pbf(tmp_path: Path, helsinki_pbf: Path) -> None:
    entries = _base(tmp_path, helsinki_pbf)
    data = helsinki_pbf.read_bytes()
    (tmp_path / "cut.osm.pbf").write_bytes(data[: len(data) // 2])
    entries["osm"] = "cut.osm.pbf"
    out = tmp_path / "runs"
    _expect_clear_error(
        ["access", str(_write_config(tmp_path, **entries)), "--out", str(out)], "cut.osm.pbf", out=out
    )


def test_boundary_outside_the_data(tmp_path: Path, helsinki_pbf: Path) -> None:
    entries = _base(tmp_path, helsinki_pbf)
    entries["boundary"] = {"bbox": [10.0, 50.0, 10.1, 50.1]}
    out = tmp_path / "runs"
    _expect_clear_error(
        ["access", str(_write_config(tmp_path, **entries)), "--out", str(out)], "outside", out=out
    )


def test_raster_of_only_nodata(tmp_path: Path, helsinki_pbf: Path) -> None:
    raster = tmp_path / "pop.tif"
    with rasterio.open(
        raster,
        "w",
        driver="GTiff",
        width=20,
        height=20,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=from_origin(24.90, 60.18, 0.005, 0.0025),
        nodata=-200.0,
    ) as dst:
        dst.write(np.full((1, 20, 20), -200.0, dtype="float32"))
    entries = _base(tmp_path, helsinki_pbf)
    entries["population"] = {"source": "raster", "path": "pop.tif"}
    out = tmp_path / "runs"
    _expect_clear_error(
        ["access", str(_write_config(tmp_path, **entries)), "--out", str(out)], "pop.tif", out=out
    )


def test_vector_without_crs(tmp_path: Path, helsinki_pbf: Path) -> None:
    grid = gpd.GeoDataFrame(
        {"population": [100, 200]},
        geometry=[box(24.93, 60.16, 24.94, 60.17), box(24.94, 60.16, 24.95, 60.17)],
    )
    grid.to_file(tmp_path / "grid.shp")
    (tmp_path / "grid.prj").unlink(missing_ok=True)
    entries = _base(tmp_path, helsinki_pbf)
    entries["population"] = {"source": "vector", "path": "grid.shp", "column": "population"}
    out = tmp_path / "runs"
    _expect_clear_error(
        ["access", str(_write_config(tmp_path, **entries)), "--out", str(out)], "grid.shp", out=out
    )


def test_gtfs_without_stop_times(tmp_path: Path, helsinki_pbf: Path) -> None:
    feed = tmp_path / "feed.zip"
    with zipfile.ZipFile(feed, "w") as zf:
        zf.writestr("stops.txt", "stop_id,stop_name,stop_lat,stop_lon\n1,A,60.17,24.94\n")
        zf.writestr("routes.txt", "route_id,route_type\nr,3\n")
        zf.writestr("trips.txt", "route_id,service_id,trip_id\nr,s,t\n")
    entries = _base(tmp_path, helsinki_pbf)
    entries["gtfs"] = ["feed.zip"]
    out = tmp_path / "runs"
    _expect_clear_error(
        ["access", str(_write_config(tmp_path, **entries)), "--out", str(out)],
        "feed.zip",
        "stop_times.txt",
        out=out,
    )


def test_unwritable_out_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    _expect_clear_error(["demo", "--out", str(blocker / "runs")], "a-file", "--out")


def test_config_that_is_a_folder(tmp_path: Path) -> None:
    _expect_clear_error(["access", str(tmp_path)], str(tmp_path))


def test_serve_a_folder_without_runs(tmp_path: Path) -> None:
    _expect_clear_error(["serve", "--runs", str(tmp_path)], str(tmp_path), "no run folder that can be served")


def test_serve_with_a_bad_governance_file(tmp_path: Path) -> None:
    settings = tmp_path / "governance.yml"
    settings.write_text("smtp:\n  hots: mail.example\n", encoding="utf-8")
    _expect_clear_error(
        ["serve", "--governance", str(settings)], f"{settings}: smtp.hots", "Did you mean 'host'?"
    )


@pytest.mark.slow
def test_serve_answers_on_loopback(demo_runs_root: Path, tmp_path: Path) -> None:
    """The installed `exquisite serve` starts, prepares its run and answers pages and the API on 127.0.0.1."""
    import socket
    import time
    import urllib.request

    exe = Path(sys.executable).with_name("exquisite")
    if not exe.exists():
        pytest.skip("the exquisite console script is not installed next to this Python")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [str(exe), "serve", "--runs", str(demo_runs_root), "--port", str(port), "--workers", "1"]
    # the governance store goes to governance-data/ of the working folder: the test's own
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"{base}/api/runs", timeout=2) as response:
                    runs = json.loads(response.read())
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("exquisite serve did not answer within 60 s")
        assert runs[0]["id"].startswith("helsinki-demo/")
        with urllib.request.urlopen(f"{base}/runs/{runs[0]['id']}", timeout=10) as response:
            page = response.read().decode("utf-8")
        assert "<html" in page
        assert "Helsinki" in page
        assert (tmp_path / "governance-data" / "governance.sqlite3").is_file()
        with urllib.request.urlopen(f"{base}/open311/v2/discovery.json", timeout=10) as response:
            discovery = json.loads(response.read())
        assert discovery["endpoints"][0]["url"] == f"{base}/open311/v2"  # the address it listens on
    finally:
        server.terminate()
        server.wait(timeout=20)


def _governance_file(tmp_path: Path) -> Path:
    settings = tmp_path / "governance.yml"
    settings.write_text(f"data_dir: {tmp_path / 'data'}\n", encoding="utf-8")
    return settings


def test_api_keys_are_made_listed_and_revoked(tmp_path: Path) -> None:
    from exquisite.governance.apikeys import check_api_key
    from exquisite.governance.db import Store
    from exquisite.governance.settings import load_settings

    settings = _governance_file(tmp_path)
    made = runner.invoke(app, ["apikey", "add", "City hotline app", "--governance", str(settings)])
    assert made.exit_code == 0, made.output
    key = made.output.split()[0]
    listed = runner.invoke(app, ["apikey", "list", "--governance", str(settings)])
    assert "City hotline app" in listed.output
    assert key not in listed.output  # only its hash is kept
    store = Store(load_settings(settings).database())
    try:
        with store.session() as session:
            assert check_api_key(session, key) is not None
        assert runner.invoke(app, ["apikey", "revoke", "1", "--governance", str(settings)]).exit_code == 0
        with store.session() as session:
            assert check_api_key(session, key) is None
    finally:
        store.dispose()
    _expect_clear_error(["apikey", "revoke", "1", "--governance", str(settings)], "key 1", "no active key")
    _expect_clear_error(["apikey", "add", "<b>app</b>", "--governance", str(settings)], "name:", "plain")


def test_staff_accounts_from_the_command_line(tmp_path: Path) -> None:
    settings = _governance_file(tmp_path)
    password = "lantern-harbour-42-quay\n"
    made = runner.invoke(
        app,
        [
            "staff",
            "add",
            "wang",
            "--role",
            "department_staff",
            "--department",
            "lighting",
            "--governance",
            str(settings),
        ],
        input=password * 2,
    )
    assert made.exit_code == 0, made.output
    assert "staff account wang (department_staff, lighting) created" in made.output
    assert "lantern-harbour" not in made.output.split("created")[-1]
    result = runner.invoke(
        app, ["staff", "add", "liming", "--role", "mayor", "--governance", str(settings)], input=password * 2
    )
    assert result.exit_code == EXIT_BAD_INPUT
    assert "'mayor' is not a role" in result.output
    weak = runner.invoke(
        app,
        ["staff", "add", "zhao", "--role", "admin", "--governance", str(settings)],
        input="password\npassword\n",
    )
    assert weak.exit_code == EXIT_BAD_INPUT
    assert "password" in weak.output
    moderator = runner.invoke(
        app,
        [
            "staff",
            "add",
            "li.na",
            "--role",
            "community_moderator",
            "--community",
            "Kallio",
            "--jurisdiction",
            "helsinki-demo",
            "--governance",
            str(settings),
        ],
        input=password * 2,
    )
    assert moderator.exit_code == 0, moderator.output
    assert "staff account li.na (community_moderator, Kallio, helsinki-demo) created" in moderator.output
    for city, words in ((None, "jurisdiction: is required for this role"), ("../x", "jurisdiction: must be")):
        refused = runner.invoke(
            app,
            ["staff", "add", "qian", "--role", "community_moderator", "--community", "Kallio"]
            + (["--jurisdiction", city] if city else [])
            + ["--governance", str(settings)],
            input=password * 2,
        )
        assert refused.exit_code == EXIT_BAD_INPUT, refused.output
        assert words in refused.output
