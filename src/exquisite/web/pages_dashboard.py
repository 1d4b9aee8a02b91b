"""What the planners' dashboard shows of one run, worked out from its folder in the reader's language.

Every figure comes from the run's indicator records (``indicators.json``) and origins (``origins.parquet``);
labels and definitions from the family files (:func:`exquisite.indicators.parameters.definitions`), the
taxonomy and the run's own profiles. Charts are the report's SVG bar charts; maps are SVG drawings of the
city's own streets (:mod:`exquisite.web.pages_maps`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from exquisite.indicators.parameters import definitions, load_parameters
from exquisite.outputs.charts import Row, bar_chart
from exquisite.outputs.i18n import Formatter
from exquisite.outputs.report import district_caveat, source_text, unique
from exquisite.outputs.report import settings as report_settings
from exquisite.taxonomy import default_taxonomy
from exquisite.web.catalogue import DOWNLOADABLE, Run
from exquisite.web.pages_maps import base_map
from exquisite.web.ui import UI

#: Life-circle tiers, nearest first.
TIERS = ("5min", "10min", "15min")

#: The SDG 11 indicators the summary cards show, in order.
SDG_IDS = (
    "sdg_11_2_1",
    "sdg_11_7_1_access",
    "sdg_11_7_1_share_ops",
    "sdg_11_7_1_share_streets",
    "sdg_11_7_1_share_ops_and_streets",
    "sdg_11_7_1_ops_per_capita",
)

#: Columns the gap table may be sorted by (query value → row key).
GAP_SORTS = ("cell", "people", "lacking", "completeness", "missing")


@cache
def lifecircle_tiers() -> dict[str, Any]:
    """The tiers of the life-circle family file (``lifecircles.yml``)."""
    try:
        return dict(load_parameters("lifecircles.yml").get("parameters", {}).get("tiers", {}))
    except FileNotFoundError:
        return {}


@dataclass
class GapQuery:
    """The reader's choices for the gap map and table: tier, profile and sort order."""

    tier: str
    profile: str
    sort: str = "lacking"
    descending: bool = True


class Dashboard:
    """The dashboard of one run in one language.

    Parameters
    ----------
    run
        The run folder.
    ui
        The reader's language and mode.
    """

    def __init__(self, run: Run, ui: UI) -> None:
        self.run = run
        self.ui = ui
        self._ = ui.gettext
        self.fmt = ui.fmt
        self.defs = definitions()
        self.taxonomy = default_taxonomy().categories
        self.profiles: dict[str, Any] = dict(run.manifest.get("parameters", {}).get("profiles", {}))
        self.city = [r for r in run.indicators if r.get("area") == "city"]
        self.by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in self.city:
            self.by_id[record["id"]].append(record)
        self._counter = 0

    # ------------------------------------------------------------------ labels
    def ident(self, stem: str) -> str:
        """A unique element id of the page."""
        self._counter += 1
        return f"{stem}-{self._counter}"

    def label(self, indicator_id: str) -> str:
        """An indicator's label."""
        return self.ui.pick(self.defs.get(indicator_id, {}).get("label"), indicator_id)

    def definition(self, indicator_id: str) -> str:
        """An indicator's definition."""
        return self.ui.pick(self.defs.get(indicator_id, {}).get("definition"))

    def category_label(self, name: str) -> str:
        """A destination category."""
        category = self.taxonomy.get(name)
        if category is None:
            return name.replace("_", " ")
        return category.label_zh if self.ui.lang == "zh" else category.label_en

    def profile_label(self, name: str) -> str:
        """A walking profile, as the run names it."""
        profile = self.profiles.get(name, {})
        return str(profile.get("label_zh" if self.ui.lang == "zh" else "label_en") or name)

    def group_label(self, group: str) -> str:
        """A population group."""
        _ = self._
        return {
            "all": _("Everyone"),
            "child": _("Children (0–14)"),
            "adult": _("Adults (15–64)"),
            "older": _("Older people (65+)"),
        }.get(group, group)

    def tier_label(self, tier: str) -> str:
        """A life-circle tier (``15min``)."""
        spec = lifecircle_tiers().get(tier)
        if spec is not None:
            return self.ui.pick(spec.get("label"), tier)
        return tier

    def item_label(self, tier: str, item: str) -> str:
        """A life-circle item, marked ▲ when required and △ when recommended."""
        spec = lifecircle_tiers().get(tier, {}).get("items", {}).get(item, {})
        text = self.ui.pick(spec.get("label"), item.replace("_", " "))
        return ("▲ " if spec.get("required") else "△ ") + text if spec else text

    def variant_label(self, variant: str) -> str:
        """A variant of an SDG 11 indicator."""
        _ = self._
        return {
            "any": _("any"),
            "large": _("large open public space (over 1.5 ha)"),
        }.get(variant, variant.replace("_", " "))

    def value_text(self, value: float | None, unit: str) -> str:
        """A value with its unit."""
        _ = self._
        f = self.fmt
        if value is None or not math.isfinite(float(value)):
            return "–"
        if unit == "%":
            return f.percent(value, 1)
        if unit == "m":
            return self.ui.distance(float(value))
        if unit == "people":
            return _("%(value)s people") % {"value": f.number(value, 0)}
        if unit == "m²/person":
            return _("%(value)s m² per person") % {"value": f.number(value, 1)}
        if unit == "per km²":
            return _("%(value)s per km²") % {"value": f.number(value, 0)}
        if unit == "pp":
            sign = "−" if value < 0 else "+" if value > 0 else ""
            return _("%(value)s pp") % {"value": sign + f.number(abs(value), 1)}
        return f.auto(value) + (f" {unit}" if unit and unit not in {"score", "ratio", "share"} else "")

    def pct(self, value: float) -> str:
        """A percentage for chart bars."""
        return self.fmt.percent(value, 0 if abs(value) >= 10 or value == 0 else 1)

    def find(self, indicator_id: str, group: str = "all", **parameters: Any) -> dict[str, Any] | None:
        """The first city record with this id, group and parameters."""
        for record in self.by_id.get(indicator_id, []):
            params = record.get("parameters", {})
            if record.get("group") == group and all(params.get(k) == v for k, v in parameters.items()):
                return record
        return None

    def chart(
        self,
        stem: str,
        title: str,
        rows: list[Row],
        series: list[str],
        text: Callable[[float], str],
        **kw: Any,
    ) -> dict[str, Any]:
        """A chart block (title and inline SVG)."""
        svg = bar_chart(self.ident(stem), title, rows, series, text, **kw)
        return {"title": title, "svg": svg}

    # ------------------------------------------------------------------ summary
    def summary(self) -> dict[str, Any]:
        """City, date, population, places and streets."""
        region = self.run.manifest.get("region", {})
        origins = self.run.origins
        return {
            "city": self.run.name,
            "place_lang": self.ui.place_lang(region.get("country")),
            "stamp": _run_time(self.run.created, self.fmt),
            "population": self.fmt.number(float(origins["population"].sum()), 0),
            "origins": self.fmt.number(len(origins), 0),
            "destinations": self.fmt.number(len(self.run.destinations), 0),
            "streets_km": self.fmt.number(float(self.run.network["length_m"].sum()) / 1000, 1),
        }

    def sdg_cards(self) -> list[dict[str, Any]]:
        """One card per SDG 11 record for everyone: value, definition, standard, sources and caveats."""
        cards = []
        for indicator_id in SDG_IDS:
            for record in self.by_id.get(indicator_id, []):
                if record.get("group") != "all":
                    continue
                params = record.get("parameters", {})
                variant = params.get("variant")
                cards.append(
                    {
                        "id": f"card-{indicator_id.replace('_', '-')}"
                        + (f"-{variant}".replace("_", "-") if variant else ""),
                        "label": self.label(indicator_id),
                        "variant": self.variant_label(str(variant)) if variant else "",
                        "value": self.value_text(record.get("value"), str(record.get("unit", ""))),
                        "detail": self.ratio_text(record),
                        "definition": self.definition(indicator_id),
                        "standard": str(self.defs.get(indicator_id, {}).get("standard", "")),
                        "sources": unique(source_text(s) for s in record.get("sources", [])),
                        "caveats": list(record.get("caveats", [])),
                        "method_version": str(record.get("method_version", "")),
                    }
                )
        return cards

    def ratio_text(self, record: dict[str, Any]) -> str:
        """``1,234 of 5,678 people`` for a share (``… m²`` for a land share)."""
        if record.get("unit") != "%" or record.get("numerator") is None or record.get("denominator") is None:
            return ""
        numbers = {
            "part": self.fmt.number(record["numerator"], 0),
            "total": self.fmt.number(record["denominator"], 0),
        }
        if self.defs.get(record["id"], {}).get("numerator_unit", "people") == "m²":
            return self._("%(part)s of %(total)s m²") % numbers
        return self._("%(part)s of %(total)s people") % numbers

    # ------------------------------------------------------------------ life circles
    def tiers(self) -> list[str]:
        """Tiers the run has records of."""
        return [t for t in TIERS if self.by_id.get(f"lifecircle_{t}_completeness")]

    def profiles_of(self, records: Iterable[dict[str, Any]]) -> list[str]:
        """Profiles named by records, in the run's order."""
        present = unique(str(r.get("parameters", {}).get("profile", "")) for r in records)
        order = list(self.profiles)
        return sorted(present, key=lambda p: order.index(p) if p in order else len(order))

    def lifecircles(self, detail_tier: str) -> dict[str, Any] | None:
        """Completeness by tier and profile, and coverage by item and profile of ``detail_tier``."""
        _ = self._
        tiers = self.tiers()
        if not tiers:
            return None
        completeness = [r for t in tiers for r in self.by_id[f"lifecircle_{t}_completeness"]]
        profiles = self.profiles_of(completeness)
        rows, table = [], []
        for t in tiers:
            values = []
            for p in profiles:
                record = self.find(f"lifecircle_{t}_completeness", profile=p)
                complete = self.find(f"lifecircle_{t}_complete", profile=p)
                values.append(None if record is None else record["value"])
                if record is not None:
                    table.append(
                        [
                            self.tier_label(t),
                            self.profile_label(p),
                            self.value_text(record["value"], "%"),
                            "–" if complete is None else self.value_text(complete["value"], "%"),
                        ]
                    )
            rows.append(Row(self.tier_label(t), values))
        series = [self.profile_label(p) for p in profiles]
        by_tier = self.chart(
            "chart-completeness",
            _("Completeness of the life circles, by tier and walking profile"),
            rows,
            series,
            self.pct,
            domain=(0.0, 100.0),
        )
        coverage_block = None
        tier = detail_tier if detail_tier in tiers else tiers[-1]
        coverage = self.by_id.get(f"lifecircle_{tier}_coverage", [])
        if coverage:
            cprofiles = self.profiles_of(coverage)
            items = unique(str(r["parameters"].get("item")) for r in coverage)
            required = {
                str(r["parameters"].get("item")): bool(r["parameters"].get("required")) for r in coverage
            }
            items.sort(key=lambda i: not required.get(i, False))
            crows, ctable = [], []
            for item in items:
                values = []
                for p in cprofiles:
                    record = self.find(f"lifecircle_{tier}_coverage", item=item, profile=p)
                    values.append(None if record is None else record["value"])
                crows.append(Row(self.item_label(tier, item), values))
                ctable.append([self.item_label(tier, item), *(self.value_text(v, "%") for v in values)])
            coverage_block = {
                **self.chart(
                    "chart-coverage",
                    _("%(tier)s: people within reach of each facility") % {"tier": self.tier_label(tier)},
                    crows,
                    [self.profile_label(p) for p in cprofiles],
                    self.pct,
                    domain=(0.0, 100.0),
                ),
                "columns": [_("Facility"), *(self.profile_label(p) for p in cprofiles)],
                "rows": ctable,
            }
        return {
            "by_tier": by_tier,
            "table": table,
            "coverage": coverage_block,
            "tier": tier,
            "tiers": [{"value": t, "label": self.tier_label(t)} for t in tiers],
        }

    # ------------------------------------------------------------------ equity
    def equity(self) -> list[dict[str, Any]]:
        """Who is left beyond reach: share beyond 15 minutes, child/older gap, Gini of walk times."""
        _ = self._
        skip = tuple(report_settings().get("equity_skip_prefixes", []))
        blocks = []

        def categories(records: list[dict[str, Any]]) -> list[str]:
            names = unique(str(r["parameters"].get("category", "")) for r in records)
            order = list(self.taxonomy)
            names = [n for n in names if not n.startswith(skip)]
            return sorted(names, key=lambda n: order.index(n) if n in order else len(order))

        beyond = [r for r in self.by_id.get("equity_share_beyond", []) if r["group"] == "all"]
        if beyond:
            profiles = self.profiles_of(beyond)
            rows = [
                Row(
                    self.category_label(c),
                    [_value(self.find("equity_share_beyond", category=c, profile=p)) for p in profiles],
                )
                for c in categories(beyond)
            ]
            blocks.append(
                {
                    **self.chart(
                        "chart-beyond",
                        self.label("equity_share_beyond"),
                        rows,
                        [self.profile_label(p) for p in profiles],
                        self.pct,
                        domain=(0.0, 100.0),
                    ),
                    "definition": self.definition("equity_share_beyond"),
                }
            )
        gaps = self.by_id.get("equity_gap", [])
        if gaps:
            groups = unique(str(r["group"]) for r in gaps)
            rows = [
                Row(
                    self.category_label(c),
                    [_value(self.find("equity_gap", group=g, category=c)) for g in groups],
                )
                for c in categories(gaps)
            ]
            blocks.append(
                {
                    **self.chart(
                        "chart-gap",
                        self.label("equity_gap"),
                        rows,
                        [self.group_label(g) for g in groups],
                        lambda v: self.value_text(v, "pp"),
                    ),
                    "definition": self.definition("equity_gap"),
                }
            )
        gini = [r for r in self.by_id.get("equity_gini_walk_time", []) if r["group"] == "all"]
        if gini:
            first = self.profiles_of(gini)[:1]
            where = {"profile": first[0]} if first else {}
            rows = [
                Row(self.category_label(c), [_value(self.find("equity_gini_walk_time", category=c, **where))])
                for c in categories(gini)
            ]
            title = self.label("equity_gini_walk_time")
            blocks.append(
                {
                    **self.chart(
                        "chart-gini", title, rows, [title], lambda v: self.fmt.number(v, 2), domain=(0.0, 1.0)
                    ),
                    "definition": self.definition("equity_gini_walk_time"),
                }
            )
        return blocks

    # ------------------------------------------------------------------ gaps
    def gap_choices(self) -> tuple[str, str, list[str]]:
        """The default tier and profile of the gap map, and the profiles it may show."""
        tier = str(report_settings()["map"]["tier"])
        if tier not in self.tiers() and self.tiers():
            tier = self.tiers()[-1]
        records = self.by_id.get(f"lifecircle_{tier}_completeness", [])
        profiles = self.profiles_of(records)
        return tier, (profiles[0] if profiles else ""), profiles

    def gap_cells(self, tier: str, profile: str) -> pd.DataFrame:
        """Per grid cell: its people, the people lacking a required item, completeness and the items missing.

        An origin lacks an item when its network distance to the item (``lifecircle__nearest_m__<item>``) is
        beyond the item's radius for the profile (``radii_m`` of the completeness record) or not found within
        the distance searched.
        """
        origins = self.run.origins
        record = self.find(f"lifecircle_{tier}_completeness", profile=profile)
        columns = ["cell", "x", "y", "people", "lacking", "completeness", "missing", "items"]
        if record is None:
            return pd.DataFrame(columns=columns)
        radii: dict[str, float] = record["parameters"].get("radii_m", {})
        people = origins["population"].to_numpy(dtype=float)
        missing_items: list[list[str]] = [[] for _ in range(len(origins))]
        for item, radius in radii.items():
            column = f"lifecircle__nearest_m__{item}"
            if column not in origins.columns:
                continue
            distance = origins[column].to_numpy(dtype=float)
            lacking = ~(distance <= float(radius))
            for i in np.flatnonzero(lacking):
                missing_items[i].append(item)
        n_missing = np.array([len(m) for m in missing_items], dtype=float)
        cell = origins["grid_id"].astype(str).to_numpy() if "grid_id" in origins.columns else origins.index
        completeness_col = f"lifecircle__{tier}__completeness__{profile}"
        completeness = (
            origins[completeness_col].to_numpy(dtype=float)
            if completeness_col in origins.columns
            else 1.0 - n_missing / max(len(radii), 1)
        )
        frame = pd.DataFrame(
            {
                "cell": cell,
                "x": origins.geometry.x.to_numpy(),
                "y": origins.geometry.y.to_numpy(),
                "people": people,
                "lacking": np.where(n_missing > 0, people, 0.0),
                "completeness_w": completeness * people,
                "missing_w": n_missing * people,
                "items": missing_items,
            }
        )
        grouped = frame.groupby("cell", sort=False)
        out = grouped.agg(
            x=("x", "mean"),
            y=("y", "mean"),
            people=("people", "sum"),
            lacking=("lacking", "sum"),
            completeness_w=("completeness_w", "sum"),
            missing_w=("missing_w", "sum"),
            items=("items", lambda s: sorted({i for items in s for i in items})),
        ).reset_index()
        weight = np.maximum(out["people"].to_numpy(dtype=float), 1e-12)
        out["completeness"] = out["completeness_w"] / weight
        out["missing"] = out["missing_w"] / weight
        return out[out["people"] > 0][columns].reset_index(drop=True)

    def gaps(self, query: GapQuery, elders: bool) -> dict[str, Any] | None:
        """The gap map (circles sized by the people lacking a required item) and the same cells as a table."""
        _ = self._
        if not query.profile:
            return None
        cells = self.gap_cells(query.tier, query.profile)
        if cells.empty:
            return None
        key = query.sort if query.sort in GAP_SORTS else "lacking"
        cells = cells.sort_values(key, ascending=not query.descending, kind="stable")
        tier_text, profile_text = self.tier_label(query.tier), self.profile_label(query.profile)
        affected = cells[cells["lacking"] > 0]
        total = float(affected["lacking"].sum())
        title = _("Where people lack %(tier)s facilities (%(profile)s)") % {
            "tier": tier_text,
            "profile": profile_text,
        }
        svg_map = base_map(
            self.run,
            self.ident("map-gaps"),
            title,
            _(
                "Circles sized by the residents of each grid cell who lack at least one required facility; "
                "%(people)s people in all. The table below lists the same cells."
            )
            % {"people": self.fmt.number(total, 0)},
            self.ui,
        )
        if len(affected):
            radii = 24.0 * np.sqrt(affected["lacking"].to_numpy() / affected["lacking"].max())
            tips = [
                _("Cell %(cell)s: %(people)s people lack a required facility")
                % {"cell": c, "people": self.fmt.number(v, 0)}
                for c, v in zip(affected["cell"], affected["lacking"], strict=True)
            ]
            svg_map.add_circles(
                affected[["x", "y"]].to_numpy(), np.maximum(radii, 3.0).tolist(), "gaps", tips
            )
        served = cells[cells["lacking"] <= 0]
        if len(served):
            svg_map.add_circles(served[["x", "y"]].to_numpy(), [3.0] * len(served), "served")
        rows = [
            {
                "cell": str(c["cell"]),
                "people": self.fmt.number(float(c["people"]), 0),
                "lacking": self.fmt.number(float(c["lacking"]), 0),
                "has_gap": float(c["lacking"]) > 0,
                "completeness": self.fmt.share(float(c["completeness"]), 0),
                "missing": self.fmt.number(float(c["missing"]), 1),
                "items": ", ".join(self.item_label(query.tier, i).lstrip("▲△ ") for i in c["items"]) or "–",
                "sort_values": {k: ("" if k == "cell" else f"{float(c[k]):.6g}") for k in GAP_SORTS},
            }
            for _i, c in cells.iterrows()
        ]
        columns = [
            ("cell", _("Grid cell"), False),
            ("people", _("Residents"), True),
            ("lacking", _("People lacking a required facility"), True),
            ("completeness", _("Completeness"), True),
            ("missing", _("Items missing on average"), True),
        ]
        return {
            "title": title,
            "map": svg_map.svg(),
            "total": self.fmt.number(total, 0),
            "cells_affected": len(affected),
            "cells": len(cells),
            "columns": [
                {
                    "key": k,
                    "label": label,
                    "numeric": numeric,
                    "sorted": key == k,
                    "aria_sort": ("descending" if query.descending else "ascending") if key == k else "",
                    "next_order": "asc" if key == k and query.descending else "desc",
                }
                for k, label, numeric in columns
            ],
            "rows": [r for r in rows if r["has_gap"]][:5] if elders else rows,
            "query": query,
        }

    # ------------------------------------------------------------------ districts, downloads
    def districts(self) -> dict[str, Any] | None:
        """Headline figures per district (when the run has districts)."""
        areas = unique(str(r.get("area")) for r in self.run.indicators if r.get("area") not in {None, "city"})
        if not areas:
            return None
        ids = [
            i
            for i in ("sdg_11_2_1", "sdg_11_7_1_access", "lifecircle_15min_completeness")
            if self.by_id.get(i)
        ]
        rows = []
        for area in areas:
            cells = []
            for indicator_id in ids:
                record = next(
                    (
                        r
                        for r in self.run.indicators
                        if r["id"] == indicator_id and r.get("area") == area and r.get("group") == "all"
                    ),
                    None,
                )
                cells.append("–" if record is None else self.value_text(record["value"], record["unit"]))
            rows.append({"name": area, "cells": cells})
        return {"columns": [self.label(i) for i in ids], "rows": rows, "caveats": self.district_caveats()}

    def district_caveats(self) -> list[dict[str, str]]:
        """What the run's districts carry (``areas.parquet``'s ``caveat``: approximate boundaries), each once.

        Returns
        -------
        list of dict
            ``text`` in the reader's language when it is known in it, and ``lang``: the ``lang`` attribute
            the text needs (``""`` when it is the page's language).
        """
        areas = self.run.areas
        if "caveat" not in areas or "level" not in areas:
            return []
        texts = unique(str(c) for c in areas.loc[areas["level"] == "district", "caveat"].dropna() if str(c))
        out = []
        for text in texts:
            shown = district_caveat(text, self.ui.lang)
            out.append({"text": shown["text"], "lang": self.ui.text_lang(shown["lang"])})
        return out

    def downloads(self) -> list[dict[str, str]]:
        """The run's files that may be downloaded, with their size."""
        _ = self._
        kinds = {
            "indicators.csv": _("Indicators (CSV table)"),
            "indicators.json": _("Indicators with sources and parameters (JSON)"),
            "origins.parquet": _("Residents' access per grid point (GeoParquet)"),
            "destinations.parquet": _("Services and places (GeoParquet)"),
            "areas.parquet": _("Study area and districts (GeoParquet)"),
            "network.parquet": _("Walking network (GeoParquet)"),
            "report.html": _("Full report (HTML)"),
        }
        out = []
        for name in DOWNLOADABLE:
            try:
                path = self.run.file(name)
            except KeyError:
                continue
            size = path.stat().st_size
            out.append(
                {
                    "name": name,
                    "label": kinds[name],
                    "size": _("%(value)s kB") % {"value": self.fmt.number(max(size / 1024, 1), 0)},
                }
            )
        return out


def _value(record: dict[str, Any] | None) -> float | None:
    if record is None or record.get("value") is None:
        return None
    value = float(record["value"])
    return value if math.isfinite(value) else None


def _run_time(stamp: str, fmt: Formatter) -> str:
    """A run folder's UTC stamp (``20261129T202013Z``) as a date and time for readers (the stamp if odd)."""
    try:
        when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ")
    except ValueError:
        return stamp
    return f"{fmt.date(when.date())} {when:%H:%M}"
