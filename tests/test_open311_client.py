"""An independent Open311 client, PyPI ``georeport``, reads our server over real HTTP on 127.0.0.1.

The server is uvicorn running the app of ``exquisite serve`` in a thread, on a free loopback port, on each
backend. Posting is done as the spec shows it: a plain form post (``requests.post(url, data=...)``), and a
multipart post with a photo (the ``media`` extension).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import uvicorn
from georeport import GeoReport

from exquisite.web.app import create_app
from open311_support import PERSONAL, counts, jpeg_with_exif, new_key, report_form


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(demo_runs_root: Any, governance_settings: Any) -> Iterator[tuple[str, Any]]:
    """``(root URL of /open311/v2, app)`` of a uvicorn server on 127.0.0.1, stopped after the test."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(
        demo_runs_root, governance=governance_settings.model_copy(update={"public_base_url": base})
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not served.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start within 30 s"
        time.sleep(0.05)
    try:
        yield f"{base}/open311/v2", app
    finally:
        served.should_exit = True
        thread.join(timeout=30)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_reads_services_definitions_and_requests(server: tuple[str, Any], fmt: str) -> None:
    root, app = server
    governance = app.state.governance
    key = new_key(governance)
    # Posted exactly as the spec's example: a form-encoded body, attribute[CODE]=value.
    posted = requests.post(f"{root}/requests.json", data=report_form(key), timeout=30)
    assert posted.status_code == 200, posted.text
    first = posted.json()[0]["service_request_id"]
    with_photo = requests.post(
        f"{root}/requests.xml",
        data=report_form(key, description="Second lamp, with a photo"),
        files=[("media", ("lamp.jpg", jpeg_with_exif(), "image/jpeg"))],
        timeout=30,
    )
    assert with_photo.status_code == 200, with_photo.text
    assert counts(governance)["photo"] == 1

    client = GeoReport(root, jurisdiction="helsinki-demo", output_format=fmt)
    services = client.get_service_list()
    codes = [s["service_code"] for s in services]
    assert codes[:2] == ["001", "002"]
    assert len(codes) == len(governance.services)
    definition = client.get_service_definition("003")
    attributes = definition["attributes"] if fmt == "json" else definition["attributes"]["attribute"]
    assert [a["code"] for a in attributes] == ["notice", "obstruction", "since"]
    listed = client.get_service_requests(status="open", service_code="001")
    if fmt == "xml" and isinstance(listed, dict):  # xmltodict: one element is a dict, several a list
        listed = [listed]
    ids = [r["service_request_id"] for r in listed]
    assert len(ids) == 2
    assert first in ids
    record = client.get_service_request(first)  # JSON: the list's one element; XML: the one <request>
    assert record["service_request_id"] == first
    assert record["status"] == "open"
    second = next(r for r in listed if r["service_request_id"] != first)
    photo = requests.get(second["media_url"], timeout=30)
    assert photo.headers["content-type"] == "image/jpeg"
    assert b"SecretCameraMaker" not in photo.content
    everything = requests.get(f"{root}/requests.{fmt}", params={"extensions": "true"}, timeout=30).text
    assert not [value for value in PERSONAL if value in everything]


def test_georeport_sees_the_spec_errors(server: tuple[str, Any]) -> None:
    root, _app = server
    client = GeoReport(root, jurisdiction="atlantis.example")
    with pytest.raises(requests.HTTPError) as raised:
        client.get_service_list()
    assert raised.value.response.status_code == 404
    assert raised.value.response.json()[0]["code"] == 404
    missing = GeoReport(root, output_format="xml")
    with pytest.raises(requests.HTTPError) as raised:
        missing.get_service_request("424242")
    assert raised.value.response.status_code == 404
    assert b"<errors><error><code>404</code>" in raised.value.response.content
    refused = requests.post(f"{root}/requests.json", data=report_form("exq_not-a-key"), timeout=30)
    assert refused.status_code == 403
    assert "api_key" in refused.json()[0]["description"]
