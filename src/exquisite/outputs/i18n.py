"""Translations and number formats of the outputs: gettext catalogues compiled at load, numbers by Babel.

The catalogues are the ``.po`` files shipped under ``exquisite/data/locale/<lang>/LC_MESSAGES/exquisite.po``.
They are compiled in memory when first used (``read_po`` then ``write_mo`` into a
:class:`gettext.GNUTranslations`), so the package needs no build step and the ``.po`` file is the one source.
"""

from __future__ import annotations

import gettext
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from jinja2 import Environment, PackageLoader, select_autoescape

#: The report's languages: code → Babel locale (``zh`` is Simplified Chinese as used in mainland China).
LANGUAGES = {"en": "en", "zh": "zh_Hans_CN"}

#: The gettext domain of the report's catalogue (the web pages have their own, ``web``).
DOMAIN = "exquisite"


def check_language(lang: str) -> str:
    """``lang`` if it is one of :data:`LANGUAGES`, else a ValueError that lists them."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown report language {lang!r}: use one of {', '.join(LANGUAGES)}")
    return lang


def catalogue_path(lang: str, domain: str = DOMAIN) -> Any:
    """The ``.po`` file of ``lang`` and ``domain`` inside the installed package (a Traversable)."""
    return resources.files("exquisite").joinpath("data", "locale", lang, "LC_MESSAGES", f"{domain}.po")


@cache
def translations(lang: str, domain: str = DOMAIN) -> gettext.GNUTranslations:
    """The gettext translations of ``lang``, compiled from its shipped ``.po`` catalogue.

    Parameters
    ----------
    lang
        ``"en"`` or ``"zh"``.
    domain
        The catalogue: ``"exquisite"`` (the report) or ``"web"`` (the web pages).
    """
    check_language(lang)
    with catalogue_path(lang, domain).open("rb") as fh:
        catalog = read_po(fh, locale=LANGUAGES[lang], domain=domain)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@cache
def jinja_environment(package: str, lang: str, domain: str = DOMAIN) -> Environment:
    """The Jinja2 environment of ``package``'s ``templates`` folder with ``domain``'s gettext in ``lang``.

    Autoescaped HTML, the ``i18n`` extension with new-style gettext; one per package, language and domain.
    """
    env = Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang, domain), newstyle=True)  # type: ignore[attr-defined]
    return env


@dataclass(frozen=True)
class Formatter:
    """Numbers, percentages and dates written the way a reader of ``lang`` expects.

    Attributes
    ----------
    lang
        ``"en"`` or ``"zh"``.
    """

    lang: str

    @property
    def locale(self) -> Locale:
        """The Babel locale."""
        return Locale.parse(LANGUAGES[self.lang])

    def number(self, value: float | None, digits: int = 0) -> str:
        """``value`` with grouping and exactly ``digits`` decimals; an en dash when there is no value."""
        if value is None or not math.isfinite(float(value)):
            return "–"
        pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
        return format_decimal(round(float(value), digits), format=pattern, locale=self.locale)

    def compact(self, value: float | None, digits: int = 2) -> str:
        """``value`` with at most ``digits`` decimals, trailing zeros dropped (``1``, ``1.5``, ``1.08``)."""
        if value is None or not math.isfinite(float(value)):
            return "–"
        pattern = "#,##0" + ("." + "#" * digits if digits > 0 else "")
        return format_decimal(round(float(value), digits), format=pattern, locale=self.locale)

    def auto(self, value: float | None) -> str:
        """``value`` with as many decimals as its size calls for (3 significant digits below 100)."""
        if value is None or not math.isfinite(float(value)):
            return "–"
        size = abs(float(value))
        digits = 0 if size >= 100 or size == 0 else 1 if size >= 10 else 2 if size >= 1 else 3
        return self.number(value, digits)

    def percent(self, value: float | None, digits: int = 1) -> str:
        """A value already in percent (``42.13`` → ``42.1%``)."""
        if value is None or not math.isfinite(float(value)):
            return "–"
        return self.number(value, digits) + "%"

    def share(self, value: float | None, digits: int = 0) -> str:
        """A share between 0 and 1 written as a percentage (``0.42`` → ``42%``)."""
        return self.percent(None if value is None else 100.0 * float(value), digits)

    def date(self, day: date) -> str:
        """A date in the locale's long form (``29 November 2026``, ``2026年11月29日``)."""
        return format_date(day, format="long", locale=self.locale)


def pick(labels: Mapping[str, str] | str | None, lang: str, fallback: str = "") -> str:
    """The text of ``lang`` from an ``{en:, zh:}`` mapping of a data file (English when it lacks one)."""
    if labels is None:
        return fallback
    if isinstance(labels, str):
        return labels
    return str(labels.get(lang) or labels.get("en") or fallback)
