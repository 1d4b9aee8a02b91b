"""Indicator records: every figure with its numerator, denominator, parameters, sources and caveats."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import shapely

#: Population groups an indicator may be broken down by (``all`` is everyone).
GROUPS = ("all", "child", "adult", "older")


@dataclass(frozen=True)
class Indicator:
    """One indicator value for one area and population group. Never a bare number.

    Attributes
    ----------
    id
        What is measured, named after its standard (``sdg_11_2_1``, ``lifecircle_15min_completeness`` …).
        Variants of one id differ in ``parameters`` (e.g. the category or profile).
    value
        The figure, in ``unit``; None when it cannot be computed (e.g. no population in the area).
    unit
        ``"%"``, ``"pp"`` (percentage points), ``"m"``, ``"min"``, ``"per km²"``, ``"m²/person"``,
        ``"people"``, ``"score"`` or ``"ratio"``.
    numerator, denominator
        What the value is made of (e.g. people served and people in all), when it is a ratio.
    group
        ``all``, ``child``, ``adult`` or ``older``.
    area
        ``"city"`` or the name of a district.
    parameters
        Everything that changes the value: distances, speeds, categories, thresholds.
    sources
        The data the value comes from: ``{"name", "file", "vintage"}`` records.
    method_version
        The parameter file and version the value was computed with, e.g. ``"sdg11.yml v1"``.
    caveats
        What a reader should know before quoting the figure.
    """

    id: str
    value: float | None
    unit: str
    numerator: float | None = None
    denominator: float | None = None
    group: str = "all"
    area: str = "city"
    parameters: dict[str, Any] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    method_version: str = ""
    caveats: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON-ready values (NaN becomes None)."""
        record = asdict(self)
        for key in ("value", "numerator", "denominator"):
            record[key] = _finite(record[key])
        return record


@dataclass(frozen=True)
class Area:
    """An area indicators are reported for: the whole city or one district.

    Attributes
    ----------
    name
        ``"city"`` or the district's name.
    level
        ``"city"`` or ``"district"``.
    geometry
        The area in the run's projected CRS.
    origins
        Boolean mask over the run's origins: those inside the area.
    """

    name: str
    level: str
    geometry: shapely.Geometry
    origins: np.ndarray

    @property
    def area_km2(self) -> float:
        """Area in km²."""
        return float(self.geometry.area) / 1e6


def population_share(weights: np.ndarray, reached: np.ndarray) -> tuple[float | None, float, float]:
    """Percentage of ``weights`` (people per origin) where ``reached`` holds.

    Returns
    -------
    tuple
        ``(value in %, numerator, denominator)``; the value is None when the denominator is zero.
    """
    total = float(np.sum(weights))
    served = float(np.sum(weights[np.asarray(reached, dtype=bool)]))
    return (100.0 * served / total if total > 0 else None), served, total


def weighted_mean(weights: np.ndarray, values: np.ndarray) -> tuple[float | None, float, float]:
    """Mean of ``values`` weighted by ``weights`` (NaN values left out).

    Returns
    -------
    tuple
        ``(mean, Σ weight × value, Σ weight)``; the mean is None when no weight remains.
    """
    values = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(values)
    total = float(np.sum(weights[keep]))
    num = float(np.sum(weights[keep] * values[keep]))
    return (num / total if total > 0 else None), num, total


def _finite(value: Any) -> Any:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None
