"""The run's report: one self-contained HTML file in English or Chinese, with maps, charts and the indicators.

Everything is inline (style sheet, SVG maps and charts); the file makes no request of any kind. Sections are
driven by the indicator records present: a family whose records are absent leaves its section out.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml
from babel.languages import get_official_languages

from exquisite.access.run import OSM_ATTRIBUTION
from exquisite.indicators.parameters import definitions, load_parameters
from exquisite.indicators.records import Indicator
from exquisite.outputs.charts import Row, bar_chart
from exquisite.outputs.i18n import Formatter, check_language, jinja_environment, pick, translations
from exquisite.outputs.maps import MapFrame, SvgMap, classify, street_paths

if TYPE_CHECKING:
    from exquisite.analysis import Analysis

#: Life-circle tiers in report order (ids ``lifecircle_<tier>_…``).
TIER_ORDER = ("5min", "10min", "15min")


@cache
def settings() -> dict[str, Any]:
    """The report's presentation settings (``outputs/templates/report.yml``)."""
    text = resources.files("exquisite.outputs").joinpath("templates", "report.yml").read_text("utf-8")
    return yaml.safe_load(text)


def headline_records(analysis: Analysis) -> list[Indicator]:
    """The headline figures of ``report.yml``, city-wide for everyone: those the run has, in order.

    Each entry names an ``id`` (or an id ``prefix``) and optionally ``parameters``; the first matching
    record is taken.
    """
    city = [r for r in analysis.indicators if r.area == "city" and r.group == "all"]
    records = []
    for spec in settings()["headline"]:
        wanted = spec.get("parameters", {})
        record = next(
            (
                r
                for r in city
                if (r.id == spec["id"] if "id" in spec else r.id.startswith(spec["prefix"]))
                and all(r.parameters.get(k) == v for k, v in wanted.items())
            ),
            None,
        )
        if record is not None:
            records.append(record)
    return records


def render_report(analysis: Analysis, lang: str) -> str:
    """The report of an analysis as one self-contained HTML page.

    Parameters
    ----------
    analysis
        The result of :func:`exquisite.analyse`.
    lang
        ``"en"`` or ``"zh"``.

    Returns
    -------
    str
        The HTML text (UTF-8 when written), with inline CSS and SVG and no external reference.
    """
    check_language(lang)
    report = _Report(analysis, lang)
    return jinja_environment("exquisite.outputs", lang).get_template("report.html").render(**report.context())


class _Report:
    """What the template shows, worked out from an analysis in one language."""

    def __init__(self, analysis: Analysis, lang: str) -> None:
        self.analysis = analysis
        self.lang = lang
        self.fmt = Formatter(lang)
        self._ = translations(lang).gettext
        self.defs = definitions()
        self.cfg = settings()
        self.city = [r for r in analysis.indicators if r.area == "city"]
        self.by_id: dict[str, list[Indicator]] = defaultdict(list)
        for record in self.city:
            self.by_id[record.id].append(record)
        self.region = analysis.access.region
        self.taxonomy = self.region.taxonomy.categories
        self._grid: Any = None
        self._street_paths: dict[str, str] | None = None
        self._streets_id = "streets"
        self._streets_drawn = False
        self.header_place_lang = place_language(self.region.config.country, lang)
        self._counter = 0

    # ------------------------------------------------------------------ shared helpers
    def ident(self, stem: str) -> str:
        """A unique element id."""
        self._counter += 1
        return f"{stem}-{self._counter}"

    @property
    def grid(self) -> Any:
        """The analysis grid (computed once)."""
        if self._grid is None:
            self._grid = self.analysis.grid()
        return self._grid

    def label(self, indicator_id: str) -> str:
        """The indicator's label in the report language (its id when the family file has none)."""
        return pick(self.defs.get(indicator_id, {}).get("label"), self.lang, indicator_id)

    def category_label(self, name: str) -> str:
        """A destination category or destination set in the report language."""
        category = self.taxonomy.get(name)
        if category is not None:
            return category.label_zh if self.lang == "zh" else category.label_en
        return _known_names(self._).get(name, name.replace("_", " "))

    def profile_label(self, name: str) -> str:
        """A walking profile in the report language."""
        profile = self.analysis.inputs.profiles.get(name)
        if profile is None:
            return name
        return profile.label_zh if self.lang == "zh" else profile.label_en

    def group_label(self, group: str) -> str:
        """A population group in the report language."""
        _ = self._
        return {
            "all": _("Everyone"),
            "child": _("Children (0–14)"),
            "adult": _("Adults (15–64)"),
            "older": _("Older people (65+)"),
        }.get(group, group)

    def tier_label(self, tier: str) -> str:
        """A life-circle tier (``15min``) in the report language."""
        minutes = tier.removesuffix("min")
        if not minutes.isdigit():
            return tier
        return self._("%(minutes)s-minute life circle") % {"minutes": minutes}

    def value_text(self, value: float | None, unit: str) -> str:
        """A value with its unit, formatted for the report language."""
        _ = self._
        f = self.fmt
        if value is None or not math.isfinite(float(value)):
            return "–"
        if unit == "%":
            return f.percent(value, 1)
        if unit == "m":
            return _("%(value)s m") % {"value": f.number(value, 0)}
        if unit == "min":
            return _("%(value)s min") % {"value": f.number(value, 1)}
        if unit == "per km²":
            return _("%(value)s per km²") % {"value": f.number(value, 0)}
        if unit == "people":
            return _("%(value)s people") % {"value": f.number(value, 0)}
        if unit == "m²":
            return _("%(value)s m²") % {"value": f.number(value, 0)}
        if unit == "pp":
            return self._pp(float(value))
        if unit == "m²/person":
            return _("%(value)s m² per person") % {"value": f.number(value, 1)}
        if unit in {"ratio", "score", "share"}:
            return f.number(value, 2)
        return f.auto(value) + (f" {unit}" if unit else "")

    def unit_text(self, unit: str) -> str:
        """A unit's name in the report language."""
        _ = self._
        return {
            "%": _("percent"),
            "m": _("metres"),
            "min": _("minutes"),
            "per km²": _("per km²"),
            "people": _("people"),
            "score": _("score"),
            "ratio": _("ratio"),
            "m²": _("square metres"),
            "m²/person": _("m² per person"),
            "pp": _("percentage points"),
        }.get(unit, unit)

    def parameter_name(self, key: str) -> str:
        """A parameter's name in words."""
        _ = self._
        names = {
            "item": _("Facility"),
            "category": _("Destination"),
            "destination": _("Destination"),
            "profile": _("Walking profile"),
            "tier": _("Tier"),
            "threshold": _("Threshold"),
            "threshold_m": _("Distance"),
            "distance_m": _("Distance"),
            "radius_m": _("Walking radius"),
            "minutes": _("Minutes"),
            "max_headway_min": _("Headway at most"),
            "headway_min": _("Headway at most"),
            "variant": _("Variant"),
            "required": _("Required (▲)"),
            "min_area_ha": _("Smallest area (ha)"),
            "min_park_ha": _("Smallest park (ha)"),
            "speed_m_s": _("Walking speed (m/s)"),
            "reference_group": _("Compared with"),
            "reference_profile": _("Reference profile"),
            "reference_distance_m": _("Reference distance"),
            "target_m2_per_person": _("Target (m² per person)"),
            "meets_target": _("Meets the target"),
            "items": _("Required items"),
            "not_measured": _("Items not measured"),
            "area_km2": _("Area (km²)"),
            "tolerance_m": _("Consolidation tolerance"),
            "min_degree": _("Smallest number of meeting segments"),
            "cap_m": _("Longest distance searched"),
            "cap_min": _("Longest walk searched"),
            "peer_position": _("Among the GHSCI cities"),
            "range": _("Range"),
        }
        return names.get(key, key.replace("_", " "))

    def parameter_text(
        self, parameters: dict[str, Any], only: Sequence[str] | None = None
    ) -> list[dict[str, str]]:
        """Parameters of a record as (name, value) items a reader understands.

        Mappings, None and the parameters listed under ``annex_skip_parameters`` in ``report.yml`` are left
        out (they are in ``indicators.json``); ``only`` keeps just the named ones.
        """
        skip = set(self.cfg.get("annex_skip_parameters", []))
        items = []
        for key, value in parameters.items():
            if (
                (only is not None and key not in only)
                or key in skip
                or isinstance(value, dict)
                or value is None
            ):
                continue
            items.append(
                {
                    "key": key,
                    "name": self.parameter_name(key),
                    "value": self.parameter_value(key, value, parameters),
                }
            )
        return items

    def parameter_value(self, key: str, value: Any, context: dict[str, Any] | None = None) -> str:
        """One parameter's value in words (``context``: the record's other parameters)."""
        _ = self._
        if isinstance(value, bool):
            return _("yes") if value else _("no")
        if isinstance(value, int | float):
            if key.endswith("_m"):
                return self.distance_text(float(value))
            if key.endswith("_min") or key == "minutes":
                return _("%(value)s min") % {"value": self.fmt.auto(float(value))}
            return self.fmt.auto(float(value))
        if isinstance(value, list | tuple):
            limit = int(self.cfg.get("annex_list_max", 6))
            if len(value) > limit:
                return _("%(count)s items") % {"count": self.fmt.number(len(value), 0)}
            return ", ".join(self.parameter_value(key, v, context) for v in value)
        if isinstance(value, dict):
            return "; ".join(f"{k}: {self.parameter_value(k, v)}" for k, v in value.items())
        text = str(value)
        if key in {"item", "items", "not_measured"} and context is not None and "tier" in context:
            return self.lifecircle_item_label(str(context["tier"]), text, mark=False)
        if key in {"profile", "reference_profile"} and text in self.analysis.inputs.profiles:
            return self.profile_label(text)
        if key in {"category", "destination", "set"} or text in self.taxonomy:
            return self.category_label(text)
        if key == "tier":
            return self.tier_label(text)
        if key in {"group", "reference_group"}:
            return self.group_label(text)
        if key == "variant":
            return self.variant_label(text, transit="max_headway_min" in (context or {}))
        if key == "peer_position":
            return self.position_label(text)
        return _known_names(_).get(text, text)

    def find(self, indicator_id: str, group: str = "all", **parameters: Any) -> Indicator | None:
        """The first city record with this id, group and parameters (None when absent)."""
        for record in self.by_id.get(indicator_id, []):
            if record.group == group and all(record.parameters.get(k) == v for k, v in parameters.items()):
                return record
        return None

    def ids_with(self, prefix: str) -> list[str]:
        """Indicator ids present that start with ``prefix``, in record order."""
        return [i for i in self.by_id if i.startswith(prefix)]

    def definition(self, indicator_id: str) -> str:
        """An indicator's definition in the report language."""
        return pick(self.defs.get(indicator_id, {}).get("definition"), self.lang)

    def values(
        self, indicator_id: str, row_key: str, rows: Sequence[str], column_key: str, columns: Sequence[str]
    ) -> list[list[float | None]]:
        """One indicator's city values as a table, None where a record is absent.

        A row per value of the parameter ``row_key``, a column per value of ``column_key`` (``"group"``
        picks the population group).
        """
        table = []
        for row in rows:
            values = []
            for column in columns:
                where = {row_key: row, column_key: column}
                group = where.pop("group", "all")
                record = self.find(indicator_id, group=group, **where)
                values.append(None if record is None else record.value)
            table.append(values)
        return table

    def chart(
        self,
        stem: str,
        title: str,
        rows: list[Row],
        series: list[str],
        text: Callable[[float], str],
        **options: Any,
    ) -> dict[str, Any]:
        """A chart block: the bar chart of ``rows`` × ``series`` (callers add an intro, a note …)."""
        svg = bar_chart(self.ident(stem), title, rows, series, text, **options)
        return {"kind": "chart", "title": title, "svg": svg}

    # ------------------------------------------------------------------ the context
    def context(self) -> dict[str, Any]:
        """Everything the template reads."""
        population_map = self.population_map()  # first in the page: it holds the streets the others reuse
        sections = [
            s
            for s in (
                self.lifecircle_section(),
                self.sdg_section(),
                self.ghsci_section(),
                self.equity_section(),
            )
            if s is not None
        ]
        return {
            "lang": self.lang,
            "data_lang": "" if self.lang == "en" else "en",
            "header": self.header(),
            "cards": self.cards(),
            "population_map": population_map,
            "sections": sections,
            "districts": self.district_table(),
            "indicator_groups": self.indicator_groups(),
            "methods": self.methods(),
            "attribution": self.attribution(),
            "series_colours": self.cfg["series"],
            "palette": self.cfg["map"]["sequential"],
        }

    def header(self) -> dict[str, Any]:
        """City, date, sources and vintages, population and its estimate flag."""
        _ = self._
        cfg = self.region.config
        population = self.region.population
        kinds = {
            "osm": _("Streets and places"),
            "population": _("Population"),
            "gtfs": _("Public transport timetable"),
            "boundary": _("Boundary"),
        }
        sources = [
            {
                "kind": kinds.get(kind, kind),
                "name": record.get("name", ""),
                "file": record.get("file", ""),
                "vintage": record.get("vintage", ""),
            }
            for kind, records in self.analysis.inputs.sources.items()
            for record in records
        ]
        area_km2 = self.analysis.areas[0].area_km2 if self.analysis.areas else float("nan")
        return {
            "city": cfg.name,
            "place_lang": self.header_place_lang,
            "country": cfg.country,
            "year": cfg.year,
            "date": self.fmt.date(datetime.now(UTC).date()),
            "sources": sources,
            "population": self.fmt.number(population.total, 0),
            "origins": self.fmt.number(len(self.analysis.origins), 0),
            "area_km2": self.fmt.number(area_km2, 1),
            "estimate": bool(population.is_estimate),
            "population_description": population.description,
            "warnings": list(self.region.warnings),
        }

    def cards(self) -> list[dict[str, Any]]:
        """The headline figures: one card per configured indicator present."""
        return [
            {
                "label": self.label(record.id),
                "value": self.value_text(record.value, record.unit),
                "detail": self.ratio_text(record) or self.range_text(record),
                "parameters": self.parameter_text(record.parameters, self.cfg.get("card_parameters", [])),
                "standard": str(self.defs.get(record.id, {}).get("standard", "")),
                "share": _bar_share(record),
            }
            for record in headline_records(self.analysis)
        ]

    def range_text(self, record: Indicator) -> str:
        """``on a scale of 0 to 3`` for a score with a ``range`` parameter; empty otherwise."""
        bounds = record.parameters.get("range")
        if not isinstance(bounds, list | tuple) or len(bounds) != 2:
            return ""
        return self._("on a scale of %(low)s to %(high)s") % {
            "low": self.fmt.compact(float(bounds[0])),
            "high": self.fmt.compact(float(bounds[1])),
        }

    def ratio_text(self, record: Indicator) -> str:
        """``1,234 of 5,678 people`` for a share of people (``… square metres`` for a land share)."""
        if record.unit != "%" or record.numerator is None or record.denominator is None:
            return ""
        numbers = {
            "part": self.fmt.number(record.numerator, 0),
            "total": self.fmt.number(record.denominator, 0),
        }
        if self.defs.get(record.id, {}).get("numerator_unit", "people") == "m²":
            return self._("%(part)s of %(total)s m²") % numbers
        return self._("%(part)s of %(total)s people") % numbers

    # ------------------------------------------------------------------ maps
    def _frame(self) -> MapFrame:
        return MapFrame.around(self.analysis.inputs.boundary, float(self.cfg["map"]["width"]))

    def _streets(self) -> dict[str, str]:
        """The street layers, the finest classes left out while they exceed ``street_bytes_max``."""
        if self._street_paths is None:
            paths = street_paths(
                self.analysis.inputs.network,
                self.analysis.inputs.boundary,
                self._frame(),
                self.cfg["map"]["street_classes"],
            )
            budget = int(self.cfg["map"]["street_bytes_max"])
            while len(paths) > 1 and sum(len(d) for d in paths.values()) > budget:
                paths.pop(list(paths)[-1])
            self._street_paths = paths
        return self._street_paths

    def _base_map(self, stem: str, title: str, description: str) -> SvgMap:
        frame = self._frame()
        svg = SvgMap(frame, self.ident(stem), title, description)
        svg.add_path(frame.path([self.analysis.inputs.boundary], closed=True), "boundary-fill")
        return svg

    def _finish_map(self, svg: SvgMap) -> str:
        # Every map shows the same streets: the first map holds them, the others point to it (same page).
        if not self._streets_drawn:
            # Presentation attributes, not CSS: the copies under <use> live outside the first map's tree.
            styles = self.cfg["map"]["street_styles"]
            streets = "".join(
                f'<path class="street {name}" stroke="{styles[name]["colour"]}" '
                f'stroke-width="{styles[name]["width"]}" stroke-opacity="{styles[name]["opacity"]}" d="{d}"/>'
                for name, d in self._streets().items()
            )
            svg.layers.append(
                f'<g id="{self._streets_id}" fill="none" stroke-linecap="round" stroke-linejoin="round">'
                f"{streets}</g>"
            )
            self._streets_drawn = True
        else:
            svg.layers.append(f'<use href="#{self._streets_id}"/>')
        svg.add_path(svg.frame.path([self.analysis.inputs.boundary], closed=True), "boundary")
        svg.add_scale_bar(self.distance_text)
        svg.add_north_arrow(self._("N"))
        return svg.svg()

    def distance_text(self, metres: float) -> str:
        """``500 m``, ``1 km`` or ``1.08 km``."""
        if metres >= 1000:
            return self._("%(value)s km") % {"value": self.fmt.compact(metres / 1000, 2)}
        return self._("%(value)s m") % {"value": self.fmt.number(metres, 0)}

    def _choropleth(
        self, svg: SvgMap, geometries: np.ndarray, values: np.ndarray, breaks: Sequence[float]
    ) -> np.ndarray:
        palette = self.cfg["map"]["sequential"]
        classes = classify(values, breaks)
        for k in range(len(breaks) - 1):
            d = svg.frame.path(geometries[classes == k], closed=True)
            svg.add_path(d, f"cell c{k}", fill=palette[k % len(palette)])
        return classes

    def population_map(self) -> dict[str, Any] | None:
        """Where people live: density per grid cell over the streets."""
        _ = self._
        grid = self.grid
        if len(grid) == 0:
            return None
        area_km2 = grid.geometry.area.to_numpy() / 1e6
        people = grid["population"].to_numpy(dtype=float)
        density = np.where(area_km2 > 0, people / np.where(area_km2 > 0, area_km2, 1), np.nan)
        density[people <= 0] = np.nan
        breaks = [float(b) for b in self.cfg["map"]["density_breaks"]]
        top = float(np.nanmax(density)) if np.isfinite(density).any() else breaks[-1]
        breaks = [*breaks, max(top, breaks[-1]) + 1]
        title = _("Where people live")
        svg = self._base_map(
            "map-pop", title, _("Population density per grid cell, drawn over the city's walking network.")
        )
        classes = self._choropleth(svg, grid.geometry.to_numpy(), density, breaks)
        legend = []
        for k in range(len(breaks) - 1):
            lo, hi = breaks[k], breaks[k + 1]
            text = (
                _("%(low)s or more") % {"low": self.fmt.number(lo, 0)}
                if k == len(breaks) - 2
                else _("%(low)s to under %(high)s")
                % {"low": self.fmt.number(lo, 0), "high": self.fmt.number(hi, 0)}
            )
            in_class = classes == k
            legend.append(
                {
                    "colour": self.cfg["map"]["sequential"][k % len(self.cfg["map"]["sequential"])],
                    "label": text,
                    "cells": self.fmt.number(int(in_class.sum()), 0),
                    "people": self.fmt.number(float(people[in_class].sum()), 0),
                }
            )
        return {
            "svg": self._finish_map(svg),
            "title": title,
            "legend_title": _("People per km²"),
            "legend": legend,
        }

    # ------------------------------------------------------------------ family sections
    def _profiles_in(self, records: Iterable[Indicator]) -> list[str]:
        """Profiles named by records, in the run's profile order (unknown ones last)."""
        present = unique(str(r.parameters.get("profile")) for r in records if r.parameters.get("profile"))
        order = list(self.analysis.inputs.profiles)
        return sorted(present, key=lambda p: order.index(p) if p in order else len(order))

    def _category_order(self, names: Iterable[str]) -> list[str]:
        order = self.analysis.inputs.categories
        names = unique(names)
        return sorted(names, key=lambda n: order.index(n) if n in order else len(order))

    def _pct(self, value: float) -> str:
        return self.fmt.percent(value, 0 if abs(value) >= 10 or value == 0 else 1)

    def _pp(self, value: float) -> str:
        text = self.fmt.number(abs(value), 1)
        sign = "−" if value < 0 else "+" if value > 0 else ""
        return self._("%(value)s pp") % {"value": sign + text}

    def lifecircle_item_label(self, tier: str, item: str, mark: bool = True) -> str:
        """A life-circle item's label (from ``lifecircles.yml``), marked ▲ when required, △ when not."""
        tiers = _lifecircle_tiers()
        spec = tiers.get(tier, {}).get("items", {}).get(item, {})
        label = pick(spec.get("label"), self.lang, item.replace("_", " "))
        if not spec or not mark:
            return label
        return ("▲ " if spec.get("required") else "△ ") + label

    def lifecircle_section(self) -> dict[str, Any] | None:
        """GB 50180 life circles: completeness by tier and profile, coverage by item, maps of both."""
        _ = self._
        tiers = [t for t in TIER_ORDER if any(i.startswith(f"lifecircle_{t}_") for i in self.by_id)]
        if not tiers:
            return None
        blocks: list[dict[str, Any]] = []
        completeness = [r for t in tiers for r in self.by_id.get(f"lifecircle_{t}_completeness", [])]
        if completeness:
            profiles = self._profiles_in(completeness)
            rows = []
            table_rows = []
            for t in tiers:
                values = []
                for p in profiles:
                    record = self.find(f"lifecircle_{t}_completeness", profile=p)
                    values.append(None if record is None else record.value)
                rows.append(Row(self.tier_label(t), values))
                for p in profiles:
                    record = self.find(f"lifecircle_{t}_completeness", profile=p)
                    complete = self.find(f"lifecircle_{t}_complete", profile=p)
                    if record is None:
                        continue
                    table_rows.append(
                        [
                            self.tier_label(t),
                            self.profile_label(p),
                            self.value_text(record.value, record.unit),
                            "–" if complete is None else self.value_text(complete.value, complete.unit),
                            self.fmt.number(len(record.parameters.get("items", [])), 0),
                        ]
                    )
            blocks.append(
                {
                    **self.chart(
                        "chart-completeness",
                        _("Completeness of the life circles, by tier and walking profile"),
                        rows,
                        [self.profile_label(p) for p in profiles],
                        self._pct,
                        domain=(0.0, 100.0),
                    ),
                    "intro": _(
                        "The share of a tier's required (▲) facilities that residents reach, averaged over "
                        "all residents. 100% means everyone reaches every required facility."
                    ),
                    "table": {
                        "caption": _("Completeness and people with every required facility"),
                        "columns": [
                            _("Tier"),
                            _("Walking profile"),
                            _("Completeness"),
                            _("People with every item"),
                            _("Required items measured"),
                        ],
                        "numeric": [2, 3, 4],
                        "rows": table_rows,
                    },
                }
            )
        maps = self.lifecircle_maps()
        blocks.extend(maps)
        for t in tiers:
            coverage = self.by_id.get(f"lifecircle_{t}_coverage", [])
            if not coverage:
                continue
            profiles = self._profiles_in(coverage)
            items = unique(str(r.parameters.get("item")) for r in coverage)
            required = {str(r.parameters.get("item")): bool(r.parameters.get("required")) for r in coverage}
            items.sort(key=lambda i: not required.get(i, False))
            values = self.values(f"lifecircle_{t}_coverage", "item", items, "profile", profiles)
            rows = [Row(self.lifecircle_item_label(t, i), v) for i, v in zip(items, values, strict=True)]
            title = _("%(tier)s: people within reach of each facility") % {"tier": self.tier_label(t)}
            blocks.append(
                {
                    **self.chart(
                        f"chart-coverage-{t}",
                        title,
                        rows,
                        [self.profile_label(p) for p in profiles],
                        self._pct,
                        domain=(0.0, 100.0),
                    ),
                    "note": _(
                        "▲ required by GB 50180-2018; △ recommended (shown, not counted in completeness)."
                    ),
                }
            )
        green = [r for t in tiers for r in self.by_id.get(f"lifecircle_{t}_green_per_capita", [])]
        if green:
            blocks.append(
                {
                    "kind": "figures",
                    "title": _("Public green space per resident"),
                    "intro": _(
                        "Open public space in parks of at least the tier's smallest size, per resident, "
                        "against the GB 50180 target."
                    ),
                    "figures": [
                        {
                            "label": _("%(tier)s (target %(target)s)")
                            % {
                                "tier": self.tier_label(str(r.parameters.get("tier", ""))),
                                "target": self.value_text(
                                    r.parameters.get("target_m2_per_person"), "m²/person"
                                ),
                            },
                            "value": self.value_text(r.value, r.unit),
                        }
                        for r in green
                    ],
                }
            )
        return {
            "id": "life-circles",
            "title": _("15-minute life circles (GB 50180-2018)"),
            "intro": _(
                "China's standard for residential areas asks that everyday facilities lie within a 5-, 10- "
                "and 15-minute walk of home. Each facility is measured along the walking network within its "
                "own service radius."
            ),
            "blocks": blocks,
        }

    def lifecircle_maps(self) -> list[dict[str, Any]]:
        """The coverage map (completeness per grid cell) and the gap map (people lacking required items)."""
        _ = self._
        tier = str(self.cfg["map"]["tier"])
        headline = self.find(f"lifecircle_{tier}_completeness")
        profile = str(headline.parameters.get("profile")) if headline is not None else ""
        column = f"lifecircle__{tier}__completeness__{profile}"
        missing_column = f"lifecircle__{tier}__missing__{profile}"
        grid = self.grid
        if column not in grid.columns or len(grid) == 0:
            return []
        blocks = []
        breaks = [float(b) for b in self.cfg["map"]["completeness_breaks"]]
        values = grid[column].to_numpy(dtype=float)
        people = grid["population"].to_numpy(dtype=float)
        values = np.where(people > 0, values, np.nan)
        tier_text = self.tier_label(tier)
        title = _("%(tier)s completeness by grid cell") % {"tier": tier_text}
        mean = self.value_text(headline.value, headline.unit) if headline is not None else "–"
        svg = self._base_map(
            "map-completeness",
            title,
            _(
                "Share of the required facilities of the %(tier)s within reach, per grid cell (%(profile)s); "
                "city average %(mean)s."
            )
            % {"tier": tier_text, "profile": self.profile_label(profile), "mean": mean},
        )
        classes = self._choropleth(svg, grid.geometry.to_numpy(), values, breaks)
        palette = self.cfg["map"]["sequential"]
        legend = []
        for k in range(len(breaks) - 1):
            lo, hi = breaks[k], breaks[k + 1]
            if k == len(breaks) - 2:
                text = _("every required item")
            else:
                text = _("%(low)s to under %(high)s") % {
                    "low": self.fmt.share(lo),
                    "high": self.fmt.share(round(hi, 2)),
                }
            in_class = classes == k
            legend.append(
                {
                    "colour": palette[k % len(palette)],
                    "label": text,
                    "cells": self.fmt.number(int(in_class.sum()), 0),
                    "people": self.fmt.number(float(people[in_class].sum()), 0),
                }
            )
        blocks.append(
            {
                "kind": "map",
                "title": title,
                "intro": _(
                    "Darker cells reach more of the tier's required facilities (%(profile)s). Cells without "
                    "residents are not shaded."
                )
                % {"profile": self.profile_label(profile)},
                "svg": self._finish_map(svg),
                "legend_title": _("Completeness"),
                "legend": legend,
            }
        )
        if missing_column not in self.analysis.origins.columns:
            return blocks
        gap_block = self.gap_map(tier, profile, missing_column)
        if gap_block is not None:
            blocks.append(gap_block)
        return blocks

    def gap_map(self, tier: str, profile: str, missing_column: str) -> dict[str, Any] | None:
        """Circles where people lack required items, sized by the people affected, and the ranked gaps."""
        _ = self._
        origins = self.analysis.origins
        lacking = pd.to_numeric(origins[missing_column], errors="coerce").fillna(0).to_numpy() > 0
        weight = origins["population"].to_numpy(dtype=float)
        affected = (
            pd.Series(np.where(lacking, weight, 0.0)).groupby(origins["grid_id"].to_numpy(), sort=False).sum()
        )
        items_missing = (
            pd.Series(pd.to_numeric(origins[missing_column], errors="coerce").fillna(0).to_numpy() * weight)
            .groupby(origins["grid_id"].to_numpy(), sort=False)
            .sum()
        )
        grid = self.grid.set_index("grid_id")
        affected = affected[affected > 0]
        tier_text = self.tier_label(tier)
        title = _("Where people lack %(tier)s facilities") % {"tier": tier_text}
        total = float(affected.sum())
        svg = self._base_map(
            "map-gaps",
            title,
            _(
                "Circles sized by the residents of each grid cell who lack at least one required facility of "
                "the %(tier)s; %(people)s people in all."
            )
            % {"tier": tier_text, "people": self.fmt.number(total, 0)},
        )
        lived = grid[grid["population"] > 0]
        svg.add_path(svg.frame.path(lived.geometry.to_numpy(), closed=True), "cell-outline")
        rows: list[list[Any]] = []
        if len(affected):
            centroids = grid.geometry.reindex(affected.index).centroid
            xy = np.column_stack([centroids.x.to_numpy(), centroids.y.to_numpy()])
            r_max = float(self.cfg["map"]["gap_radius_max"])
            radii = r_max * np.sqrt(affected.to_numpy() / affected.max())
            mean_missing = items_missing.reindex(affected.index).to_numpy() / np.maximum(
                grid["population"].reindex(affected.index).to_numpy(dtype=float), 1e-9
            )
            tips = [
                _("%(people)s people lack a required facility; %(items)s items missing on average")
                % {"people": self.fmt.number(v, 0), "items": self.fmt.number(m, 1)}
                for v, m in zip(affected.to_numpy(), mean_missing, strict=True)
            ]
            svg.add_circles(xy, np.maximum(radii, 2.0), "gaps", tips)
        legend = []
        if len(affected):
            legend.append(
                {
                    "colour": "#c2410c",
                    "label": _(
                        "Cells where someone lacks a required facility (largest circle: %(people)s people)"
                    )
                    % {"people": self.fmt.number(float(affected.max()), 0)},
                    "cells": self.fmt.number(len(affected), 0),
                    "people": self.fmt.number(total, 0),
                }
            )
        served = int((grid["population"] > 0).sum()) - len(affected)
        legend.append(
            {
                "colour": "#d9dee4",
                "label": _("Cells where residents reach every required facility"),
                "cells": self.fmt.number(max(served, 0), 0),
                "people": self.fmt.number(float(grid["population"].sum()) - total, 0),
            }
        )
        table = None
        try:
            from exquisite.indicators.lifecircle import lifecircle_gaps

            by = "district" if "district" in origins.columns else "grid_id"
            gaps = lifecircle_gaps(self.analysis.inputs, tier, profile, by=by)
        except (ImportError, KeyError):
            gaps = None
        if gaps is not None and len(gaps):
            gaps = gaps.sort_values("people_without", ascending=False).head(int(self.cfg["map"]["gap_rows"]))
            for _i, g in gaps.iterrows():
                label = str(g["label_zh"] if self.lang == "zh" else g["label_en"])
                row = [
                    ("▲ " if g.get("required") else "△ ") + label,
                    self.fmt.number(float(g["people_without"]), 0),
                    self.fmt.percent(_float(g.get("share_without")), 1),
                    self.distance_text(float(g["radius_m"])),
                ]
                if by == "district":
                    places = [
                        f"{name} ({self.fmt.number(float(n), 0)})"
                        for name, n in zip(g["places"], g["places_people"], strict=False)
                    ]
                    row.append({"text": ", ".join(places), "lang": self.header_place_lang})
                rows.append(row)
            columns = [_("Facility"), _("People without it"), _("Share"), _("Walking radius")]
            if by == "district":
                columns.append(_("Districts with most people lacking it"))
            table = {
                "caption": _("Required facilities ranked by the people who lack them (%(profile)s)")
                % {"profile": self.profile_label(profile)},
                "columns": columns,
                "numeric": [1, 2, 3],
                "rows": rows,
            }
        return {
            "kind": "map",
            "title": title,
            "intro": _(
                "Each circle is a grid cell where residents lack at least one required facility; its area "
                "is proportional to the people affected. The table ranks the facilities by the people who "
                "lack them."
            ),
            "svg": self._finish_map(svg),
            "legend_title": _("People lacking a required facility"),
            "legend": legend,
            "table": table,
        }

    def sdg_section(self) -> dict[str, Any] | None:
        """SDG 11.2.1 (public transport) and 11.7.1 (open public space)."""
        _ = self._
        blocks: list[dict[str, Any]] = []
        transit = self.by_id.get("sdg_11_2_1", [])
        if transit:
            variants = unique(str(r.parameters.get("variant", "")) for r in transit)
            groups = unique(r.group for r in transit)
            values = self.values("sdg_11_2_1", "variant", variants, "group", groups)
            rows = [
                Row(self.variant_label(v, transit=True), x) for v, x in zip(variants, values, strict=True)
            ]
            title = _("SDG 11.2.1: people with convenient access to public transport")
            series = [self.group_label(g) for g in groups]
            blocks.append(
                {
                    **self.chart("chart-sdg1121", title, rows, series, self._pct, domain=(0.0, 100.0)),
                    "intro": self.definition("sdg_11_2_1"),
                }
            )
        access = self.by_id.get("sdg_11_7_1_access", [])
        shares = [
            r
            for i in (
                "sdg_11_7_1_share_ops",
                "sdg_11_7_1_share_streets",
                "sdg_11_7_1_share_ops_and_streets",
                "sdg_11_7_1_ops_per_capita",
            )
            for r in self.by_id.get(i, [])[:1]
        ]
        if access or shares:
            items = [
                {
                    "label": self.label(r.id)
                    + (
                        f" ({self.variant_label(str(r.parameters['variant']))})"
                        if "variant" in r.parameters
                        else ""
                    ),
                    "value": self.value_text(r.value, r.unit),
                }
                for r in [*[r for r in access if r.group == "all"], *shares]
            ]
            blocks.append(
                {
                    "kind": "figures",
                    "title": _("SDG 11.7.1: open public space"),
                    "intro": _(
                        "Access: residents within a 400 m walk of open public space. Land share: open public "
                        "space and streets as a share of the built-up area, published as three series."
                    ),
                    "figures": items,
                }
            )
        if not blocks:
            return None
        return {
            "id": "sdg11",
            "title": _("Sustainable Development Goal 11"),
            "intro": _(
                "Two indicators of the 2030 Agenda that a city reports in its Voluntary Local Review, "
                "computed as UN-Habitat's metadata defines them."
            ),
            "blocks": blocks,
        }

    def variant_label(self, variant: str, transit: bool = False) -> str:
        """A variant of an indicator (``any``, ``large``, ``gtfs_headway_le_20min`` …) in words."""
        _ = self._
        if variant == "any":
            return _("any stop, OSM or timetable") if transit else _("any open public space")
        if variant == "large":
            return _("large open public space (over 1.5 ha)")
        match = re.search(r"headway_le_(\d+(?:[._p]\d+)?)min", variant)
        if match:
            minutes = match.group(1).replace("p", ".").replace("_", ".")
            return _("timetabled stops served at least every %(minutes)s min") % {"minutes": minutes}
        return _known_names(_).get(variant, variant.replace("_", " "))

    def ghsci_section(self) -> dict[str, Any] | None:
        """The peer-comparable set of the Global Healthy and Sustainable City Indicators."""
        _ = self._
        ids = self.ids_with("ghsci_")
        if not ids:
            return None
        blocks: list[dict[str, Any]] = []
        singles = [self.by_id[i][0] for i in ids if i != "ghsci_access_500m"]
        if singles:
            blocks.append(
                {
                    "kind": "figures",
                    "title": _("Density and daily living"),
                    "figures": [
                        {"label": self.label(r.id), "value": self.value_text(r.value, r.unit)}
                        for r in singles
                    ],
                }
            )
        access = [r for r in self.by_id.get("ghsci_access_500m", []) if r.group == "all"]
        if access:
            rows = [
                Row(
                    self.category_label(
                        str(r.parameters.get("destination", r.parameters.get("category", "")))
                    ),
                    [r.value],
                )
                for r in access
            ]
            title = _("People within 500 m of daily destinations")
            table_rows = []
            for r in access:
                ref = r.parameters.get("peer_reference_25_cities") or {}
                table_rows.append(
                    [
                        self.category_label(str(r.parameters.get("destination", ""))),
                        self.value_text(r.value, r.unit),
                        self.fmt.percent(_float(ref.get("p25")), 1),
                        self.fmt.percent(_float(ref.get("p50")), 1),
                        self.fmt.percent(_float(ref.get("p75")), 1),
                        self.position_label(str(r.parameters.get("peer_position", ""))),
                    ]
                )
            blocks.append(
                {
                    **self.chart(
                        "chart-ghsci",
                        title,
                        rows,
                        [self.label("ghsci_access_500m")],
                        self._pct,
                        domain=(0.0, 100.0),
                    ),
                    "intro": self.definition("ghsci_access_500m"),
                    "table": {
                        "caption": _("This city against the 25 cities of the GHSCI study"),
                        "columns": [
                            _("Destination"),
                            _("This city"),
                            _("Peers, lower quartile"),
                            _("Peers, median"),
                            _("Peers, upper quartile"),
                            _("Position"),
                        ],
                        "numeric": [1, 2, 3, 4],
                        "rows": table_rows,
                    },
                }
            )
        return {
            "id": "peers",
            "title": _("Comparable with other cities (GHSCI)"),
            "intro": _(
                "Indicators defined as the Global Healthy and Sustainable City Indicators define them, so "
                "that this city can be set beside the cities of that study."
            ),
            "blocks": blocks,
        }

    def position_label(self, position: str) -> str:
        """Where a value lies among the peers (``above p75`` …) in words."""
        _ = self._
        return {
            "above p75": _("above the upper quartile"),
            "p50-p75": _("between median and upper quartile"),
            "p25-p50": _("between lower quartile and median"),
            "below p25": _("below the lower quartile"),
        }.get(position, position)

    def equity_section(self) -> dict[str, Any] | None:
        """Who is left beyond reach: shares beyond, Gini of walk times, gaps of children and older people."""
        _ = self._
        beyond = [r for r in self.by_id.get("equity_share_beyond", []) if r.group == "all"]
        gaps = self.by_id.get("equity_gap", [])
        gini = [r for r in self.by_id.get("equity_gini_walk_time", []) if r.group == "all"]
        if not (beyond or gaps or gini):
            return None
        skip = tuple(self.cfg.get("equity_skip_prefixes", []))
        blocks: list[dict[str, Any]] = []

        def categories_of(records: list[Indicator]) -> list[str]:
            names = [str(r.parameters.get("category")) for r in records]
            return [c for c in self._category_order(names) if not c.startswith(skip)]

        if beyond:
            profiles = self._profiles_in(beyond)
            categories = categories_of(beyond)
            values = self.values("equity_share_beyond", "category", categories, "profile", profiles)
            rows = [Row(self.category_label(c), v) for c, v in zip(categories, values, strict=True)]
            title = self.label("equity_share_beyond")
            series = [self.profile_label(p) for p in profiles]
            blocks.append(
                {
                    **self.chart("chart-beyond", title, rows, series, self._pct, domain=(0.0, 100.0)),
                    "intro": self.definition("equity_share_beyond"),
                }
            )
        if gaps:
            groups = unique(r.group for r in gaps)
            categories = categories_of(gaps)
            values = self.values("equity_gap", "category", categories, "group", groups)
            rows = [Row(self.category_label(c), v) for c, v in zip(categories, values, strict=True)]
            title = self.label("equity_gap")
            series = [self.group_label(g) for g in groups]
            blocks.append(
                {
                    **self.chart("chart-gap", title, rows, series, self._pp),
                    "intro": self.definition("equity_gap"),
                    "note": _(
                        "Below zero: fewer children or older people reach the destination than adults."
                    ),
                }
            )
        if gini:
            first = self._profiles_in(gini)[:1]
            rows = []
            for c in categories_of(gini):
                record = self.find(
                    "equity_gini_walk_time", category=c, **({"profile": first[0]} if first else {})
                )
                rows.append(Row(self.category_label(c), [None if record is None else record.value]))
            title = self.label("equity_gini_walk_time")

            def gini_text(v: float) -> str:
                return self.fmt.number(v, 2)

            blocks.append(
                {
                    **self.chart("chart-gini", title, rows, [title], gini_text, domain=(0.0, 1.0)),
                    "intro": self.definition("equity_gini_walk_time"),
                    "note": _("A dash: nobody reaches such a destination within the distance searched."),
                }
            )
        return {
            "id": "equity",
            "title": _("Equity: who is left beyond reach"),
            "intro": _(
                "Children and older people walk more slowly, so the same destination is farther for them. "
                "These charts show who is left beyond a 15-minute walk, how unequal walking times are, and "
                "how far children and older people fall behind adults."
            ),
            "blocks": blocks,
        }

    # ------------------------------------------------------------------ tables, methods
    def district_table(self) -> dict[str, Any] | None:
        """The headline figures per district (when the run has districts)."""
        districts = [a for a in self.analysis.areas if a.level == "district"]
        if not districts:
            return None
        columns = []
        for spec in self.cfg["headline"]:
            ids = [spec["id"]] if "id" in spec else self.ids_with(spec["prefix"])
            for i in ids:
                if self.find(i, **spec.get("parameters", {})) is not None:
                    columns.append((i, spec.get("parameters", {})))
                    break
        rows = []
        for area in districts:
            cells = []
            for indicator_id, params in columns:
                record = next(
                    (
                        r
                        for r in self.analysis.indicators
                        if r.id == indicator_id
                        and r.area == area.name
                        and r.group == "all"
                        and all(r.parameters.get(k) == v for k, v in params.items())
                    ),
                    None,
                )
                cells.append("–" if record is None else self.value_text(record.value, record.unit))
            people = float(self.analysis.origins.loc[area.origins, "population"].sum())
            rows.append(
                {
                    "name": area.name,
                    "people": self.fmt.number(people, 0),
                    "area": self.fmt.number(area.area_km2, 2),
                    "cells": cells,
                }
            )
        caveat = self.analysis.districts.caveat if self.analysis.districts is not None else None
        return {
            "columns": [self.label(i) for i, _p in columns],
            "rows": rows,
            "caveats": [district_caveat(caveat, self.lang)] if caveat else [],
        }

    def indicator_groups(self) -> list[dict[str, Any]]:
        """Every city record, grouped by indicator id: label, definition, standard, and a table of values.

        Parameters that are the same for every record of an id are named once; those that vary become
        columns.
        """
        groups = []
        for indicator_id, records in self.by_id.items():
            definition = self.defs.get(indicator_id, {})
            texts = [{p["key"]: p for p in self.parameter_text(r.parameters)} for r in records]
            keys = unique(k for t in texts for k in t)
            constant = [
                k for k in keys if all(k in t for t in texts) and len({t[k]["value"] for t in texts}) == 1
            ]
            varying = [k for k in keys if k not in constant]
            group_varies = len({r.group for r in records}) > 1
            columns = [self.parameter_name(k) for k in varying]
            if group_varies or not columns:
                columns.append(self._("Group"))
            numeric_from = len(columns)
            columns += [self._("Value"), self._("Numerator"), self._("Denominator")]
            rows = []
            for r, t in zip(records, texts, strict=True):
                cells: list[Any] = [t[k]["value"] if k in t else "–" for k in varying]
                if group_varies or not varying:
                    cells.append(self.group_label(r.group))
                cells += [
                    self.value_text(r.value, r.unit),
                    self.fmt.auto(r.numerator),
                    self.fmt.auto(r.denominator),
                ]
                rows.append(cells)
            common = [texts[0][k] for k in constant]
            if not group_varies and varying:
                common.append({"name": self._("Group"), "value": self.group_label(records[0].group)})
            groups.append(
                {
                    "id": indicator_id,
                    "anchor": "ind-" + indicator_id.replace("_", "-"),
                    "label": self.label(indicator_id),
                    "definition": pick(definition.get("definition"), self.lang),
                    "standard": str(definition.get("standard", "")),
                    "unit": self.unit_text(records[0].unit),
                    "sources": unique(source_text(s) for r in records for s in r.sources),
                    "method_version": ", ".join(unique(r.method_version for r in records)),
                    "caveats": unique(c for r in records for c in r.caveats),
                    "common": common,
                    "columns": columns,
                    "numeric": list(range(numeric_from, len(columns))),
                    "rows": rows,
                }
            )
        return groups

    def methods(self) -> dict[str, Any]:
        """How the figures were made, and what to keep in mind."""
        inputs = self.analysis.inputs
        profiles = []
        for name, profile in inputs.profiles.items():
            cutoffs = inputs.cutoffs.get(name, {})
            profiles.append(
                {
                    "label": self.profile_label(name),
                    "speed": "–" if profile.speed_m_s is None else self.fmt.number(profile.speed_m_s, 2),
                    "thresholds": ", ".join(
                        f"{self.threshold_label(label)} = {self.distance_text(m)}"
                        for label, m in cutoffs.items()
                    ),
                }
            )
        # What holds across indicators goes here; what one indicator says stays with it in the annex.
        ids_of: dict[str, set[str]] = defaultdict(set)
        for r in self.city:
            for c in r.caveats:
                ids_of[c].add(r.id)
        caveats = [c for c, ids in ids_of.items() if len(ids) >= int(self.cfg.get("shared_caveat_ids", 2))]
        return {
            "profiles": profiles,
            "caveats": caveats,
            "nodes": self.fmt.number(inputs.network.n_nodes, 0),
            "edges": self.fmt.number(inputs.network.n_edges, 0),
            "destinations": self.fmt.number(len(inputs.destinations), 0),
            "largest": self.distance_text(inputs.cutoff_m),
        }

    def threshold_label(self, label: str) -> str:
        """A threshold label of a profile (``15min``, ``300m``) in words."""
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(min|m)", label)
        if match is None:
            return label
        number = float(match.group(1))
        if match.group(2) == "min":
            return self._("%(value)s min") % {"value": self.fmt.compact(number)}
        return self.distance_text(number)

    def attribution(self) -> list[str]:
        """Credits for every source the run used: OpenStreetMap always, then the others by name."""
        credits = [OSM_ATTRIBUTION]
        for kind, records in self.analysis.inputs.sources.items():
            if kind == "osm":
                continue
            credits.extend(source_text(r) for r in records)
        return unique(credits)


def _known_names(_: Callable[[str], str]) -> dict[str, str]:
    """Names the families use that are not taxonomy categories or profiles."""
    return {
        "gtfs_stop_low": _("Public transport stop, low capacity (GTFS)"),
        "gtfs_stop_high": _("Public transport stop, high capacity (GTFS)"),
        "any": _("any"),
        "ops": _("open public space"),
        "streets": _("streets"),
        "ops_and_streets": _("open public space and streets"),
    }


def district_caveat(caveat: str, lang: str) -> dict[str, str]:
    """A districts' caveat (approximate boundaries) as readers of ``lang`` see it.

    The caveat of OSM districts (``caveat`` of ``data/osm_districts.yml``, as runs store it in English) is
    shown in Chinese from the file's ``caveat_zh``, with the same place values; any other caveat is shown as
    it was written, marked as English.

    Parameters
    ----------
    caveat
        The caveat as the run stores it (``areas.parquet``'s ``caveat``, :attr:`Districts.caveat`).
    lang
        The reader's language (``en`` or ``zh``).

    Returns
    -------
    dict
        ``text``, and ``lang``: the text's language when it is not ``lang`` (else ``""``).
    """
    from exquisite.districts import osm_district_settings

    text = " ".join(str(caveat).split())
    if lang == "en":
        return {"text": text, "lang": ""}
    settings = osm_district_settings()
    template = " ".join(str(settings.get("caveat", "")).split())
    translated = settings.get(f"caveat_{lang}")
    if template and translated:
        pattern = re.escape(template).replace(re.escape("{places}"), "(?P<places>.+?)")
        found = re.fullmatch(pattern, text)
        if found is not None:
            places = found.groupdict().get("places", "")
            return {"text": " ".join(str(translated).split()).format(places=places), "lang": ""}
    return {"text": text, "lang": "en"}


def place_language(country: str | None, lang: str) -> str:
    """The language of the city's place names (its country's first official language) when not ``lang``."""
    if not country:
        return ""
    try:
        official = get_official_languages(country.upper())
    except (ValueError, KeyError):
        return ""
    if not official or official[0] == lang:
        return ""
    return official[0]


@cache
def _lifecircle_tiers() -> dict[str, Any]:
    """The tiers of ``lifecircles.yml`` (empty when the family file is absent)."""
    try:
        return dict(load_parameters("lifecircles.yml").get("parameters", {}).get("tiers", {}))
    except FileNotFoundError:
        return {}


def _float(value: Any) -> float | None:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def _bar_share(record: Indicator) -> float | None:
    """The share (0–100) a card's small bar shows: a percentage, or a score within its ``range``."""
    value = _float(record.value)
    if value is None:
        return None
    bounds = record.parameters.get("range")
    if record.unit != "%" and isinstance(bounds, list | tuple) and len(bounds) == 2 and bounds[1] > bounds[0]:
        value = 100.0 * (value - float(bounds[0])) / (float(bounds[1]) - float(bounds[0]))
    elif record.unit != "%":
        return None
    return float(min(max(value, 0.0), 100.0))


def source_text(source: dict[str, Any]) -> str:
    """``name (file, vintage)`` of a source record."""
    name = source.get("name", "")
    details = [str(source[k]) for k in ("file", "vintage") if source.get(k)]
    return f"{name} ({', '.join(details)})" if details else str(name)


def unique(items: Iterable[str]) -> list[str]:
    """Items in first-seen order without repeats or empties."""
    seen: dict[str, None] = {}
    for item in items:
        if item:
            seen.setdefault(item, None)
    return list(seen)


def _series_frame(records: Sequence[Indicator], row_key: str, series_key: str) -> pd.DataFrame:
    """Record values as a table: one row per ``row_key`` parameter, one column per ``series_key``."""
    data = [
        {"row": r.parameters.get(row_key), "series": r.parameters.get(series_key), "value": r.value}
        for r in records
    ]
    frame = pd.DataFrame(data, columns=["row", "series", "value"])
    return frame.pivot_table(index="row", columns="series", values="value", sort=False, aggfunc="first")


__all__ = ["Row", "bar_chart", "render_report", "settings"]
