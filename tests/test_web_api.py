"""The JSON API under /api, against a real demo run folder, and a bounded fuzz of its OpenAPI document."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from exquisite.web.app import create_app
from exquisite.web.catalogue import RunCatalogue
from exquisite.web.finder import finder_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def root(demo_runs_root: Path) -> Path:
    return demo_runs_root


@pytest.fixture(scope="module")
def app(root: Path) -> FastAPI:
    """The real app of ``exquisite serve``, over the demo run."""
    return create_app(root)


@pytest.fixture(scope="module")
def client(app: FastAPI) -> TestClient:
    return TestClient(app)


@pytest.fixture(scope="module")
def run_url(client: TestClient) -> str:
    runs = client.get("/api/runs").json()
    return f"/api/runs/{runs[0]['id']}"


CENTRE = {"lat": 60.1708, "lon": 24.9441}  # the railway station square


def test_runs_lists_the_demo_run(client: TestClient) -> None:
    response = client.get("/api/runs")
    assert response.status_code == 200
    runs = response.json()
    assert len(runs) == 1
    assert runs[0]["region"] == "helsinki-demo"
    assert runs[0]["name"] == "Helsinki (demo)"
    assert runs[0]["indicators"] > 100
    assert len(runs[0]["bounds"]) == 4


def test_indicators_are_filtered_by_id_area_and_group(client: TestClient, run_url: str) -> None:
    everything = client.get(f"{run_url}/indicators").json()
    assert len(everything) > 100
    assert {"id", "value", "unit", "sources", "caveats", "method_version"} <= set(everything[0])
    first = everything[0]["id"]
    one = client.get(f"{run_url}/indicators", params={"id": first, "area": "city"}).json()
    assert one
    assert all(r["id"] == first and r["area"] == "city" for r in one)
    older = client.get(f"{run_url}/indicators", params={"group": "older"}).json()
    assert older
    assert all(r["group"] == "older" for r in older)
    assert client.get(f"{run_url}/indicators", params={"area": "Atlantis"}).json() == []


def test_services_near_a_point(client: TestClient, run_url: str) -> None:
    response = client.get(f"{run_url}/services", params={**CENTRE, "profile": "older"})
    assert response.status_code == 200
    body = response.json()
    assert body["profile"]["name"] == "older"
    assert body["profile"]["thresholds"]["15min"]["distance_m"] == pytest.approx(810.0)
    assert [c["category"] for c in body["categories"]] == list(finder_settings().categories)
    bus = next(c for c in body["categories"] if c["category"] == "bus_stop")
    assert bus["counts"]["5min"] > 0
    assert bus["places"][0]["route"][0] == [body["point"]["street_lon"], body["point"]["street_lat"]] or (
        abs(bus["places"][0]["route"][0][0] - body["point"]["street_lon"]) < 1e-5
    )
    kindergarten = next(c for c in body["categories"] if c["category"] == "kindergarten")
    assert kindergarten["nearest"] is None  # the demo extract maps none
    assert kindergarten["none_within_minutes"] == finder_settings().search_minutes


def test_access_at_a_point(client: TestClient, run_url: str) -> None:
    body = client.get(f"{run_url}/access", params=CENTRE).json()
    pharmacy = next(c for c in body["categories"] if c["category"] == "pharmacy")
    assert 0 < pharmacy["nearest_m"] < 1000
    assert pharmacy["counts"]["adult"]["15min"] >= pharmacy["counts"]["adult"]["5min"]


def test_places_and_neighbourhoods(client: TestClient, run_url: str) -> None:
    hits = client.get(f"{run_url}/places", params={"q": "Mannerheimintei", "limit": 3}).json()
    assert hits[0]["label"] == "Mannerheimintie"
    assert hits[0]["kind"] == "street"
    assert len(hits) <= 3
    zh = client.get(f"{run_url}/places", params={"q": "市政厅"}).json()
    assert "Helsingin kaupungintalo" in zh[0]["label"]
    hoods = client.get(f"{run_url}/neighbourhoods").json()
    # the demo's six districts (approximate cells of the OSM place nodes), those without residents too
    assert [h["label"] for h in hoods] == [
        "Hakaniemi",
        "Kaartinkaupunki",
        "Kaisaniemi",
        "Keskusta",
        "Kluuvi",
        "Siltasaari",
    ]
    assert {h["kind"] for h in hoods} == {"district"}


@pytest.mark.parametrize(
    ("path", "params", "status", "says"),
    [
        ("/api/runs/nowhere/20000101T000000Z/indicators", {}, 404, "GET /api/runs"),
        ("{run}/services", {"lat": 60.150, "lon": 24.955}, 400, "outside the study area"),
        ("{run}/access", {"lat": 60.150, "lon": 24.955}, 400, "choose a place in the city"),
        ("{run}/places", {"q": "   "}, 400, "type a name"),
    ],
)
def test_errors_are_json_with_what_to_do(
    client: TestClient, run_url: str, path: str, params: dict[str, Any], status: int, says: str
) -> None:
    response = client.get(path.format(run=run_url), params=params)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert says in response.json()["detail"]


@pytest.mark.parametrize(
    ("endpoint", "params"),
    [
        ("services", {"lat": 91, "lon": 24.94}),
        ("services", {"lat": 60.17, "lon": 24.94, "profile": "runner"}),
        ("access", {"lat": "north", "lon": 24.94}),
        ("places", {"q": ""}),
        ("places", {"q": "katu", "limit": 101}),
        ("places", {"q": "katu", "limit": 0}),
    ],
)
def test_absurd_parameters_are_refused(
    client: TestClient, run_url: str, endpoint: str, params: dict[str, Any]
) -> None:
    response = client.get(f"{run_url}/{endpoint}", params=params)
    assert response.status_code == 422
    assert response.json()["detail"]


def test_the_api_answers_and_documents_itself(client: TestClient) -> None:
    run_id = client.get("/api/runs").json()[0]["id"]
    response = client.get(f"/api/runs/{run_id}/services", params=CENTRE)
    assert response.status_code == 200
    missing = client.get("/api/runs/nowhere/x/services", params=CENTRE)
    assert missing.status_code == 404
    assert "GET /api/runs" in missing.json()["detail"]
    doc = client.get("/api/openapi.json").json()
    assert "/api/runs/{region}/{stamp}/services" in doc["paths"]


def test_openapi_document_fuzzed_against_the_demo_run(app: FastAPI, client: TestClient, run_url: str) -> None:
    """A bounded schemathesis run: no 5xx, statuses, content types and bodies as the document says."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    doc = copy.deepcopy(client.get("/api/openapi.json").json())
    _, _, region, stamp = run_url.strip("/").split("/")
    for operation in doc["paths"].values():
        for param in operation["get"].get("parameters", []):
            if param["in"] == "path":  # the real run, so that the parameters reach the finder
                param["schema"] = {"type": "string", "enum": [region if param["name"] == "region" else stamp]}
    schema = schemathesis.openapi.from_dict(doc)
    schema.app = app
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    calls = 0

    for operation in schema.get_all_operations():
        strategy = operation.ok().as_strategy()

        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(strategy)
        def fuzz(case: Any) -> None:
            nonlocal calls
            case.call_and_validate(checks=checks)
            calls += 1

        fuzz()
    assert calls >= 6 * 5


def test_warm_up_builds_the_indexes_and_freezes_the_gc(root: Path) -> None:
    import gc

    from exquisite.web.api import warm_up
    from exquisite.web.finder import built_finder

    catalogue = RunCatalogue(root)
    try:
        warm_up(catalogue)
        assert gc.get_freeze_count() > 10_000
        assert all(built_finder(run) is not None for run in catalogue.runs())
    finally:
        gc.unfreeze()
