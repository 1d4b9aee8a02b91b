"""Residents report a problem and follow it (issue #5 points 4, 7 and 10, the web side).

The whole app (``governance_client``: the demo run, the governance store on SQLite and on PostgreSQL, the mail
worker) is driven as a resident's browser would: the form pages, the multipart POST with the CSRF token of
the page, the email as it arrives at the real SMTP sink on loopback, its link, the public status page and the
list. Every refusal is checked for "nothing stored" in the store itself.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from sqlalchemy import func, select

from app_support import DEMO_JURISDICTION

WEB = Path(__file__).resolve().parents[1] / "src" / "exquisite" / "web"
LOCALE = WEB.parent / "data" / "locale"

#: A point in the demo city (central Helsinki, the community of Kluuvi), one about 10 m away, one outside.
INSIDE = ("60.169900", "24.938400")
NEARBY = ("60.169950", "24.938500")
OUTSIDE = ("60.300000", "24.930000")
EMAIL = "resident.anna@example.org"
NAME = "Anna Virtanen"


# --------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------


def _store(client: Any) -> Any:
    return client.app.state.governance.store


def _count(client: Any, model: Any) -> int:
    with _store(client).session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _counts(client: Any) -> tuple[int, int, int, int]:
    from exquisite.governance.models import OutboxMessage, Photo, Report, Reporter

    return tuple(_count(client, m) for m in (Report, Reporter, Photo, OutboxMessage))  # type: ignore[return-value]


def _form(client: Any, service: str = "003", point: tuple[str, str] = INSIDE, **more: Any) -> dict[str, Any]:
    """The details page's fields as a resident fills them (the CSRF token taken from the page)."""
    page = client.get("/report/details", params={"service": service, "lat": point[0], "long": point[1]})
    assert page.status_code == 200, page.text[:500]
    token = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
    assert token, "the form carries no CSRF token"
    fields: dict[str, Any] = {
        "csrf_token": token.group(1),
        "jurisdiction_id": DEMO_JURISDICTION,
        "service_code": service,
        "lat": point[0],
        "long": point[1],
        "address_string": "",
        "description": "A van is parked across the pavement; wheelchairs must go on the road.",
        "email": EMAIL,
        "name": "",
        "homepage": "",
    }
    if service == "003":
        fields["attribute[obstruction]"] = "parked_vehicle"
        fields["attribute[since]"] = "2026-05-01T08:30"
        fields["attribute[since][zone]"] = "+03:00"
    fields.update(more)
    return fields


def _send(client: Any, fields: dict[str, Any], files: dict[str, Any] | None = None) -> Any:
    return client.post("/report", data=fields, files=files, follow_redirects=False)


def _link(message: Any) -> str:
    body = message.get_body(("plain",)).get_content()
    found = re.search(r"http://testserver(/report/confirm/[A-Za-z0-9_-]+)", body)
    assert found, body
    return found.group(1)


def _report_and_publish(client: Any, sink: Any, fields: dict[str, Any], files: Any = None) -> int:
    """Send the form, follow the emailed link; the new report's number."""
    before = len(sink.messages)
    sent = _send(client, fields, files)
    assert sent.status_code == 303, sent.text[:2000]
    assert sent.headers["location"] == "/report/sent"
    link = _link(sink.wait_for(before + 1)[before])
    published = client.get(link, follow_redirects=False)
    assert published.status_code == 303
    found = re.fullmatch(r"/reports/(\d+)\?published=1", published.headers["location"])
    assert found
    # the link queues the "published" email: wait for it, so that the next report's count starts after it
    sink.wait_for(before + 2)
    return int(found.group(1))


def _jpeg_with_gps() -> bytes:
    from PIL import Image

    image = Image.new("RGB", (64, 48), (120, 130, 140))
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x8825] = {1: "N", 2: (60.0, 10.0, 11.0)}  # GPSInfo
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------------------
# the whole flow
# --------------------------------------------------------------------------------------------------------


def test_full_flow_from_form_to_email_to_status_page(governance_client: Any, smtp_sink: Any) -> None:
    client = governance_client
    start = client.get("/report")
    assert start.status_code == 200
    assert 'name="service" value="003"' in start.text
    assert "Roads and pavements" in start.text  # grouped by department
    assert 'href="/report"' in start.text  # the site navigation leads here
    search = client.get(
        "/report/place", params={"city": DEMO_JURISDICTION, "service": "003", "q": "Mannerheimintie 1"}
    )
    assert search.status_code == 200
    place = re.search(r'name="place" value="([0-9a-f]{12})"', search.text)
    assert place
    details = client.get(
        "/report/details", params={"city": DEMO_JURISDICTION, "service": "003", "place": place.group(1)}
    )
    assert details.status_code == 200
    assert "Mannerheimintie 1" in details.text  # the place said back
    assert "Community:" in details.text
    for control in (
        'type="datetime-local"',
        'name="attribute[since][zone]"',
        'name="attribute[obstruction]"',
    ):
        assert control in details.text
    assert 'id="show-name" name="show_name" value="yes">' in details.text  # unchecked: anonymous by default
    address = re.search(r'name="address_string" value="([^"]*)"', details.text)
    lat = re.search(r'name="lat" value="([^"]*)"', details.text)
    lon = re.search(r'name="long" value="([^"]*)"', details.text)
    assert address
    assert lat
    assert lon

    fields = _form(
        client,
        point=(lat.group(1), lon.group(1)),
        address_string=address.group(1),
        name=NAME,
        show_name="yes",
        wants_updates="yes",
    )
    sent = _send(client, fields)
    assert sent.status_code == 303
    assert client.get("/report/sent").status_code == 200
    message = smtp_sink.wait_for(1)[0]
    assert message["To"] == EMAIL
    body = message.get_body(("plain",)).get_content()
    assert "Blocked or broken pavement" in body
    assert "人行道堵塞或损坏" in body
    link = _link(message)

    from exquisite.governance.models import Report

    with _store(client).session() as session:
        report = session.scalars(select(Report)).one()
        report_id, state = report.id, report.state
        assert report.attributes == {"obstruction": "parked_vehicle", "since": "2026-05-01T08:30:00+03:00"}
        assert report.reporter is not None
        assert report.reporter.email == EMAIL
        assert report.reporter.ip_hash
        assert "testclient" not in report.reporter.ip_hash
        assert report.community
    assert state == "unconfirmed"
    assert client.get(f"/reports/{report_id}").status_code == 404  # not public before the link
    assert f"/reports/{report_id}" not in client.get("/reports").text

    published = client.get(link, follow_redirects=False)
    assert published.headers["location"] == f"/reports/{report_id}?published=1"
    page = client.get(published.headers["location"])
    assert page.status_code == 200
    assert "your report is published" in page.text
    for shown in (
        "Blocked or broken pavement",
        "Open",
        "Mannerheimintie 1",
        NAME,
        "A parked vehicle",
        "Published",
    ):
        assert shown in page.text, shown
    assert EMAIL not in page.text
    # the "published" email follows, with the status page's address
    second = smtp_sink.wait_for(2)[1].get_body(("plain",)).get_content()
    assert f"http://testserver/reports/{report_id}" in second
    # the link works once
    again = client.get(link)
    assert again.status_code == 404
    assert "This link no longer works" in again.text
    listing = client.get("/reports")
    assert f'href="/reports/{report_id}"' in listing.text
    assert EMAIL not in listing.text
    assert "<svg" in listing.text


def test_anonymous_report_shows_no_name(governance_client: Any, smtp_sink: Any) -> None:
    client = governance_client
    report_id = _report_and_publish(client, smtp_sink, _form(client, name=NAME))  # the box left unticked
    page = client.get(f"/reports/{report_id}")
    assert page.status_code == 200
    assert NAME not in page.text
    assert "Virtanen" not in page.text
    assert "a resident (anonymous)" in page.text
    from exquisite.governance.models import Report

    with _store(client).session() as session:
        report = session.get(Report, report_id)
        assert report is not None
        assert report.public_name is None
        assert report.reporter is not None
        assert report.reporter.name == NAME


def test_no_personal_data_on_any_public_page(governance_client: Any, smtp_sink: Any) -> None:
    client = governance_client
    first = _report_and_publish(client, smtp_sink, _form(client, name=NAME))
    pages = [
        f"/reports/{first}",
        "/reports",
        "/reports?service=003",
        f"/reports?state=open&community={_community(client, first)}",
        "/reports?lang=zh",
        f"/reports/{first}?lang=zh",
    ]
    details = client.get("/report/details", params={"service": "003", "lat": NEARBY[0], "long": NEARBY[1]})
    assert "This is my problem too" in details.text
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        for private in (EMAIL, "resident.anna", NAME, "testclient"):
            assert private not in response.text, (path, private)
    for private in (EMAIL, NAME):
        assert private not in details.text


def _community(client: Any, report_id: int) -> str:
    from exquisite.governance.models import Report

    with _store(client).session() as session:
        report = session.get(Report, report_id)
        assert report is not None
        assert report.community
        return report.community


# --------------------------------------------------------------------------------------------------------
# refusals: nothing stored
# --------------------------------------------------------------------------------------------------------


def test_honeypot_gets_the_ordinary_answer_and_stores_nothing(governance_client: Any) -> None:
    client = governance_client
    details = client.get("/report/details", params={"service": "003", "lat": INSIDE[0], "long": INSIDE[1]})
    field = re.search(r'<div class="hp-field" aria-hidden="true">.*?</div>', details.text, re.S)
    assert field
    assert 'tabindex="-1"' in field.group(0)
    assert 'autocomplete="off"' in field.group(0)
    sent = _send(client, _form(client, homepage="http://spam.example"))
    assert sent.status_code == 303
    assert sent.headers["location"] == "/report/sent"
    assert _counts(client) == (0, 0, 0, 0)


@pytest.mark.parametrize("token", ["", "0" * 64])
def test_csrf_missing_or_wrong_is_refused(governance_client: Any, token: str) -> None:
    client = governance_client
    sent = _send(client, _form(client, csrf_token=token))
    assert sent.status_code == 403
    assert "Reload the page" in sent.text
    assert _counts(client) == (0, 0, 0, 0)


def test_cross_site_post_is_refused(governance_client: Any) -> None:
    client = governance_client
    fields = _form(client)
    sent = client.post(
        "/report", data=fields, headers={"Origin": "http://evil.example"}, follow_redirects=False
    )
    assert sent.status_code == 403
    assert _counts(client) == (0, 0, 0, 0)


def _huge_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (7000, 7000)).save(buffer, "PNG")  # 49 megapixels in a small file
    return buffer.getvalue()


#: name → (changes to the form, files, the anchor the error summary must link to).
BAD_INPUTS: dict[str, tuple[dict[str, Any], dict[str, Any] | None, str]] = {
    "missing service": ({"service_code": ""}, None, "service"),
    "unknown service": ({"service_code": "999"}, None, "service"),
    "no location": ({"lat": "", "long": ""}, None, "where"),
    "outside the city": ({"lat": OUTSIDE[0], "long": OUTSIDE[1]}, None, "where"),
    "latitude not a number": ({"lat": "sixty"}, None, "where"),
    "longitude not a number": ({"long": "1e999"}, None, "where"),
    "overlong description": ({"description": "x" * 4001}, None, "description"),
    "script in description": ({"description": "<script>alert('x')</script>"}, None, "description"),
    "required question unanswered": ({"attribute[obstruction]": ""}, None, "q-obstruction"),
    "answer not among the choices": ({"attribute[obstruction]": "<b>bold</b>"}, None, "q-obstruction"),
    "date not a date": ({"attribute[since]": "yesterday <i>"}, None, "q-since"),
    "email missing": ({"email": ""}, None, "email"),
    "email not an email": ({"email": "anna<script>"}, None, "email"),
    "name with markup": ({"name": "<img src=x onerror=alert(1)>", "show_name": "yes"}, None, "name"),
    "fake image": ({}, {"photo": ("pothole.jpg", b"GIF89a<script>alert(1)</script>", "image/jpeg")}, "photo"),
    "huge image": ({}, {"photo": ("huge.png", None, "image/png")}, "photo"),
}


def test_bad_inputs_give_the_form_again_with_errors_and_store_nothing(governance_client: Any) -> None:
    client = governance_client
    huge = _huge_png()
    for name, (changes, files, anchor) in BAD_INPUTS.items():
        fields = _form(client)
        fields.update(changes)
        upload = files
        if files and files["photo"][1] is None:
            upload = {"photo": (files["photo"][0], huge, files["photo"][2])}
        response = _send(client, fields, upload)
        assert response.status_code == 400, name
        text = response.text
        assert 'class="error-summary" role="alert"' in text, name
        assert f'<a href="#{anchor}">' in text, (name, re.findall(r'<a href="#[^"]+">[^<]*', text))
        assert f'id="{anchor}"' in text, name  # the link leads to the field
        assert "<title>Error: " in text, name
        for raw in ("<script>alert", "<img src=x", "<b>bold", "<i>"):
            assert raw not in text, (name, raw)
        # the resident's other values are kept
        if "description" not in changes:
            assert "wheelchairs must go on the road" in text, name
        if "email" not in changes:
            assert f'value="{EMAIL}"' in text, name
        assert _counts(client) == (0, 0, 0, 0), name


def test_overlong_description_says_the_limit(governance_client: Any) -> None:
    client = governance_client
    response = _send(client, _form(client, description="y" * 4001))
    assert "at most 4,000 characters" in response.text
    zh = client.post("/report?lang=zh", data=_form(client, description="y" * 4001), follow_redirects=False)
    assert "最多 4,000 个字符" in zh.text


def test_rate_limit_per_ip_gives_a_friendly_refusal(
    demo_runs_root: Path, governance_url: str, smtp_sink: Any, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from exquisite.governance.models import Report
    from exquisite.governance.settings import load_settings
    from exquisite.web.app import create_app

    settings = load_settings(
        None,
        data_dir=tmp_path / "governance",
        database_url=governance_url,
        public_base_url="http://testserver",
        smtp={"host": smtp_sink.host, "port": smtp_sink.port},
        rate_limits={"reports_per_ip_per_hour": 2},
    )
    with TestClient(create_app(demo_runs_root, governance=settings)) as client:
        for n in range(2):
            assert _send(client, _form(client, email=f"r{n}@example.org")).status_code == 303
        refused = _send(client, _form(client, email="r3@example.org"))
        assert refused.status_code == 429
        assert "Please wait" in refused.text
        assert "Nothing was stored" in refused.text
        assert refused.headers["Retry-After"]
        assert _count(client, Report) == 2
        smtp_sink.wait_for(2)


# --------------------------------------------------------------------------------------------------------
# duplicates, photos, status page, list
# --------------------------------------------------------------------------------------------------------


def test_duplicates_nearby_are_suggested_before_sending(governance_client: Any, smtp_sink: Any) -> None:
    client = governance_client
    first = _report_and_publish(client, smtp_sink, _form(client))
    near = client.get("/report/details", params={"service": "003", "lat": NEARBY[0], "long": NEARBY[1]})
    assert "Is it one of these?" in near.text
    assert f'href="/reports/{first}"' in near.text
    assert "This is my problem too: follow report" in near.text
    assert "Open" in near.text
    other_service = client.get(
        "/report/details", params={"service": "001", "lat": NEARBY[0], "long": NEARBY[1]}
    )
    assert f'href="/reports/{first}"' not in other_service.text
    far = client.get("/report/details", params={"service": "003", "lat": "60.1675", "long": "24.9480"})
    assert far.status_code == 200
    assert f'href="/reports/{first}"' not in far.text


def test_photo_is_kept_without_its_location_and_shown(governance_client: Any, smtp_sink: Any) -> None:
    from PIL import Image

    client = governance_client
    original = _jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif()
    report_id = _report_and_publish(
        client, smtp_sink, _form(client), {"photo": ("pavement.jpg", original, "image/jpeg")}
    )
    page = client.get(f"/reports/{report_id}")
    src = re.search(r'<img src="(/reports/\d+/photos/\d+\.jpg)"[^>]* alt="([^"]+)"', page.text)
    assert src
    assert "Blocked or broken pavement" in src.group(2)
    photo = client.get(src.group(1))
    assert photo.status_code == 200
    assert photo.headers["content-type"] == "image/jpeg"
    assert not Image.open(io.BytesIO(photo.content)).getexif()
    assert b"CameraMaker" not in photo.content

    from exquisite.governance.models import Photo

    with _store(client).session() as session:
        stored = session.scalars(select(Photo)).one()
        stored.hidden = True
    assert client.get(src.group(1)).status_code == 404
    assert "<img" not in client.get(f"/reports/{report_id}").text


def test_status_page_shows_public_history_only_and_hides_hidden_reports(
    governance_client: Any, smtp_sink: Any
) -> None:
    from exquisite.governance.models import Report
    from exquisite.governance.reports import move

    client = governance_client
    report_id = _report_and_publish(client, smtp_sink, _form(client))
    with _store(client).session() as session:
        report = session.get(Report, report_id)
        assert report is not None
        move(
            session,
            report,
            "investigating",
            staff_id=None,
            note="Internal: call the contractor",
            public=False,
        )
        move(session, report, "fixed", staff_id=None, note="The van was moved.", public=True)
    page = client.get(f"/reports/{report_id}")
    assert "Fixed" in page.text
    assert "The van was moved." in page.text
    assert "State changed to: Fixed" in page.text
    assert "Internal: call the contractor" not in page.text
    assert "Investigating" not in page.text
    zh = client.get(f"/reports/{report_id}?lang=zh")
    assert "已解决" in zh.text
    assert 'lang="zh-Hans"' in zh.text
    listing = client.get("/reports", params={"state": "fixed"})
    assert f'href="/reports/{report_id}"' in listing.text
    assert f'href="/reports/{report_id}"' not in client.get("/reports", params={"state": "open"}).text
    assert client.get("/reports", params={"state": "hidden"}).status_code == 400
    assert client.get("/reports", params={"service": "nope"}).status_code == 400
    with _store(client).session() as session:
        report = session.get(Report, report_id)
        assert report is not None
        move(session, report, "hidden", staff_id=None)
    assert client.get(f"/reports/{report_id}").status_code == 404
    assert f'href="/reports/{report_id}"' not in client.get("/reports").text
    assert client.get("/reports/99999").status_code == 404


def test_update_email_goes_to_reporters_who_asked(governance_client: Any, smtp_sink: Any) -> None:
    from exquisite.governance.models import Report
    from exquisite.governance.notices import notify_update
    from exquisite.governance.reports import move

    client = governance_client
    governance = client.app.state.governance
    wants = _report_and_publish(client, smtp_sink, _form(client, wants_updates="yes"))
    silent = _report_and_publish(client, smtp_sink, _form(client, service="004", email="quiet@example.org"))
    assert len(smtp_sink.wait_for(4)) == 4  # a link and "published" for each
    with governance.store.session() as session:
        report = session.get(Report, wants)
        assert report is not None
        internal = move(session, report, "investigating", staff_id=None, note="call them", public=False)
        assert notify_update(session, report, internal, governance.settings) is None
        event = move(session, report, "fixed", staff_id=None, note="The van was moved.")
        assert notify_update(session, report, event, governance.settings) is not None
        other = session.get(Report, silent)
        assert other is not None
        step = move(session, other, "fixed", staff_id=None, note="Cleared.")
        assert notify_update(session, other, step, governance.settings) is None
    governance.queued_mail()
    update = smtp_sink.wait_for(5)[4]
    assert update["To"] == EMAIL
    body = update.get_body(("plain",)).get_content()
    assert "Fixed" in body
    assert "已解决" in body
    assert "The van was moved." in body
    assert "call them" not in body
    assert f"http://testserver/reports/{wants}" in body


# --------------------------------------------------------------------------------------------------------
# languages and the form's controls
# --------------------------------------------------------------------------------------------------------


def test_chinese_pages(governance_client: Any, smtp_sink: Any) -> None:
    client = governance_client
    start = client.get("/report?lang=zh")
    assert '<html lang="zh-Hans"' in start.text
    assert "报告问题" in start.text
    assert "人行道堵塞或损坏" in start.text
    assert "道路与人行道" in start.text
    place = client.get("/report/place", params={"service": "003", "lang": "zh"})
    assert "问题在哪里？" in place.text
    details = client.get(
        "/report/details", params={"service": "002", "lat": INSIDE[0], "long": INSIDE[1], "lang": "zh"}
    )
    assert "描述问题" in details.text
    assert "对谁有危险？" in details.text
    assert "骑车人" in details.text
    bad = client.post("/report?lang=zh", data=_form(client, email="", lat="abc"), follow_redirects=False)
    assert bad.status_code == 400
    assert "请输入您的电子邮箱" in bad.text
    assert "纬度必须是" in bad.text
    fake = client.post(
        "/report?lang=zh",
        data=_form(client),
        files={"photo": ("a.jpg", b"not an image", "image/jpeg")},
        follow_redirects=False,
    )
    assert "无法使用这张照片" in fake.text
    assert client.get("/report/sent?lang=zh").text.count("请查收邮件") >= 1
    assert "共显示" in client.get("/reports?lang=zh").text


def test_every_datatype_has_its_control(governance_client: Any) -> None:
    client = governance_client
    pothole = client.get(
        "/report/details", params={"service": "002", "lat": INSIDE[0], "long": INSIDE[1]}
    ).text
    assert 'type="number" step="any"' in pothole
    assert re.search(r'<fieldset id="q-hazards"[^>]*>\s*<legend>', pothole)
    assert pothole.count('name="attribute[hazards][]"') == 3
    light = client.get("/report/details", params={"service": "001", "lat": INSIDE[0], "long": INSIDE[1]}).text
    assert '<select id="q-light_state" name="attribute[light_state]"' in light
    assert '<input type="text" id="q-pole_number"' in light
    rubbish = client.get(
        "/report/details", params={"service": "004", "lat": INSIDE[0], "long": INSIDE[1]}
    ).text
    assert '<textarea id="q-details"' in rubbish
    pavement = client.get(
        "/report/details", params={"service": "003", "lat": INSIDE[0], "long": INSIDE[1]}
    ).text
    assert 'type="datetime-local"' in pavement
    assert "UTC+02:00" in pavement
    assert "call the emergency number first" in pavement  # a notice (variable: false) is information
    # a multi-value answer and a number are stored as such
    sent = _send(
        client,
        _form(
            client,
            service="002",
            **{"attribute[depth_cm]": "7.5", "attribute[hazards][]": ["cyclists", "cars"]},
        ),
    )
    assert sent.status_code == 303
    from exquisite.governance.models import Report

    with _store(client).session() as session:
        report = session.scalars(select(Report)).one()
        assert report.attributes == {"depth_cm": 7.5, "hazards": ["cyclists", "cars"]}


def test_place_step_offers_search_neighbourhoods_and_a_point(governance_client: Any) -> None:
    client = governance_client
    page = client.get("/report/place", params={"service": "001"})
    assert 'id="place-q"' in page.text
    assert 'id="place-community-name"' in page.text
    assert 'id="point-lat"' in page.text
    assert 'id="report-map"' in page.text
    community = re.search(r'<option value="([^"]+)"', page.text.split('id="place-community-name"')[1])
    assert community
    chosen = client.get("/report/details", params={"service": "001", "community": community.group(1)})
    assert chosen.status_code == 200
    assert community.group(1) in chosen.text
    outside = client.get("/report/details", params={"service": "001", "lat": OUTSIDE[0], "long": OUTSIDE[1]})
    assert outside.status_code == 422
    assert "outside" in outside.text
    nothing = client.get("/report/place", params={"service": "001", "q": "qqqxqqqzqqq"})
    assert nothing.status_code == 404
    assert "No place in" in nothing.text
    no_service = client.get("/report/place", params={"service": ""})
    assert no_service.status_code == 400
    assert "Choose the problem" in no_service.text
    elders = client.get("/report/place", params={"service": "001", "mode": "elders"})
    assert 'id="report-map"' not in elders.text
    assert "leaflet.js" not in elders.text


def test_every_msgid_of_the_report_pages_is_in_both_catalogues() -> None:
    options = {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}
    sources = [(p, "jinja2", options) for p in sorted((WEB / "templates").glob("report_*.html"))]
    sources += [
        (WEB / "templates" / "_report_error.html", "jinja2", options),
        (WEB / "pages_report.py", "python", {}),
    ]
    msgids: set[Any] = set()
    for path, method, opts in sources:
        for _line, message, _comments, _context in extract_from_file(
            method, str(path), keywords={"_": None, "gettext": None, "ngettext": (1, 2)}, options=opts
        ):
            msgids.add(message)
    assert len(msgids) > 100
    for lang in ("en", "zh"):
        with (LOCALE / lang / "LC_MESSAGES" / "web.po").open("rb") as fh:
            catalogue = read_po(fh)
        for message in msgids:
            key = message[0] if isinstance(message, tuple) else message
            assert key in catalogue, (lang, key)
            if lang == "zh":
                text = catalogue[key].string
                text = text[0] if isinstance(text, tuple) else text
                assert text, f"no Chinese for {key!r}"
                assert sorted(re.findall(r"%\(\w+\)s", text)) == sorted(re.findall(r"%\(\w+\)s", key)), key


# --------------------------------------------------------------------------------------------------------
# photo refusals, each told with its numbers in the reader's language
# --------------------------------------------------------------------------------------------------------


def _png_declaring(width: int, height: int) -> bytes:
    """A valid grey PNG of ``width`` × ``height`` that is small on the wire (one colour compresses well)."""
    import zlib

    row = b"\x00" * (width + 1)  # filter byte + one byte per pixel
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload)
        return len(payload).to_bytes(4, "big") + kind + payload + crc.to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def _image(kind: str, size: tuple[int, int] = (40, 30)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(buffer, kind, quality=90)
    return buffer.getvalue()


#: reason → (file sent, the English and the Chinese sentence the page must show). The limits are the test's
#: own (1 MB, 1 megapixel), so that every number shown comes from them or from the file.
PHOTO_REFUSALS: dict[str, tuple[Any, str, str]] = {
    "empty": (lambda: b"", "The file is empty (0 bytes).", "文件是空的（0 字节）。"),
    "too_large (MB)": (
        lambda: b"\xff\xd8\xff" + b"\x00" * 1_499_997,
        "The photo is 1.5 MB; the limit is 1 MB.",
        "这张照片为 1.5 MB，上限为 1 MB。",
    ),
    "too_large (bytes)": (
        lambda: b"\xff\xd8\xff" + b"\x00" * 999_998,
        "The photo is 1,000,001 bytes; the limit is 1,000,000 bytes.",
        "这张照片为 1,000,001 字节，上限为 1,000,000 字节。",
    ),
    "too_many_pixels": (
        lambda: _png_declaring(2500, 1000),
        "The photo is 2,500 × 1,000 pixels (2.5 megapixels); the limit is 1 megapixels.",
        "这张照片为 2,500 × 1,000 像素（2.5 百万像素），上限为 1 百万像素。",
    ),
    "too_many_pixels (Pillow's guard)": (
        lambda: _png_declaring(10_000, 10_000),
        "The photo has more pixels than the limit of 1 megapixels.",
        "这张照片的像素超过了 1 百万像素的上限。",
    ),
    "not_accepted_type": (
        lambda: _image("GIF"),
        "The file is a GIF image, which is not accepted. Send a photo as JPEG, PNG, WEBP.",
        "该文件是 GIF 格式的图片，本服务不接受此格式。请提交 JPEG, PNG, WEBP 格式的照片。",
    ),
    "not_an_image": (
        lambda: b"GIF89a<script>alert(1)</script>",
        "The file is not an image this service can read. Send a photo as JPEG, PNG, WEBP.",
        "该文件不是本服务能读取的图片。请提交 JPEG, PNG, WEBP 格式的照片。",
    ),
    "damaged": (
        lambda: _image("JPEG", (600, 400))[:4000],
        "The photo is damaged or incomplete.",
        "这张照片已损坏或不完整。",
    ),
}


def test_each_photo_refusal_is_told_with_its_numbers_in_english_and_chinese(
    demo_runs_root: Path, governance_url: str, smtp_sink: Any, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from exquisite.governance.photos import REASONS
    from exquisite.governance.settings import load_settings
    from exquisite.web.app import create_app

    assert {name.split(" ")[0] for name in PHOTO_REFUSALS} == set(REASONS)
    settings = load_settings(
        None,
        data_dir=tmp_path / "governance",
        database_url=governance_url,
        public_base_url="http://testserver",
        smtp={"host": smtp_sink.host, "port": smtp_sink.port},
        photos={"max_bytes": 1_000_000, "max_pixels": 1_000_000},
    )
    with TestClient(create_app(demo_runs_root, governance=settings)) as client:
        for name, (make, english, chinese) in PHOTO_REFUSALS.items():
            data = make()
            for lang, sentence, others in (("en", english, chinese), ("zh", chinese, english)):
                response = client.post(
                    f"/report?lang={lang}",
                    data=_form(client),
                    files={"photo": ("upload.jpg", data, "image/jpeg")},
                    follow_redirects=False,
                )
                assert response.status_code == 400, (name, lang)
                assert '<a href="#photo">' in response.text, (name, lang)
                assert sentence in response.text, (name, lang, re.findall(r"[^>]*photo[^<]*", response.text))
                assert others not in response.text, (name, lang)
            assert _counts(client) == (0, 0, 0, 0), name
        # every other refusal's sentence is absent: each reason has its own message
        shown = client.post(
            "/report",
            data=_form(client),
            files={"photo": ("upload.jpg", b"", "image/jpeg")},
            follow_redirects=False,
        ).text
        assert [n for n, (_m, english, _z) in PHOTO_REFUSALS.items() if english in shown] == ["empty"]
