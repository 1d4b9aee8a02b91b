"""The resident service finder: what a person reaches on foot from a point, answered from the run's network.

A :class:`Finder` is built once per run: the network of ``network.parquet`` with every destination of
``destinations.parquet`` inserted as a node where it was snapped (``snap_edge``, ``snap_offset_m``), and a
spatial index of the street segments. A question then costs one snap and one bounded Dijkstra with
predecessors, started from the two ends of the piece of edge the point lies on with their offsets — so every
distance is exact along the streets, to the metre, and every route line follows them.
"""

from __future__ import annotations

import bisect
import itertools
import math
import threading
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import numpy as np
import pyproj
import shapely
import yaml
from numba import njit

from exquisite.config import Profile, load_profiles
from exquisite.network.build import csr_from_edges
from exquisite.network.from_run import network_from_edges
from exquisite.taxonomy import default_taxonomy

if TYPE_CHECKING:
    import geopandas as gpd

    from exquisite.network.graph import WalkNetwork
    from exquisite.web.catalogue import Run

#: Route lines leave out the vertices closer than this (metres) to the line without them: a third fewer
#: points to send, for a line shorter by under a centimetre (straight stretches of OSM ways carry many
#: vertices that change nothing).
ROUTE_TOLERANCE_M = 0.1

#: Snapped points closer than this to an edge's end (metres) sit on that end's node (as in network.augment).
_END_TOLERANCE_M = 1e-6


# ------------------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------------------


class FinderError(ValueError):
    """A question the finder cannot answer; ``str(error)`` says what to do instead."""


class UnknownProfileError(FinderError):
    """The profile is not one the finder offers."""


class OutsideAreaError(FinderError):
    """The point lies outside the run's study area."""


class FarFromStreetError(FinderError):
    """The point lies farther than the finder's limit from every walkable street (in water, a rail yard …)."""


# ------------------------------------------------------------------------------------------------------------
# Settings (data/finder.yml)
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FinderSettings:
    """The finder's settings, from ``data/finder.yml`` (see that file for the sources and reasons).

    Attributes
    ----------
    profiles
        Names of the walking profiles a resident can pick.
    categories
        Categories shown, in order.
    essential
        Essential category → why it is essential (its nearest place is shown even beyond the thresholds).
    search_minutes
        How far the finder looks for the nearest essential place, in minutes at the profile's speed.
    max_snap_m
        Largest straight-line distance from a point to the nearest walkable street, in metres.
    max_places_per_category
        How many places of one category are listed (nearest first).
    """

    profiles: tuple[str, ...]
    categories: tuple[str, ...]
    essential: dict[str, str]
    search_minutes: float
    max_snap_m: float
    max_places_per_category: int


@cache
def finder_settings() -> FinderSettings:
    """The packaged finder settings (``exquisite/data/finder.yml``)."""
    data = yaml.safe_load((files("exquisite") / "data" / "finder.yml").read_text(encoding="utf-8"))
    return FinderSettings(
        profiles=tuple(data["profiles"]),
        categories=tuple(data["categories"]),
        essential={str(k): str(v) for k, v in data["essential"].items()},
        search_minutes=float(data["search_minutes"]),
        max_snap_m=float(data["max_snap_m"]),
        max_places_per_category=int(data["max_places_per_category"]),
    )


# ------------------------------------------------------------------------------------------------------------
# Answers
# ------------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class SnappedPoint:
    """Where the asked point meets the network.

    Attributes
    ----------
    lon, lat
        The point asked about (WGS84).
    street_lon, street_lat
        Where it meets its nearest walkable street (WGS84); distances are measured from here.
    snap_m
        Straight-line distance between the two, in metres (not added to walking distances, as in the run).
    """

    lon: float
    lat: float
    street_lon: float
    street_lat: float
    snap_m: float


@dataclass(slots=True)
class Place:
    """A place reached on foot.

    Attributes
    ----------
    category
        Its category.
    name
        Its OSM name (None when it has none).
    osm_type, osm_id
        The OSM feature it comes from.
    lon, lat
        Where it is entered (WGS84): its point, or the nearest entrance of an open space.
    distance_m
        Walking distance along the network, in metres.
    minutes
        Walking time at the profile's speed.
    within
        The smallest threshold it lies within (``"5min"`` …), or None beyond the largest.
    route
        The walking route as ``[lon, lat]`` pairs, from the street point of the question to the place's street
        point, along the streets (None when routes were not asked for).
    """

    category: str
    name: str | None
    osm_type: str
    osm_id: int
    lon: float
    lat: float
    distance_m: float
    minutes: float
    within: str | None
    route: list[tuple[float, float]] | None = None


@dataclass(slots=True)
class CategoryServices:
    """The places of one category reached from a point.

    Attributes
    ----------
    category
        Category name.
    label_en, label_zh
        Its labels.
    essential
        Whether it is an essential kind (then ``nearest`` is given even beyond the largest threshold).
    counts
        Number of distinct places within each threshold (``{"5min": 2, "10min": 5, "15min": 9}``).
    places
        The places within the largest threshold, nearest first, at most the finder's per-category limit.
    nearest
        The nearest place within the search limit (of any kind with a place in reach), or None.
    none_within_minutes
        When nothing of the kind lies within the search limit: that limit in minutes ("none within 30 min").
    """

    category: str
    label_en: str
    label_zh: str
    essential: bool
    counts: dict[str, int]
    places: list[Place]
    nearest: Place | None
    none_within_minutes: float | None


@dataclass(slots=True)
class ProfileInfo:
    """The walking profile of an answer.

    Attributes
    ----------
    name, label_en, label_zh
        The profile.
    speed_m_s
        Its walking speed.
    thresholds
        Threshold label → ``{"minutes": m, "distance_m": d}``.
    search_minutes
        How far the nearest essential places were searched, in minutes.
    """

    name: str
    label_en: str
    label_zh: str
    speed_m_s: float
    thresholds: dict[str, dict[str, float]]
    search_minutes: float


@dataclass(slots=True)
class Services:
    """Services near a point for one walking profile.

    Attributes
    ----------
    point
        The point and where it meets the network.
    profile
        The profile.
    categories
        One entry per category shown, in the finder's order.
    """

    point: SnappedPoint
    profile: ProfileInfo
    categories: list[CategoryServices]


@dataclass(slots=True)
class CategoryAccess:
    """Access to one category from a point, with the meaning of ``origins.parquet``'s columns.

    Attributes
    ----------
    category
        Category name.
    nearest_m
        Network distance to the nearest destination, or None when none lies within the run's largest distance.
    counts
        Profile → threshold → number of destinations within it (an open space counts once per entrance
        point, as in ``count__<category>__<profile>__<threshold>``).
    """

    category: str
    nearest_m: float | None
    counts: dict[str, dict[str, int]]


@dataclass(slots=True)
class Access:
    """Access at a point: per category, nearest distance and counts within the run's thresholds.

    Attributes
    ----------
    point
        The point and where it meets the network.
    cutoff_m
        The largest distance searched (the run's).
    categories
        One entry per category of the run.
    """

    point: SnappedPoint
    cutoff_m: float
    categories: list[CategoryAccess]


# ------------------------------------------------------------------------------------------------------------
# Kernels
# ------------------------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True, inline="always")
def _push(hkey: np.ndarray, hnode: np.ndarray, size: int, key: float, node: int) -> int:
    """Push ``(key, node)`` onto the binary heap; return its new size."""
    k = size
    while k > 0:
        parent = (k - 1) >> 1
        if hkey[parent] <= key:
            break
        hkey[k] = hkey[parent]
        hnode[k] = hnode[parent]
        k = parent
    hkey[k] = key
    hnode[k] = node
    return size + 1


@njit(cache=True, nogil=True)
def _search(
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    roots: np.ndarray,
    root_dist: np.ndarray,
    cutoff: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dijkstra from ``roots`` (starting at ``root_dist``) up to ``cutoff``, with predecessors.

    Returns the distances (``inf`` where not reached), the predecessor node and the CSR entry by which each
    node was reached (``-1`` for roots and unreached nodes).
    """
    n = indptr.shape[0] - 1
    dist = np.full(n, np.inf)
    pred = np.full(n, -1, dtype=np.int64)
    via = np.full(n, -1, dtype=np.int64)
    cap = indices.shape[0] + roots.shape[0] + 1
    hkey = np.empty(cap)
    hnode = np.empty(cap, dtype=np.int64)
    size = 0
    for i in range(roots.shape[0]):
        r = roots[i]
        d0 = root_dist[i]
        if d0 <= cutoff and d0 < dist[r]:
            dist[r] = d0
            pred[r] = -1
            via[r] = -1
            size = _push(hkey, hnode, size, d0, r)
    while size > 0:
        d = hkey[0]
        node = hnode[0]
        # pop
        size -= 1
        lk = hkey[size]
        ln = hnode[size]
        k = 0
        while True:
            c = 2 * k + 1
            if c >= size:
                break
            if c + 1 < size and hkey[c + 1] < hkey[c]:
                c += 1
            if hkey[c] >= lk:
                break
            hkey[k] = hkey[c]
            hnode[k] = hnode[c]
            k = c
        hkey[k] = lk
        hnode[k] = ln
        if d > dist[node]:
            continue
        for j in range(indptr[node], indptr[node + 1]):
            nd = d + weights[j]
            nbr = indices[j]
            if nd <= cutoff and nd < dist[nbr]:
                dist[nbr] = nd
                pred[nbr] = node
                via[nbr] = j
                size = _push(hkey, hnode, size, nd, nbr)
    return dist, pred, via


@njit(cache=True, nogil=True)
def _emit_part(
    out: np.ndarray,
    m: int,
    e: int,
    a: float,
    b: float,
    geom_ptr: np.ndarray,
    geom_x: np.ndarray,
    geom_y: np.ndarray,
    vert_off: np.ndarray,
) -> int:
    """Write the polyline of edge ``e`` from offset ``a`` to offset ``b`` (either way) into ``out[m:]``."""
    lo = geom_ptr[e]
    hi = geom_ptr[e + 1]
    forward = a <= b
    s = min(a, b)
    t = max(a, b)
    start = m
    # the point at offset s, the vertices strictly between, the point at offset t
    for which in range(2):
        off = s if which == 0 else t
        i = lo
        while i < hi - 2 and vert_off[i + 1] < off:
            i += 1
        seg = vert_off[i + 1] - vert_off[i]
        f = 0.0 if seg <= 0 else min(max((off - vert_off[i]) / seg, 0.0), 1.0)
        px = geom_x[i] + f * (geom_x[i + 1] - geom_x[i])
        py = geom_y[i] + f * (geom_y[i + 1] - geom_y[i])
        if which == 0:
            out[m, 0] = px
            out[m, 1] = py
            m += 1
            for v in range(lo, hi):
                if s < vert_off[v] < t:
                    out[m, 0] = geom_x[v]
                    out[m, 1] = geom_y[v]
                    m += 1
        else:
            out[m, 0] = px
            out[m, 1] = py
            m += 1
    if not forward:
        i = start
        j = m - 1
        while i < j:
            x0 = out[i, 0]
            y0 = out[i, 1]
            out[i, 0] = out[j, 0]
            out[i, 1] = out[j, 1]
            out[j, 0] = x0
            out[j, 1] = y0
            i += 1
            j -= 1
    return m


@njit(cache=True, nogil=True)
def _routes(
    targets: np.ndarray,
    pred: np.ndarray,
    via: np.ndarray,
    adj_piece: np.ndarray,
    piece_u: np.ndarray,
    piece_edge: np.ndarray,
    piece_off0: np.ndarray,
    piece_off1: np.ndarray,
    start_edge: int,
    start_off: float,
    root_a: int,
    off_a: float,
    off_b: float,
    geom_ptr: np.ndarray,
    geom_x: np.ndarray,
    geom_y: np.ndarray,
    vert_off: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Route lines from the start point to each target node, as one coordinate array and a pointer array."""
    n_t = targets.shape[0]
    # first pass: the pieces of each path, root side first
    path_ptr = np.zeros(n_t + 1, dtype=np.int64)
    total = 0
    for k in range(n_t):
        node = targets[k]
        while pred[node] >= 0:
            total += 1
            node = pred[node]
        path_ptr[k + 1] = total
    steps = np.empty(total, dtype=np.int64)
    step_fwd = np.empty(total, dtype=np.bool_)
    roots = np.empty(n_t, dtype=np.int64)
    n_coords = 0
    for k in range(n_t):
        node = targets[k]
        i = path_ptr[k + 1] - 1
        while pred[node] >= 0:
            p = adj_piece[via[node]]
            steps[i] = p
            step_fwd[i] = piece_u[p] == pred[node]
            e = piece_edge[p]
            n_coords += geom_ptr[e + 1] - geom_ptr[e] + 2
            i -= 1
            node = pred[node]
        roots[k] = node
        n_coords += geom_ptr[start_edge + 1] - geom_ptr[start_edge] + 2
    out = np.empty((n_coords, 2))
    ptr = np.zeros(n_t + 1, dtype=np.int64)
    m = 0
    for k in range(n_t):
        begin = m
        root_off = off_a if roots[k] == root_a else off_b
        m = _emit_part(out, m, start_edge, start_off, root_off, geom_ptr, geom_x, geom_y, vert_off)
        for i in range(path_ptr[k], path_ptr[k + 1]):
            p = steps[i]
            a = piece_off0[p] if step_fwd[i] else piece_off1[p]
            b = piece_off1[p] if step_fwd[i] else piece_off0[p]
            m -= 1  # the joint is the last point written
            m = _emit_part(out, m, piece_edge[p], a, b, geom_ptr, geom_x, geom_y, vert_off)
        # drop repeated points (zero-length parts)
        w = begin + 1
        for r in range(begin + 1, m):
            if out[r, 0] != out[w - 1, 0] or out[r, 1] != out[w - 1, 1]:
                out[w, 0] = out[r, 0]
                out[w, 1] = out[r, 1]
                w += 1
        if w == begin + 1 and m > begin:  # a route of one point: keep it twice, so it is a line
            out[w, 0] = out[begin, 0]
            out[w, 1] = out[begin, 1]
            w += 1
        m = w
        ptr[k + 1] = m
    return out[:m], ptr


@njit(cache=True, nogil=True)
def _simplify(coords: np.ndarray, ptr: np.ndarray, tol_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Drop the vertices of each line (lon/lat) that lie within ``tol_m`` metres of the simplified line.

    Douglas–Peucker on a local equirectangular projection of each line. A dropped vertex ``h`` metres off
    a chord of ``L`` metres shortens the line by about ``2 h² / L``: at 0.1 m, well under a centimetre.
    """
    keep = np.zeros(coords.shape[0], dtype=np.bool_)
    stack = np.empty((coords.shape[0] + 1, 2), dtype=np.int64)
    for k in range(ptr.shape[0] - 1):
        a, b = ptr[k], ptr[k + 1]
        if b - a <= 2:
            for i in range(a, b):
                keep[i] = True
            continue
        kx = 111_320.0 * np.cos(np.radians(coords[a, 1]))
        ky = 110_574.0
        keep[a] = True
        keep[b - 1] = True
        stack[0, 0] = a
        stack[0, 1] = b - 1
        top = 1
        while top > 0:
            top -= 1
            i0 = stack[top, 0]
            i1 = stack[top, 1]
            x0 = coords[i0, 0] * kx
            y0 = coords[i0, 1] * ky
            dx = coords[i1, 0] * kx - x0
            dy = coords[i1, 1] * ky - y0
            seg2 = dx * dx + dy * dy
            worst = -1.0
            at = -1
            for i in range(i0 + 1, i1):
                px = coords[i, 0] * kx - x0
                py = coords[i, 1] * ky - y0
                if seg2 > 0:
                    t = min(max((px * dx + py * dy) / seg2, 0.0), 1.0)
                    ex = px - t * dx
                    ey = py - t * dy
                else:
                    ex = px
                    ey = py
                d2 = ex * ex + ey * ey
                if d2 > worst:
                    worst = d2
                    at = i
            if at >= 0 and worst > tol_m * tol_m:
                keep[at] = True
                stack[top, 0] = i0
                stack[top, 1] = at
                stack[top + 1, 0] = at
                stack[top + 1, 1] = i1
                top += 2
    out = np.empty((int(keep.sum()), 2))
    new_ptr = np.zeros(ptr.shape[0], dtype=np.int64)
    m = 0
    for k in range(ptr.shape[0] - 1):
        for i in range(ptr[k], ptr[k + 1]):
            if keep[i]:
                out[m, 0] = coords[i, 0]
                out[m, 1] = coords[i, 1]
                m += 1
        new_ptr[k + 1] = m
    return out, new_ptr


# ------------------------------------------------------------------------------------------------------------
# The finder
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Start:
    """Where a question starts: the snapped point and the two nodes around it."""

    point: SnappedPoint
    edge: int
    offset: float
    roots: np.ndarray
    root_dist: np.ndarray
    off_a: float
    off_b: float


class Finder:
    """Answers "what can I reach on foot from here" for one run, from its network and destinations.

    Build it once per run (see :func:`finder_for`) and keep it; its methods may be called from many threads.

    Parameters
    ----------
    network
        The run's network edges (``network.parquet``).
    destinations
        The run's destinations (``destinations.parquet``: category, osm_type, osm_id, name, snap_edge,
        snap_offset_m, point geometry).
    manifest
        The run's ``manifest.json`` (its profiles, thresholds and study area bounds).
    categories
        Categories of the run, for :meth:`access_at` (the ``count__<category>__…`` columns of its origins);
        ``None`` takes the taxonomy's categories found among the destinations.
    settings
        The finder's settings; ``None`` reads ``data/finder.yml``.
    """

    def __init__(
        self,
        network: gpd.GeoDataFrame,
        destinations: gpd.GeoDataFrame,
        manifest: dict[str, Any],
        categories: list[str] | None = None,
        settings: FinderSettings | None = None,
    ) -> None:
        self.settings = settings or finder_settings()
        self.network: WalkNetwork = network_from_edges(network)
        self.crs = self.network.crs
        params = manifest.get("parameters", {})
        self._run_cutoffs: dict[str, dict[str, float]] = {
            p: {k: float(v) for k, v in c.items()} for p, c in params.get("cutoffs_m", {}).items()
        }
        largest = max((d for c in self._run_cutoffs.values() for d in c.values()), default=0.0)
        self.cutoff_m = max(largest, float(params.get("largest_distance_m", 0.0) or 0.0))
        self.profiles = self._finder_profiles(params.get("profiles", {}))
        self._taxonomy = default_taxonomy()
        self._local = threading.local()

        net = self.network
        # study area: the run's boundary bounds (WGS84); else the network's extent
        bounds = params.get("boundary_wgs84_bounds")
        to_wgs = pyproj.Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        if bounds is None and net.n_nodes:
            lon, lat = to_wgs.transform(net.node_x, net.node_y)
            bounds = [float(np.min(lon)), float(np.min(lat)), float(np.max(lon)), float(np.max(lat))]
        self.bounds: tuple[float, float, float, float] = tuple(float(b) for b in bounds or (0, 0, 0, 0))  # type: ignore[assignment]

        # segments for snapping, as exquisite.network.snap does, with the index built once
        vert_edge = np.repeat(np.arange(net.n_edges), np.diff(net.geom_ptr))
        step = np.hypot(np.diff(net.geom_x), np.diff(net.geom_y))
        is_seg = vert_edge[1:] == vert_edge[:-1]
        step[~is_seg] = 0.0
        cum = np.concatenate([[0.0], np.cumsum(step)])
        self._vert_off = cum - cum[net.geom_ptr[:-1]][vert_edge]
        self._seg_start = np.flatnonzero(is_seg)
        self._vert_edge = vert_edge
        a = np.column_stack([net.geom_x[self._seg_start], net.geom_y[self._seg_start]])
        b = np.column_stack([net.geom_x[self._seg_start + 1], net.geom_y[self._seg_start + 1]])
        self._seg_a, self._seg_b = a, b
        self._tree = shapely.STRtree(shapely.linestrings(np.stack([a, b], 1)))

        # destinations as nodes
        dest = destinations.reset_index(drop=True)
        edge = dest["snap_edge"].to_numpy(dtype=np.float64)
        offset = dest["snap_offset_m"].to_numpy(dtype=np.float64)
        ok = np.isfinite(edge) & (edge >= 0) & np.isfinite(offset)
        self._build_graph(edge[ok].astype(np.int64), offset[ok])

        xy = shapely.get_coordinates(dest.geometry.values[ok])
        dlon, dlat = to_wgs.transform(xy[:, 0], xy[:, 1])
        self._dest_lon = np.round(np.asarray(dlon), 6)
        self._dest_lat = np.round(np.asarray(dlat), 6)
        names = dest["name"].to_numpy(dtype=object)[ok] if "name" in dest else np.full(ok.sum(), None)
        self._dest_name = [
            None if n is None or (isinstance(n, float) and math.isnan(n)) else str(n) for n in names
        ]
        self._dest_osm_type = [str(t) for t in dest["osm_type"].to_numpy(dtype=object)[ok]]
        self._dest_osm_id = dest["osm_id"].to_numpy(dtype=np.int64)[ok]
        cats = dest["category"].to_numpy(dtype=object)[ok]
        # one place per (category, osm feature): an open space is reached at its nearest entrance
        keys = [
            f"{c}\x00{t}\x00{i}" for c, t, i in zip(cats, self._dest_osm_type, self._dest_osm_id, strict=True)
        ]
        _, self._dest_place = np.unique(np.asarray(keys, dtype=object), return_inverse=True)
        self._dest_place = self._dest_place.reshape(-1).astype(np.int64)
        n_places = int(self._dest_place.max()) + 1 if self._dest_place.size else 0
        self._cat_rows: dict[str, np.ndarray] = {}
        self._cat_places: dict[str, np.ndarray] = {}
        for c in dict.fromkeys(cats):
            self._cat_rows[str(c)] = np.flatnonzero(cats == c)
            self._cat_places[str(c)] = np.unique(self._dest_place[self._cat_rows[str(c)]])
        self._n_places = n_places
        self._essential_rows = [
            self._cat_rows[c] for c in self.settings.essential if self._cat_rows.get(c, np.empty(0)).size
        ]
        # row attributes as Python objects, so that an answer is built without NumPy scalars
        self._row_category = [str(c) for c in cats]
        self._row_lon = self._dest_lon.tolist()
        self._row_lat = self._dest_lat.tolist()
        self._row_osm_id = self._dest_osm_id.tolist()
        # polyline vertices in WGS84: route lines are cut from them (interpolated at the ends of a part)
        glon, glat = to_wgs.transform(net.geom_x, net.geom_y)
        self._geom_lon, self._geom_lat = (
            np.asarray(glon, dtype=np.float64),
            np.asarray(glat, dtype=np.float64),
        )
        if categories is None:
            categories = [c for c in self._taxonomy.names() if c in self._cat_rows]
        self.run_categories = list(categories)
        self._warm_up()

    def _warm_up(self) -> None:
        """Compile (or load from Numba's cache) the kernels now, not on a resident's first question."""
        if self.network.n_edges == 0:
            return
        node = np.zeros(1, dtype=np.int64)
        _, pred, via = _search(self._indptr, self._indices, self._weights, node, np.zeros(1), 0.0)
        start = _Start(SnappedPoint(0.0, 0.0, 0.0, 0.0, 0.0), 0, 0.0, node, np.zeros(1), 0.0, 0.0)
        self._route_lines(start, pred, via, np.empty(0, dtype=np.int64))

    # -- construction helpers ----------------------------------------------------------------------------

    def _finder_profiles(self, run_profiles: dict[str, Any]) -> dict[str, Profile]:
        out: dict[str, Profile] = {}
        builtin = load_profiles(list(self.settings.profiles))
        for name in self.settings.profiles:
            given = run_profiles.get(name)
            if given is not None and given.get("speed_m_s") and given.get("minutes"):
                fields = {k: given[k] for k in Profile.model_fields if k in given}
                out[name] = Profile(**fields)
            else:
                out[name] = builtin[name]
        return out

    def _build_graph(self, edge: np.ndarray, offset: np.ndarray) -> None:
        """Split the edges at the destinations: pieces between consecutive nodes along each edge."""
        net = self.network
        n_net = net.n_nodes
        length = net.edge_length_m[edge]
        offset = np.clip(offset, 0.0, length)
        node = np.full(edge.shape[0], -1, dtype=np.int64)
        at_u = offset <= _END_TOLERANCE_M
        at_v = ~at_u & (offset >= length - _END_TOLERANCE_M)
        node[at_u] = net.edge_u[edge[at_u]]
        node[at_v] = net.edge_v[edge[at_v]]
        inner = np.flatnonzero(~at_u & ~at_v)
        keys = np.stack([edge[inner], offset[inner]], axis=1) if inner.size else np.empty((0, 2))
        uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
        node[inner] = n_net + inverse.reshape(-1)
        self._dest_node = node
        n_nodes = n_net + uniq.shape[0]

        # every edge's chain: u at 0, the inserted nodes by offset, v at its length
        e_all = np.arange(net.n_edges)
        c_edge = np.concatenate([e_all, uniq[:, 0].astype(np.int64), e_all])
        c_off = np.concatenate([np.zeros(net.n_edges), uniq[:, 1], net.edge_length_m])
        c_rank = np.concatenate([np.zeros(net.n_edges), np.ones(uniq.shape[0]), np.full(net.n_edges, 2)])
        c_node = np.concatenate([net.edge_u, n_net + np.arange(uniq.shape[0]), net.edge_v])
        order = np.lexsort((c_rank, c_off, c_edge))
        c_edge, c_off, c_node = c_edge[order], c_off[order], c_node[order]
        self._chain_ptr = np.zeros(net.n_edges + 1, dtype=np.int64)
        np.cumsum(np.bincount(c_edge, minlength=net.n_edges), out=self._chain_ptr[1:])
        self._chain_off, self._chain_node = c_off, c_node
        same = c_edge[1:] == c_edge[:-1]
        self._piece_edge = c_edge[:-1][same]
        self._piece_u = c_node[:-1][same]
        self._piece_v = c_node[1:][same]
        self._piece_off0 = c_off[:-1][same]
        self._piece_off1 = c_off[1:][same]
        w = np.maximum(self._piece_off1 - self._piece_off0, 0.0)
        self._indptr, self._indices, self._weights, self._adj_piece = csr_from_edges(
            self._piece_u, self._piece_v, w, n_nodes
        )

    # -- public ---------------------------------------------------------------------------------------------

    def profile(self, name: str) -> Profile:
        """The walking profile ``name`` (:class:`UnknownProfileError` when the finder does not offer it)."""
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(self.profiles)
            raise UnknownProfileError(f"unknown profile {name!r}: choose one of {known}") from None

    def snap(
        self,
        lon: float | None = None,
        lat: float | None = None,
        *,
        x: float | None = None,
        y: float | None = None,
    ) -> SnappedPoint:
        """Where a point meets the network (raises :class:`OutsideAreaError` or :class:`FarFromStreetError`).

        Give ``lon``/``lat`` in WGS84, or ``x``/``y`` in the run's projected CRS.
        """
        return self._start(lon, lat, x, y).point

    def services(
        self,
        lon: float | None = None,
        lat: float | None = None,
        profile: str = "adult",
        *,
        x: float | None = None,
        y: float | None = None,
        routes: bool = True,
        max_places: int | None = None,
    ) -> Services:
        """Services near a point: per category the places within the profile's thresholds, and the nearest.

        Parameters
        ----------
        lon, lat
            The point in WGS84 (or give ``x``, ``y`` in the run's CRS).
        profile
            A walking profile of the finder (``adult``, ``older``, ``child``, ``wheelchair``).
        x, y
            The point in the run's projected CRS, instead of ``lon``/``lat``.
        routes
            Whether to give each listed place its route line.
        max_places
            How many places of a category to list; ``None`` takes the finder's setting.

        Returns
        -------
        Services
            The answer, exact along the network.

        Raises
        ------
        UnknownProfileError, OutsideAreaError, FarFromStreetError
            When the profile or the point cannot be used; the message says what to do.
        """
        prof = self.profile(profile)
        cutoffs = prof.cutoffs_m()
        speed = float(prof.speed_m_s or 1.0)
        limit = self.settings.max_places_per_category if max_places is None else max(int(max_places), 0)
        search_m = max(speed * 60.0 * self.settings.search_minutes, *cutoffs.values())
        start = self._start(lon, lat, x, y)
        # search the thresholds first; further only when an essential kind the city has is not within them
        largest = max(cutoffs.values())
        dist, pred, via = _search(
            self._indptr, self._indices, self._weights, start.roots, start.root_dist, largest
        )
        d_row = dist[self._dest_node]
        if search_m > largest and any(not np.isfinite(d_row[rows]).any() for rows in self._essential_rows):
            dist, pred, via = _search(
                self._indptr, self._indices, self._weights, start.roots, start.root_dist, search_m
            )
            d_row = dist[self._dest_node]
        labels = list(cutoffs)
        limits = np.array([cutoffs[k] for k in labels])
        # each place's nearest row (an open space is reached at its nearest entrance)
        order = np.lexsort((d_row, self._dest_place))
        first = np.r_[True, self._dest_place[order][1:] != self._dest_place[order][:-1]]
        best_row = np.empty(self._n_places, dtype=np.int64)
        best_row[self._dest_place[order][first]] = order[first]
        place_d = d_row[best_row]

        per_cat: list[tuple[str, list[int], np.ndarray, list[int], int]] = []
        wanted: list[int] = []  # rows of the places listed, which get a route line
        for cat in self.settings.categories:
            ids = self._cat_places.get(cat)
            if ids is None or ids.size == 0:
                per_cat.append((cat, [0] * len(labels), np.empty(0, dtype=np.int64), [], -1))
                continue
            pd = place_d[ids]
            by_d = np.argsort(pd, kind="stable")
            sorted_d = pd[by_d]
            counts = np.searchsorted(sorted_d, limits, side="right").tolist()
            rows = best_row[ids[by_d]]
            shown = rows[: min(limit, counts[-1])].tolist()
            nearest = int(rows[0]) if np.isfinite(sorted_d[0]) else -1
            per_cat.append((cat, counts, rows, shown, nearest))
            wanted.extend(shown)
            if nearest >= 0 and not shown:
                wanted.append(nearest)

        route_of: dict[int, list[tuple[float, float]]] = {}
        if routes and wanted:
            rows = np.unique(np.asarray(wanted, dtype=np.int64))
            lines = self._route_lines(start, pred, via, self._dest_node[rows])
            route_of = dict(zip(rows.tolist(), lines, strict=True))

        per_minute = speed * 60.0
        limit_list = limits.tolist()

        def place_of(row: int) -> Place:
            dm = float(d_row[row])
            k = bisect.bisect_left(limit_list, dm)
            return Place(
                self._row_category[row],
                self._dest_name[row],
                self._dest_osm_type[row],
                self._row_osm_id[row],
                self._row_lon[row],
                self._row_lat[row],
                round(dm, 1),
                round(dm / per_minute, 1),
                labels[k] if k < len(labels) else None,
                route_of.get(row),
            )

        out = []
        for cat, counts, _, shown, nearest in per_cat:
            places = [place_of(r) for r in shown]
            category = self._taxonomy.categories.get(cat)
            near = None if nearest < 0 else places[0] if places else place_of(nearest)
            out.append(
                CategoryServices(
                    category=cat,
                    label_en=category.label_en if category else cat,
                    label_zh=category.label_zh if category else cat,
                    essential=cat in self.settings.essential,
                    counts=dict(zip(labels, counts, strict=True)),
                    places=places,
                    nearest=near,
                    none_within_minutes=None if near is not None else self.settings.search_minutes,
                )
            )
        info = ProfileInfo(
            name=prof.name,
            label_en=prof.label_en,
            label_zh=prof.label_zh,
            speed_m_s=speed,
            thresholds={
                lab: {"minutes": float(m), "distance_m": cutoffs[lab]}
                for lab, m in zip(labels, prof.minutes or (), strict=True)
            },
            search_minutes=self.settings.search_minutes,
        )
        return Services(point=start.point, profile=info, categories=out)

    def access_at(
        self,
        lon: float | None = None,
        lat: float | None = None,
        *,
        x: float | None = None,
        y: float | None = None,
    ) -> Access:
        """Per category, the nearest distance and the counts within the run's thresholds, at a point.

        The same quantities, with the same meaning, as a row of the run's ``origins.parquet``
        (``nearest_m__<category>``, ``count__<category>__<profile>__<threshold>``), for any point.

        Raises
        ------
        OutsideAreaError, FarFromStreetError
            When the point cannot be used.
        """
        start = self._start(lon, lat, x, y)
        dist, _, _ = _search(
            self._indptr, self._indices, self._weights, start.roots, start.root_dist, self.cutoff_m
        )
        d_row = dist[self._dest_node]
        out = []
        for cat in self.run_categories:
            d = d_row[self._cat_rows.get(cat, np.empty(0, dtype=np.int64))]
            near = float(d.min()) if d.size and np.isfinite(d.min()) else None
            counts = {
                p: {lab: int(np.count_nonzero(d <= lim)) for lab, lim in c.items()}
                for p, c in self._run_cutoffs.items()
            }
            out.append(CategoryAccess(category=cat, nearest_m=near, counts=counts))
        return Access(point=start.point, cutoff_m=self.cutoff_m, categories=out)

    # -- internals -----------------------------------------------------------------------------------------

    def _transformers(self) -> tuple[pyproj.Transformer, pyproj.Transformer]:
        """The calling thread's transformers (pyproj transformers must not be shared between threads)."""
        pair = getattr(self._local, "pair", None)
        if pair is None:
            pair = (
                pyproj.Transformer.from_crs("EPSG:4326", self.crs, always_xy=True),
                pyproj.Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True),
            )
            self._local.pair = pair
        return pair

    def _start(self, lon: float | None, lat: float | None, x: float | None, y: float | None) -> _Start:
        to_xy, to_wgs = self._transformers()
        if x is not None and y is not None:
            if not (math.isfinite(x) and math.isfinite(y)):
                raise OutsideAreaError(
                    "the point's coordinates are not numbers: give finite x and y in metres"
                )
            lon, lat = (float(c) for c in to_wgs.transform(x, y))
        elif lon is not None and lat is not None:
            if not (math.isfinite(lon) and math.isfinite(lat)) or abs(lat) > 90 or abs(lon) > 180:
                raise OutsideAreaError(
                    "give a longitude in -180…180 and a latitude in -90…90 (WGS84 degrees)"
                )
            x, y = (float(c) for c in to_xy.transform(lon, lat))
        else:
            raise OutsideAreaError("give a point: lon and lat in WGS84, or x and y in the run's CRS")
        west, south, east, north = self.bounds
        if not (west <= lon <= east and south <= lat <= north):
            raise OutsideAreaError(
                f"the point ({lat:.5f}, {lon:.5f}) is outside the study area "
                f"(latitude {south:.4f}…{north:.4f}, longitude {west:.4f}…{east:.4f}): "
                "choose a place in the city"
            )
        found = self._tree.query_nearest(
            shapely.Point(x, y), max_distance=self.settings.max_snap_m, all_matches=False
        )
        if found.size == 0:
            raise FarFromStreetError(
                f"the point is more than {self.settings.max_snap_m:g} m from any street or path: "
                "choose a point on or next to a street"
            )
        seg = int(found[0])
        ax, ay = self._seg_a[seg]
        bx, by = self._seg_b[seg]
        dx, dy = bx - ax, by - ay
        len2 = dx * dx + dy * dy
        t = min(max(((x - ax) * dx + (y - ay) * dy) / len2, 0.0), 1.0) if len2 > 0 else 0.0
        px, py = ax + t * dx, ay + t * dy
        v0 = self._seg_start[seg]
        edge = int(self._vert_edge[v0])
        offset = float(
            min(max(self._vert_off[v0] + t * math.sqrt(len2), 0.0), self.network.edge_length_m[edge])
        )
        # the piece of the (split) edge holding the point
        lo, hi = int(self._chain_ptr[edge]), int(self._chain_ptr[edge + 1])
        k = int(np.searchsorted(self._chain_off[lo:hi], offset, side="right")) - 1
        k = min(max(k, 0), hi - lo - 2)
        off_a, off_b = float(self._chain_off[lo + k]), float(self._chain_off[lo + k + 1])
        roots = np.array([self._chain_node[lo + k], self._chain_node[lo + k + 1]], dtype=np.int64)
        root_dist = np.array([max(offset - off_a, 0.0), max(off_b - offset, 0.0)])
        if roots[0] == roots[1]:  # a loop edge without inner nodes: leave by its shorter side
            if root_dist[1] < root_dist[0]:
                off_a = off_b
            roots, root_dist = roots[:1], np.array([root_dist.min()])
        slon, slat = to_wgs.transform(px, py)
        point = SnappedPoint(
            lon=round(float(lon), 6),
            lat=round(float(lat), 6),
            street_lon=round(float(slon), 6),
            street_lat=round(float(slat), 6),
            snap_m=round(math.hypot(x - px, y - py), 1),
        )
        return _Start(point, edge, offset, roots, root_dist, off_a, off_b)

    def _route_lines(
        self, start: _Start, pred: np.ndarray, via: np.ndarray, targets: np.ndarray
    ) -> list[list[tuple[float, float]]]:
        """Route lines (WGS84, ``[lon, lat]`` pairs rounded to 7 decimals, about 1 cm) to each target node.

        The lines are cut from the polylines' vertices in WGS84; a cut inside a segment is interpolated in
        degrees, which differs from interpolating in metres by far less than a millimetre on a street segment.
        """
        net = self.network
        coords, ptr = _routes(
            targets.astype(np.int64),
            pred,
            via,
            self._adj_piece,
            self._piece_u,
            self._piece_edge,
            self._piece_off0,
            self._piece_off1,
            start.edge,
            start.offset,
            int(start.roots[0]),
            start.off_a,
            start.off_b,
            net.geom_ptr,
            self._geom_lon,
            self._geom_lat,
            self._vert_off,
        )
        coords, ptr = _simplify(coords, ptr, ROUTE_TOLERANCE_M)
        lon_l = np.round(coords[:, 0], 7).tolist()
        lat_l = np.round(coords[:, 1], 7).tolist()
        bounds = ptr.tolist()
        return [list(zip(lon_l[a:b], lat_l[a:b], strict=True)) for a, b in itertools.pairwise(bounds)]


_FINDERS: dict[str, Finder] = {}
_FINDERS_LOCK = threading.Lock()


def built_finder(run: Run) -> Finder | None:
    """The run's :class:`Finder` when it has been built already (None otherwise); never builds one."""
    return _FINDERS.get(str(run.folder))


def finder_for(run: Run) -> Finder:
    """The :class:`Finder` of a run of the catalogue, built on first use and kept."""
    key = str(run.folder)
    with _FINDERS_LOCK:
        finder = _FINDERS.get(key)
        if finder is None:
            origins_cols = list(run.origins.columns)
            cats = list(dict.fromkeys(c.split("__")[1] for c in origins_cols if c.startswith("count__")))
            finder = _FINDERS[key] = Finder(run.network, run.destinations, run.manifest, cats or None)
        return finder
