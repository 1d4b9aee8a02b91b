"""Maps of the report as inline SVG, drawn from the city's own streets and grid: no tiles, no requests.

Coordinates are the run's projected metres, shifted and scaled into a ``viewBox`` of a fixed width with the
y axis turned down, rounded to a tenth of a unit; streets are clipped to the boundary and simplified to about
half a unit, so a map of a whole city stays a few hundred kilobytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np
import shapely

from exquisite.network.graph import WalkNetwork


@dataclass(frozen=True)
class MapFrame:
    """The part of the plane a map shows and how it becomes SVG units.

    Attributes
    ----------
    minx, miny, maxx, maxy
        Bounds in the run's projected CRS (metres), margin included.
    width
        Width of the ``viewBox`` in SVG units; the height follows the bounds' aspect.
    """

    minx: float
    miny: float
    maxx: float
    maxy: float
    width: float

    @classmethod
    def around(cls, geometry: shapely.Geometry, width: float, margin: float = 0.02) -> MapFrame:
        """The frame around ``geometry`` with ``margin`` (share of the larger side) on every side."""
        minx, miny, maxx, maxy = shapely.bounds(geometry).tolist()
        pad = margin * max(maxx - minx, maxy - miny, 1.0)
        return cls(minx - pad, miny - pad, maxx + pad, maxy + pad, width)

    @property
    def scale(self) -> float:
        """SVG units per metre."""
        return self.width / max(self.maxx - self.minx, 1e-9)

    @property
    def height(self) -> float:
        """Height of the ``viewBox`` in SVG units."""
        return (self.maxy - self.miny) * self.scale

    def project(self, xy: np.ndarray) -> np.ndarray:
        """Projected coordinates (n × 2, metres) → SVG units, y downwards, to 0.1 unit."""
        out = np.empty_like(xy, dtype=float)
        out[:, 0] = (xy[:, 0] - self.minx) * self.scale
        out[:, 1] = (self.maxy - xy[:, 1]) * self.scale
        return np.round(out, 1)

    def path(self, geometries: Iterable[shapely.Geometry] | np.ndarray, closed: bool = False) -> str:
        """The SVG path data of lines or polygons (every ring a subpath; ``Z`` closes polygon rings)."""
        geoms = np.asarray(list(geometries) if not isinstance(geometries, np.ndarray) else geometries)
        if geoms.size == 0:
            return ""
        rings = _rings(geoms) if closed else _lines(geoms)
        if rings.size == 0:
            return ""
        coords, index = shapely.get_coordinates(rings, return_index=True)
        xy = self.project(coords)
        # drop points that repeat the one before them once rounded, then rings left with fewer than two
        starts = np.r_[True, index[1:] != index[:-1]]
        keep = starts | np.r_[True, np.any(xy[1:] != xy[:-1], axis=1)]
        xy, index, starts = xy[keep], index[keep], starts[keep]
        ring_size = np.diff(np.r_[np.flatnonzero(starts), len(index)])
        keep = np.repeat(ring_size >= 2, ring_size)
        xy, starts = xy[keep], starts[keep]
        if not len(xy):
            return ""
        points = np.char.add(np.char.add(_numbers(xy[:, 0]), " "), _numbers(xy[:, 1]))
        pieces = np.char.add(np.where(starts, "M", " "), points)
        if closed:
            pieces = np.where(np.r_[starts[1:], True], np.char.add(pieces, "Z"), pieces)
        return "".join(pieces.tolist())

    def scale_bar(self, max_units: float) -> tuple[float, float]:
        """A round length (metres) whose bar is at most ``max_units`` long, and that bar's length in units."""
        target = max_units / self.scale
        step = 10 ** math.floor(math.log10(max(target, 1.0)))
        metres = max(m * step for m in (1, 2, 5, 10) if m * step <= target) if target >= 1 else 1.0
        return metres, metres * self.scale


@dataclass
class SvgMap:
    """An inline SVG map being assembled: layers of paths and circles under a title and description.

    Attributes
    ----------
    frame
        What the map shows.
    ident
        A unique id prefix (for ``aria-labelledby``).
    title, description
        What a screen reader says and what a tooltip shows.
    """

    frame: MapFrame
    ident: str
    title: str
    description: str
    layers: list[str] = field(default_factory=list)

    def add_path(self, d: str, css_class: str, fill: str | None = None) -> None:
        """A path layer (no-op for empty path data); ``fill`` overrides the class's fill."""
        if d:
            style = f' fill="{fill}"' if fill else ""
            self.layers.append(f'<path class="{css_class}"{style} d="{d}"/>')

    def add_circles(
        self, xy: np.ndarray, radii: Sequence[float], css_class: str, titles: Sequence[str] | None = None
    ) -> None:
        """Circles at projected points ``xy`` (n × 2) with radii in SVG units (largest first)."""
        if len(xy) == 0:
            return
        pts = self.frame.project(np.asarray(xy, dtype=float))
        order = np.argsort(-np.asarray(radii, dtype=float), kind="stable")
        items = []
        for i in order:
            tip = f"<title>{escape(titles[i])}</title>" if titles is not None else ""
            items.append(
                f'<circle cx="{_num(pts[i, 0])}" cy="{_num(pts[i, 1])}" r="{_num(round(radii[i], 1))}">'
                f"{tip}</circle>"
            )
        self.layers.append(f'<g class="{css_class}">{"".join(items)}</g>')

    def add_scale_bar(self, label_for: Callable[[float], str]) -> None:
        """A scale bar in the lower left corner, labelled by ``label_for(metres)``."""
        metres, units = self.frame.scale_bar(self.frame.width / 5)
        x0 = self.frame.width * 0.03
        y0 = self.frame.height - self.frame.width * 0.03
        tick = self.frame.width * 0.008
        self.layers.append(
            f'<g class="scale-bar"><rect x="{_num(x0 - tick)}" y="{_num(y0 - 5 * tick)}" '
            f'width="{_num(units + 2 * tick)}" height="{_num(6 * tick)}" rx="{_num(tick)}"/>'
            f'<path d="M{_num(x0)} {_num(y0 - tick)}V{_num(y0)}H{_num(x0 + units)}V{_num(y0 - tick)}"/>'
            f'<text x="{_num(x0)}" y="{_num(y0 - 2 * tick)}">{escape(label_for(metres))}</text></g>'
        )

    def add_north_arrow(self, label: str) -> None:
        """A north arrow in the upper right corner (the projected grid's north)."""
        w = self.frame.width
        x, y, s = w * 0.965, w * 0.03, w * 0.012
        self.layers.append(
            f'<g class="north"><path d="M{_num(x)} {_num(y)}l{_num(s)} {_num(3 * s)}l{_num(-s)} {_num(-s)}'
            f'l{_num(-s)} {_num(s)}Z"/><text x="{_num(x)}" y="{_num(y + 5 * s)}">{escape(label)}</text></g>'
        )

    def svg(self) -> str:
        """The ``<svg>`` element (no ``xmlns``: it lives inside HTML)."""
        f = self.frame
        return (
            f'<svg class="map" viewBox="0 0 {_num(round(f.width, 1))} {_num(round(f.height, 1))}" '
            f'role="img" aria-labelledby="{self.ident}-title {self.ident}-desc">'
            f'<title id="{self.ident}-title">{escape(self.title)}</title>'
            f'<desc id="{self.ident}-desc">{escape(self.description)}</desc>'
            + "".join(self.layers)
            + "</svg>"
        )


def street_paths(
    network: WalkNetwork, boundary: shapely.Geometry, frame: MapFrame, classes: dict[str, list[str]]
) -> dict[str, str]:
    """Path data of the streets inside ``boundary``, one path per street class.

    Parameters
    ----------
    network
        The run's walking network.
    boundary
        The study area (same CRS); edges are clipped to it.
    frame
        The map frame.
    classes
        Street class → the ``highway`` values it draws (an edge whose value is in no list goes to the last
        class).

    Returns
    -------
    dict
        Street class → SVG path data (classes in the given order; empty classes left out).
    """
    lines = network.edge_lines()
    highway = np.asarray(network.edge_highway).astype(str)
    shapely.prepare(boundary)  # the prepared geometry must come first in each predicate
    inside = shapely.intersects(boundary, lines)
    lines, highway = lines[inside], highway[inside]
    covered = shapely.covers(boundary, lines)
    lines = lines.copy()
    lines[~covered] = shapely.intersection(lines[~covered], boundary)
    bends = shapely.get_num_coordinates(lines) > 2  # a straight segment has nothing to simplify
    lines[bends] = shapely.simplify(lines[bends], 0.5 / frame.scale)
    names = list(classes)
    which = np.full(len(lines), len(names) - 1)
    for i, name in reversed(list(enumerate(names))):
        which[np.isin(highway, classes[name])] = i
    out: dict[str, str] = {}
    for i, name in enumerate(names):
        d = frame.path(lines[which == i])
        if d:
            out[name] = d
    return out


def classify(values: np.ndarray, breaks: Sequence[float]) -> np.ndarray:
    """Class of each value: ``i`` when ``breaks[i] <= value < breaks[i+1]``; the last class holds its top.

    NaN values get class -1.
    """
    values = np.asarray(values, dtype=float)
    edges = np.asarray(breaks, dtype=float)
    cls = np.searchsorted(edges, values, side="right") - 1
    cls = np.clip(cls, 0, len(edges) - 2)
    cls[values >= edges[-1]] = len(edges) - 2
    cls[~np.isfinite(values)] = -1
    return cls


def _lines(geoms: np.ndarray) -> np.ndarray:
    """Every simple line part of lines and multilines (empty ones dropped)."""
    parts = shapely.get_parts(geoms[~shapely.is_empty(geoms)])
    parts = parts[shapely.get_type_id(parts) == shapely.GeometryType.LINESTRING]
    return parts


def _rings(geoms: np.ndarray) -> np.ndarray:
    """Every ring (exterior and holes) of polygons and multipolygons."""
    polys = shapely.get_parts(geoms[~shapely.is_empty(geoms)])
    polys = polys[shapely.get_type_id(polys) == shapely.GeometryType.POLYGON]
    return shapely.get_rings(polys)


def _num(value: float) -> str:
    """A coordinate without a trailing ``.0``."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _numbers(values: np.ndarray) -> np.ndarray:
    """Coordinates to 0.1 unit as text, without a trailing ``.0`` (``12``, ``12.5``, ``-0.3``)."""
    tenths = np.round(np.asarray(values, dtype=float) * 10).astype(np.int64)
    size = np.abs(tenths)
    whole = (size // 10).astype(str)
    text = np.where(size % 10 == 0, whole, np.char.add(np.char.add(whole, "."), (size % 10).astype(str)))
    return np.where(tenths < 0, np.char.add("-", text), text)
