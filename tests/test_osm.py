"""Reading a local OSM PBF: walkable ways, features, buildings, bbox, and clear errors on bad files."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import osmium
import pytest
import shapely
from osmium.osm.mutable import Node, Relation, Way

from exquisite.errors import InputError
from exquisite.sources.osm import BUILT_UP_LANDUSE, OsmData, WalkWays, read_osm, walk_rules
from exquisite.taxonomy import load_taxonomy

LON0, LAT0, D = 24.90, 60.17, 0.0005


def _write_pbf(
    path: Path,
    nodes: dict[int, tuple[float, float, dict]],
    ways: list[tuple[int, list[int], dict]],
    relations: list[tuple[int, list[tuple[str, int, str]], dict]] = (),
) -> Path:
    writer = osmium.SimpleWriter(str(path))
    for node_id in sorted(nodes):
        lon, lat, tags = nodes[node_id]
        writer.add_node(Node(id=node_id, location=(lon, lat), tags=tags))
    for way_id, refs, tags in sorted(ways, key=lambda w: w[0]):
        writer.add_way(Way(id=way_id, nodes=refs, tags=tags))
    for rel_id, members, tags in relations:
        writer.add_relation(Relation(id=rel_id, members=members, tags=tags))
    writer.close()
    return path


def _square(first_id: int, x: float, y: float, size: float = 1.0) -> dict[int, tuple[float, float, dict]]:
    """Four corner nodes of a square, south-west corner at grid (x, y)."""
    corners = [(x, y), (x + size, y), (x + size, y + size), (x, y + size)]
    return {first_id + i: (LON0 + cx * D, LAT0 + cy * D, {}) for i, (cx, cy) in enumerate(corners)}


def _ring(first_id: int) -> list[int]:
    return [first_id, first_id + 1, first_id + 2, first_id + 3, first_id]


@pytest.fixture(scope="module")
def synthetic_pbf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny city built to exercise every rule of the reader."""
    nodes: dict[int, tuple[float, float, dict]] = {}
    for i in range(1, 10):  # a street along lat0: nodes 1..9 at x = 0..8
        nodes[i] = (LON0 + (i - 1) * D, LAT0, {})
    nodes[5] = (LON0 + 4 * D, LAT0, {"highway": "crossing"})
    for i in (40, 41, 42, 43, 44):
        nodes[i] = (LON0 + (i - 40) * D, LAT0 - 2 * D, {})
    nodes.update(_square(20, 0, 2))  # pedestrian square (closed way, area=yes)
    nodes.update(_square(30, 3, 2))  # pedestrian loop street (closed, no area tag)
    nodes.update(_square(50, 6, 2))  # pedestrian area as a multipolygon relation
    nodes.update(_square(60, 0, 5, 0.2))  # building=yes inside landuse=residential
    nodes.update(_square(64, -0.5, 4.5, 2))  # landuse=residential
    nodes.update(_square(80, 4, 5, 0.2))  # building=apartments, levels 5
    nodes.update(_square(84, 5, 5, 0.2))  # building=yes, levels "3;4", outside residential land
    nodes.update(_square(88, 6, 5, 0.2))  # building=retail with building:use=residential
    nodes.update(_square(110, 3, -5, 1))  # a school mapped as a closed way
    nodes.update(_square(120, 10, 0))  # landuse=commercial (built-up)
    nodes.update(_square(124, 12, 0))  # landuse=farmland (not built-up)
    nodes.update(_square(128, 14, 0))  # landuse=industrial as a multipolygon relation
    nodes[70] = (
        LON0 + 1 * D,
        LAT0 + 0.5 * D,
        {"amenity": "pharmacy", "name": "Apteekki, 24/7 = auki @ 100%"},
    )
    nodes[71] = (LON0 + 2 * D, LAT0 + 0.5 * D, {"amenity": "pharmacy", "name": "北京 药店"})
    nodes[72] = (LON0, LAT0 - 4 * D, {})
    nodes[77] = (LON0 + 2 * D, LAT0 - 4 * D, {})
    nodes[74] = (LON0 + 3 * D, LAT0 + 0.2 * D, {"highway": "bus_stop", "name": "Stop"})
    nodes[75] = (LON0 + 5 * D, LAT0 + 0.5 * D, {"leisure": "park", "name": "Park as a node"})
    nodes[100] = (LON0 + 50 * D, LAT0 + 50 * D, {})  # far away, for bbox tests
    nodes[101] = (LON0 + 51 * D, LAT0 + 50 * D, {})
    ways = [
        (10, [1, 2, 3, 4, 5], {"highway": "residential", "name": "Katu"}),
        (11, [5, 6], {"highway": "motorway"}),
        (12, [6, 7], {"highway": "service", "access": "private"}),
        (13, [7, 8], {"highway": "footway", "access": "private", "foot": "yes"}),
        (14, [8, 9], {"highway": "footway", "foot": "no"}),
        (15, [1, 20], {"highway": "service", "service": "private"}),
        (16, _ring(20), {"highway": "pedestrian", "area": "yes", "name": "Plaza"}),
        (17, _ring(30), {"highway": "pedestrian", "name": "Loop"}),
        (18, [40, 41, 999_999, 42, 43], {"highway": "path"}),
        (19, [44, 999_998], {"highway": "path"}),
        (50, _ring(50), {}),
        (60, _ring(60), {"building": "yes"}),
        (64, _ring(64), {"landuse": "residential"}),
        (80, _ring(80), {"building": "apartments", "building:levels": "5"}),
        (84, _ring(84), {"building": "yes", "building:levels": "3;4"}),
        (88, _ring(88), {"building": "retail", "building:use": "residential"}),
        (73, _ring(110), {"amenity": "school", "name": "Koulu"}),
        (76, [72, 77], {"leisure": "track", "name": "Running track"}),
        (90, [100, 101], {"highway": "footway"}),
        (91, [9, 100], {"highway": "platform"}),
        (120, _ring(120), {"landuse": "commercial"}),
        (124, _ring(124), {"landuse": "farmland"}),
        (128, _ring(128), {}),
    ]
    relations = [
        (200, [("w", 50, "outer")], {"type": "multipolygon", "highway": "pedestrian", "name": "Tori"}),
        (201, [("w", 128, "outer")], {"type": "multipolygon", "landuse": "industrial"}),
    ]
    return _write_pbf(tmp_path_factory.mktemp("osm") / "synthetic.osm.pbf", nodes, ways, relations)


@pytest.fixture(scope="module")
def synthetic(synthetic_pbf: Path) -> OsmData:
    return read_osm(synthetic_pbf)


def _ways_by_id(ways: WalkWays) -> dict[int, list[tuple[str, list[int]]]]:
    result: dict[int, list[tuple[str, list[int]]]] = {}
    for i, way_id in enumerate(ways.way_id.tolist()):
        refs = ways.node_id[ways.node_ptr[i] : ways.node_ptr[i + 1]].tolist()
        result.setdefault(way_id, []).append((ways.highway[i], refs))
    return result


# ---------------------------------------------------------------- walkable ways


def test_walkable_rules_on_synthetic_city(synthetic: OsmData) -> None:
    ways = _ways_by_id(synthetic.walk_ways)
    assert ways[10] == [("residential", [1, 2, 3, 4, 5])]
    assert 11 not in ways  # motorway
    assert 12 not in ways  # access=private
    assert ways[13] == [("footway", [7, 8])]  # access=private but foot=yes
    assert 14 not in ways  # foot=no
    assert 15 not in ways  # service=private
    assert ways[16] == [("pedestrian_area", _ring(20))]  # square: its outline
    assert ways[17] == [("pedestrian", _ring(30))]  # closed pedestrian street without area=yes: a loop
    assert 91 not in ways  # highway=platform, as in GHSCI


def test_way_with_missing_nodes_is_split_into_runs(synthetic: OsmData) -> None:
    ways = _ways_by_id(synthetic.walk_ways)
    assert ways[18] == [("path", [40, 41]), ("path", [42, 43])]
    assert 19 not in ways  # one node left: dropped


def test_pedestrian_multipolygon_outline_has_negated_relation_id(synthetic: OsmData) -> None:
    ways = _ways_by_id(synthetic.walk_ways)
    assert [(h, sorted(set(refs))) for h, refs in ways[-200]] == [("pedestrian_area", [50, 51, 52, 53])]
    assert 50 not in ways  # the untagged member way itself is not a street


def test_walk_ways_arrays_are_consistent(synthetic: OsmData) -> None:
    w = synthetic.walk_ways
    assert w.way_id.dtype == np.int64
    assert w.node_id.dtype == np.int64
    assert w.node_ptr.dtype == np.int64
    assert w.lon.dtype == np.float64
    assert w.lat.dtype == np.float64
    assert w.node_ptr[0] == 0
    assert w.node_ptr[-1] == w.n_refs
    assert np.all(np.diff(w.node_ptr) >= 2)
    assert w.highway.shape == w.way_id.shape
    assert np.isfinite(w.lon).all()
    assert np.isfinite(w.lat).all()
    # coordinates round-trip exactly (7 decimals)
    first = int(np.flatnonzero(w.way_id == 10)[0])
    assert w.lon[w.node_ptr[first] + 1] == pytest.approx(LON0 + D, abs=1e-9)


@pytest.mark.parametrize(
    ("tags", "closed", "expected"),
    [
        ({"highway": "footway"}, False, "footway"),
        ({"highway": "motorway_link"}, False, None),
        ({"highway": "trunk"}, False, "trunk"),
        ({"highway": "construction"}, False, None),
        ({"highway": "residential", "access": "no"}, False, None),
        ({"highway": "residential", "access": "no", "foot": "designated"}, False, "residential"),
        ({"highway": "residential", "access": "destination"}, False, "residential"),
        ({"highway": "primary", "foot": "use_sidepath"}, False, None),
        ({"highway": "service", "service": "private;parking_aisle"}, False, None),
        ({"highway": "footway", "area": "yes"}, True, "pedestrian_area"),
        ({"highway": "pedestrian", "area": "yes"}, False, None),
        ({"highway": "service", "area": "yes"}, True, None),
        ({"building": "yes"}, True, None),
    ],
)
def test_walk_rules_classify(tags: dict, closed: bool, expected: str | None) -> None:
    assert walk_rules().classify(tags, closed=closed) == expected


# ---------------------------------------------------------------- features


def _feature(data: OsmData, osm_type: str, osm_id: int):
    rows = data.features[(data.features.osm_type == osm_type) & (data.features.osm_id == osm_id)]
    assert len(rows) == 1, f"{osm_type} {osm_id}: {len(rows)} rows"
    return rows.iloc[0]


def test_node_features_keep_names_with_escaped_characters(synthetic: OsmData) -> None:
    pharmacy = _feature(synthetic, "node", 70)
    assert pharmacy["name"] == "Apteekki, 24/7 = auki @ 100%"
    assert pharmacy["categories"] == ["pharmacy"]
    assert _feature(synthetic, "node", 71)["name"] == "北京 药店"
    stop = _feature(synthetic, "node", 74)
    assert stop["categories"] == ["bus_stop", "ghsci_pt_any"]
    assert stop.geometry.geom_type == "Point"
    assert stop.geometry.x == pytest.approx(LON0 + 3 * D)


def test_closed_way_feature_is_given_once_as_an_area(synthetic: OsmData) -> None:
    school = _feature(synthetic, "way", 73)
    assert school.geometry.geom_type == "Polygon"
    assert school["categories"] == ["primary_school", "middle_school"]  # no level tagged: both


def test_linear_way_feature_is_its_midpoint(synthetic: OsmData) -> None:
    track = _feature(synthetic, "way", 76)
    assert track["categories"] == ["sports_ground"]
    assert track.geometry.geom_type == "Point"
    assert track.geometry.x == pytest.approx(LON0 + D, abs=1e-7)


def test_open_space_only_for_areas(synthetic: OsmData) -> None:
    assert not (synthetic.features.osm_id == 75).any()  # a park node: open space needs a polygon
    plaza = _feature(synthetic, "way", 16)
    assert "open_space" in plaza["categories"]
    assert plaza.geometry.geom_type == "Polygon"
    tori = _feature(synthetic, "relation", 200)
    assert tori["name"] == "Tori"
    assert "open_space" in tori["categories"]
    loop = synthetic.features[(synthetic.features.osm_type == "way") & (synthetic.features.osm_id == 17)]
    assert loop.empty  # a pedestrian street without area=yes is not a square


def test_features_frame_contract(synthetic: OsmData) -> None:
    f = synthetic.features
    assert list(f.columns) == ["osm_type", "osm_id", "name", "categories", "geometry"]
    assert f.crs.to_epsg() == 4326
    assert f["osm_id"].dtype == np.int64
    assert set(f["osm_type"]) <= {"node", "way", "relation"}
    assert all(isinstance(c, list) and c for c in f["categories"])


# ---------------------------------------------------------------- buildings


def test_buildings_levels_and_residential_rule(synthetic: OsmData) -> None:
    b = synthetic.buildings.set_index("osm_id")
    assert list(synthetic.buildings.columns) == [
        "osm_id",
        "osm_type",
        "building",
        "levels",
        "residential",
        "geometry",
    ]
    assert b.loc[60, "residential"]  # building=yes inside landuse=residential
    assert b.loc[80, "residential"]
    assert b.loc[80, "levels"] == 5.0
    assert not b.loc[84, "residential"]
    assert b.loc[84, "levels"] == 3.0
    assert b.loc[88, "residential"]  # building:use=residential
    assert np.isnan(b.loc[60, "levels"])
    assert synthetic.buildings["residential"].dtype == bool
    assert synthetic.buildings.crs.to_epsg() == 4326


def test_built_up_landuse(synthetic: OsmData) -> None:
    land = synthetic.landuse
    assert list(land.columns) == ["osm_id", "osm_type", "landuse", "geometry"]
    assert land.crs.to_epsg() == 4326
    found = {(t, i): v for t, i, v in zip(land.osm_type, land.osm_id, land.landuse, strict=True)}
    # residential and commercial ways, the industrial relation; farmland is not built up
    assert found == {("way", 64): "residential", ("way", 120): "commercial", ("relation", 201): "industrial"}
    assert set(shapely.get_type_id(land.geometry.values).tolist()) == {3}  # Polygon
    commercial = land.geometry[land.osm_id == 120].iloc[0]
    assert commercial.bounds == pytest.approx((LON0 + 10 * D, LAT0, LON0 + 11 * D, LAT0 + D))


def test_built_up_landuse_list_is_packaged() -> None:
    assert {"residential", "commercial", "retail", "industrial"} <= BUILT_UP_LANDUSE
    assert not {"farmland", "forest", "grass", "meadow", "park", "cemetery"} & BUILT_UP_LANDUSE


# ---------------------------------------------------------------- bbox and bounds


def test_bbox_keeps_ways_with_a_node_inside_whole(synthetic_pbf: Path) -> None:
    box = (LON0 + 50.5 * D, LAT0 + 49 * D, LON0 + 52 * D, LAT0 + 51 * D)  # only node 101
    data = read_osm(synthetic_pbf, bbox=box)
    assert data.walk_ways.way_id.tolist() == [90]
    assert data.walk_ways.node_id.tolist() == [100, 101]  # node 100 is outside, kept with its way
    assert data.features.empty
    assert data.buildings.empty
    assert data.landuse.empty
    full = read_osm(synthetic_pbf)
    assert data.bounds == full.bounds  # bounds describe the file


def test_bbox_outside_the_data_gives_empty_results(synthetic_pbf: Path) -> None:
    data = read_osm(synthetic_pbf, bbox=(10.0, 10.0, 11.0, 11.0))
    assert data.walk_ways.n_ways == 0
    assert data.walk_ways.node_ptr.tolist() == [0]
    assert data.features.empty


@pytest.mark.parametrize("bbox", [(1, 2, 3), (3.0, 0.0, 1.0, 1.0), ("a", 0, 1, 1), (0, 0, 200, 1)])
def test_bad_bbox_is_an_input_error(synthetic_pbf: Path, bbox: tuple) -> None:
    with pytest.raises(InputError) as caught:
        read_osm(synthetic_pbf, bbox=bbox)
    assert caught.value.where == "bbox"


def test_taxonomy_with_only_open_spaces(synthetic_pbf: Path, tmp_path: Path) -> None:
    path = tmp_path / "parks.yml"
    path.write_text(
        "categories:\n  park:\n    label: {en: Park, zh: 公园}\n    kind: open_space\n"
        "    tags: ['highway=pedestrian & area=yes']\n    source: test\n",
        encoding="utf-8",
    )
    data = read_osm(synthetic_pbf, load_taxonomy(path))
    assert sorted(data.features.osm_id.tolist()) == [16, 200]
    assert data.walk_ways.n_ways > 0


# ---------------------------------------------------------------- the real extract


def test_helsinki_extract(helsinki_pbf: Path) -> None:
    read_osm(helsinki_pbf)  # warm the caches (taxonomy, rules, imports)
    started = time.perf_counter()
    data = read_osm(helsinki_pbf)
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0  # about 0.2 s on an idle 2-core machine; generous for a busy CI
    w = data.walk_ways
    assert w.n_ways > 2000
    assert w.n_refs > 10_000
    excluded = walk_rules().exclude_highway
    assert not set(w.highway.tolist()) & excluded
    assert "pedestrian_area" in set(w.highway.tolist())
    lon0, lat0, lon1, lat1 = data.bounds
    assert lon0 <= w.lon.min()
    assert w.lon.max() <= lon1
    assert lat0 <= w.lat.min()
    assert w.lat.max() <= lat1
    assert 24.9 < lon0 < lon1 < 25.0
    assert 60.1 < lat0 < lat1 < 60.2
    categories = {c for cats in data.features.categories for c in cats}
    assert {"bus_stop", "pharmacy", "open_space", "ghsci_pt_any", "ghsci_fresh_food"} <= categories
    assert len(data.buildings) > 400
    assert data.buildings.residential.any()
    assert len(data.landuse) > 10
    assert {"residential", "commercial"} <= set(data.landuse.landuse)
    kinds = set(shapely.get_type_id(data.features.geometry.values).tolist())
    assert kinds <= {0, 3, 6}  # Point, Polygon, MultiPolygon


# ---------------------------------------------------------------- bad input


def _bad_files(tmp: Path, helsinki: Path) -> dict[str, Path]:
    empty = tmp / "empty.osm.pbf"
    empty.write_bytes(b"")
    truncated = tmp / "truncated.osm.pbf"
    data = helsinki.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    text = tmp / "notes.osm.pbf"
    text.write_text("this is not an OpenStreetMap file\n", encoding="utf-8")
    tiny = tmp / "tiny.osm.pbf"
    tiny.write_bytes(data[:100])
    return {
        "empty": empty,
        "truncated": truncated,
        "not pbf": text,
        "header only": tiny,
        "missing": tmp / "missing.osm.pbf",
        "directory": tmp,
    }


@pytest.mark.parametrize("case", ["empty", "truncated", "not pbf", "header only", "missing", "directory"])
def test_bad_files_raise_input_error_naming_the_file(case: str, tmp_path: Path, helsinki_pbf: Path) -> None:
    path = _bad_files(tmp_path, helsinki_pbf)[case]
    with pytest.raises(InputError) as caught:
        read_osm(path)
    assert str(path) in str(caught.value)
    assert caught.value.hint


def test_file_without_walkable_ways(tmp_path: Path) -> None:
    path = _write_pbf(tmp_path / "pois.osm.pbf", {1: (LON0, LAT0, {"amenity": "pharmacy"})}, [])
    with pytest.raises(InputError, match="no walkable ways"):
        read_osm(path)


@pytest.mark.parametrize(
    "name", ["liechtenstein.osm.pbf", "oslo_east_filtered.osm.pbf", "porto_portugal.osm.pbf"]
)
def test_robustness_files_read(shared_data: Path, name: str) -> None:
    data = read_osm(shared_data / "robustness" / name)
    w = data.walk_ways
    assert w.n_ways > 1000
    assert np.all(np.diff(w.node_ptr) >= 2)
    assert np.isfinite(w.lon).all()
    assert len(data.features) > 0


def test_xml_file_gets_a_conversion_hint(tmp_path: Path) -> None:
    path = tmp_path / "city.osm"
    path.write_text('<?xml version="1.0"?><osm version="0.6"></osm>\n', encoding="utf-8")
    with pytest.raises(InputError, match="Convert it to PBF"):
        read_osm(path)
