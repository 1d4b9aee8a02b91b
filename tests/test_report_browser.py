"""The report pages in a real browser: axe-core in both languages and views, and reporting by keyboard alone.

The real app (uvicorn on 127.0.0.1, a free port) serves the demo run with the governance service on its own
SQLite store; its email goes to the real SMTP sink on loopback. The browser is Debian's Chromium driven by
Playwright, axe-core the copy bundled with ``axe-playwright-python`` (see tests/web_browser_support.py).

- every report page (choose the problem, the place step, the search matches, the details form with a possible
  duplicate listed, the same form sent back with errors, "check your email", a used link, the status page and
  the public list) × English and Chinese × standard and elders' view: 0 axe violations of the WCAG 2.0 A/AA,
  2.1 AA and 2.2 AA rules, no request to another host, no script error;
- a resident reports a problem with the keyboard only — choose the problem with the arrow keys, search the
  place, choose it, answer the question, type the email, send — with a visible focus on every stop and the
  honeypot never reached; the confirmation email arrives at the sink.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from mail_support import SmtpSink
from web_browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    FOCUS_JS,
    PageWatch,
    axe_violations,
    describe_violations,
    focus_in_view,
    focus_is_visible,
    live_server,
)

pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed (test extra)")
pytest.importorskip("axe_playwright_python", reason="axe-playwright-python is not installed (test extra)")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"Debian's chromium is not installed at {CHROMIUM}"),
]

#: A point in the demo city and the place searched in the keyboard walk.
INSIDE = ("60.169900", "24.938400")
PLACE = "Mannerheimintie 1"
#: An email the pages must never show.
EMAIL = "keyboard.resident@example.org"


@pytest.fixture(scope="module")
def server(
    demo_runs_root: Path, module_smtp_sink: SmtpSink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """The app with the governance service (opened here: the live server runs without a lifespan), and one
    published report at :data:`INSIDE`, so that the duplicates, the status page and the list have content."""
    from exquisite.governance.reports import read_submission, submit
    from exquisite.governance.service import open_governance
    from exquisite.governance.settings import load_settings
    from exquisite.web.app import create_app

    settings = load_settings(
        None,
        data_dir=tmp_path_factory.mktemp("report-browser"),
        smtp={"host": module_smtp_sink.host, "port": module_smtp_sink.port},
    )
    app = create_app(demo_runs_root, governance=settings)
    governance = open_governance(settings, app.state.catalogue)
    app.state.governance = governance
    city = governance.jurisdiction(None)
    fields = {
        "service_code": "003",
        "lat": INSIDE[0],
        "long": INSIDE[1],
        "description": "Scaffolding blocks the whole pavement.",
        "email": "earlier@example.org",
    }
    submission = read_submission(
        fields,
        {"obstruction": "works"},
        jurisdiction=city,
        catalogue=governance.services,
        rules=settings.reports,
        channel="web",
    )
    with governance.store.session() as session:
        report, _secret = submit(session, submission, needs_confirmation=False)
        app.state.report_id = report.id
    try:
        with live_server(app) as live:
            yield live
    finally:
        governance.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, launched once for the module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _context(browser: Any, server: Any, lang: str | None = None, mode: str | None = None) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    cookies = [{"name": k, "value": v, "url": server.url} for k, v in (("lang", lang), ("mode", mode)) if v]
    if cookies:
        context.add_cookies(cookies)
    return context


def _settle(page: Any) -> None:
    """Wait for the page and, on the place step, for the optional map to draw the streets (or hide)."""
    page.wait_for_load_state("load")
    if page.locator("#report-map").count() and page.locator("script[src$='report.js']").count():
        page.wait_for_function(
            """() => { const h = document.getElementById('report-map');
                       return h.hidden || h.querySelector('.leaflet-overlay-pane path') !== null; }""",
            timeout=20_000,
        )


def _paths(server: Any) -> dict[str, tuple[str, int]]:
    report_id = server.app.state.report_id
    details = f"/report/details?service=003&lat={INSIDE[0]}&long={INSIDE[1]}"
    return {
        "start": ("/report", 200),
        "place": ("/report/place?service=003", 200),
        "matches": (f"/report/place?service=003&q={quote(PLACE)}", 200),
        "details": (details, 200),
        "sent": ("/report/sent", 200),
        "used-link": ("/report/confirm/" + "x" * 43, 404),
        "status": (f"/reports/{report_id}", 200),
        "list": ("/reports", 200),
    }


@pytest.mark.parametrize("mode", ["standard", "elders"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_report_pages_pass_axe(browser: Any, server: Any, lang: str, mode: str) -> None:
    context = _context(browser, server, lang, mode)
    watch = PageWatch()
    watch.attach(context)
    found: list[str] = []
    try:
        page = context.new_page()
        for page_name, (path, status) in _paths(server).items():
            name = page_name
            response = page.goto(server.url + path)
            assert response is not None
            assert response.status == status, (name, response.status)
            _settle(page)
            assert page.evaluate("document.documentElement.lang") == ("zh-Hans" if lang == "zh" else "en")
            if name == "details":
                assert page.locator("#duplicates-title").count() == 1, "the earlier report is not suggested"
                assert "earlier@example.org" not in page.content()
                violations, engine = axe_violations(page)
                if violations:
                    found.append(f"{name} (axe {engine}):\n{describe_violations(violations)}")
                # the same form sent back with errors (no email, a script in the description)
                page.fill("#description", "<script>alert(1)</script>")
                with page.expect_navigation():
                    page.click("#report-send")
                assert page.locator("#error-summary").count() == 1
                assert page.locator("#email-error").count() == 1
                name = f"{page_name}-errors"
            violations, engine = axe_violations(page)
            if violations:
                found.append(f"{name} (axe {engine}):\n{describe_violations(violations)}")
        assert not found, "\n".join(found)
        assert not watch.foreign(), watch.foreign()
        assert not watch.errors, watch.errors
    finally:
        context.close()


def test_report_by_keyboard_only(browser: Any, server: Any, module_smtp_sink: SmtpSink) -> None:
    """Choose the problem, the place, answer, give the email and send, with the keyboard alone."""
    context = _context(browser, server)
    watch = PageWatch()
    watch.attach(context)
    stops: list[str] = []

    def check_focus(page: Any) -> dict[str, Any]:
        focus = page.evaluate(FOCUS_JS)
        assert focus is not None, f"focus lost to the page body after {stops}"
        what = f"{focus['tag']}#{focus['id']}" + (f"={focus['value']}" if focus["type"] == "radio" else "")
        stops.append(what)
        assert focus["name"] != "homepage", "the honeypot field is reachable by keyboard"
        assert focus_is_visible(focus), f"no visible focus indicator on {what}: {focus}"
        assert focus_in_view(focus), f"{what} has focus but is outside the viewport: {focus}"
        return focus

    def tab_until(page: Any, wanted: Any, limit: int = 80) -> dict[str, Any]:
        for _ in range(limit):
            page.keyboard.press("Tab")
            focus = check_focus(page)
            if wanted(focus):
                return focus
        raise AssertionError(f"{limit} × Tab never reached the element; focus went {stops}")

    before = len(module_smtp_sink.messages)
    try:
        page = context.new_page()
        page.goto(f"{server.url}/report")
        _settle(page)
        # 1. the problem: Tab into the radio group, arrows to "Blocked or broken pavement", then the button
        focus = tab_until(page, lambda f: f["name"] == "service")
        for _ in range(12):
            if focus["value"] == "003":
                break
            page.keyboard.press("ArrowDown")
            focus = check_focus(page)
        assert focus["value"] == "003"
        assert focus["checked"]
        tab_until(page, lambda f: f["id"] == "report-start-go")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        _settle(page)
        # 2. the place: search, then the first match
        tab_until(page, lambda f: f["id"] == "place-q")
        page.keyboard.type(PLACE, delay=5)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        _settle(page)
        focus = tab_until(page, lambda f: f["name"] == "place")
        assert focus["checked"]
        tab_until(page, lambda f: f["id"] == "matches-go")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        _settle(page)
        assert "/report/details" in page.url
        # 3. the required question, the email, send (the box for a public name is left unticked)
        tab_until(page, lambda f: f["id"] == "q-obstruction")
        page.keyboard.press("ArrowDown")
        assert page.eval_on_selector("#q-obstruction", "el => el.value") != ""
        tab_until(page, lambda f: f["id"] == "email")
        page.keyboard.type(EMAIL, delay=2)
        tab_until(page, lambda f: f["id"] == "report-send")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        _settle(page)
        assert page.url.endswith("/report/sent"), (page.url, page.content()[:3000])
        assert EMAIL not in page.content()
        message = module_smtp_sink.wait_for(before + 1)[before]
        assert message["To"] == EMAIL
        assert not watch.foreign(), watch.foreign()
        assert not watch.errors, watch.errors
    finally:
        context.close()
