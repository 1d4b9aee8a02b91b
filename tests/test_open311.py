"""Open311 GeoReport v2 at /open311/v2 on the whole app, on SQLite and PostgreSQL (``governance_client``).

What a client sees: discovery, services, definitions, posts (form and multipart) read back in both formats,
the filters and limits of the request list, the spec's errors for everything that goes wrong, bad input that
leaves nothing stored, and reports that are not public (unconfirmed, hidden) never served.
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from exquisite.errors import InputError
from exquisite.governance import apikeys
from exquisite.governance.models import ApiKey
from exquisite.governance.open311 import w3c
from exquisite.governance.reports import move, read_submission, submit
from exquisite.governance.settings import load_settings
from exquisite.web.app import create_app
from open311_support import CENTRE, OUTSIDE, PERSONAL, PREFIX, counts, jpeg_with_exif, new_key, report_form


@pytest.fixture
def governance(governance_client: TestClient) -> Any:
    return governance_client.app.state.governance  # type: ignore[attr-defined]


@pytest.fixture
def key(governance: Any) -> str:
    return new_key(governance)


def _errors(response: Any) -> list[dict[str, Any]]:
    """The spec's error list of a response, from either format (codes as ints)."""
    if response.headers["content-type"].startswith("application/json"):
        body = response.json()
    else:
        root = ET.fromstring(response.content)
        assert root.tag == "errors"
        body = [
            {"code": int(e.findtext("code") or 0), "description": e.findtext("description")} for e in root
        ]
    assert isinstance(body, list)
    assert body
    assert all(set(error) == {"code", "description"} and error["description"] for error in body)
    return body


def _post(client: TestClient, form: dict[str, str], fmt: str = "json", **kwargs: Any) -> Any:
    return client.post(f"{PREFIX}/requests.{fmt}", data=form, **kwargs)


def _moment(text: str) -> datetime:
    """A W3C datetime the server gave, as an aware moment (it must carry its zone)."""
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, text
    return moment


# --------------------------------------------------------------------------------------------- reading


def test_discovery_in_both_formats(governance_client: TestClient) -> None:
    data = governance_client.get(f"{PREFIX}/discovery.json").json()
    endpoint = data["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2"
    assert endpoint["type"] == "production"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert data["contact"]
    assert data["key_service"]
    response = governance_client.get(f"{PREFIX}/discovery.xml")
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    root = ET.fromstring(response.content)
    assert root.tag == "discovery"
    assert [f.text for f in root.find("endpoints/endpoint/formats")] == ["text/xml", "application/json"]  # type: ignore[union-attr]


def test_services_and_definitions_of_all_six_datatypes(governance_client: TestClient) -> None:
    services = governance_client.get(f"{PREFIX}/services.json").json()
    assert [s["service_code"] for s in services][:3] == ["001", "002", "003"]
    assert all(isinstance(s["service_code"], str) and s["type"] == "realtime" for s in services)
    datatypes = set()
    for service in services:
        definition = governance_client.get(f"{PREFIX}/services/{service['service_code']}.json").json()
        assert definition["service_code"] == service["service_code"]
        assert service["metadata"] is bool(definition["attributes"])
        orders = [a["order"] for a in definition["attributes"]]
        assert orders == sorted(set(orders))
        assert all(o >= 1 for o in orders)
        for attribute in definition["attributes"]:
            datatypes.add(attribute["datatype"])
            assert {"variable", "code", "datatype", "required", "datatype_description", "description"} <= set(
                attribute
            )
            if attribute["datatype"].endswith("valuelist"):
                assert all(set(v) == {"key", "name"} for v in attribute["values"])
                assert attribute["values"]
    assert datatypes == {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}
    root = ET.fromstring(governance_client.get(f"{PREFIX}/services/001.xml").content)
    assert root.tag == "service_definition"
    values = root.findall("attributes/attribute/values/value")
    assert [v.findtext("key") for v in values] == ["out", "flickering", "day_burner"]
    zh = governance_client.get(f"{PREFIX}/services.xml", params={"lang": "zh"})
    assert ET.fromstring(zh.content)[0].findtext("service_name") == "路灯不亮"


def test_a_form_post_as_the_spec_shows_it_is_published_and_read_back(
    governance_client: TestClient, governance: Any, key: str
) -> None:
    form = report_form(key, media_url="http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg")
    response = _post(governance_client, form, "xml")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    created = ET.fromstring(response.content)
    assert created.tag == "service_requests"
    request_id = created.findtext("request/service_request_id")
    assert request_id
    assert request_id.isdigit()
    assert "media_url is not fetched" in (created.findtext("request/service_notice") or "")
    assert counts(governance)["report"] == 1

    one = governance_client.get(f"{PREFIX}/requests/{request_id}.json").json()
    assert len(one) == 1
    record = one[0]
    assert record["service_request_id"] == request_id
    assert record["status"] == "open"
    assert record["service_code"] == "001"
    assert record["agency_responsible"] == "Street lighting"
    assert record["lat"] == pytest.approx(60.1708)
    assert record["long"] == pytest.approx(24.9441)
    assert record["requested_datetime"][-6:] in {"+02:00", "+03:00"}  # the demo city is in Helsinki
    assert _moment(record["expected_datetime"]) > _moment(record["requested_datetime"])
    assert "community" not in record
    assert record["media_url"] is None
    listed = governance_client.get(f"{PREFIX}/requests.json", params={"extensions": "true"}).json()
    assert [r["service_request_id"] for r in listed] == [request_id]
    assert listed[0]["community"] == "Kluuvi"
    assert listed[0]["notes"][0]["type"] == "created"
    xml_list = governance_client.get(f"{PREFIX}/requests.xml")
    assert ET.fromstring(xml_list.content).findtext("request/service_request_id") == request_id
    with governance.store.session() as session:
        from exquisite.governance.models import Report

        token = session.get(Report, int(request_id)).token
    tokens = governance_client.get(f"{PREFIX}/tokens/{token}.json").json()
    assert tokens == [{"service_request_id": request_id, "token": token}]
    public = "".join(
        governance_client.get(url).text
        for url in (
            f"{PREFIX}/requests.json?extensions=true",
            f"{PREFIX}/requests.xml?extensions=true",
            f"{PREFIX}/requests/{request_id}.xml",
        )
    )
    assert not [value for value in PERSONAL if value in public]


def test_multipart_post_with_photos_served_without_metadata(
    governance_client: TestClient, governance: Any, key: str
) -> None:
    photo = jpeg_with_exif()
    png = io.BytesIO()
    Image.new("RGB", (30, 20), (0, 90, 0)).save(png, format="PNG")
    files = [
        ("media", ("street.jpg", photo, "image/jpeg")),
        ("media", ("b.png", png.getvalue(), "image/png")),
    ]
    form = report_form(key)
    form.pop("attribute[light_state]")
    response = _post(governance_client, {**form, "attribute[light_state]": "flickering"}, files=files)
    assert response.status_code == 200, response.text
    request_id = response.json()[0]["service_request_id"]
    assert counts(governance)["photo"] == 2
    record = governance_client.get(f"{PREFIX}/requests/{request_id}.json").json()[0]
    assert record["media_url"].startswith(f"http://testserver{PREFIX}/media/{request_id}/")
    image = governance_client.get(record["media_url"].removeprefix("http://testserver"))
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert b"SecretCameraMaker" not in image.content
    with Image.open(io.BytesIO(image.content)) as decoded:
        assert decoded.format == "JPEG"
        assert not decoded.getexif()
    assert governance_client.get(f"{PREFIX}/media/{request_id}/999.jpg").status_code == 404


def test_multivaluelist_number_and_datetime_attributes(governance_client: TestClient, key: str) -> None:
    form = {
        "api_key": key,
        "service_code": "002",
        "address_id": "HEL-123",
        "attribute[depth_cm]": "12.5",
        "attribute[hazards][]": "cyclists",
    }
    body = "&".join(f"{k}={v}" for k, v in form.items()) + "&attribute[hazards][]=pedestrians"
    response = governance_client.post(
        f"{PREFIX}/requests.json",
        content=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    since = {"api_key": key, "service_code": "003", **CENTRE, "attribute[obstruction]": "works"}
    assert (
        _post(governance_client, {**since, "attribute[since]": "2026-11-01T08:00:00+08:00"}).status_code
        == 200
    )
    wrong = _post(governance_client, {**since, "attribute[since]": "yesterday"})
    assert wrong.status_code == 400
    assert "attribute[since]" in _errors(wrong)[0]["description"]


def test_api_key_is_required_and_checked(governance_client: TestClient, governance: Any, key: str) -> None:
    form = report_form(key)
    for sent in ({k: v for k, v in form.items() if k != "api_key"}, {**form, "api_key": "exq_wrong"}):
        response = _post(governance_client, sent)
        assert response.status_code == 403
        assert "api_key" in _errors(response)[0]["description"]
    no_key = {k: v for k, v in form.items() if k != "api_key"}
    assert _post(governance_client, no_key, params={"api_key": key}).status_code == 200
    with governance.store.session() as session:
        found = apikeys.check_api_key(session, key)
        assert found is not None
        assert apikeys.revoke_api_key(session, found.id)
    assert _post(governance_client, form).status_code == 403
    assert counts(governance)["report"] == 1


# --------------------------------------------------------------------------------------------- bad input


def _bad_cases(key: str) -> Iterator[tuple[str, dict[str, Any], int, str]]:
    base = report_form(key)
    without = {k: v for k, v in base.items() if k not in ("lat", "long", "address_string")}
    yield "no service_code", {k: v for k, v in base.items() if k != "service_code"}, 400, "service_code"
    yield "unknown service_code", {**base, "service_code": "999"}, 404, "service_code"
    yield "no location", without, 400, "location"
    yield "lat without long", {**without, "lat": "60.17"}, 400, "long"
    yield "lat not a number", {**base, "lat": "north"}, 400, "lat"
    yield "long not finite", {**base, "long": "nan"}, 400, "long"
    yield "outside the city", {**base, **OUTSIDE}, 400, "outside the city"
    yield "lat beyond the pole", {**base, "lat": "91"}, 400, "lat"
    yield "overlong description", {**base, "description": "x" * 4001}, 400, "description"
    yield "script in description", {**base, "description": "<script>alert(1)</script>"}, 400, "description"
    yield "markup in address", {**base, "address_string": "<b>Kaivokatu</b>"}, 400, "address_string"
    yield "entity in a name", {**base, "first_name": "&lt;x&gt;"}, 400, "first_name"
    yield (
        "missing required attribute",
        {k: v for k, v in base.items() if not k.startswith("attr")},
        400,
        "light",
    )
    yield "attribute not a choice", {**base, "attribute[light_state]": "<img src=x>"}, 400, "light_state"
    yield "unknown attribute", {**base, "attribute[colour]": "red"}, 400, "colour"
    yield "malformed attribute", {**base, "attribute[a][b]": "x"}, 400, "attribute"
    yield "bad email", {**base, "email": "not-an-address"}, 400, "email"
    yield "unknown jurisdiction", {**base, "jurisdiction_id": "atlantis.example"}, 404, "jurisdiction_id"
    yield "wrong lang", {**base, "lang": "fr"}, 400, "lang"
    yield "text in media", {**base, "media": "http://example.org/a.jpg"}, 400, "media"


def test_bad_posts_get_spec_errors_and_store_nothing(
    governance_client: TestClient, governance: Any, key: str
) -> None:
    before = counts(governance)
    for name, form, status, says in _bad_cases(key):
        for fmt in ("json", "xml"):
            response = _post(governance_client, form, fmt)
            assert response.status_code == status, (name, response.text)
            errors = _errors(response)
            assert any(says in e["description"] for e in errors), (name, errors)
            assert "<script" not in response.text, name
            assert "<img" not in response.text, name
    assert counts(governance) == before


def test_bad_photos_are_refused_and_nothing_is_stored(
    governance_client: TestClient, governance: Any, key: str
) -> None:
    rules = governance.settings.photos
    fake = b"<?php echo 'hi'; ?>" + b"\x00" * 100
    too_many = [("media", (f"{i}.jpg", jpeg_with_exif(), "image/jpeg")) for i in range(4)]
    huge = b"\xff\xd8\xff" + b"\x00" * (rules.max_bytes + 10)
    bomb = io.BytesIO()
    Image.new("1", (8000, 6000)).save(bomb, format="PNG")  # 48 megapixels, a few kB
    cases = [
        ([("media", ("x.jpg", fake, "image/jpeg"))], "not an image"),
        ([("media", ("x.jpg", b"", "image/jpeg"))], "empty"),
        ([("media", ("big.jpg", huge, "image/jpeg"))], "the limit"),
        ([("media", ("bomb.png", bomb.getvalue(), "image/png"))], "pixels"),
        (too_many, "files"),
        ([("photo", ("x.jpg", jpeg_with_exif(), "image/jpeg"))], "not a file"),
    ]
    for files, says in cases:
        response = _post(governance_client, report_form(key), files=files)
        assert response.status_code == 400, (says, response.text)
        assert says in _errors(response)[0]["description"], (says, response.text)
    assert counts(governance) == {"report": 0, "reporter": 0, "photo": 0, "report_event": 0}


def test_oversized_post_is_refused_before_it_is_read(governance_client: TestClient, key: str) -> None:
    response = governance_client.post(
        f"{PREFIX}/requests.json",
        content=b"a=" + b"x" * 40_000_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert "larger than" in _errors(response)[0]["description"]
    wrong_type = governance_client.post(f"{PREFIX}/requests.json", json={"api_key": key})
    assert wrong_type.status_code == 400
    assert "x-www-form-urlencoded" in _errors(wrong_type)[0]["description"]


def test_text_is_escaped_in_both_formats(governance_client: TestClient, key: str) -> None:
    description = 'Lamp "A" & lamp B > lamp C'
    request_id = _post(governance_client, report_form(key, description=description)).json()[0][
        "service_request_id"
    ]
    xml = governance_client.get(f"{PREFIX}/requests/{request_id}.xml")
    assert "&amp; lamp B &gt; lamp C" in xml.text
    assert ET.fromstring(xml.content).findtext("request/description") == description
    raw = governance_client.get(f"{PREFIX}/requests/{request_id}.json")
    assert "\\u0026" in raw.text
    assert "\\u003e" in raw.text
    assert "&" not in raw.text.split('"description"')[1][:40]
    assert json.loads(raw.text)[0]["description"] == description


# --------------------------------------------------------------------------------------------- time zones


def test_datetimes_are_in_the_city_s_own_zone_and_the_same_instants(
    governance_client: TestClient, governance: Any, key: str
) -> None:
    from exquisite.governance.models import Report, ReportEvent

    request_id = _post(governance_client, report_form(key)).json()[0]["service_request_id"]
    # Winter (EET, +02:00; late evening in UTC, the next day in Helsinki), summer (EEST, +03:00), and the hour
    # 03:00-04:00 of 25 Oct 2026 that Helsinki's clocks show twice: one wall-clock time, two instants.
    winter = datetime(2026, 1, 14, 22, 30, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 9, 30, 15, tzinfo=UTC)
    first_0330 = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    second_0330 = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    with governance.store.session() as session:
        report = session.get(Report, int(request_id))
        report.created_at, report.updated_at, report.expected_at = first_0330, second_0330, winter
        event = session.query(ReportEvent).filter_by(report_id=report.id).one()
        event.at = summer
    record = governance_client.get(f"{PREFIX}/requests/{request_id}.json?extensions=true").json()[0]
    shown = {
        "requested_datetime": "2026-10-25T03:30:00+03:00",
        "updated_datetime": "2026-10-25T03:30:00+02:00",
        "expected_datetime": "2026-01-15T00:30:00+02:00",
    }
    assert {name: record[name] for name in shown} == shown
    assert record["notes"][0]["datetime"] == "2026-07-01T12:30:15+03:00"
    xml = ET.fromstring(governance_client.get(f"{PREFIX}/requests/{request_id}.xml").content)
    assert {name: xml.findtext(f"request/{name}") for name in shown} == shown
    with governance.store.session() as session:
        stored = session.get(Report, int(request_id))
        moments = [stored.created_at, stored.updated_at, stored.expected_at]
        note_at = session.query(ReportEvent).filter_by(report_id=stored.id).one().at
    as_utc = [m if m.tzinfo else m.replace(tzinfo=UTC) for m in [*moments, note_at]]
    assert [_moment(record[name]) for name in shown] + [_moment(record["notes"][0]["datetime"])] == as_utc
    assert record["service_notice"].endswith("by 2026-01-15.")  # the city's own day (14 Jan in UTC)
    # Incoming windows with any offset still work: 03:00-04:00 (+03:00) in Helsinki is 08:00-09:00 in Weihai.
    for start, end, expected in [
        ("2026-10-25T08:00:00+08:00", "2026-10-25T09:00:00+08:00", [request_id]),
        ("2026-10-25T00:00:00Z", "2026-10-25T00:29:59Z", []),
        ("2026-10-25T03:00:00+03:00", "2026-10-25T03:30:00+03:00", [request_id]),
    ]:
        found = governance_client.get(
            f"{PREFIX}/requests.json", params={"start_date": start, "end_date": end}
        ).json()
        assert [r["service_request_id"] for r in found] == expected, (start, end)


def test_w3c_in_utc_and_in_other_zones() -> None:
    moment = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    assert w3c(moment) == "2026-05-01T08:00:00Z"  # a city not in time_zones
    assert w3c(moment, ZoneInfo("UTC")) == "2026-05-01T08:00:00Z"
    assert w3c(moment, ZoneInfo("Asia/Shanghai")) == "2026-05-01T16:00:00+08:00"  # Weihai
    assert w3c(moment, ZoneInfo("America/St_Johns")) == "2026-05-01T05:30:00-02:30"
    assert w3c(moment.replace(tzinfo=None), ZoneInfo("Europe/Helsinki")) == "2026-05-01T11:00:00+03:00"
    assert w3c(None, ZoneInfo("Europe/Helsinki")) is None


def test_time_zones_setting_defaults_and_refuses_unknown_names(tmp_path: Path) -> None:
    defaults = load_settings(None)
    assert defaults.time_zone("helsinki-demo") == ZoneInfo("Europe/Helsinki")
    assert defaults.time_zone("nowhere") == ZoneInfo("UTC")
    city = tmp_path / "city-governance.yml"
    city.write_text("time_zones:\n  weihai: Asia/Shanghai\n", encoding="utf-8")
    both = load_settings(city)
    assert both.time_zone("weihai") == ZoneInfo("Asia/Shanghai")
    assert both.time_zone("helsinki-demo") == ZoneInfo("Europe/Helsinki")
    for wrong in ["Asia/Weihai", "Europe", "../../etc/passwd", ""]:
        city.write_text(f"time_zones:\n  weihai: '{wrong}'\n", encoding="utf-8")
        with pytest.raises(InputError) as error:
            load_settings(city)
        message = str(error.value)
        assert f"{city}: time_zones.weihai" in message, message
        assert "not an IANA time zone name" in message
        assert "Value error" not in message


# --------------------------------------------------------------------------------------------- the list


def test_request_list_filters_window_and_status(
    governance_client: TestClient, governance: Any, key: str
) -> None:
    ids = [_post(governance_client, report_form(key)).json()[0]["service_request_id"] for _ in range(2)]
    pothole = {"api_key": key, "service_code": "002", **CENTRE}
    ids.append(_post(governance_client, pothole).json()[0]["service_request_id"])
    with governance.store.session() as session:
        from exquisite.governance.models import Report

        move(session, session.get(Report, int(ids[0])), "fixed", staff_id=None, note="Lamp replaced")
        old = session.get(Report, int(ids[1]))
        old.created_at = datetime.now(UTC) - timedelta(days=120)

    def listed(**params: str) -> list[str]:
        response = governance_client.get(f"{PREFIX}/requests.json", params=params)
        assert response.status_code == 200, response.text
        return [r["service_request_id"] for r in response.json()]

    assert listed() == [ids[2], ids[0]]  # the 120-day-old one is outside the default 90 days
    assert listed(status="closed") == [ids[0]]
    assert listed(status="open") == [ids[2]]
    assert listed(status="open,closed") == [ids[2], ids[0]]
    assert listed(service_code="002") == [ids[2]]
    assert listed(service_code="001,002", status="") == [ids[2], ids[0]]
    assert listed(service_request_id=f"{ids[1]},{ids[0]}", status="open") == [ids[0], ids[1]]
    start = (datetime.now(UTC) - timedelta(days=130)).strftime("%Y-%m-%dT%H:%M:%S+08:00")
    assert listed(start_date=start, end_date=(datetime.now(UTC) - timedelta(days=100)).isoformat()) == [
        ids[1]
    ]
    closed = governance_client.get(f"{PREFIX}/requests/{ids[0]}.json").json()[0]
    assert closed["status"] == "closed"
    assert closed["status_notes"] == "Lamp replaced"
    assert _moment(closed["updated_datetime"]) >= _moment(closed["requested_datetime"])
    for params, says in [
        ({"start_date": "2026-01-01T00:00:00"}, "zone"),
        ({"start_date": "2026-01-01"}, "start_date"),
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-05-01T00:00:00Z"}, "90 days"),
        ({"start_date": "2026-05-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}, "before"),
        ({"status": "pending"}, "status"),
        ({"service_request_id": "1;DROP TABLE report"}, "service_request_id"),
        ({"extensions": "maybe"}, "extensions"),
    ]:
        response = governance_client.get(f"{PREFIX}/requests.xml", params=params)
        assert response.status_code == 400, params
        assert says in _errors(response)[0]["description"]
    unknown = governance_client.get(f"{PREFIX}/requests.json", params={"service_code": "001,999"})
    assert unknown.status_code == 404


def test_the_list_stops_at_max_results(demo_runs_root: Any, governance_settings: Any) -> None:
    rules = governance_settings.reports.model_copy(update={"max_results": 3})
    app = create_app(demo_runs_root, governance=governance_settings.model_copy(update={"reports": rules}))
    with TestClient(app) as client:
        key = new_key(app.state.governance)
        posted = [_post(client, report_form(key)).json()[0]["service_request_id"] for _ in range(4)]
        listed = client.get(f"{PREFIX}/requests.json").json()
        assert [r["service_request_id"] for r in listed] == posted[::-1][:3]


def test_unconfirmed_and_hidden_reports_are_never_served(
    governance_client: TestClient, governance: Any, key: str
) -> None:
    from exquisite.governance.models import Report

    jurisdiction = governance.jurisdiction(None)
    fields = {"service_code": "005", **CENTRE, "email": "web@example.org", "description": "Broken bench"}
    submission = read_submission(
        fields,
        {},
        jurisdiction=jurisdiction,
        catalogue=governance.services,
        rules=governance.settings.reports,
        channel="web",
    )
    with governance.store.session() as session:
        waiting, _secret = submit(session, submission, needs_confirmation=True)
        waiting_id, waiting_token = waiting.id, waiting.token
    shown = _post(governance_client, report_form(key)).json()[0]["service_request_id"]
    assert [r["service_request_id"] for r in governance_client.get(f"{PREFIX}/requests.json").json()] == [
        shown
    ]
    assert governance_client.get(f"{PREFIX}/requests/{waiting_id}.json").status_code == 404
    assert governance_client.get(f"{PREFIX}/tokens/{waiting_token}.xml").status_code == 404
    listed = governance_client.get(f"{PREFIX}/requests.json", params={"service_request_id": str(waiting_id)})
    assert listed.json() == []
    with governance.store.session() as session:
        move(session, session.get(Report, int(shown)), "hidden", staff_id=None, note="abusive", public=False)
    assert governance_client.get(f"{PREFIX}/requests.json").json() == []
    gone = governance_client.get(f"{PREFIX}/requests/{shown}.xml")
    assert gone.status_code == 404
    assert _errors(gone)[0]["code"] == 404


# --------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("method", "path", "status", "content_type"),
    [
        ("GET", "/nothing.json", 404, "application/json"),
        ("GET", "/nothing", 404, "text/xml"),
        ("GET", "", 404, "text/xml"),
        ("GET", "/services.html", 404, "text/xml"),
        ("GET", "/services/999.json", 404, "application/json"),
        ("GET", "/requests/abc.json", 404, "application/json"),
        ("GET", "/requests/99999.xml", 404, "text/xml"),
        ("GET", "/tokens/nope.json", 404, "application/json"),
        ("GET", "/services.json?jurisdiction_id=atlantis", 404, "application/json"),
        ("GET", "/services.json?lang=fr", 400, "application/json"),
        ("DELETE", "/requests.json", 405, "application/json"),
        ("PUT", "/services/001.xml", 405, "text/xml"),
        ("POST", "/discovery.json", 405, "application/json"),
        ("GET", "/media/1/x.jpg", 404, "text/xml"),
    ],
)
def test_every_failure_is_a_spec_error(
    governance_client: TestClient, method: str, path: str, status: int, content_type: str
) -> None:
    response = governance_client.request(method, PREFIX + path)
    assert response.status_code == status
    assert response.headers["content-type"] == f"{content_type}; charset=utf-8"
    errors = _errors(response)
    assert errors[0]["code"] == status
    assert "detail" not in response.text
    if status == 405:
        assert response.headers["allow"]


def test_an_empty_parameter_is_an_absent_one(governance_client: TestClient) -> None:
    params = {
        "jurisdiction_id": "",
        "lang": "",
        "status": "",
        "service_code": "",
        "start_date": "",
        "end_date": "",
    }
    assert governance_client.get(f"{PREFIX}/requests.json", params=params).status_code == 200
    assert governance_client.get(f"{PREFIX}/services.xml", params={"jurisdiction_id": ""}).status_code == 200
    assert (
        governance_client.get(
            f"{PREFIX}/services.xml", params={"jurisdiction_id": "helsinki-demo"}
        ).status_code
        == 200
    )


def test_rate_limit_is_a_400_with_code_429_and_retry_after(
    demo_runs_root: Any, governance_settings: Any
) -> None:
    limits = governance_settings.rate_limits.model_copy(update={"reports_per_api_key_per_minute": 2})
    app = create_app(
        demo_runs_root, governance=governance_settings.model_copy(update={"rate_limits": limits})
    )
    with TestClient(app) as client:
        governance = app.state.governance
        key = new_key(governance)
        assert [_post(client, report_form(key)).status_code for _ in range(2)] == [200, 200]
        refused = _post(client, report_form(key), "xml")
        assert refused.status_code == 400
        error = _errors(refused)[0]
        assert error["code"] == 429
        assert "API key" in error["description"]
        assert 1 <= int(refused.headers["retry-after"]) <= 61
        assert counts(governance)["report"] == 2
        other = new_key(governance, "another client")
        assert _post(client, report_form(other)).status_code == 200


# --------------------------------------------------------------------------------------------- keys


def test_api_keys_are_stored_as_sha256_only(store: Any) -> None:
    with store.session() as session:
        key = apikeys.create_api_key(session, "Weihai hotline")
    with store.session() as session:
        rows = session.query(ApiKey).all()
        assert [(r.name, r.active) for r in rows] == [("Weihai hotline", True)]
        assert rows[0].key_hash == apikeys.key_hash(key)
        assert key not in rows[0].key_hash
        assert apikeys.check_api_key(session, key) is not None
        assert apikeys.check_api_key(session, key + "x") is None
        assert apikeys.check_api_key(session, "") is None
        assert apikeys.revoke_api_key(session, rows[0].id)
        assert not apikeys.revoke_api_key(session, rows[0].id)
        assert apikeys.check_api_key(session, key) is None
        assert [k.name for k in apikeys.list_api_keys(session)] == ["Weihai hotline"]
    for name in ("", "  ", "a\nb", "<b>x</b>", "x" * 201):
        with store.session() as session, pytest.raises(Exception, match="name"):
            apikeys.create_api_key(session, name)
