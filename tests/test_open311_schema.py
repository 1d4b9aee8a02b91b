"""Our OpenAPI 3 document of /open311/v2: valid, the same paths as the server, and a bounded schemathesis run.

The document is hand-written (``governance/open311_openapi.yml``) and served at ``/open311/v2/openapi.json``.
schemathesis checks it against the OpenAPI 3.0 meta-schema it ships, then fuzzes every operation on the whole
app (both backends): no 5xx, and statuses, content types and JSON bodies as the document says.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from exquisite.governance import open311
from open311_support import new_key


def _document(client: TestClient) -> dict[str, Any]:
    response = client.get("/open311/v2/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = response.json()
    return document


def test_the_document_is_valid_openapi_3(governance_client: TestClient) -> None:
    import schemathesis

    document = _document(governance_client)
    assert document["openapi"].startswith("3.")
    schemathesis.openapi.from_dict(document).validate()  # raises on any meta-schema violation
    broken = copy.deepcopy(document)
    broken["paths"]["/services.{format}"]["get"]["responses"]["200"]["content"] = "not a mapping"
    with pytest.raises(Exception, match=r"not a mapping|is not of type"):
        schemathesis.openapi.from_dict(broken).validate()


def test_the_document_names_every_route_and_method(governance_client: TestClient) -> None:
    document = _document(governance_client)
    documented = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    served = set()
    for route in open311.router.routes:
        if not isinstance(route, APIRoute) or route.endpoint is open311.not_here:
            continue
        if route.path.endswith("openapi.json"):
            continue
        path = route.path.removeprefix(open311.PREFIX)
        path = re.sub(r"\{fmt\}", "{format}", path)
        path = path.replace("{code}", "{service_code}").replace("{request_id}", "{service_request_id}")
        served |= {(method, path) for method in route.methods}
    assert documented == served


def test_schemathesis_run_against_the_live_app_is_clean(governance_client: TestClient) -> None:
    """A bounded fuzz of every operation: no 5xx; statuses, content types and JSON bodies conform."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    app = governance_client.app
    governance = app.state.governance  # type: ignore[attr-defined]
    key = new_key(governance, "schemathesis")
    document = copy.deepcopy(_document(governance_client))
    # Reach past the key check and the city: the real key and city, as a client that has them sends them.
    new_request = document["components"]["schemas"]["NewRequest"]["properties"]
    new_request["api_key"] = {"type": "string", "enum": [key]}
    new_request["jurisdiction_id"] = {"type": "string", "enum": ["helsinki-demo"]}
    new_request["service_code"] = {"type": "string", "enum": [s.code for s in governance.services]}
    document["components"]["parameters"]["jurisdiction_id"]["schema"] = {
        "type": "string",
        "enum": ["helsinki-demo"],
    }
    schema = schemathesis.openapi.from_dict(document)
    schema.app = app
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    calls: dict[str, int] = {}
    statuses: set[int] = set()

    for operation in schema.get_all_operations():
        strategy = operation.ok().as_strategy()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(strategy)
        def fuzz(case: Any) -> None:
            response = case.call_and_validate(checks=checks)
            statuses.add(response.status_code)
            calls[case.operation.label] = calls.get(case.operation.label, 0) + 1

        fuzz()
    assert len(calls) == 8
    assert all(count >= 2 for count in calls.values()), calls  # discovery has only its two formats
    assert sum(calls.values()) >= 100, calls
    assert {200, 400, 404} <= statuses
