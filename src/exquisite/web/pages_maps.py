"""Maps of the pages: inline SVG of the run's own streets (no tiles), and the same streets as GeoJSON.

The SVG maps are the report's (:mod:`exquisite.outputs.maps`): the network's lines drawn by street class in
the run's projected metres. The GeoJSON (longitude/latitude) lets the finder's optional Leaflet map draw the
same streets in the browser; it is an enhancement only, never the sole way to choose a place.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np
import shapely

from exquisite.outputs.maps import MapFrame, SvgMap
from exquisite.outputs.report import settings as report_settings
from exquisite.web.catalogue import Run
from exquisite.web.ui import UI

#: Width of the SVG maps' viewBox (units).
MAP_WIDTH = 1000.0

#: Simplification tolerance of the streets sent to the browser (metres).
GEOJSON_TOLERANCE_M = 2.0

_lock = threading.Lock()
_streets: dict[str, tuple[MapFrame, str]] = {}
_geojson: dict[str, bytes] = {}


def frame_of(run: Run) -> MapFrame:
    """The frame around the run's walking network."""
    return _street_layer(run)[0]


def _street_layer(run: Run) -> tuple[MapFrame, str]:
    """The frame and the street group of a run (drawn once per run and kept)."""
    with _lock:
        cached = _streets.get(run.id)
    if cached is not None:
        return cached
    network = run.network
    lines = np.asarray(network.geometry.values, dtype=object)
    frame = MapFrame.around(shapely.GeometryCollection(list(lines)).envelope, MAP_WIDTH)
    cfg = report_settings()["map"]
    classes: dict[str, list[str]] = cfg["street_classes"]
    styles = cfg["street_styles"]
    highway = network["highway"].astype(str).to_numpy()
    names = list(classes)
    which = np.full(len(lines), len(names) - 1)
    for i, name in reversed(list(enumerate(names))):
        which[np.isin(highway, classes[name])] = i
    simplified = shapely.simplify(lines, 0.5 / frame.scale)
    paths = []
    for i, name in enumerate(names):
        d = frame.path(simplified[which == i])
        if d:
            style = styles[name]
            paths.append(
                f'<path class="street {name}" stroke="{style["colour"]}" stroke-width="{style["width"]}" '
                f'stroke-opacity="{style["opacity"]}" d="{d}"/>'
            )
    group = (
        f'<g class="streets" fill="none" stroke-linecap="round" stroke-linejoin="round">{"".join(paths)}</g>'
    )
    with _lock:
        _streets[run.id] = (frame, group)
    return frame, group


def base_map(run: Run, ident: str, title: str, description: str, ui: UI, decorate: bool = True) -> SvgMap:
    """An SVG map of the run's streets; with ``decorate`` a scale bar and north arrow. Callers add layers."""
    frame, streets = _street_layer(run)
    svg = SvgMap(frame, ident, title, description)
    svg.layers.append(streets)
    if decorate:
        svg.add_scale_bar(ui.distance)
        svg.add_north_arrow(ui.gettext("N"))
    return svg


def window_svg(svg: SvgMap, xy: np.ndarray, ui: UI, margin_m: float = 150.0) -> tuple[str, float]:
    """The map zoomed on projected points ``xy`` (with ``margin_m`` around them), and its units per pixel.

    The streets are drawn once for the whole city; the window is only a smaller ``viewBox`` over them, with
    its own scale bar and north arrow (stroke widths do not scale: see ``vector-effect`` in the style sheet).
    """
    frame = svg.frame
    lo = xy.min(axis=0) - margin_m
    hi = xy.max(axis=0) + margin_m
    side = max(hi[0] - lo[0], (hi[1] - lo[1]) * 1.25)
    mid = (lo + hi) / 2
    lo = np.array([mid[0] - side / 2, mid[1] - side / 2.5])
    hi = np.array([mid[0] + side / 2, mid[1] + side / 2.5])
    window = MapFrame(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]), MAP_WIDTH)
    (x0, y1), (x1, y0) = frame.project(np.array([[lo[0], lo[1]], [hi[0], hi[1]]]))
    width, height = x1 - x0, y1 - y0
    unit = width / MAP_WIDTH  # full-frame units per window unit
    metres, units = window.scale_bar(MAP_WIDTH / 5)
    bx, by, tick = x0 + 0.03 * width, y1 - 0.03 * width, 0.008 * width
    bar = units * unit
    decor = (
        f'<g class="scale-bar"><rect x="{bx - tick:.1f}" y="{by - 5 * tick:.1f}" '
        f'width="{bar + 2 * tick:.1f}" '
        f'height="{6 * tick:.1f}" rx="{tick:.1f}"/><path d="M{bx:.1f} {by - tick:.1f}V{by:.1f}H{bx + bar:.1f}'
        f'V{by - tick:.1f}"/><text x="{bx:.1f}" y="{by - 2 * tick:.1f}" font-size="{12 * unit:.1f}">'
        f"{ui.distance(metres)}</text></g>"
    )
    nx, ny, ns = x0 + 0.965 * width, y0 + 0.03 * width, 0.012 * width
    decor += (
        f'<g class="north"><path d="M{nx:.1f} {ny:.1f}l{ns:.1f} {3 * ns:.1f}l{-ns:.1f} {-ns:.1f}l{-ns:.1f} '
        f'{ns:.1f}Z"/><text x="{nx:.1f}" y="{ny + 5 * ns:.1f}" font-size="{12 * unit:.1f}" '
        f'text-anchor="middle">{ui.gettext("N")}</text></g>'
    )
    svg.layers.append(decor)
    text = svg.svg()
    start = text.index('viewBox="')
    end = text.index('"', start + len('viewBox="'))
    text = text[:start] + f'viewBox="{x0:.1f} {y0:.1f} {width:.1f} {height:.1f}' + text[end:]
    return text, unit


def streets_geojson(run: Run) -> bytes:
    """The run's streets as a GeoJSON FeatureCollection in longitude/latitude (kept per run)."""
    with _lock:
        cached = _geojson.get(run.id)
    if cached is not None:
        return cached
    network = run.network
    lines = network.geometry.simplify(GEOJSON_TOLERANCE_M).to_crs(4326)
    coords, index = shapely.get_coordinates(np.asarray(lines.values, dtype=object), return_index=True)
    coords = np.round(coords, 6)
    starts = np.r_[0, np.flatnonzero(np.diff(index)) + 1, len(index)]
    features: list[dict[str, Any]] = []
    highway = network["highway"].astype(str).to_numpy()
    for k in range(len(starts) - 1):
        part = coords[starts[k] : starts[k + 1]]
        if len(part) < 2:
            continue
        features.append(
            {
                "type": "Feature",
                "properties": {"highway": highway[index[starts[k]]]},
                "geometry": {"type": "LineString", "coordinates": part.tolist()},
            }
        )
    data = json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":")).encode()
    with _lock:
        _geojson[run.id] = data
    return data
