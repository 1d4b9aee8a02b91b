"""What every page needs to know about its reader: language, elders' mode, and the words in that language.

The language comes from ``?lang=``, else the ``lang`` cookie, else the browser's ``Accept-Language``, else
English. Elders' mode comes from ``?mode=``, else the ``mode`` cookie. Both cookies are set by a plain form
(``POST /settings``) that sends the reader back where they were, so nothing here needs JavaScript.

The words come from the ``web`` gettext domain: ``exquisite/data/locale/<lang>/LC_MESSAGES/web.po``, compiled
in memory when first used, as :mod:`exquisite.outputs.i18n` does for the report.
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from exquisite.outputs.i18n import LANGUAGES, Formatter, pick, translations
from exquisite.outputs.report import place_language

#: The gettext domain of the web pages.
DOMAIN = "web"

#: The ``lang`` attribute of each language (BCP 47; Chinese is written in simplified characters).
HTML_LANG = {"en": "en", "zh": "zh-Hans"}

#: Cookie names and how long the browser keeps them (one year, in seconds).
LANG_COOKIE = "lang"
MODE_COOKIE = "mode"
COOKIE_AGE = 365 * 24 * 3600

#: The two modes of the pages.
MODES = ("standard", "elders")


def web_translations(lang: str) -> gettext.GNUTranslations:
    """The web pages' translations of ``lang`` (``"en"`` or ``"zh"``), from the shipped ``web.po``."""
    return translations(lang, DOMAIN)


def accept_language(header: str) -> str | None:
    """The first of our languages in an ``Accept-Language`` header, by quality (None when none fits).

    ``zh-CN;q=0.9, en;q=0.8`` → ``"zh"``; ``fr, de`` → None.
    """
    choices: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            choices.append((-quality, position, primary))
    return min(choices)[2] if choices else None


def choose_language(request: Request) -> str:
    """The reader's language: ``?lang=``, the cookie, ``Accept-Language``, or English."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGUAGES:
            return str(candidate)
    return accept_language(request.headers.get("accept-language", "")) or "en"


def choose_mode(request: Request) -> str:
    """``"elders"`` or ``"standard"``: ``?mode=``, else the cookie, else standard."""
    for candidate in (request.query_params.get("mode"), request.cookies.get(MODE_COOKIE)):
        if candidate in MODES:
            return str(candidate)
    return "standard"


def safe_next(target: str | None) -> str:
    """A path on this site to go back to (``/`` for anything else, so the form is no open redirect)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or target.startswith("//"):
        return "/"
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass
class UI:
    """The reader's settings and the words of their language, as the templates use them.

    Attributes
    ----------
    lang
        ``"en"`` or ``"zh"``.
    mode
        ``"standard"`` or ``"elders"``.
    here
        The path and query of the page being shown (where the settings form sends the reader back).
    """

    lang: str
    mode: str
    here: str = "/"
    fmt: Formatter = field(init=False)

    def __post_init__(self) -> None:
        self.fmt = Formatter(self.lang)
        self._translations = web_translations(self.lang)

    @property
    def elders(self) -> bool:
        """Whether the page is in elders' mode."""
        return self.mode == "elders"

    @property
    def html_lang(self) -> str:
        """The page's ``lang`` attribute."""
        return HTML_LANG[self.lang]

    @property
    def other_lang(self) -> str:
        """The language the switch offers."""
        return "zh" if self.lang == "en" else "en"

    def gettext(self, message: str) -> str:
        """``message`` in the reader's language."""
        return self._translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The singular or plural of a message for ``n``, in the reader's language."""
        return self._translations.ngettext(singular, plural, n)

    def pick(self, labels: Any, fallback: str = "") -> str:
        """The reader's language from an ``{en:, zh:}`` mapping of a data file."""
        return pick(labels, self.lang, fallback)

    def text_lang(self, text_language: str) -> str:
        """The ``lang`` attribute for a part written in ``text_language`` (empty when it is the page's)."""
        if not text_language or text_language == self.lang:
            return ""
        return HTML_LANG.get(text_language, text_language)

    def place_lang(self, country: str | None) -> str:
        """The ``lang`` of the city's place names (its country's language); empty when it is the page's."""
        return self.text_lang(place_language(country, self.lang))

    def distance(self, metres: float) -> str:
        """``500 m``, ``1.08 km``."""
        _ = self.gettext
        if metres >= 1000:
            return _("%(value)s km") % {"value": self.fmt.compact(metres / 1000, 2)}
        return _("%(value)s m") % {"value": self.fmt.number(metres, 0)}

    def minutes(self, value: float) -> str:
        """``4 min`` (walking time, whole minutes, at least 1)."""
        return self.gettext("%(value)s min") % {"value": self.fmt.number(max(1.0, round(value)), 0)}


def ui_for(request: Request) -> UI:
    """The :class:`UI` of a request (made once per request)."""
    ui = getattr(request.state, "ui", None)
    if ui is None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        ui = UI(choose_language(request), choose_mode(request), here)
        request.state.ui = ui
    return ui


router = APIRouter()


@router.post("/settings", include_in_schema=False)
def save_settings(
    lang: str | None = Form(None),
    mode: str | None = Form(None),
    next_page: str | None = Form(None, alias="next"),
) -> RedirectResponse:
    """Remember the language and/or the mode in cookies and go back to the page the form was on."""
    response = RedirectResponse(_without_settings(safe_next(next_page)), status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=COOKIE_AGE, samesite="lax", httponly=True)
    if mode in MODES:
        response.set_cookie(MODE_COOKIE, mode, max_age=COOKIE_AGE, samesite="lax", httponly=True)
    return response


def _without_settings(target: str) -> str:
    """``target`` without ``lang``/``mode`` query parameters (the cookies now say them)."""
    path, _, query = target.partition("?")
    if not query:
        return path
    kept = [p for p in query.split("&") if p.split("=", 1)[0] not in {"lang", "mode"}]
    return path + (f"?{'&'.join(kept)}" if kept else "")
