"""Equity of access: the share of people beyond a 15-minute walk, the Gini of walking times, the age gap.

For every destination category and every time profile (a walking speed with minutes; distance profiles
such as GB 50180 have no time and are left out), with the profile's longest walk as the threshold
(15 minutes by default):

- ``equity_share_beyond``: % of people whose nearest destination is farther than the threshold or out of
  reach (nearest distance NaN);
- ``equity_gini_walk_time``: population-weighted Gini coefficient of the walking time to the nearest
  destination, time = nearest distance ÷ speed; people with none within the searched distance take that
  distance (the cap), and the record counts them;
- ``equity_gap`` (per category, for children and older people): coverage within the threshold of the group at
  its own profile minus that of adults at theirs, in percentage points.

Groups walk at the profiles ``data/equity.yml`` assigns them. With an age split, each profile also has
records for the group that walks at it; without one, the gap compares the whole population at the two speeds.

No per-origin columns: a walking time is ``nearest_m__<category>`` ÷ the profile's speed, one division the
report can do on the columns the access run already stores; storing it for every category and profile would
multiply the width of ``origins.parquet`` without adding information.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from exquisite.access.compute import nearest_column
from exquisite.config import Profile
from exquisite.indicators.inputs import AnalysisInputs
from exquisite.indicators.parameters import load_parameters, method_version
from exquisite.indicators.records import Area, Indicator, population_share
from exquisite.region import GTFS_CATEGORIES

FILE = "equity.yml"


def _params() -> dict[str, Any]:
    return load_parameters(FILE)["parameters"]


def destination_sets(destinations: gpd.GeoDataFrame) -> dict[str, np.ndarray]:
    """None: equity reads the categories' own nearest distances."""
    return {}


def origin_values(inputs: AnalysisInputs) -> pd.DataFrame:
    """No per-origin columns (walking times are the stored nearest distances ÷ a profile's speed)."""
    return pd.DataFrame(index=inputs.origins.index)


def weighted_gini(values: np.ndarray, weights: np.ndarray) -> float | None:
    """Gini coefficient of ``values`` with each value counted ``weights`` times (people per origin).

    ``G = Σ_i Σ_j w_i w_j |x_i − x_j| / (2 W² μ)`` with ``W = Σ w`` and ``μ = Σ w x / W``, computed in
    ``O(n log n)``: after sorting, ``G = Σ_i w_i x_i (2 B_i + w_i − W) / (W Σ w x)``, ``B_i`` the weight
    before ``i``.

    Parameters
    ----------
    values
        Non-negative values (e.g. walking times); NaN values are left out.
    weights
        Non-negative weights of the same length.

    Returns
    -------
    float or None
        The Gini coefficient (0 = all equal); None when no weight remains. All values zero gives 0.
    """
    x = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    keep = np.isfinite(x) & (w > 0)
    x, w = x[keep], w[keep]
    total = float(w.sum())
    if total <= 0:
        return None
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    mass = float(np.sum(w * x))
    if mass <= 0:
        return 0.0
    before = np.cumsum(w) - w
    return float(np.sum(w * x * (2.0 * before + w - total)) / (total * mass))


def indicators(inputs: AnalysisInputs, area: Area) -> list[Indicator]:
    """Share beyond the threshold, Gini of walking time and the age gap for ``area``.

    Parameters
    ----------
    inputs
        The run, with every family's per-origin columns.
    area
        The city or one district.

    Returns
    -------
    list of Indicator
        For each category: per time profile, ``equity_share_beyond`` and ``equity_gini_walk_time`` for
        everyone and for the group walking at that profile (with an age split); then ``equity_gap`` for
        each compared group.
    """
    params = _params()
    version = method_version(FILE)
    group_profiles: dict[str, str] = dict(params["group_profiles"])
    time_profiles = {n: p for n, p in inputs.profiles.items() if not p.is_distance and p.speed_m_s}
    has_groups = all(g in inputs.groups for g in group_profiles)
    weights = {g: inputs.weights(g)[area.origins] for g in inputs.groups}
    cap_m = float(inputs.cutoff_m)
    records: list[Indicator] = []
    for category in inputs.categories:
        column = nearest_column(category)
        if column not in inputs.origins.columns:
            continue
        nearest = inputs.origins[column].to_numpy(dtype=float)[area.origins]
        capped = np.where(np.isfinite(nearest), np.minimum(nearest, cap_m), cap_m)
        sources = inputs.pick_sources(
            "osm", "population", *(("gtfs",) if category in GTFS_CATEGORIES.values() else ())
        )
        base = {"category": category}
        for name, profile in time_profiles.items():
            threshold = _threshold(inputs, name)
            walkers = [g for g, p in group_profiles.items() if p == name and has_groups]
            groups = ["all", *walkers]
            for group in groups:
                w = weights[group]
                common = {
                    **base,
                    "profile": name,
                    "speed_m_s": profile.speed_m_s,
                    "minutes": max(profile.minutes or (0,)),
                    "distance_m": threshold,
                }
                records.append(
                    _share_beyond(nearest, w, threshold, group, area, common, sources, version, name)
                )
                records.append(
                    _gini(nearest, capped, w, cap_m, profile, group, area, common, sources, version, name)
                )
        gap = {"nearest": nearest, "weights": weights, "has_groups": has_groups, "profiles": time_profiles}
        records.extend(
            _gap(inputs, group, params, area, base, sources, version, **gap) for group in params["gap_groups"]
        )
    return records


def _threshold(inputs: AnalysisInputs, profile: str) -> float:
    """The profile's largest distance cutoff in metres."""
    return float(max(inputs.cutoffs[profile].values()))


def _within(nearest: np.ndarray, threshold: float) -> np.ndarray:
    return np.nan_to_num(nearest, nan=np.inf) <= threshold


def _who(group: str, profile: str) -> str:
    if group == "all":
        return f"Everyone, walking at the {profile} profile's speed."
    return f"People of the {group} group, walking at the {profile} profile's speed."


def _share_beyond(
    nearest: np.ndarray,
    w: np.ndarray,
    threshold: float,
    group: str,
    area: Area,
    parameters: dict[str, Any],
    sources: list[dict[str, Any]],
    version: str,
    profile: str,
) -> Indicator:
    value, num, den = population_share(w, ~_within(nearest, threshold))
    caveats = [_who(group, profile)]
    if value is None:
        caveats.append("No people of this group live in this area, so the share cannot be computed.")
    return Indicator(
        id="equity_share_beyond",
        value=value,
        unit="%",
        numerator=num,
        denominator=den,
        group=group,
        area=area.name,
        parameters=dict(parameters),
        sources=sources,
        method_version=version,
        caveats=caveats,
    )


def _gini(
    nearest: np.ndarray,
    capped: np.ndarray,
    w: np.ndarray,
    cap_m: float,
    profile: Profile,
    group: str,
    area: Area,
    parameters: dict[str, Any],
    sources: list[dict[str, Any]],
    version: str,
    name: str,
) -> Indicator:
    speed = float(profile.speed_m_s or 0.0)
    minutes = capped / speed / 60.0
    cap_min = cap_m / speed / 60.0
    unreached = ~np.isfinite(nearest) & (w > 0)
    people_capped = float(np.sum(w[unreached]))
    origins_capped = int(np.count_nonzero(unreached))
    caveats = [
        _who(group, name),
        "The Gini does not depend on the walking speed (it is scale-free): the profiles differ only in whose "
        "people are weighted.",
    ]
    value = weighted_gini(minutes, w)
    if value is None:
        caveats.append("No people of this group live in this area, so the Gini cannot be computed.")
    elif people_capped >= float(np.sum(w)):
        value = None
        caveats.append(
            f"Nobody reaches this category within the searched {cap_m:.0f} m, so the Gini is undefined "
            "(coverage is zero)."
        )
    elif origins_capped:
        caveats.append(
            f"{people_capped:,.0f} people ({origins_capped} origins) have none within the searched "
            f"{cap_m:.0f} m; their walking time counts as {cap_min:.1f} min, so the Gini understates "
            "inequality."
        )
    return Indicator(
        id="equity_gini_walk_time",
        value=value,
        unit="ratio",
        numerator=None,
        denominator=float(np.sum(w)),
        group=group,
        area=area.name,
        parameters={
            **parameters,
            "cap_m": cap_m,
            "cap_min": cap_min,
            "people_at_cap": people_capped,
            "origins_at_cap": origins_capped,
        },
        sources=sources,
        method_version=version,
        caveats=caveats,
    )


def _gap(
    inputs: AnalysisInputs,
    group: str,
    params: dict[str, Any],
    area: Area,
    base: dict[str, Any],
    sources: list[dict[str, Any]],
    version: str,
    *,
    nearest: np.ndarray,
    weights: dict[str, np.ndarray],
    has_groups: bool,
    profiles: dict[str, Profile],
) -> Indicator:
    reference = params["gap_reference"]
    profile = params["group_profiles"][group]
    ref_profile = params["group_profiles"][reference]
    parameters: dict[str, Any] = {
        **base,
        "profile": profile,
        "reference_group": reference,
        "reference_profile": ref_profile,
    }
    caveats: list[str] = []
    value = None
    missing = [p for p in (profile, ref_profile) if p not in profiles]
    if missing:
        caveats.append(f"The run has no time profile {', '.join(missing)}, so the gap cannot be computed.")
    else:
        if has_groups:
            w_group, w_ref = weights[group], weights[reference]
        else:
            w_group = w_ref = weights["all"]
            caveats.append(
                "The population has no age split: the gap compares the same people walking at the two "
                "speeds, so it shows the effect of speed alone."
            )
        threshold = _threshold(inputs, profile)
        ref_threshold = _threshold(inputs, ref_profile)
        covered, _, _ = population_share(w_group, _within(nearest, threshold))
        ref_covered, _, _ = population_share(w_ref, _within(nearest, ref_threshold))
        parameters.update(
            {
                "distance_m": threshold,
                "reference_distance_m": ref_threshold,
                "coverage_pct": covered,
                "reference_coverage_pct": ref_covered,
            }
        )
        if covered is None or ref_covered is None:
            caveats.append("No people of one of the groups live in this area, so the gap cannot be computed.")
        else:
            value = covered - ref_covered
    return Indicator(
        id="equity_gap",
        value=value,
        unit="pp",
        group=group,
        area=area.name,
        parameters=parameters,
        sources=sources,
        method_version=version,
        caveats=caveats,
    )
