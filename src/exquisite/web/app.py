"""The web app: pages and JSON API over the run folders of a runs folder.

``create_app(runs_root)`` gives a FastAPI application: server-rendered pages (dashboard, service finder) that
work without JavaScript, the JSON API under ``/api`` (OpenAPI document at ``/api/openapi.json``), and the
package's static files under ``/static``. Nothing it serves refers to another host.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment
from starlette.exceptions import HTTPException as StarletteHTTPException

from exquisite import __version__
from exquisite.governance.settings import Settings
from exquisite.outputs.i18n import jinja_environment
from exquisite.web.catalogue import RunCatalogue
from exquisite.web.ui import DOMAIN, UI, ui_for

log = logging.getLogger(__name__)

#: Headers every response carries: scripts, styles, images and requests from this site only.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def environment(lang: str) -> Environment:
    """The Jinja2 environment of the pages in ``lang`` (gettext of the ``web`` domain installed)."""
    return jinja_environment("exquisite.web", lang, DOMAIN)


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """A page: ``template`` rendered in the reader's language and mode.

    Parameters
    ----------
    request
        The request (its language and mode are read from it).
    template
        A template of ``exquisite/web/templates``.
    context
        What the template shows (``ui``, ``request`` and ``runs`` are added).
    status_code
        The HTTP status.
    """
    ui = ui_for(request)
    catalogue: RunCatalogue | None = getattr(request.app.state, "catalogue", None)
    runs = catalogue.runs() if catalogue is not None else []
    html = environment(ui.lang).get_template(template).render(ui=ui, request=request, runs=runs, **context)
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Content-Language"] = ui.html_lang
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response


def error_page(request: Request, status_code: int, detail: str | None = None) -> HTMLResponse:
    """The friendly page of an error: what happened and what to do, in the reader's language."""
    ui: UI = ui_for(request)
    _ = ui.gettext
    titles = {
        400: _("Something in the address is not right"),
        401: _("Please sign in first"),
        403: _("Not allowed"),  # the staff pages' own refusal page has the same title
        404: _("We could not find that page"),
        405: _("That action is not possible here"),
        422: _("Something in the address is not right"),
        429: _("Too many requests"),
    }
    title = titles.get(status_code, _("Sorry, something went wrong on our side"))
    if status_code >= 500:
        advice = _("Please try again in a moment. If it happens again, tell the people who run this site.")
    elif status_code == 404:
        advice = _("Check the address, or start again from the list of cities.")
    elif status_code == 401:
        advice = _("This page is for the city's staff. Sign in on the staff sign-in page, then try again.")
    elif status_code == 403:
        advice = _(
            "Go back to the page you came from. If you think you should be allowed to do this, "
            "tell the people who run this site."
        )
    elif status_code == 429:
        advice = _("Wait a few minutes, then try again.")
    else:
        advice = _("Go back and check what you entered, or start again from the list of cities.")
    response = render(
        request,
        "error.html",
        # a detail is a message of the site's own (the words of the web catalogue): in the reader's language
        {"status": status_code, "title": title, "detail": _(detail) if detail else "", "advice": advice},
        status_code=status_code,
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def _is_api(request: Request) -> bool:
    return request.url.path == "/api" or request.url.path.startswith("/api/")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if _is_api(request):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != _default_reason(exc) else None
    return error_page(request, exc.status_code, detail)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if _is_api(request):
        errors = [
            {"loc": list(e.get("loc", [])), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)
    ui = ui_for(request)
    names = ", ".join(str(e.get("loc", ["", "?"])[-1]) for e in exc.errors())
    detail = ui.gettext("These values are not valid: %(names)s.") % {"names": names}
    return error_page(request, 400, detail)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("error while answering %s %s", request.method, request.url.path, exc_info=exc)
    if _is_api(request):
        return JSONResponse({"detail": "internal error"}, status_code=500, headers=SECURITY_HEADERS)
    try:
        return error_page(request, 500)
    except Exception:  # the error page itself failed: plain text, still no traceback
        log.exception("error page failed")
        return Response("Internal error", status_code=500, media_type="text/plain", headers=SECURITY_HEADERS)


def _default_reason(exc: StarletteHTTPException) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(exc.status_code).phrase
    except ValueError:
        return ""


#: The environment variable that tells :func:`served_app` which runs folder to serve.
RUNS_ENV = "EXQUISITE_RUNS"
#: The environment variable naming the governance settings file :func:`served_app` uses ("" = the defaults).
GOVERNANCE_ENV = "EXQUISITE_GOVERNANCE"
#: The environment variable with the address the server listens on (``http://host:port``): the public address
#: in links and Open311 discovery when the governance settings do not name one of their own.
LISTEN_ENV = "EXQUISITE_LISTEN_URL"


def served_app() -> FastAPI:
    """The app each server process makes (uvicorn ``--factory``), ready before its first request.

    It serves the runs folder of ``$EXQUISITE_RUNS`` (default ``runs``) and the governance service with the
    settings file of ``$EXQUISITE_GOVERNANCE`` (the defaults when empty); every run's finder and place index
    are built, and the objects alive by then frozen out of the garbage collector's reach
    (:func:`exquisite.web.api.warm_up`).
    """
    from exquisite.governance.settings import load_settings
    from exquisite.web.api import warm_up

    settings_file = os.environ.get(GOVERNANCE_ENV)
    settings = load_settings(Path(settings_file) if settings_file else None)
    listen = os.environ.get(LISTEN_ENV)
    if listen and settings.public_base_url == load_settings(None).public_base_url:
        settings = settings.model_copy(update={"public_base_url": listen})
    app = create_app(Path(os.environ.get(RUNS_ENV, "runs")), governance=settings)
    warm_up(app.state.catalogue)
    return app


def create_app(runs_root: Path, governance: Settings | None = None) -> FastAPI:
    """The web app over the run folders under ``runs_root``.

    Parameters
    ----------
    runs_root
        A runs folder: ``runs_root/<region>/<timestamp>/`` (or one region folder).
    governance
        Settings of the governance service (residents' reports, staff pages, Open311 at ``/open311/v2``);
        None leaves it out.

    Returns
    -------
    FastAPI
        The application, with ``app.state.catalogue`` the :class:`RunCatalogue` of ``runs_root`` and, with
        governance, ``app.state.governance`` the :class:`~exquisite.governance.service.Governance`
        (opened when the app starts, closed when it stops).
    """
    catalogue = RunCatalogue(Path(runs_root))
    lifespan = None
    if governance is not None:
        lifespan = _governance_lifespan(governance, catalogue)
    app = FastAPI(
        title="Exquisite City",
        version=__version__,
        description="Indicators of a city's runs, access at a point, services near a point and place search.",
        openapi_url="/api/openapi.json",
        docs_url=None,  # the interactive docs pages load scripts from a CDN: left out
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.catalogue = catalogue

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _server_error)
    app.mount("/static", StaticFiles(packages=[("exquisite.web", "static")]), name="static")

    from exquisite.web import api, pages, ui

    app.include_router(api.router)
    app.include_router(ui.router)
    app.include_router(pages.router)
    if governance is not None:
        from exquisite.governance import open311
        from exquisite.web import pages_community, pages_report, pages_staff

        app.include_router(open311.router)
        app.include_router(pages_report.router)
        app.include_router(pages_staff.router)
        app.include_router(pages_community.router)
    return app


def _governance_lifespan(
    settings: Settings, catalogue: RunCatalogue
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Open the governance service when the app starts (in each server process) and close it when it stops."""
    from exquisite.governance.service import open_governance

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.governance = open_governance(settings, catalogue)
        try:
            yield
        finally:
            app.state.governance.close()

    return lifespan
