"""Read a local OpenStreetMap PBF file: walkable ways, destination features and buildings.

One streaming pass of pyosmium (libosmium) reads the file, never the network:

* node locations are cached and multipolygons assembled in C++;
* C++ key filters let through only objects with a key that some rule needs (``highway``, ``building``,
  ``landuse``, and the taxonomy's anchor keys), so Python sees a small share of the file;
* the nodes and ways that pass are not handed to Python one by one: libosmium's OPL writer writes them, with
  node ids and coordinates on the ways, to a temporary text file that Arrow's CSV reader and compute
  functions split into columns in bulk. The walkable-way rules then run on whole columns, and only objects
  carrying a taxonomy anchor tag are matched one by one. (Reading way nodes in Python costs about 1.6 µs
  each, 0.7 s for a city of 400k way nodes; the bulk parse takes a tenth of that.)
* areas (buildings, built-up land use, parks, areas of a taxonomy category) come up to Python one by one
  for their tags; their polygons come out of libosmium as WKB and are decoded by shapely in one call.

The walkable-way rules are in ``exquisite/data/walkable.yml`` and the destination categories in the taxonomy
(``exquisite/data/taxonomy.yml`` by default). Measured against pyrosm and QuackOSM in
``benchmarks/read_pbf.py``.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import osmium
import osmium.filter
import osmium.geom
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import shapely
import yaml

from exquisite.errors import InputError
from exquisite.sources.population import load_parameters
from exquisite.taxonomy import Taxonomy, default_taxonomy

__all__ = [
    "BUILT_UP_LANDUSE",
    "RESIDENTIAL_BUILDINGS",
    "OsmData",
    "WalkRules",
    "WalkWays",
    "read_osm",
    "walk_rules",
]

#: ``building=*`` values that house residents (the list and its source are in ``data/population.yml``).
RESIDENTIAL_BUILDINGS: frozenset[str] = frozenset(load_parameters().residential_building_values)

#: ``landuse=*`` values of built-up land, kept as :attr:`OsmData.landuse` (list and sources in
#: ``data/landuse.yml``).
BUILT_UP_LANDUSE: frozenset[str] = frozenset(
    str(value)
    for value in yaml.safe_load((files("exquisite") / "data" / "landuse.yml").read_text(encoding="utf-8"))[
        "built_up"
    ]
)

_PEDESTRIAN_AREA = "pedestrian_area"
_LEVELS = re.compile(r"^\s*(\d+(?:[.,]\d+)?)")
_FEATURE_COLUMNS = ["osm_type", "osm_id", "name", "categories"]
_BUILDING_COLUMNS = ["osm_id", "osm_type", "building", "levels", "residential"]
_LANDUSE_COLUMNS = ["osm_id", "osm_type", "landuse"]
_HINT_FILE = "Give a local OpenStreetMap .osm.pbf extract (e.g. from Geofabrik), downloaded completely."


@dataclass(frozen=True)
class WalkWays:
    """Walkable ways in way order, as flat arrays (coordinates WGS84).

    A way whose nodes are partly missing from the extract (cut at its edge) is split into its runs of
    consecutive nodes that have a location; each run keeps the way's id, and runs of one node are dropped.

    Attributes
    ----------
    way_id
        OSM way id, int64, shape ``(n_ways,)``; pedestrian areas from multipolygon relations carry the
        relation's id negated (one entry per ring).
    highway
        The ``highway`` tag of each way (``"footway"``, ``"residential"``, …; ``"pedestrian_area"`` for the
        outline of a pedestrian area), object array of str.
    node_ptr
        CSR pointer, int64, shape ``(n_ways + 1,)``: way ``i``'s nodes are ``node_ptr[i]:node_ptr[i+1]``.
    node_id
        OSM node ids in way order, int64.
    lon, lat
        Node coordinates, float64 degrees.
    """

    way_id: np.ndarray
    highway: np.ndarray
    node_ptr: np.ndarray
    node_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray

    @property
    def n_ways(self) -> int:
        """Number of ways."""
        return int(self.way_id.shape[0])

    @property
    def n_refs(self) -> int:
        """Number of way nodes (a node shared by two ways counts twice)."""
        return int(self.node_id.shape[0])


@dataclass(frozen=True)
class OsmData:
    """What :func:`read_osm` reads from one PBF file.

    Attributes
    ----------
    path
        The file read.
    walk_ways
        Walkable ways.
    features
        Every node, way or relation matching at least one taxonomy category, EPSG:4326, columns ``osm_type``
        (``"node"``, ``"way"``, ``"relation"``), ``osm_id`` (int64), ``name`` (str or None), ``categories``
        (list of str) and geometry: a Point for nodes and for ways that are not areas (the way's midpoint), a
        Polygon or MultiPolygon for areas. Open-space categories are only given to areas.
    buildings
        Buildings, EPSG:4326, columns ``osm_id``, ``osm_type``, ``building`` (tag value), ``levels`` (float
        from ``building:levels``, NaN when untagged), ``residential`` (bool, see
        :data:`RESIDENTIAL_BUILDINGS`) and Polygon/MultiPolygon geometry.
    bounds
        ``(min_lon, min_lat, max_lon, max_lat)`` of everything read from the file (walkable ways, features
        and buildings), before any ``bbox``: what the file covers.
    landuse
        Areas of built-up land use (``landuse=*`` in :data:`BUILT_UP_LANDUSE`), EPSG:4326, columns
        ``osm_id``, ``osm_type``, ``landuse`` (tag value) and Polygon/MultiPolygon geometry. They may overlap.
    """

    path: Path
    walk_ways: WalkWays
    features: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    bounds: tuple[float, float, float, float]
    landuse: gpd.GeoDataFrame = field(default_factory=lambda: _landuse([]))


@dataclass(frozen=True)
class WalkRules:
    """Which ways are walkable; read from ``exquisite/data/walkable.yml`` (its header gives the rules)."""

    exclude_highway: frozenset[str]
    foot_no: frozenset[str]
    foot_yes: frozenset[str]
    access_no: frozenset[str]
    service_no: frozenset[str]
    area_outlines: frozenset[str]

    def classify(self, tags: dict[str, str], *, closed: bool) -> str | None:
        """The way's walkable class, or None when it is not walkable.

        Parameters
        ----------
        tags
            The way's tags.
        closed
            Whether the way is closed (first node = last node); only a closed way can be an area.

        Returns
        -------
        str or None
            The ``highway`` value, ``"pedestrian_area"`` for the outline of a pedestrian area, or None.
        """
        one = {key: np.array([tags.get(key)], dtype=object) for key in _WALK_KEYS}
        return self.classify_many(**one, closed=np.array([closed]))[0]

    def classify_many(
        self,
        *,
        highway: np.ndarray,
        foot: np.ndarray,
        access: np.ndarray,
        service: np.ndarray,
        area: np.ndarray,
        closed: np.ndarray,
    ) -> np.ndarray:
        """:meth:`classify` for many ways at once; each argument holds one tag value (or None) per way.

        Returns
        -------
        numpy.ndarray
            Object array: the walkable class of each way, or None.
        """
        walkable = (highway != None) & ~_isin(highway, self.exclude_highway)  # noqa: E711 (elementwise)
        walkable &= ~_isin(foot, self.foot_no)
        walkable &= ~(_isin(access, self.access_no) & ~_isin(foot, self.foot_yes))
        walkable &= ~_isin(service, self.service_no)
        is_area = area == "yes"
        outline = is_area & closed & _isin(highway, self.area_outlines)
        walkable &= ~is_area | outline
        result = np.where(outline, _PEDESTRIAN_AREA, highway).astype(object)
        result[~walkable] = None
        return result


_WALK_KEYS = ("highway", "foot", "access", "service", "area")


def _isin(values: np.ndarray, choices: frozenset[str]) -> np.ndarray:
    """Elementwise: the value (a str or None) is one of ``choices``, or a ``;`` list with a part in them."""
    found = np.isin(values, list(choices))
    for i, value in enumerate(values):
        if value is not None and ";" in value and not found[i]:
            found[i] = any(part.strip() in choices for part in value.split(";"))
    return found


@lru_cache(maxsize=1)
def walk_rules() -> WalkRules:
    """The packaged walkable-way rules (``exquisite/data/walkable.yml``)."""
    data = yaml.safe_load((files("exquisite") / "data" / "walkable.yml").read_text(encoding="utf-8"))
    return WalkRules(**{key: frozenset(map(str, data[key])) for key in WalkRules.__dataclass_fields__})


def read_osm(
    path: str | Path,
    taxonomy: Taxonomy | None = None,
    *,
    bbox: tuple[float, float, float, float] | None = None,
) -> OsmData:
    """Read walkable ways, destination features and buildings from a local OSM PBF file.

    Parameters
    ----------
    path
        An ``.osm.pbf`` file. It is always read as PBF, whatever its name.
    taxonomy
        Destination categories; None for the packaged default.
    bbox
        ``(min_lon, min_lat, max_lon, max_lat)``: keep only ways with at least one node inside (whole),
        nodes inside, and areas and buildings that intersect it. The file is still scanned in full. A box
        that misses the data gives empty results (compare it with ``bounds``), not an error.

    Returns
    -------
    OsmData
        Walkable ways, features, buildings, built-up land use and the bounds of what was kept.

    Raises
    ------
    exquisite.errors.InputError
        When the file is missing, empty, truncated or not PBF, when it has no walkable way at all, or when
        ``bbox`` is malformed.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(str(path), "this is a folder, not an OSM file", _HINT_FILE)
    if not path.is_file():
        raise InputError(str(path), "OSM file not found", _HINT_FILE)
    if path.stat().st_size == 0:
        raise InputError(str(path), "the OSM file is empty", _HINT_FILE)
    box = _check_bbox(bbox)
    taxonomy = taxonomy or default_taxonomy()
    with tempfile.TemporaryDirectory(prefix="exquisite-osm-") as tmp:
        opl = Path(tmp) / "objects.opl"
        scan = _Scan(taxonomy, walk_rules())
        try:
            scan.run(path, opl)
        except RuntimeError as error:
            hint = _HINT_FILE
            if path.suffix.lower() in {".osm", ".xml", ".bz2", ".gz", ".o5m", ".opl"}:
                hint = "Convert it to PBF first, e.g. 'osmium cat input.osm -o output.osm.pbf'."
            raise InputError(str(path), f"cannot be read as an OSM PBF file ({error})", hint) from None
        parsed = _parse_opl(opl, scan)
    ways = _join_rings(parsed.walk_ways, scan.rings)
    buildings = _buildings(scan)
    landuse = _landuse(scan.landuse_rows)
    features = _features(scan, parsed)
    if ways.n_ways == 0:
        if not (parsed.n_objects or len(buildings)):
            raise InputError(
                str(path), "no OSM data found: the file is empty, truncated or not a PBF extract", _HINT_FILE
            )
        raise InputError(
            str(path),
            "the file has no walkable ways (highway=*)",
            "Use an extract that keeps the streets and paths, not a filtered one.",
        )
    bounds = _bounds(ways, features, buildings)
    if box is not None:
        ways = _ways_in_box(ways, box)
        polygon = shapely.box(*box)
        features = features[shapely.intersects(features.geometry.values, polygon)].reset_index(drop=True)
        buildings = buildings[shapely.intersects(buildings.geometry.values, polygon)].reset_index(drop=True)
        landuse = landuse[shapely.intersects(landuse.geometry.values, polygon)].reset_index(drop=True)
    return OsmData(
        path=path, walk_ways=ways, features=features, buildings=buildings, bounds=bounds, landuse=landuse
    )


def _check_bbox(bbox: Any) -> tuple[float, float, float, float] | None:
    if bbox is None:
        return None
    try:
        box = tuple(float(v) for v in bbox)
    except (TypeError, ValueError):
        box = ()
    if (
        len(box) != 4
        or not all(np.isfinite(box))
        or box[0] >= box[2]
        or box[1] >= box[3]
        or not (box[0] >= -180 and box[2] <= 180 and box[1] >= -90 and box[3] <= 90)
    ):
        raise InputError(
            "bbox",
            f"must be (min_lon, min_lat, max_lon, max_lat) in degrees, not {bbox!r}",
            "Check the order: longitudes first, minimum before maximum.",
        )
    return box  # type: ignore[return-value]


class _Scan:
    """One pass over the file.

    Nodes and ways that pass the C++ key filters go to libosmium's OPL writer (with node locations on ways);
    only areas come up to Python, one object at a time, for their tags and WKB geometry.
    """

    def __init__(self, taxonomy: Taxonomy, rules: WalkRules) -> None:
        self.taxonomy = taxonomy
        self.rules = rules
        self.open_space = frozenset(taxonomy.names("open_space"))
        self.point_anchors = taxonomy.anchor_keys("point")
        self.area_anchors = taxonomy.anchor_keys() | {"building", "landuse", "highway"}
        self.wkb = osmium.geom.WKBFactory()
        self.rings: list[tuple[int, list[int], list[float], list[float]]] = []  # relation pedestrian areas
        self.area_feats: list[tuple[str, int, str | None, list[str], str]] = []
        self.building_rows: list[tuple[str, int, str, str | None, str | None, str]] = []
        self.landuse_rows: list[tuple[str, int, str, str]] = []  # built-up land use areas

    def run(self, path: Path, opl: Path) -> None:
        """Read ``path``: nodes and ways into the OPL file ``opl``, areas into lists."""
        node_filter = _key_filter(self.point_anchors, osmium.osm.NODE)
        way_filter = _key_filter(self.point_anchors | {"highway"}, osmium.osm.WAY)
        area_filter = _key_filter(self.area_anchors, osmium.osm.AREA)
        writer = osmium.SimpleWriter(
            osmium.io.File(str(opl), "opl,locations_on_ways=true,add_metadata=false")
        )
        processor = (
            osmium.FileProcessor(osmium.io.File(str(path), "pbf"))
            .with_locations()
            .with_areas(osmium.filter.KeyFilter(*sorted(self.area_anchors)))
            .with_filter(osmium.filter.EntityFilter(osmium.osm.NODE | osmium.osm.WAY | osmium.osm.AREA))
            .with_filter(node_filter)
            .with_filter(way_filter)
            .with_filter(area_filter)
            .with_filter(writer)  # writes the nodes and ways that got this far (it skips areas)
            .with_filter(osmium.filter.EntityFilter(osmium.osm.AREA))
        )
        try:
            for area in processor:
                self._area(area)
        finally:
            writer.close()

    def _area(self, area: Any) -> None:
        tags = dict(area.tags)
        from_way = area.from_way()
        osm_type = "way" if from_way else "relation"
        if not from_way:
            tags.setdefault("area", "yes")
        building = tags.get("building")
        is_building = building is not None and building != "no"
        categories = self.taxonomy.match(tags)
        landuse = tags.get("landuse") in BUILT_UP_LANDUSE
        outline = (
            not from_way
            and tags.get("highway") in self.rules.area_outlines
            and self.rules.classify(tags, closed=True) == _PEDESTRIAN_AREA
        )
        if not (categories or landuse or outline or is_building):
            return
        try:
            geometry = self.wkb.create_multipolygon(area)
        except (RuntimeError, osmium.InvalidLocationError):
            return
        if categories:
            self.area_feats.append((osm_type, area.orig_id(), tags.get("name"), categories, geometry))
        if is_building:
            self.building_rows.append(
                (
                    osm_type,
                    area.orig_id(),
                    building,
                    tags.get("building:levels"),
                    tags.get("building:use"),
                    geometry,
                )
            )
        if landuse:
            self.landuse_rows.append((osm_type, area.orig_id(), tags["landuse"], geometry))
        if outline:
            self._rings(area)

    def _rings(self, area: Any) -> None:
        way_id = -area.orig_id()
        for outer in area.outer_rings():
            for ring in (outer, *area.inner_rings(outer)):
                refs = [(node.ref, node.location) for node in ring]
                self.rings.append(
                    (way_id, [r for r, _ in refs], [loc.lon for _, loc in refs], [loc.lat for _, loc in refs])
                )


def _key_filter(keys: frozenset[str], entity: Any) -> Any:
    """A C++ filter letting through objects of type ``entity`` with one of ``keys`` (none if no keys)."""
    if not keys:
        others = osmium.osm.ALL & ~entity
        return osmium.filter.EntityFilter(others)
    found = osmium.filter.KeyFilter(*sorted(keys))
    found.enable_for(entity)
    return found


@dataclass
class _Parsed:
    """What the OPL file of nodes and ways holds, after the rules and the taxonomy have been applied."""

    walk_ways: WalkWays
    n_objects: int
    node_feats: list[tuple[int, str | None, list[str], float, float]]
    way_feats: list[tuple[int, str | None, list[str], bool]]
    way_points: np.ndarray  # one Point per way feature (its midpoint)


def _parse_opl(opl: Path, scan: _Scan) -> _Parsed:
    """Parse the OPL file: ``n<id> T<tags> x<lon> y<lat>`` and ``w<id> T<tags> N n<id>x<lon>y<lat>,...``.

    The file is read as space-separated columns by Arrow's CSV reader, tags are split into one long table
    with Arrow compute functions, and the walkable-way rules run on whole columns. Only objects that carry a
    taxonomy anchor tag are matched one by one in Python.
    """
    data = opl.read_bytes() if opl.exists() else b""
    first_way = 0 if data.startswith(b"w") else (data.find(b"\nw") + 1 or len(data))
    view = memoryview(data)  # slices without copies
    nodes = _columns(view[:first_way], ["id", "tags", "x", "y"])
    ways = _columns(view[first_way:], ["id", "tags", "nodes"])
    anchors = scan.taxonomy.anchors("point")

    node_feats = []
    node_tags = _TagTable(nodes["tags"])
    for i, tags in node_tags.candidates(*anchors):
        categories = [c for c in scan.taxonomy.match(tags) if c not in scan.open_space]
        lon, lat = nodes["x"][i].as_py()[1:], nodes["y"][i].as_py()[1:]
        if categories and lon and lat:
            node_id = int(nodes["id"][i].as_py()[1:])
            node_feats.append((node_id, tags.get("name"), categories, float(lon), float(lat)))

    way_id = _ids(ways["id"])
    ptr, node_id, lon, lat = _node_lists(ways["nodes"])
    closed = np.zeros(way_id.shape[0], dtype=bool)
    long_enough = np.diff(ptr) >= 2
    closed[long_enough] = node_id[ptr[:-1][long_enough]] == node_id[ptr[1:][long_enough] - 1]
    way_tags = _TagTable(ways["tags"])
    walk_class = scan.rules.classify_many(**{key: way_tags.column(key) for key in _WALK_KEYS}, closed=closed)
    walk_index = np.flatnonzero(walk_class != None)  # noqa: E711 (elementwise)
    feat_index, way_feats = [], []
    for i, tags in way_tags.candidates(*anchors):
        categories = [c for c in scan.taxonomy.match(tags) if c not in scan.open_space]
        if categories:
            feat_index.append(i)
            way_feats.append((int(way_id[i]), tags.get("name"), categories, bool(closed[i])))
    walk = _select(walk_index, way_id, ptr, node_id, lon, lat)
    walk_ways = _split_missing(walk[0], walk_class[walk_index], *walk[1:])
    feats = _select(np.asarray(feat_index, dtype=np.int64), way_id, ptr, node_id, lon, lat)
    return _Parsed(
        walk_ways=walk_ways,
        n_objects=len(nodes) + len(ways),
        node_feats=node_feats,
        way_feats=way_feats,
        way_points=_midpoints(feats[1], feats[3], feats[4]),
    )


def _columns(data: memoryview, names: list[str]) -> pa.Table:
    """Space-separated OPL lines as a table of string columns (OPL escapes spaces inside values)."""
    if len(data) == 0 or data == b"\n":
        return pa.table({name: pa.array([], type=pa.string()) for name in names})
    table = pa_csv.read_csv(
        pa.py_buffer(data),
        read_options=pa_csv.ReadOptions(column_names=names),
        parse_options=pa_csv.ParseOptions(delimiter=" ", quote_char=False, escape_char=False),
        convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
    )
    return table.combine_chunks()


def _ids(column: pa.ChunkedArray) -> np.ndarray:
    """Object ids from ``w123`` / ``n123`` strings."""
    return pc.cast(pc.utf8_slice_codeunits(column, 1), pa.int64()).to_numpy().astype(np.int64, copy=False)


class _TagTable:
    """The tags of many OSM objects as one long table (object index, key, value), from OPL ``T`` fields."""

    def __init__(self, column: pa.ChunkedArray) -> None:
        self.n = len(column)
        lists = pc.split_pattern(pc.utf8_slice_codeunits(column, 1), ",")
        items = pc.list_flatten(lists)
        owner = pc.list_parent_indices(lists).to_numpy()
        present = pc.not_equal(items, "")  # an object without tags gives one empty item
        items = pc.replace_substring(items.filter(present), "%20%", " ")  # the commonest escape, in bulk
        self.owner = owner[present.to_numpy(zero_copy_only=False)]
        self.ptr = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.owner, minlength=self.n), out=self.ptr[1:])
        pairs = pc.split_pattern(items, "=", max_splits=1)
        self.items = items
        self.key_array = pc.list_element(pairs, 0)
        self.keys = self.key_array.to_numpy(zero_copy_only=False)
        self.values = pc.list_element(pairs, 1).to_numpy(zero_copy_only=False)
        self.escaped = np.flatnonzero(pc.match_substring(items, "%").to_numpy(zero_copy_only=False))
        for i in self.escaped:
            self.keys[i] = _unescape(self.keys[i])
            self.values[i] = _unescape(self.values[i])

    def column(self, key: str) -> np.ndarray:
        """The value of ``key`` for each object, None where the object lacks it."""
        result = np.full(self.n, None, dtype=object)
        chosen = pc.equal(self.key_array, key).to_numpy(zero_copy_only=False)
        result[self.owner[chosen]] = self.values[chosen]
        return result

    def tags(self, i: int) -> dict[str, str]:
        """All tags of object ``i``."""
        start, stop = self.ptr[i], self.ptr[i + 1]
        return dict(zip(self.keys[start:stop], self.values[start:stop], strict=True))

    def candidates(self, tags: frozenset[str], keys: frozenset[str]) -> list[tuple[int, dict[str, str]]]:
        """Objects that may match the taxonomy, with all their tags.

        Those are the objects with one of ``tags`` (``"k=v"``), one of ``keys``, or a ``;`` list under a key
        of either; no other object can match.
        """
        anchor_keys = keys | {tag.partition("=")[0] for tag in tags}
        hit = pc.is_in(self.items, value_set=pa.array(sorted(tags), type=pa.string()))
        hit = hit.to_numpy(zero_copy_only=False)
        if keys:
            hit |= pc.is_in(self.key_array, value_set=pa.array(sorted(keys))).to_numpy(zero_copy_only=False)
        for i in self.escaped:  # compare unescaped
            hit[i] = f"{self.keys[i]}={self.values[i]}" in tags or self.keys[i] in keys
        listed = pc.match_substring(self.items, ";").to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(listed & ~hit):
            hit[i] = self.keys[i] in anchor_keys
        return [(int(i), self.tags(int(i))) for i in np.unique(self.owner[hit])]


_ESCAPE = re.compile(r"%([0-9a-fA-F]+)%")


def _unescape(text: str) -> str:
    """Undo OPL escaping: ``%20%`` is a space, ``%4eac%`` is 京 (OPL escapes all but safe characters)."""
    return _ESCAPE.sub(lambda found: chr(int(found[1], 16)), text) if "%" in text else text


#: ``n123x24.9y60.1,n124xy`` -> CSV rows ``123,24.9,60.1`` and ``124,,`` (a node without a location).
_NODE_LIST_BYTES = bytes.maketrans(b"nxy", b"\n,,")


def _node_lists(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ways' node lists (OPL ``N`` fields) as a CSR pointer, node ids and coordinates (NaN if missing)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    length = pc.utf8_length(array).to_numpy(zero_copy_only=False)
    counts = np.where(length > 1, pc.count_substring(array, ",").to_numpy(zero_copy_only=False) + 1, 0)
    ptr = np.zeros(len(array) + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    if ptr[-1] == 0:
        return ptr, np.empty(0, np.int64), np.empty(0), np.empty(0)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset : array.offset + len(array) + 1]
    body = array.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]
    rows = body.translate(_NODE_LIST_BYTES, b",N")
    table = pa_csv.read_csv(
        pa.py_buffer(rows[1:] if rows.startswith(b"\n") else rows),
        read_options=pa_csv.ReadOptions(column_names=["id", "lon", "lat"]),
        convert_options=pa_csv.ConvertOptions(
            column_types={"id": pa.int64(), "lon": pa.float64(), "lat": pa.float64()}
        ),
    )
    if table.num_rows != ptr[-1]:
        raise RuntimeError(f"parsed {table.num_rows} way nodes for {ptr[-1]} listed")
    node_id = table["id"].to_numpy().astype(np.int64, copy=False)
    lon = table["lon"].to_numpy().astype(np.float64, copy=True)
    lat = table["lat"].to_numpy().astype(np.float64, copy=True)
    return ptr, node_id, lon, lat


def _select(
    index: np.ndarray,
    way_id: np.ndarray,
    ptr: np.ndarray,
    node_id: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ways at ``index`` (in that order) as their own CSR arrays."""
    sizes = ptr[index + 1] - ptr[index]
    new_ptr = np.zeros(index.shape[0] + 1, dtype=np.int64)
    np.cumsum(sizes, out=new_ptr[1:])
    refs = np.repeat(ptr[index] - new_ptr[:-1], sizes) + np.arange(new_ptr[-1])
    return way_id[index], new_ptr, node_id[refs], lon[refs], lat[refs]


def _midpoints(ptr: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The point halfway along each way (its nodes without a location left out); None for none left."""
    n = ptr.shape[0] - 1
    result = np.full(n, None, dtype=object)
    valid = np.isfinite(lon)
    owner = np.repeat(np.arange(n), np.diff(ptr))[valid]
    if owner.size == 0:
        return result
    coords = np.column_stack([lon[valid], lat[valid]])
    sizes = np.bincount(owner, minlength=n)
    single = np.flatnonzero(sizes[owner] == 1)  # a lone node: repeat it so the line is valid
    coords = np.concatenate([coords, coords[single]])
    owner = np.concatenate([owner, owner[single]])
    order = np.argsort(owner, kind="stable")
    present = np.flatnonzero(sizes > 0)
    lines = shapely.linestrings(coords[order], indices=np.searchsorted(present, owner[order]))
    result[present] = shapely.line_interpolate_point(lines, 0.5, normalized=True)
    return result


def _split_missing(
    way_id: np.ndarray,
    highway: np.ndarray,
    ptr: np.ndarray,
    node_id: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
) -> WalkWays:
    """Split ways at nodes without a location; drop pieces of fewer than two nodes."""
    valid = np.isfinite(lon)
    if valid.all():
        keep = np.diff(ptr) >= 2
        if keep.all():
            return WalkWays(way_id, highway, ptr, node_id, lon, lat)
    way_of = np.repeat(np.arange(way_id.shape[0]), np.diff(ptr))
    start = valid.copy()
    start[1:] &= ~valid[:-1] | (way_of[1:] != way_of[:-1])
    piece = np.cumsum(start) - 1  # piece index of each ref (meaningful where valid)
    piece = piece[valid]
    sizes = np.bincount(piece, minlength=int(start.sum()))
    piece_way = way_of[start]
    keep_piece = sizes >= 2
    keep_ref = keep_piece[piece]
    new_ptr = np.zeros(int(keep_piece.sum()) + 1, dtype=np.int64)
    np.cumsum(sizes[keep_piece], out=new_ptr[1:])
    return WalkWays(
        way_id=way_id[piece_way[keep_piece]],
        highway=highway[piece_way[keep_piece]],
        node_ptr=new_ptr,
        node_id=node_id[valid][keep_ref],
        lon=lon[valid][keep_ref],
        lat=lat[valid][keep_ref],
    )


def _join_rings(ways: WalkWays, rings: list[tuple[int, list[int], list[float], list[float]]]) -> WalkWays:
    """Append the outlines of pedestrian areas mapped as multipolygon relations."""
    rings = [ring for ring in rings if len(ring[1]) >= 2]
    if not rings:
        return ways
    sizes = np.array([len(ring[1]) for ring in rings], dtype=np.int64)
    return WalkWays(
        way_id=np.concatenate([ways.way_id, np.array([ring[0] for ring in rings], dtype=np.int64)]),
        highway=np.concatenate([ways.highway, np.full(len(rings), _PEDESTRIAN_AREA, dtype=object)]),
        node_ptr=np.concatenate([ways.node_ptr, ways.node_ptr[-1] + np.cumsum(sizes)]),
        node_id=np.concatenate(
            [ways.node_id, np.concatenate([np.asarray(r[1], dtype=np.int64) for r in rings])]
        ),
        lon=np.concatenate([ways.lon, np.concatenate([np.asarray(r[2], dtype=np.float64) for r in rings])]),
        lat=np.concatenate([ways.lat, np.concatenate([np.asarray(r[3], dtype=np.float64) for r in rings])]),
    )


def _ways_in_box(ways: WalkWays, box: tuple[float, float, float, float]) -> WalkWays:
    """Keep whole every way with at least one node inside the box."""
    inside = (ways.lon >= box[0]) & (ways.lon <= box[2]) & (ways.lat >= box[1]) & (ways.lat <= box[3])
    if ways.n_ways == 0:
        return ways
    keep = np.logical_or.reduceat(inside, ways.node_ptr[:-1])
    sizes = np.diff(ways.node_ptr)[keep]
    ptr = np.zeros(sizes.shape[0] + 1, dtype=np.int64)
    np.cumsum(sizes, out=ptr[1:])
    ref_keep = np.repeat(keep, np.diff(ways.node_ptr))
    return WalkWays(
        ways.way_id[keep],
        ways.highway[keep],
        ptr,
        ways.node_id[ref_keep],
        ways.lon[ref_keep],
        ways.lat[ref_keep],
    )


def _polygons(wkb: list[str]) -> np.ndarray:
    """Decode multipolygon WKB; a multipolygon of one part becomes a Polygon."""
    geometry = shapely.from_wkb(np.asarray(wkb, dtype=object)) if wkb else np.empty(0, dtype=object)
    single = shapely.get_num_geometries(geometry) == 1
    geometry[single] = shapely.get_geometry(geometry[single], 0)
    return geometry


def _features(scan: _Scan, parsed: _Parsed) -> gpd.GeoDataFrame:
    """Nodes, ways (as their midpoint) and areas that match the taxonomy, one row per OSM object.

    A closed way that was also assembled into an area is given once, as the area.
    """
    nodes = parsed.node_feats
    node_geometry = shapely.points(np.array([[r[3], r[4]] for r in nodes], dtype=np.float64).reshape(-1, 2))
    area_ids = {r[1] for r in scan.area_feats if r[0] == "way"}
    keep = np.array(
        [
            not (r[3] and r[0] in area_ids) and parsed.way_points[i] is not None
            for i, r in enumerate(parsed.way_feats)
        ],
        dtype=bool,
    )
    ways = [r for r, k in zip(parsed.way_feats, keep, strict=True) if k]
    areas = scan.area_feats
    rows = pd.DataFrame(
        {
            "osm_type": ["node"] * len(nodes) + ["way"] * len(ways) + [r[0] for r in areas],
            "osm_id": np.array(
                [r[0] for r in nodes] + [r[0] for r in ways] + [r[1] for r in areas], dtype=np.int64
            ),
            "name": pd.Series(
                [r[1] for r in nodes] + [r[1] for r in ways] + [r[2] for r in areas], dtype=object
            ),
            "categories": pd.Series(
                [r[2] for r in nodes] + [r[2] for r in ways] + [r[3] for r in areas], dtype=object
            ),
        },
        columns=_FEATURE_COLUMNS,
    )
    geometry = np.concatenate([node_geometry, parsed.way_points[keep], _polygons([r[4] for r in areas])])
    return gpd.GeoDataFrame(rows, geometry=geometry, crs="EPSG:4326")


def _buildings(scan: _Scan) -> gpd.GeoDataFrame:
    """Buildings with their levels and whether they house residents."""
    rows = scan.building_rows
    geometry = _polygons([r[5] for r in rows])
    building = np.array([r[2] for r in rows], dtype=object)
    use = np.array([r[4] or "" for r in rows], dtype=object)
    residential = np.isin(building, list(RESIDENTIAL_BUILDINGS)) | np.isin(use, list(RESIDENTIAL_BUILDINGS))
    untyped = building == "yes"
    residential_landuse = [r[3] for r in scan.landuse_rows if r[2] == "residential"]
    if untyped.any() and residential_landuse:
        zones = shapely.STRtree(_polygons(residential_landuse))
        points = shapely.point_on_surface(geometry[untyped])
        inside = np.unique(zones.query(points, predicate="within")[0])
        residential[np.flatnonzero(untyped)[inside]] = True
    frame = pd.DataFrame(
        {
            "osm_id": np.array([r[1] for r in rows], dtype=np.int64),
            "osm_type": pd.Series([r[0] for r in rows], dtype=object),
            "building": pd.Series(building, dtype=object),
            "levels": np.array([_levels(r[3]) for r in rows], dtype=np.float64),
            "residential": residential.astype(bool),
        },
        columns=_BUILDING_COLUMNS,
    )
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


def _landuse(rows: list[tuple[str, int, str, str]]) -> gpd.GeoDataFrame:
    """Built-up land use areas from ``(osm_type, osm_id, landuse, wkb)`` rows."""
    frame = pd.DataFrame(
        {
            "osm_id": np.array([r[1] for r in rows], dtype=np.int64),
            "osm_type": pd.Series([r[0] for r in rows], dtype=object),
            "landuse": pd.Series([r[2] for r in rows], dtype=object),
        },
        columns=_LANDUSE_COLUMNS,
    )
    return gpd.GeoDataFrame(frame, geometry=_polygons([r[3] for r in rows]), crs="EPSG:4326")


def _levels(value: str | None) -> float:
    """``building:levels`` as a number: the first number in the value (``"3;4"`` -> 3), else NaN."""
    if not value:
        return np.nan
    found = _LEVELS.match(value)
    return float(found[1].replace(",", ".")) if found else np.nan


def _bounds(
    ways: WalkWays, features: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame
) -> tuple[float, float, float, float]:
    boxes = [np.array([ways.lon.min(), ways.lat.min(), ways.lon.max(), ways.lat.max()])]
    boxes += [frame.total_bounds for frame in (features, buildings) if len(frame)]
    stacked = np.vstack(boxes)
    return (
        float(stacked[:, 0].min()),
        float(stacked[:, 1].min()),
        float(stacked[:, 2].max()),
        float(stacked[:, 3].max()),
    )
