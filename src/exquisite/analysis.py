"""A full analysis of one study region: access, every indicator family, and the run folder with its report."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from exquisite.access.run import AccessRun, run_access
from exquisite.config import StudyRegion, load_region
from exquisite.districts import Districts, load_districts, osm_districts
from exquisite.indicators.inputs import AnalysisInputs
from exquisite.indicators.parameters import FAMILY_FILES, method_version
from exquisite.indicators.records import Area, Indicator
from exquisite.outputs.runfolder import file_record, write_run_folder
from exquisite.region import StepReporter

#: Side of the square analysis grid (m) used when the population has no grid of its own (``buildings``).
GRID_SIZE_M = 100.0


def indicator_families() -> tuple[ModuleType, ...]:
    """The indicator families, in report order.

    Each module provides ``destination_sets(destinations)`` (further sets of destinations whose nearest
    distance it needs), ``origin_values(inputs)`` (its per-origin columns) and ``indicators(inputs, area)``
    (its records for one area; ``inputs.origins`` then holds every family's per-origin columns).
    """
    from exquisite.indicators import equity, ghsci, lifecircle, sdg11

    return (lifecircle, sdg11, ghsci, equity)


@dataclass(frozen=True)
class Analysis:
    """The result of :func:`analyse`.

    Attributes
    ----------
    access
        The access run (region, network, origins with their access columns).
    inputs
        What the indicator families read.
    origins
        The origins (projected GeoDataFrame): population, access columns, every family's per-origin values,
        ``grid_id`` and ``district`` (when districts are given).
    areas
        The city and its districts.
    indicators
        Every indicator record, for the city and each district.
    timings
        Seconds per step.
    districts
        The districts the run reports on (None without districts); their ``caveat`` is on every district
        record when their boundaries are approximate.
    """

    access: AccessRun
    inputs: AnalysisInputs
    origins: gpd.GeoDataFrame
    areas: list[Area]
    indicators: list[Indicator]
    timings: dict[str, float]
    districts: Districts | None = None

    def indicator_table(self) -> pd.DataFrame:
        """The indicator records as a table (parameters, sources and caveats as JSON text)."""
        rows = []
        for record in self.indicators:
            row = record.to_dict()
            row["parameters"] = json.dumps(row["parameters"], ensure_ascii=False, sort_keys=True)
            row["sources"] = json.dumps(row["sources"], ensure_ascii=False)
            row["caveats"] = " | ".join(row["caveats"])
            rows.append(row)
        return pd.DataFrame(rows, columns=list(Indicator.__dataclass_fields__))

    def find(self, indicator_id: str, area: str = "city", group: str = "all", **parameters: Any) -> Indicator:
        """The one record with this id, area, group and parameters (a KeyError names what is missing)."""
        for record in self.indicators:
            if (
                record.id == indicator_id
                and record.area == area
                and record.group == group
                and all(record.parameters.get(k) == v for k, v in parameters.items())
            ):
                return record
        raise KeyError(f"no indicator {indicator_id} for area={area}, group={group}, {parameters}")

    def grid(self) -> gpd.GeoDataFrame:
        """Per grid cell: people and the population-weighted mean of every numeric per-origin value."""
        origins = self.origins
        weight = origins["population"].to_numpy(dtype=float)
        numeric = origins.select_dtypes("number").drop(columns=["origin_id"], errors="ignore")
        weighted = numeric.mul(weight, axis=0).assign(grid_id=origins["grid_id"].to_numpy())
        sums = weighted.groupby("grid_id", sort=False).sum(min_count=1)
        people = (
            pd.Series(weight, index=origins.index).groupby(origins["grid_id"].to_numpy(), sort=False).sum()
        )
        means = sums.div(people.replace(0, np.nan), axis=0)
        means["population"] = people
        cells = _grid_cells(self.inputs, origins)
        return gpd.GeoDataFrame(
            means.reset_index(names="grid_id"),
            geometry=cells.reindex(means.index).to_numpy(),
            crs=self.inputs.crs,
        )

    def area_table(self) -> gpd.GeoDataFrame:
        """The areas the run reports on, as ``areas.parquet`` holds them (run's CRS).

        One row per area: the study area (``level`` ``city``, named after the region) and each district
        (``level`` ``district``), with ``name``, ``level``, ``area_km2``, the districts' further name columns
        (e.g. ``name:zh``, ``name:en`` of OSM districts), ``caveat`` (None unless the boundaries are
        approximate) and the geometry.
        """
        districts = self.districts
        extra = dict(districts.columns) if districts is not None else {}
        rows = []
        for area in self.areas:
            row: dict[str, Any] = {
                "name": self.access.region.config.name if area.level == "city" else area.name,
                "level": area.level,
                "area_km2": area.area_km2,
            }
            index = districts.names.index(area.name) if area.level == "district" and districts else None
            for column, values in extra.items():
                row[column] = None if index is None else values[index]
            row["caveat"] = districts.caveat if index is not None and districts else None
            rows.append(row)
        columns = ["name", "level", "area_km2", *extra, "caveat"]
        table = pd.DataFrame(rows, columns=columns).astype(
            {"caveat": "string", **dict.fromkeys(extra, "string")}
        )
        return gpd.GeoDataFrame(table, geometry=[a.geometry for a in self.areas], crs=self.inputs.crs)

    def manifest(self) -> dict[str, Any]:
        """The access run's manifest with the indicator method versions, areas, districts and all timings."""
        manifest = self.access.manifest()
        manifest["parameters"]["indicators"] = {name: method_version(name) for name in FAMILY_FILES}
        manifest["areas"] = [
            {"name": a.name, "level": a.level, "area_km2": round(a.area_km2, 4)} for a in self.areas
        ]
        districts = self.access.region.config.districts
        if isinstance(districts, Path):
            manifest["inputs"]["districts"] = file_record(districts)
        if districts is not None:
            manifest["parameters"]["districts"] = {
                "source": str(districts),
                "count": 0 if self.districts is None else len(self.districts.names),
                "approximate": self.districts is not None and self.districts.caveat is not None,
            }
        manifest["indicators"] = len(self.indicators)
        manifest["timings_s"] = {k: round(v, 4) for k, v in self.timings.items()}
        return manifest

    def write(self, out: str | os.PathLike[str], lang: str = "en") -> Path:
        """Write the run folder ``<out>/<timestamp>/`` atomically and return its path.

        It holds ``manifest.json``, ``origins.parquet``, ``areas.parquet``, ``destinations.parquet``,
        ``network.parquet``, ``indicators.json``, ``indicators.csv`` and ``report.html`` (in ``lang``: ``en``
        or ``zh``).
        """
        from exquisite.outputs.report import render_report

        t0 = time.perf_counter()
        html = render_report(self, lang)
        self.timings["report"] = time.perf_counter() - t0
        records = [r.to_dict() for r in self.indicators]
        writers = self.access.writers()
        writers["origins.parquet"] = lambda p: self.origins.to_parquet(p, index=False)
        writers["areas.parquet"] = lambda p: self.area_table().to_parquet(p, index=False)
        writers["indicators.json"] = lambda p: p.write_text(
            json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        writers["indicators.csv"] = lambda p: p.write_text(_csv(self.indicator_table()), encoding="utf-8")
        writers["report.html"] = lambda p: p.write_text(html, encoding="utf-8")
        return write_run_folder(out, writers, self.manifest())


def analyse(config: StudyRegion | str | os.PathLike[str], report: StepReporter | None = None) -> Analysis:
    """Run the whole analysis of a study region: access, life circles, SDG 11, the peer set and equity.

    Parameters
    ----------
    config
        A validated :class:`~exquisite.config.StudyRegion`, or the path of its YAML file.
    report
        Called with each finished step's name and duration.

    Returns
    -------
    Analysis
        Origins (GeoDataFrame) with every per-origin value, the indicator records for the city and its
        districts; :meth:`Analysis.write` writes the run folder with the report.
    """
    region_config = config if isinstance(config, StudyRegion) else load_region(config)
    families = indicator_families()

    def nearest_sets(destinations: gpd.GeoDataFrame) -> dict[str, np.ndarray]:
        sets: dict[str, np.ndarray] = {}
        for family in families:
            sets.update(family.destination_sets(destinations))
        return sets

    from exquisite.indicators.lifecircle import largest_radius_m

    # the life circles judge items at radii beyond the profiles' thresholds (e.g. 1,000 m at 1.2 m/s)
    run = run_access(region_config, report, nearest_sets, largest_radius_m(dict(region_config.profiles)))
    timings = dict(run.timings)
    t0 = time.perf_counter()
    inputs = AnalysisInputs.from_run(run)
    values = pd.concat([family.origin_values(inputs) for family in families], axis=1)
    values.index = inputs.origins.index
    origins = pd.concat([inputs.origins, values], axis=1)
    origins["grid_id"] = _grid_ids(inputs)
    areas = [Area("city", "city", inputs.boundary, np.ones(len(origins), dtype=bool))]
    districts = _districts(run, inputs)
    if districts is not None:
        origins["district"] = districts.assign(origins.geometry)
        areas += districts.areas(origins["district"].to_numpy())
    inputs = AnalysisInputs(**{**inputs.__dict__, "origins": origins})
    records = [record for area in areas for family in families for record in family.indicators(inputs, area)]
    if districts is not None and districts.caveat is not None:
        records = [
            replace(r, caveats=[*r.caveats, districts.caveat]) if r.area in districts.names else r
            for r in records
        ]
    timings["indicators"] = time.perf_counter() - t0
    if report is not None:
        report("indicators", timings["indicators"])
    return Analysis(
        access=run,
        inputs=inputs,
        origins=gpd.GeoDataFrame(origins, geometry="geometry", crs=inputs.crs),
        areas=areas,
        indicators=records,
        timings=timings,
        districts=districts,
    )


def _districts(run: AccessRun, inputs: AnalysisInputs) -> Districts | None:
    """The study region's districts: its file's, or approximate ones from its OSM file (``districts: osm``).

    The warnings of OSM districts (their caveat, or why there are none) join the region's warnings, which the
    manifest, the command line and the report show.
    """
    config = run.region.config
    if config.districts is None:
        return None
    if isinstance(config.districts, Path):
        return load_districts(config.districts, config.district_name_column, inputs.crs, inputs.boundary)
    districts, warnings = osm_districts(config.osm, inputs.crs, inputs.boundary)
    run.region.warnings.extend(w for w in warnings if w not in run.region.warnings)
    return districts


def _grid_ids(inputs: AnalysisInputs) -> np.ndarray:
    """The grid cell of each origin: its own population cell, or a 100 m square for building estimates."""
    if inputs.population.source != "buildings":
        return inputs.origins["cell_id"].astype(str).to_numpy()
    x = np.floor(inputs.origins.geometry.x.to_numpy() / GRID_SIZE_M).astype(np.int64)
    y = np.floor(inputs.origins.geometry.y.to_numpy() / GRID_SIZE_M).astype(np.int64)
    return np.char.add(np.char.add(x.astype(str), "_"), y.astype(str))


def _grid_cells(inputs: AnalysisInputs, origins: pd.DataFrame) -> gpd.GeoSeries:
    """Geometry of each grid cell, indexed by ``grid_id``."""
    import shapely

    if inputs.population.source != "buildings":
        cells = inputs.population.cells
        return (
            gpd.GeoSeries(cells.geometry.to_numpy(), index=cells["cell_id"].astype(str).to_numpy())
            .groupby(level=0)
            .first()
        )
    ids = pd.unique(origins["grid_id"])
    xy = np.array([i.split("_") for i in ids], dtype=np.int64) * GRID_SIZE_M
    boxes = shapely.box(xy[:, 0], xy[:, 1], xy[:, 0] + GRID_SIZE_M, xy[:, 1] + GRID_SIZE_M)
    return gpd.GeoSeries(boxes, index=ids)


def _csv(table: pd.DataFrame) -> str:
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, quoting=csv.QUOTE_MINIMAL)
    return buffer.getvalue()
