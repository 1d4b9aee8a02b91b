"""Helpers of the browser tests (tests/test_web_browser.py): a live server, Debian's Chromium, axe-core, and
measurements taken inside the page (focus indicator, target sizes, text size).

Nothing here mocks a part of the app: the server is the real app under uvicorn on loopback, the browser is
Debian's ``/usr/bin/chromium`` driven by Playwright, and axe-core is the copy bundled with
``axe-playwright-python`` (its version is printed with every report).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: Debian's Chromium (Playwright's own browser builds are never downloaded).
CHROMIUM = Path("/usr/bin/chromium")

#: Switches that keep the browser quiet and offline (no updates, no sync, no background requests).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

#: The axe-core rule tags the issue asks for: WCAG 2.0 A and AA, WCAG 2.1 AA and WCAG 2.2 AA.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21aa", "wcag22aa"]

#: axe-core options: only the rules of :data:`AXE_TAGS`, only the violations in the answer.
AXE_OPTIONS: dict[str, Any] = {
    "runOnly": {"type": "tag", "values": AXE_TAGS},
    "resultTypes": ["violations"],
}

#: The only host a page may talk to.
LOOPBACK = "127.0.0.1"


@dataclass
class LiveServer:
    """The real app served by uvicorn on ``127.0.0.1`` in a background thread.

    The listening socket is bound here (port 0: the system picks a free port), so no other process can take
    the port between choosing it and serving on it.

    Attributes
    ----------
    app
        The ASGI application.
    port
        The port it listens on (set by :meth:`start`).
    """

    app: Any
    port: int = 0
    _server: Any = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        """Serve the app and wait until it answers ``GET /?list`` (at most ``timeout_s`` seconds)."""
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="live-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/?list", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if not self._thread.is_alive():
                raise RuntimeError("the live server stopped before it answered")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the live server did not answer within {timeout_s} s")
            time.sleep(0.1)

    def stop(self) -> None:
        """Ask uvicorn to finish and wait for its thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)


@contextlib.contextmanager
def live_server(app: Any) -> Iterator[LiveServer]:
    """A started :class:`LiveServer` of ``app``, stopped on exit."""
    server = LiveServer(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class PageWatch:
    """What the pages of one browser context did: the URLs they asked for, and their errors.

    Errors are script exceptions, ``console.error`` messages, and requests for a page's parts (styles,
    scripts, data) that failed or were answered with an HTTP error. The page itself may be an error page
    (a 404 is then what was asked for); the browser's own "Failed to load resource" console line, which
    repeats a failed response, is left to the response check.
    """

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self, context: Any) -> None:
        """Record every request of ``context`` and every error of its pages."""
        context.on("request", lambda request: self.requests.append(request.url))
        context.on("response", self._response)
        context.on("requestfailed", lambda request: self.errors.append(f"request failed: {request.url}"))
        context.on("page", self._watch_page)
        for page in context.pages:
            self._watch_page(page)

    def _response(self, response: Any) -> None:
        if response.status >= 400 and not response.request.is_navigation_request():
            self.errors.append(f"HTTP {response.status} for {response.url}")

    def _console(self, page: Any, message: Any) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"{page.url}: console.error: {message.text}")

    def _watch_page(self, page: Any) -> None:
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        page.on("console", lambda message: self._console(page, message))

    def foreign(self) -> list[str]:
        """The requested URLs whose host is not ``127.0.0.1`` (``data:`` URLs never leave the page)."""
        out = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in {"data", "blob", "about"}:
                continue
            if parts.hostname != LOOPBACK:
                out.append(url)
        return out


def axe_violations(page: Any) -> tuple[list[dict[str, Any]], str]:
    """Run axe-core on ``page`` with :data:`AXE_OPTIONS`; its violations and the engine's version."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options=AXE_OPTIONS)
    return list(results.response["violations"]), str(results.response["testEngine"]["version"])


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """One block per violation: rule id, impact, help, and each element (CSS target, HTML, what fails)."""
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v.get('impact')}): {v.get('help')} <{v.get('helpUrl', '')}>")
        for node in v.get("nodes", []):
            target = " ".join(str(t) for t in node.get("target", []))
            summary = " ".join(str(node.get("failureSummary", "")).split())
            lines.append(f"    target {target}: {node.get('html', '')[:200]}")
            lines.append(f"      {summary[:400]}")
    return "\n".join(lines)


#: JavaScript: how the focused element shows its focus (outline, box-shadow), where it is, and what it is.
FOCUS_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) { return null; }
  const s = getComputedStyle(el);
  const r = el.getBoundingClientRect();
  return {
    tag: el.tagName.toLowerCase(), id: el.id, type: el.getAttribute('type') || '',
    name: el.getAttribute('name') || '',
    value: el.value === undefined ? '' : String(el.value), checked: !!el.checked,
    text: (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 80),
    outlineStyle: s.outlineStyle, outlineWidth: parseFloat(s.outlineWidth) || 0, outlineColor: s.outlineColor,
    boxShadow: s.boxShadow,
    top: r.top, bottom: r.bottom, left: r.left, right: r.right,
    viewportHeight: window.innerHeight, viewportWidth: window.innerWidth,
  };
}"""


def focus_is_visible(focus: dict[str, Any]) -> bool:
    """Whether the focused element draws a focus indicator (a non-none outline of some width, or a shadow)."""
    outline = focus["outlineStyle"] != "none" and focus["outlineWidth"] > 0
    shadow = focus["boxShadow"] not in ("", "none")
    return outline or shadow


def focus_in_view(focus: dict[str, Any]) -> bool:
    """Whether the focused element lies at least partly inside the viewport (WCAG 2.4.11, not obscured)."""
    return (
        focus["bottom"] > 0
        and focus["top"] < focus["viewportHeight"]
        and focus["right"] > 0
        and focus["left"] < focus["viewportWidth"]
    )


#: JavaScript: every visible link, button, form field and summary with the size of its target in CSS px.
#: A radio button or checkbox counts together with its label (a click on either chooses it), so its target
#: is the box around both; a field inside a sentence is not a special case here.
TARGETS_JS = """() => {
  const out = [];
  const visible = (el) => {
    const s = getComputedStyle(el);
    if (s.visibility === 'hidden' || s.display === 'none') { return false; }
    const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1;
  };
  const describe = (el) => {
    let d = el.tagName.toLowerCase();
    if (el.id) { d += '#' + el.id; }
    if (el.getAttribute('type')) { d += '[type=' + el.getAttribute('type') + ']'; }
    const text = (el.innerText || el.value || el.getAttribute('aria-label') || el.getAttribute('href') || '')
      .trim();
    return d + ' "' + text.slice(0, 50).replace(/\\s+/g, ' ') + '"';
  };
  const sel = 'a[href], button, input:not([type=hidden]), select, textarea, summary, '
    + '[tabindex]:not([tabindex="-1"])';
  for (const el of document.querySelectorAll(sel)) {
    if (!visible(el)) { continue; }
    if (el.closest('[hidden]')) { continue; }
    let r = el.getBoundingClientRect();
    let left = r.left, top = r.top, right = r.right, bottom = r.bottom;
    if ((el.type === 'radio' || el.type === 'checkbox') && el.labels) {
      for (const label of el.labels) {
        const lr = label.getBoundingClientRect();
        left = Math.min(left, lr.left); top = Math.min(top, lr.top);
        right = Math.max(right, lr.right); bottom = Math.max(bottom, lr.bottom);
      }
    }
    out.push({what: describe(el), width: right - left, height: bottom - top,
              inline: getComputedStyle(el).display === 'inline'});
  }
  return out;
}"""


#: JavaScript: the body's computed font size and line height in px, and the page's mode class.
TEXT_JS = """() => {
  const s = getComputedStyle(document.body);
  const probe = document.querySelector('main p') || document.body;
  const p = getComputedStyle(probe);
  return {
    fontSize: parseFloat(s.fontSize), lineHeight: s.lineHeight,
    pFontSize: parseFloat(p.fontSize), pLineHeight: p.lineHeight,
    htmlClass: document.documentElement.className, lang: document.documentElement.lang,
  };
}"""


def line_height_px(value: str, font_size: float) -> float:
    """A computed ``line-height`` in px (``normal`` is taken as 1.2 × the font size, as browsers draw it)."""
    if value == "normal":
        return 1.2 * font_size
    if value.endswith("px"):
        return float(value[:-2])
    return float(value) * font_size


def open_governance_with_reports(app: Any, settings: Any, username: str, password: str) -> Any:
    """Open the governance service of ``app`` (as its lifespan would) with an administrator and two reports.

    The reports are made the way every channel makes them (``read_submission`` then ``submit``), published
    at once, at a point inside the city's first community, so the jurisdiction assigns the community; the
    administrator moves the first one to "in progress" with a public note (``reports.move``), so its
    history has more than one step. ``app.state.seeded`` is set to ``{"report": <first report's number>,
    "community_path": "/communities/<city>/<community>"}``.

    Returns
    -------
    Governance
        The open service (close it when done).
    """
    from urllib.parse import quote

    import shapely

    from exquisite.governance.models import Report
    from exquisite.governance.reports import move, read_submission, submit
    from exquisite.governance.service import open_governance
    from exquisite.governance.staff import create_staff

    governance = open_governance(settings, app.state.catalogue)
    app.state.governance = governance
    city = governance.jurisdiction(None)
    community, area = next(iter(city.community_areas))
    point = shapely.point_on_surface(area)
    ids = []
    with governance.store.session() as session:
        admin = create_staff(session, username, username.title(), password, "admin", None, None)
        session.flush()
        for service_code, description in (
            ("001", "The lamp at the corner is out."),
            ("003", "Blocked path."),
        ):
            service = governance.services.get(service_code)
            answers = {
                a.code: (a.values[0].key if a.values else "1") for a in service.questions if a.required
            }
            submission = read_submission(
                {
                    "service_code": service_code,
                    "lat": repr(float(point.y)),
                    "long": repr(float(point.x)),
                    "description": description,
                    "email": "resident@example.org",
                },
                answers,
                jurisdiction=city,
                catalogue=governance.services,
                rules=settings.reports,
                channel="web",
            )
            report, _secret = submit(session, submission, needs_confirmation=False)
            ids.append(report.id)
        first = session.get(Report, ids[0])
        move(
            session,
            first,
            "in_progress",
            staff_id=admin.id,
            note="Crew on the way.",
            states=governance.states,
        )
    app.state.seeded = {
        "report": ids[0],
        "community_path": f"/communities/{quote(city.id, safe='')}/{quote(community, safe='')}",
    }
    return governance


def sign_in_staff(page: Any, base_url: str, username: str, password: str) -> None:
    """Sign in on the staff sign-in form in ``page`` as a person would (fill the fields, press the button)."""
    page.goto(f"{base_url}/staff/login")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("#sign-in")
    if urlsplit(page.url).path != "/staff":
        raise AssertionError(f"signing in as {username} did not reach the queue: {page.url}")
