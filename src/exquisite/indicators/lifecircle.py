"""GB 50180-2018 life circles: coverage per facility, completeness per origin and area, gaps, green space.

Tiers, items, radii and the planning speed live in ``data/lifecircles.yml`` with their sources. The method is
methods.md §10:

* an origin is **covered** for an item when the network distance to the nearest facility of any of the
  item's categories is at most the item's radius: the standard's metres for the distance profile
  (``gb50180``), and for a time profile (the inclusive variant) ``speed × radius_m / planning_speed``, i.e.
  the profile's speed times the minutes the standard's radius takes at 60 m/min;
* the **completeness** of an origin for a tier is the share of the tier's measured required (▲) items it
  covers; an area's completeness is its population-weighted mean;
* a **gap** is the people of an area not covered for an item;
* **green space per resident** is the area of public open space in spaces of at least the tier's park size,
  inside the area, divided by its residents (Table 4.0.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from exquisite.config import Profile
from exquisite.indicators.inputs import GROUP_COLUMNS, AnalysisInputs
from exquisite.indicators.parameters import load_parameters, method_version
from exquisite.indicators.records import Area, Indicator, population_share, weighted_mean

#: The family's parameter file under ``exquisite/data``.
PARAMETER_FILE = "lifecircles.yml"
#: Prefix of this family's per-origin columns.
PREFIX = "lifecircle"


@dataclass(frozen=True)
class Item:
    """One facility item of a life-circle tier.

    Attributes
    ----------
    key
        Identifier (``kindergarten``, ``health_centre`` …); the same key in two tiers is the same facility.
    tier
        The tier it belongs to (``5min``, ``10min``, ``15min``).
    label
        ``{"en": …, "zh": …}``.
    required
        True for the standard's ▲ (must provide), False for △ (should provide) and other items.
    categories
        Destination categories or sets that serve the item (any of them); empty when not measured.
    radius_m
        Service radius in metres at the standard's planning speed (NaN when not measured).
    not_measured
        Why the item cannot be measured from the data (empty when it is measured).
    source
        The clause of the standard it comes from, with its confidence tag.
    """

    key: str
    tier: str
    label: dict[str, str]
    required: bool
    categories: tuple[str, ...]
    radius_m: float
    not_measured: str
    source: str

    @property
    def measured(self) -> bool:
        """Whether the item maps onto destination categories."""
        return not self.not_measured


@dataclass(frozen=True)
class Tier:
    """A life-circle tier with its items and its green-space rule.

    Attributes
    ----------
    name
        ``5min``, ``10min`` or ``15min``.
    label
        ``{"en": …, "zh": …}``.
    distance_m
        The tier's walking distance in metres.
    items
        Every item the standard lists for the tier, measured or not, in file order.
    green_target_m2
        Public green space the standard asks for, m² per resident.
    park_set
        Name of the destination set of open spaces large enough to count as the tier's parks.
    """

    name: str
    label: dict[str, str]
    distance_m: float
    items: tuple[Item, ...]
    green_target_m2: float
    park_set: str

    @property
    def measured(self) -> tuple[Item, ...]:
        """The items that map onto destination categories."""
        return tuple(item for item in self.items if item.measured)

    @property
    def required(self) -> tuple[Item, ...]:
        """The measured required (▲) items: those completeness counts."""
        return tuple(item for item in self.measured if item.required)

    @property
    def unmeasured_required(self) -> tuple[Item, ...]:
        """The required items the data cannot show."""
        return tuple(item for item in self.items if item.required and not item.measured)


def _params() -> dict[str, Any]:
    return load_parameters(PARAMETER_FILE)["parameters"]


@cache
def tiers() -> dict[str, Tier]:
    """The tiers of ``lifecircles.yml``, in file order (15, 10, 5 minutes).

    Raises
    ------
    ValueError
        When an item key is used with different categories in two tiers, or an item has neither
        ``categories`` nor ``not_measured``.
    """
    result: dict[str, Tier] = {}
    seen: dict[str, tuple[str, ...]] = {}
    for name, spec in _params()["tiers"].items():
        items = []
        for key, item in spec["items"].items():
            categories = tuple(item.get("categories", ()))
            reason = str(item.get("not_measured", ""))
            if bool(categories) == bool(reason):
                raise ValueError(
                    f"{PARAMETER_FILE}: item {name}.{key} needs either categories or not_measured"
                )
            if categories and seen.setdefault(key, categories) != categories:
                raise ValueError(f"{PARAMETER_FILE}: item {key} has different categories in two tiers")
            items.append(
                Item(
                    key=key,
                    tier=name,
                    label=dict(item["label"]),
                    required=bool(item["required"]),
                    categories=categories,
                    radius_m=float(item["radius_m"]) if categories else float("nan"),
                    not_measured=reason,
                    source=str(item["source"]),
                )
            )
        result[name] = Tier(
            name=name,
            label=dict(spec["label"]),
            distance_m=float(spec["distance_m"]),
            items=tuple(items),
            green_target_m2=float(spec["green"]["target_m2_per_person"]),
            park_set=str(spec["green"]["park_set"]),
        )
    return result


def measured_items() -> dict[str, Item]:
    """Every measured item by key, once (an item of several tiers appears with its first tier)."""
    items: dict[str, Item] = {}
    for tier in tiers().values():
        for item in tier.measured:
            items.setdefault(item.key, item)
    return items


def variants(profiles: dict[str, Profile]) -> dict[str, float | None]:
    """The profiles coverage is reported at: name → walking speed (m/s), None for the standard's metres.

    The standard's distance profile (``gb50180``) always comes first, whether or not the run has it; then
    every time profile of the run. Other distance profiles of the run are not used: their distances are not
    the standard's item radii.
    """
    standard = str(_params()["standard_profile"])
    result: dict[str, float | None] = {standard: None}
    for name, profile in profiles.items():
        if name != standard and not profile.is_distance and profile.speed_m_s is not None:
            result[name] = float(profile.speed_m_s)
    return result


def item_radius_m(item: Item, speed_m_s: float | None) -> float:
    """The item's radius for a profile: the standard's metres, or ``speed × radius / planning speed``.

    Parameters
    ----------
    item
        A measured item.
    speed_m_s
        The time profile's speed, or None for the standard's distance profile.
    """
    if speed_m_s is None:
        return item.radius_m
    return round(speed_m_s * item.radius_m / float(_params()["planning_speed_m_s"]), 6)


def largest_radius_m(profiles: dict[str, Profile]) -> float:
    """The largest item radius over the reported profiles: how far access must search to judge every item.

    With the default profiles this is 1,200 m (a 1,000 m item at the adult 1.2 m/s), beyond the 1,080 m the
    access run searches for the profiles' own thresholds; coverage at a radius beyond the search is counted
    within the search distance and flagged in a caveat.
    """
    speeds = variants(profiles).values()
    return max(item_radius_m(item, speed) for item in measured_items().values() for speed in speeds)


def destination_sets(destinations: gpd.GeoDataFrame) -> dict[str, np.ndarray]:
    """Open spaces of at least each tier's smallest park size, as sets whose nearest distance is needed.

    Parameters
    ----------
    destinations
        The run's destinations (``category`` and ``area_m2``).

    Returns
    -------
    dict
        Set name (``lifecircle_park_5ha`` …) → boolean mask over the destinations.
    """
    category = destinations["category"].to_numpy(dtype=object)
    if "area_m2" in destinations.columns:
        area_m2 = pd.to_numeric(destinations["area_m2"], errors="coerce").to_numpy(dtype=float)
    else:
        area_m2 = np.full(len(destinations), np.nan)
    sets = {}
    for name, spec in _params()["destination_sets"].items():
        with np.errstate(invalid="ignore"):
            sets[name] = (category == spec["category"]) & (area_m2 >= float(spec["min_area_ha"]) * 1e4)
    return sets


def item_nearest_m(origins: pd.DataFrame, item: Item) -> np.ndarray:
    """Network distance (m) from each origin to the nearest facility of any of the item's categories.

    Categories without a ``nearest_m__<category>`` column in this run (e.g. GTFS stops without feeds) are
    skipped; NaN where none lies within the distance searched.
    """
    columns = [f"nearest_m__{c}" for c in item.categories if f"nearest_m__{c}" in origins.columns]
    nearest = np.full(len(origins), np.nan)
    for column in columns:
        nearest = np.fmin(nearest, origins[column].to_numpy(dtype=float))
    return nearest


def _covered(nearest: np.ndarray, radius_m: float, cutoff_m: float) -> np.ndarray:
    """Origins within the radius (a radius beyond the search is judged at the search distance)."""
    with np.errstate(invalid="ignore"):
        return nearest <= min(radius_m, cutoff_m)


def _completeness(inputs: AnalysisInputs, tier: Tier, speed: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Per origin: share of the tier's measured required items covered (0–1) and the count not covered."""
    required = tier.required
    covered = np.zeros((len(inputs.origins), len(required)), dtype=bool)
    for j, item in enumerate(required):
        nearest = item_nearest_m(inputs.origins, item)
        covered[:, j] = _covered(nearest, item_radius_m(item, speed), inputs.cutoff_m)
    if not required:
        return np.full(len(inputs.origins), np.nan), np.zeros(len(inputs.origins), dtype=np.int64)
    return covered.mean(axis=1), (len(required) - covered.sum(axis=1)).astype(np.int64)


def origin_values(inputs: AnalysisInputs) -> pd.DataFrame:
    """Per-origin life-circle values.

    Returns
    -------
    pandas.DataFrame
        Same rows as ``inputs.origins``: ``lifecircle__nearest_m__<item>`` (metres to the nearest facility
        serving the item, NaN beyond the search), and per tier and profile
        ``lifecircle__<tier>__completeness__<profile>`` (0–1: share of the tier's measured required items
        covered) and ``lifecircle__<tier>__missing__<profile>`` (number of those items not covered).
    """
    columns: dict[str, np.ndarray] = {}
    for key, item in measured_items().items():
        columns[f"{PREFIX}__nearest_m__{key}"] = item_nearest_m(inputs.origins, item)
    for tier in tiers().values():
        for profile, speed in variants(inputs.profiles).items():
            share, missing = _completeness(inputs, tier, speed)
            columns[f"{PREFIX}__{tier.name}__completeness__{profile}"] = share
            columns[f"{PREFIX}__{tier.name}__missing__{profile}"] = missing
    return pd.DataFrame(columns, index=inputs.origins.index)


def _combinations(inputs: AnalysisInputs) -> list[tuple[str, str, float | None]]:
    """(group, profile, speed) pairs reported: everyone at every profile, each group at its own profile."""
    reported = variants(inputs.profiles)
    pairs: list[tuple[str, str, float | None]] = [("all", p, s) for p, s in reported.items()]
    for group, profile in _params()["group_profiles"].items():
        if group in inputs.groups and profile in reported:
            pairs.append((group, profile, reported[profile]))
    return pairs


def _destination_counts(destinations: gpd.GeoDataFrame) -> dict[str, int]:
    """Measured item → destinations in the run serving it (0: the item cannot be reached anywhere)."""
    sets = destination_sets(destinations)
    category = destinations["category"].to_numpy(dtype=object)
    counts = {}
    for key, item in measured_items().items():
        serving = np.zeros(len(destinations), dtype=bool)
        for name in item.categories:
            serving |= sets.get(name, category == name)
        counts[key] = int(serving.sum())
    return counts


def _item_caveats(cutoff_m: float, item: Item, radius_m: float, profile: str, count: int) -> list[str]:
    caveats = []
    if radius_m > cutoff_m:
        caveats.append(
            f"The {profile} radius of this item ({radius_m:g} m) is beyond the largest distance searched "
            f"({cutoff_m:g} m): coverage is counted within {cutoff_m:g} m, a lower bound."
        )
    if count == 0:
        caveats.append(
            f"No {' / '.join(item.categories)} found in the data: zero coverage may mean the facilities are "
            "not mapped rather than absent."
        )
    return caveats


#: What every life-circle record carries: the standard's tables are transcribed from recollection.
TRANSCRIPTION_CAVEAT = (
    "Items, ▲/△ marks and service radii follow GB 50180-2018 Appendix B and C as transcribed in "
    "methods.md §7.1 [M]: verify against the standard before quoting."
)


def indicators(inputs: AnalysisInputs, area: Area) -> list[Indicator]:
    """Life-circle records of one area.

    Per tier (``5min``, ``10min``, ``15min``), for everyone at every profile and for each age group at its
    own profile (children at ``child``, older people at ``older``, adults at ``adult``):
    ``lifecircle_<tier>_completeness`` (population-weighted mean share of required items covered, %),
    ``lifecircle_<tier>_complete`` (% of people covered for every required item),
    ``lifecircle_<tier>_coverage`` (% of people covered, per measured item; parameters ``item``, ``profile``,
    ``radius_m``) and ``lifecircle_<tier>_gap`` (people not covered, per required item). Once per tier
    for everyone: ``lifecircle_<tier>_green_per_capita`` (m² of public open space in large enough spaces
    per resident).

    Parameters
    ----------
    inputs
        The run, its origins holding the ``nearest_m__<category or set>`` columns.
    area
        The city or a district: its origins mask restricts the people, its geometry the green space.

    Returns
    -------
    list of Indicator
        Value None, with a caveat, where the area (or group) has no residents.
    """
    mask = np.asarray(area.origins, dtype=bool)
    sources = inputs.pick_sources("osm", "population", "gtfs")
    version = method_version(PARAMETER_FILE)
    nearest = {key: item_nearest_m(inputs.origins, item)[mask] for key, item in measured_items().items()}
    counts = _destination_counts(inputs.destinations)
    records: list[Indicator] = []

    def record(
        indicator_id: str, value: Any, unit: str, group: str, parameters: dict[str, Any], **kw: Any
    ) -> None:
        caveats = list(kw.pop("caveats", []))
        if kw.get("denominator") is not None and not kw["denominator"] > 0:
            value = None
            caveats.append("No residents of this group live in this area.")
        records.append(
            Indicator(
                id=indicator_id,
                value=value,
                unit=unit,
                group=group,
                area=area.name,
                parameters=parameters,
                sources=sources,
                method_version=version,
                caveats=caveats,
                **kw,
            )
        )

    for tier in tiers().values():
        unmeasured = [item.key for item in tier.unmeasured_required]
        common = [TRANSCRIPTION_CAVEAT]
        for group, profile, speed in _combinations(inputs):
            weights = inputs.weights(group)[mask]
            people = float(weights.sum())
            radii = {item.key: item_radius_m(item, speed) for item in tier.measured}
            covered = {
                item.key: _covered(nearest[item.key], radii[item.key], inputs.cutoff_m)
                for item in tier.measured
            }
            base = {"tier": tier.name, "profile": profile, "speed_m_s": speed}
            required = [item.key for item in tier.required]
            shares = np.column_stack([covered[k] for k in required]).mean(axis=1)
            mean, num, den = weighted_mean(weights, shares)
            tier_caveats = [
                *common,
                f"{len(unmeasured)} required items of the standard cannot be measured from the data and are "
                f"left out: {', '.join(unmeasured)}.",
            ]
            record(
                f"lifecircle_{tier.name}_completeness",
                None if mean is None else 100.0 * mean,
                "%",
                group,
                {
                    **base,
                    "items": required,
                    "radii_m": {k: radii[k] for k in required},
                    "not_measured": unmeasured,
                },
                numerator=num,
                denominator=den,
                caveats=tier_caveats,
            )
            value, num, den = population_share(weights, shares >= 1.0)
            record(
                f"lifecircle_{tier.name}_complete",
                value,
                "%",
                group,
                {
                    **base,
                    "items": required,
                    "radii_m": {k: radii[k] for k in required},
                    "not_measured": unmeasured,
                },
                numerator=num,
                denominator=den,
                caveats=tier_caveats,
            )
            for item in tier.measured:
                params = {
                    **base,
                    "item": item.key,
                    "categories": list(item.categories),
                    "radius_m": radii[item.key],
                    "required": item.required,
                }
                caveats = [
                    *common,
                    *_item_caveats(inputs.cutoff_m, item, radii[item.key], profile, counts[item.key]),
                ]
                value, num, den = population_share(weights, covered[item.key])
                record(
                    f"lifecircle_{tier.name}_coverage",
                    value,
                    "%",
                    group,
                    params,
                    numerator=num,
                    denominator=den,
                    caveats=caveats,
                )
                if item.required:
                    record(
                        f"lifecircle_{tier.name}_gap",
                        people - num,
                        "people",
                        group,
                        params,
                        numerator=people - num,
                        denominator=people,
                        caveats=caveats,
                    )
        records.append(_green_record(inputs, area, tier, sources, version))
    return records


def _green_record(
    inputs: AnalysisInputs, area: Area, tier: Tier, sources: list[dict[str, Any]], version: str
) -> Indicator:
    """Public open space in spaces of at least the tier's park size inside the area, per resident."""
    people = float(inputs.weights("all")[np.asarray(area.origins, dtype=bool)].sum())
    green = green_area_m2(inputs, area.geometry, tier.park_set)
    spec = _params()["destination_sets"][tier.park_set]
    caveats = [
        "Open space is every public open space of the taxonomy (parks, woods, nature reserves, squares), "
        "wider than GB 50180's public green (公园绿地); spaces are sized whole, then clipped to the area "
        "and merged where they overlap.",
        "GB 50180 measures green space per residential area of a life circle; here it is per reporting area.",
    ]
    value = green / people if people > 0 else None
    if value is None:
        caveats.append("No residents live in this area.")
    return Indicator(
        id=f"lifecircle_{tier.name}_green_per_capita",
        value=value,
        unit="m²/person",
        numerator=green,
        denominator=people,
        group="all",
        area=area.name,
        parameters={
            "tier": tier.name,
            "min_park_ha": float(spec["min_area_ha"]),
            "target_m2_per_person": tier.green_target_m2,
            "meets_target": None if value is None else bool(value >= tier.green_target_m2),
        },
        sources=inputs.pick_sources("osm", "population"),
        method_version=version,
        caveats=caveats,
    )


def green_area_m2(inputs: AnalysisInputs, geometry: shapely.Geometry, park_set: str) -> float:
    """Area (m²) of the open spaces of a park set inside ``geometry``, overlaps counted once.

    Parameters
    ----------
    inputs
        The run: its destinations say which open spaces are large enough, ``osm.features`` holds their
        polygons (EPSG:4326).
    geometry
        The area, in the run's CRS.
    park_set
        A destination set of ``lifecircles.yml`` (``lifecircle_park_5ha`` …).
    """
    destinations = inputs.destinations
    chosen = destinations[destination_sets(destinations)[park_set]]
    if chosen.empty:
        return 0.0
    keys = pd.MultiIndex.from_arrays([chosen["osm_type"].astype(str), chosen["osm_id"].astype(np.int64)])
    features = inputs.osm.features
    wanted = pd.MultiIndex.from_arrays(
        [features["osm_type"].astype(str), features["osm_id"].astype(np.int64)]
    ).isin(keys)
    polygons = features[wanted]
    if polygons.empty:
        return 0.0
    projected = polygons.geometry.to_crs(inputs.crs).to_numpy()
    projected = shapely.make_valid(projected)
    inside = shapely.intersection(projected, geometry)
    return float(shapely.union_all(inside).area)


def lifecircle_gaps(
    inputs: AnalysisInputs,
    tier: str,
    profile: str,
    by: str = "grid_id",
    group: str = "all",
    area: Area | None = None,
    top: int | None = None,
    required_only: bool = True,
) -> pd.DataFrame:
    """Where people live without a life-circle item, ranked by the people affected.

    Parameters
    ----------
    inputs
        The run; ``inputs.origins`` must hold the column ``by`` (``analyse()`` adds ``grid_id``, and
        ``district`` when districts are given).
    tier
        ``5min``, ``10min`` or ``15min``.
    profile
        ``gb50180`` (the standard's metres) or a time profile of the run (``adult``, ``older``, ``child`` …).
    by
        Origins column naming the places to rank (``grid_id``, ``district`` …); origins with no value there
        are counted in the totals but named in no place.
    group
        Population group: ``all``, ``child``, ``adult`` or ``older`` (when the population has age groups).
    area
        Restrict to the origins of this area (default: every origin).
    top
        How many places to name per item (default: ``gap_places`` of ``lifecircles.yml``).
    required_only
        Only the required (▲) items (default), else every measured item.

    Returns
    -------
    pandas.DataFrame
        One row per item, most people lacking first, with columns:

        ``item`` (key), ``label_en``, ``label_zh``, ``required`` (bool), ``categories`` (list of categories
        that serve it), ``radius_m`` (the radius used at this profile),
        ``people_without`` (people of the group farther than the radius from any facility of the item),
        ``people`` (people of the group in the area), ``share_without`` (``people_without ÷ people`` in %,
        NaN with no people), ``places`` (list of up to ``top`` values of ``by`` with the most people
        lacking the item, most first, only places with someone lacking it) and ``places_people`` (list of
        the people lacking it in each of those places, same order).

    Raises
    ------
    KeyError
        When ``tier`` or ``profile`` is unknown, or ``by`` is not a column of the origins.
    """
    chosen = tiers()[tier]
    speeds = variants(inputs.profiles)
    if profile not in speeds:
        raise KeyError(f"profile {profile!r} is not reported; choose one of {sorted(speeds)}")
    if by not in inputs.origins.columns:
        raise KeyError(f"origins have no column {by!r} to rank places by")
    if group not in GROUP_COLUMNS or GROUP_COLUMNS[group] not in inputs.origins.columns:
        raise KeyError(f"the population has no group {group!r}")
    top = int(_params()["gap_places"]) if top is None else top
    mask = np.ones(len(inputs.origins), dtype=bool) if area is None else np.asarray(area.origins, dtype=bool)
    weights = inputs.weights(group)[mask]
    places = inputs.origins[by].to_numpy()[mask]
    people = float(weights.sum())
    rows = []
    for item in chosen.required if required_only else chosen.measured:
        radius = item_radius_m(item, speeds[profile])
        lacking = ~_covered(item_nearest_m(inputs.origins, item)[mask], radius, inputs.cutoff_m)
        without = pd.Series(weights[lacking]).groupby(places[lacking], dropna=True).sum()
        without = without[without > 0].sort_values(ascending=False, kind="stable").head(top)
        people_without = float(weights[lacking].sum())
        rows.append(
            {
                "item": item.key,
                "label_en": item.label["en"],
                "label_zh": item.label["zh"],
                "required": item.required,
                "categories": list(item.categories),
                "radius_m": radius,
                "people_without": people_without,
                "people": people,
                "share_without": 100.0 * people_without / people if people > 0 else float("nan"),
                "places": list(without.index),
                "places_people": [float(v) for v in without.to_numpy()],
            }
        )
    frame = pd.DataFrame(rows, columns=GAP_COLUMNS)
    return frame.sort_values(["people_without", "item"], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )


#: Columns of :func:`lifecircle_gaps`.
GAP_COLUMNS = [
    "item",
    "label_en",
    "label_zh",
    "required",
    "categories",
    "radius_m",
    "people_without",
    "people",
    "share_without",
    "places",
    "places_people",
]


def not_measured(tier: str) -> pd.DataFrame:
    """The items of a tier the data cannot show, with the reason, for the report.

    Returns
    -------
    pandas.DataFrame
        Columns ``item``, ``label_en``, ``label_zh``, ``required`` (bool) and ``reason``.
    """
    rows = [
        {
            "item": item.key,
            "label_en": item.label["en"],
            "label_zh": item.label["zh"],
            "required": item.required,
            "reason": item.not_measured,
        }
        for item in tiers()[tier].items
        if not item.measured
    ]
    return pd.DataFrame(rows, columns=["item", "label_en", "label_zh", "required", "reason"])
