"""Access of every origin to every category of destination, for every walking profile."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from exquisite.access.kernels import counts_within, multi_source_distances
from exquisite.network.augment import insert_points
from exquisite.network.graph import WalkNetwork
from exquisite.network.snap import Snapped


@dataclass(frozen=True)
class AccessResult:
    """Per-origin access, one row per origin (same order as the origins given).

    Attributes
    ----------
    table
        ``nearest_m__<category>``: network distance in metres to the nearest destination of the category,
        or NaN when none lies within ``cutoff_m``; ``count__<category>__<profile>__<threshold>``: number of
        destinations of the category within that profile's threshold (e.g. ``count__pharmacy__older__10min``).
    categories
        Category names, in column order.
    cutoffs
        Profile → threshold label → distance in metres (e.g. ``{"older": {"5min": 270.0, …}}``).
    cutoff_m
        The largest distance searched.
    timings
        Seconds spent per step (``snap``, ``nearest``, ``counts``).
    """

    table: pd.DataFrame
    categories: list[str]
    cutoffs: dict[str, dict[str, float]]
    cutoff_m: float
    timings: dict[str, float] = field(default_factory=dict)


def nearest_column(category: str) -> str:
    """Column name of the nearest distance to ``category``."""
    return f"nearest_m__{category}"


def count_column(category: str, profile: str, threshold: str) -> str:
    """Column name of the count of ``category`` within ``profile``'s ``threshold``."""
    return f"count__{category}__{profile}__{threshold}"


def compute_access(
    network: WalkNetwork,
    origins: Snapped,
    destinations: Snapped,
    destination_category: np.ndarray,
    categories: list[str],
    cutoffs: Mapping[str, Mapping[str, float]],
    nearest_sets: Mapping[str, np.ndarray] | None = None,
    nearest_cutoff_m: float = 0.0,
) -> AccessResult:
    """Nearest distance and counts within thresholds, per origin, category and profile.

    One search in metres serves every profile: each profile's minute thresholds are distances
    (minutes × 60 × speed), so the counts are tallied at all distinct distances at once.

    Parameters
    ----------
    network
        The walking network.
    origins, destinations
        Snapped origins and destinations (see :func:`exquisite.network.snap.snap_points`).
    destination_category
        Category name of each destination (a destination with several categories appears once per category).
    categories
        All category names to report, including those without any destination (reported as none reachable).
    cutoffs
        Profile → threshold label → distance in metres.
    nearest_sets
        Further sets of destinations (name → boolean mask over the destinations) whose nearest distance
        is wanted without counts, e.g. the GTFS stops with a headway of at most 20 minutes; each gives a
        ``nearest_m__<name>`` column.
    nearest_cutoff_m
        Search nearest distances at least this far, even beyond the largest threshold (an indicator whose
        radius is larger than every count threshold needs it).

    Returns
    -------
    AccessResult
        The per-origin table and what it was computed with.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    n_origins = origins.edge.shape[0]
    graph = insert_points(
        network,
        np.concatenate([origins.edge, destinations.edge]),
        np.concatenate([origins.offset_m, destinations.offset_m]),
    )
    origin_node = graph.point_node[:n_origins]
    dest_node = graph.point_node[n_origins:]
    cat_index = {name: i for i, name in enumerate(categories)}
    dest_cat = np.array([cat_index[c] for c in destination_category], dtype=np.int64)
    reachable = dest_node >= 0
    sets = {name: np.asarray(mask, dtype=bool)[reachable] for name, mask in (nearest_sets or {}).items()}
    dest_node, dest_cat = dest_node[reachable], dest_cat[reachable]

    snapped = origin_node >= 0
    targets, origin_row = np.unique(origin_node[snapped], return_inverse=True)
    thresholds = np.unique(np.array([d for p in cutoffs.values() for d in p.values()], dtype=np.float64))
    cutoff_m = max(float(thresholds.max()) if thresholds.size else 0.0, nearest_cutoff_m)
    timings["snap"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    groups = [dest_node[dest_cat == i] for i in range(len(categories))]
    groups += [dest_node[mask] for mask in sets.values()]
    nearest = multi_source_distances(graph.indptr, graph.indices, graph.weights, groups, cutoff_m, targets)
    timings["nearest"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    counts = counts_within(
        graph.indptr, graph.indices, graph.weights, dest_node, dest_cat, len(categories), thresholds, targets
    )
    timings["counts"] = time.perf_counter() - t0

    columns: dict[str, np.ndarray] = {}
    for i, cat in enumerate([*categories, *sets]):
        col = np.full(n_origins, np.nan)
        dist = nearest[origin_row, i]
        col[snapped] = np.where(np.isfinite(dist), dist, np.nan)
        columns[nearest_column(cat)] = col
    for profile, by_label in cutoffs.items():
        for label, distance in by_label.items():
            k = int(np.searchsorted(thresholds, distance))
            for i, cat in enumerate(categories):
                col = np.zeros(n_origins, dtype=np.int32)
                col[snapped] = counts[origin_row, i, k]
                columns[count_column(cat, profile, label)] = col
    table = pd.DataFrame(columns)
    return AccessResult(
        table=table,
        categories=list(categories),
        cutoffs={p: dict(v) for p, v in cutoffs.items()},
        cutoff_m=cutoff_m,
        timings=timings,
    )
