"""The cities the governance service serves: each one's boundary and communities, from its latest run.

A jurisdiction (Open311 ``jurisdiction_id``) is a region folder of the runs catalogue (``helsinki-demo``);
its boundary is the study area and its communities are the districts of its newest run (``areas.parquet``).
Where residents' reports fall is decided here (:meth:`Jurisdiction.contains`,
:meth:`Jurisdiction.community_of`), and what a community can reach on foot comes from the same run's
indicator records (:func:`community_coverage`), so staff see reports next to the community's figures.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import shapely

from exquisite.indicators.parameters import load_parameters
from exquisite.web.catalogue import Run, RunCatalogue
from exquisite.web.pages_dashboard import TIERS, Dashboard
from exquisite.web.ui import UI

__all__ = ["Jurisdiction", "community_coverage", "jurisdiction_of_run", "jurisdictions"]

#: The CRS of a jurisdiction's geometries and of the points asked about (Open311 ``lat``/``long``).
WGS84 = "EPSG:4326"


@dataclass(frozen=True)
class Jurisdiction:
    """One city the service takes reports for, as its newest run draws it.

    Attributes
    ----------
    id
        The region folder of the runs catalogue (``helsinki-demo``): the Open311 ``jurisdiction_id``.
    name
        The region's name (``Helsinki (demo)``).
    run_id
        The run it was read from (``helsinki-demo/20261129T192217Z``).
    boundary
        The study area in EPSG:4326, prepared for point tests.
    community_areas
        ``(name, polygon)`` per community (district) in EPSG:4326, prepared, in the run's order; empty when
        the run has no districts.
    caveat
        What a reader must know of the community boundaries (set when they are approximate), else None.
    """

    id: str
    name: str
    run_id: str
    boundary: shapely.Geometry
    community_areas: tuple[tuple[str, shapely.Geometry], ...] = ()
    caveat: str | None = None

    def contains(self, lon: float, lat: float) -> bool:
        """Whether the point (degrees, EPSG:4326) lies in the jurisdiction (on its edge counts as in)."""
        if not _finite(lon, lat):
            return False
        return bool(shapely.intersects_xy(self.boundary, lon, lat))

    def community_of(self, lon: float, lat: float) -> str | None:
        """The community the point lies in: None outside every one, or when there are none.

        A point on the edge between two communities belongs to the first of them in the run's order, as the
        run's origins do (:meth:`exquisite.districts.Districts.assign`).
        """
        if not _finite(lon, lat):
            return None
        for name, polygon in self.community_areas:
            if shapely.intersects_xy(polygon, lon, lat):
                return name
        return None

    def communities(self) -> list[str]:
        """The communities' names, in the run's order (empty without districts)."""
        return [name for name, _polygon in self.community_areas]

    def centre(self) -> tuple[float, float]:
        """``(lon, lat)`` of the boundary's centroid, or of a point surely inside when the centroid is not."""
        point = shapely.centroid(self.boundary)
        if not shapely.intersects(self.boundary, point):
            point = shapely.point_on_surface(self.boundary)
        return float(point.x), float(point.y)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` of the boundary, in degrees."""
        west, south, east, north = shapely.bounds(self.boundary)
        return float(west), float(south), float(east), float(north)


def jurisdiction_of_run(run: Run) -> Jurisdiction:
    """The jurisdiction a run draws: its study area and its districts, in EPSG:4326 and prepared.

    Parameters
    ----------
    run
        A served run (its folder holds ``areas.parquet``).
    """
    areas = run.areas.to_crs(WGS84)
    levels = areas["level"].astype(str).to_numpy()
    city = areas.geometry[levels == "city"]
    boundary = (
        shapely.union_all(city.to_numpy()) if len(city) else shapely.union_all(areas.geometry.to_numpy())
    )
    shapely.prepare(boundary)
    districts = areas[levels == "district"]
    polygons = list(districts.geometry.to_numpy())
    shapely.prepare(polygons)
    caveats = districts["caveat"].dropna().astype(str).unique() if "caveat" in districts else []
    return Jurisdiction(
        id=run.id.split("/", 1)[0],
        name=run.name,
        run_id=run.id,
        boundary=boundary,
        community_areas=tuple(zip(districts["name"].astype(str), polygons, strict=True)),
        caveat=str(caveats[0]) if len(caveats) else None,
    )


_JURISDICTIONS: dict[tuple[str, str], Jurisdiction] = {}
_LOCK = threading.Lock()


def jurisdictions(catalogue: RunCatalogue) -> dict[str, Jurisdiction]:
    """Every jurisdiction of a runs catalogue, from the newest servable run of each region folder.

    The catalogue is rescanned on each call (a new run replaces its region's jurisdiction at once); each
    run's jurisdiction is read once and kept. Run folders the catalogue skips (e.g. written before
    ``areas.parquet``) are not used: :meth:`RunCatalogue.skipped` says why.

    Returns
    -------
    dict
        Jurisdiction id (region folder) → :class:`Jurisdiction`, in the order of the regions' newest runs.
    """
    found: dict[str, Jurisdiction] = {}
    for run in catalogue.runs():  # newest first
        region = run.id.split("/", 1)[0]
        if region in found:
            continue
        key = (run.id, str(run.folder.resolve()))
        with _LOCK:
            jurisdiction = _JURISDICTIONS.get(key)
            if jurisdiction is None:
                jurisdiction = _JURISDICTIONS[key] = jurisdiction_of_run(run)
        found[region] = jurisdiction
    return found


def community_coverage(
    run: Run, community: str | None, ui: UI | None = None, profile: str | None = None
) -> list[dict[str, Any]]:
    """What a community can reach within its life circles, from the run's indicator records.

    Per tier (5, 10 and 15 minutes, nearest first): one ``completeness`` row (population-weighted share of
    the tier's required facilities within reach, ``lifecircle_<tier>_completeness``), then one ``coverage``
    row per facility (share of residents within its radius, ``lifecircle_<tier>_coverage``), required ones
    first. Everyone (group ``all``) at one walking profile.

    Parameters
    ----------
    run
        The run the community's jurisdiction comes from.
    community
        A district name of the run; None for the whole city.
    ui
        The reader's language for the labels (English when None), labelled as the dashboard does.
    profile
        The walking profile; None for the standard's own distances (``standard_profile`` of
        ``data/lifecircles.yml``), or the run's first profile with life-circle records when it has none.

    Returns
    -------
    list of dict
        Rows with ``tier``, ``tier_label``, ``kind`` (``completeness`` or ``coverage``), ``item`` (None for
        completeness), ``label``, ``required``, ``profile``, ``profile_label``, ``value`` (%, None when the
        community has no residents), ``value_text``, ``numerator`` and ``denominator`` (people), ``caveats``.

    Raises
    ------
    KeyError
        When the run has no records for ``community``.
    """
    area = "city" if community is None else community
    records = [
        r
        for r in run.indicators
        if r.get("area") == area
        and r.get("group") == "all"
        and str(r.get("id", "")).startswith("lifecircle_")
    ]
    if not records:
        raise KeyError(f"the run {run.id} has no life-circle records for the community {community!r}")
    board = Dashboard(run, ui or UI("en", "standard"))
    profiles = board.profiles_of(records)
    if profile is None:
        standard = str(load_parameters("lifecircles.yml")["parameters"]["standard_profile"])
        profile = standard if standard in profiles else profiles[0]
    elif profile not in profiles:
        raise KeyError(f"the run {run.id} has no life-circle records for the profile {profile!r}")
    at_profile = [r for r in records if r.get("parameters", {}).get("profile") == profile]
    rows: list[dict[str, Any]] = []
    for tier in TIERS:
        completeness = [r for r in at_profile if r["id"] == f"lifecircle_{tier}_completeness"]
        coverage = [r for r in at_profile if r["id"] == f"lifecircle_{tier}_coverage"]
        coverage.sort(key=lambda r: not r["parameters"].get("required", False))
        for record in completeness[:1] + coverage:
            item = record["parameters"].get("item")
            rows.append(
                {
                    "tier": tier,
                    "tier_label": board.tier_label(tier),
                    "kind": "coverage" if item is not None else "completeness",
                    "item": item,
                    "label": board.item_label(tier, item) if item is not None else board.label(record["id"]),
                    "required": bool(record["parameters"].get("required", item is None)),
                    "profile": profile,
                    "profile_label": board.profile_label(profile),
                    "value": record.get("value"),
                    "value_text": board.value_text(record.get("value"), str(record.get("unit", "%"))),
                    "numerator": record.get("numerator"),
                    "denominator": record.get("denominator"),
                    "caveats": list(record.get("caveats", [])),
                }
            )
    return rows


def _finite(lon: Any, lat: Any) -> bool:
    """Whether both are finite numbers (no NaN, no infinity, no text)."""
    try:
        return math.isfinite(float(lon)) and math.isfinite(float(lat))
    except (TypeError, ValueError):
        return False
