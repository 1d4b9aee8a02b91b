"""Place search over a city's own names and addresses, and its list of neighbourhoods.

The index of a run holds, inside its study area:

* the run's destinations, by name (``destinations.parquet``);
* from the run's OSM file (``manifest["inputs"]["osm"]["path"]``), when it is still there: named features
  (with their ``name:zh``, ``name:en``, ``name:fi`` and ``name:sv`` variants), streets (a walkable way's
  ``name``, one entry per street) and addresses (``addr:street`` + ``addr:housenumber``).

A query is matched with RapidFuzz's weighted ratio on case-folded text without accents, so that small typos
("Mannerheimintei"), missing accents ("Kluuvin apteekki") and parts of a name ("大教堂") are found, in
Chinese and Latin script alike.
"""

from __future__ import annotations

import functools
import math
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from rapidfuzz import fuzz, process

from exquisite.web.finder import finder_settings

if TYPE_CHECKING:
    import geopandas as gpd

    from exquisite.web.catalogue import Run

#: Name tags indexed, the first being the label; the others are variants a resident may type.
NAME_TAGS = ("name", "name:zh", "name:en", "name:fi", "name:sv")

#: Scores (0–100, RapidFuzz WRatio) below this are not a match: above it lie one or two typos in a word of
#: eight letters (e.g. "Mannerheimintei" → 93) and a part of a name (partial matches score 90 at most).
MIN_SCORE = 75.0

#: Entries of the same label and kind closer than this (metres) are one place (a street split into ways, a
#: building tagged on its outline and its entrance).
_SAME_PLACE_M = 60.0

#: Results with the same label closer than this (metres) are shown once: either leads to the same corner.
_SAME_NAME_M = 300.0

#: Keys of features that are no place to go to (borders, routes), left out of the index.
_NOT_PLACES = frozenset({"boundary", "route", "admin_level", "type:route"})

#: Kinds offered first among equal scores (a named place before a street before an address).
_KIND_RANK = {"street": 1, "address": 2}


@dataclass(frozen=True, slots=True)
class PlaceHit:
    """A place found by a search, or a neighbourhood.

    Attributes
    ----------
    label
        What to show: the name (with the matched variant first when the query matched, say, its Chinese name).
    lon, lat
        Where it is (WGS84).
    kind
        ``street``, ``address``, a destination category (``pharmacy`` …), an OSM kind (``amenity`` …), or for
        neighbourhoods ``district``, ``suburb``, ``neighbourhood``, ``quarter`` or ``grid``.
    score
        How well it matches the query (0–100; 100 for a neighbourhood).
    """

    label: str
    lon: float
    lat: float
    kind: str
    score: float = 100.0


def normalise(text: str) -> str:
    """Text as it is compared: NFKC, case-folded, accents removed, spaces collapsed."""
    text = unicodedata.normalize("NFKD", str(text).casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(unicodedata.normalize("NFKC", text).split())


class PlaceIndex:
    """Names and addresses of a city, searchable with typos.

    Parameters
    ----------
    entries
        ``(label, lon, lat, kind, variants)``: the label shown and the other names it is also found by.
    neighbourhoods
        The city's neighbourhoods, in the order to list them.
    notes
        What the index could not use (e.g. the OSM file is gone), for the page or the log.
    """

    def __init__(
        self,
        entries: list[tuple[str, float, float, str, tuple[str, ...]]],
        neighbourhoods: list[PlaceHit] | None = None,
        notes: list[str] | None = None,
    ) -> None:
        self.entries = _dedupe(entries)
        self.neighbourhoods = list(neighbourhoods or [])
        self.notes = list(notes or [])
        self._choices: list[str] = []
        self._owner: list[int] = []
        self._text: list[str] = []
        for i, (label, _, _, _, variants) in enumerate(self.entries):
            for text in dict.fromkeys((label, *variants)):
                key = normalise(text)
                if key:
                    self._choices.append(key)
                    self._owner.append(i)
                    self._text.append(text)

    def __len__(self) -> int:
        return len(self.entries)

    def search(self, query: str, limit: int = 10) -> list[PlaceHit]:
        """The places best matching ``query``, best first (an empty list when nothing matches well).

        Parameters
        ----------
        query
            A name, a street, an address ("Aleksanterinkatu 52"), in Latin or Chinese script.
        limit
            Largest number of results.

        Returns
        -------
        list of PlaceHit
            At most ``limit`` places, each once, scored 0–100.
        """
        key = normalise(query)
        if not key or limit <= 0:
            return []
        found = process.extract(
            key,
            self._choices,
            scorer=fuzz.WRatio,
            score_cutoff=MIN_SCORE,
            limit=max(limit * 8, 40),
        )
        best: dict[int, tuple[float, int]] = {}
        for _, score, j in found:
            owner = self._owner[j]
            bonus = 5.0 if self._choices[j] == key else 2.0 if self._choices[j].startswith(key) else 0.0
            if owner not in best or score + bonus > best[owner][0]:
                best[owner] = (score + bonus, j)
        ranked = sorted(
            best.items(),
            key=lambda item: (
                -item[1][0],
                _KIND_RANK.get(self.entries[item[0]][3], 0),
                self.entries[item[0]][0],
            ),
        )
        hits: list[PlaceHit] = []
        for owner, (score, j) in ranked:
            label, lon, lat, kind, _ = self.entries[owner]
            text = self._text[j]
            shown = label if text == label else f"{text} ({label})"
            if any(h.label == shown and _metres(h.lon, h.lat, lon, lat) < _SAME_NAME_M for h in hits):
                continue  # two stops of one tram station, a shop and its building: one answer is enough
            hits.append(PlaceHit(shown, lon, lat, kind, round(min(score, 100.0), 1)))
            if len(hits) == limit:
                break
        return self._told_apart(hits)

    def _told_apart(self, hits: list[PlaceHit]) -> list[PlaceHit]:
        """Places of one name at different spots, named with their nearest street ("Kluuvi, Mikonkatu")."""
        names = [h.label for h in hits]
        streets = [e for e in self.entries if e[3] == "street"]
        if not streets:
            return hits
        told = []
        for hit in hits:
            if names.count(hit.label) > 1:
                near = min(streets, key=functools.partial(_metres_to, hit.lon, hit.lat))[0]
                told.append(PlaceHit(f"{hit.label}, {near}", hit.lon, hit.lat, hit.kind, hit.score))
            else:
                told.append(hit)
        return told


def _dedupe(
    entries: list[tuple[str, float, float, str, tuple[str, ...]]],
) -> list[tuple[str, float, float, str, tuple[str, ...]]]:
    """One entry per label within ``_SAME_PLACE_M`` (the first is kept, the variants merged).

    A feature found both as a destination and in the OSM file is one place (the destination, listed first, is
    kept with its category); streets and addresses are kept apart from features of the same name, and an
    address is one place whatever its distance to another with the same label.
    """
    kept: list[tuple[str, float, float, str, tuple[str, ...]]] = []
    seen: dict[tuple[str, str], list[int]] = {}
    for label, lon, lat, kind, variants in entries:
        group = seen.setdefault((normalise(label), kind if kind in {"address", "street"} else ""), [])
        for k in group:
            _, klon, klat, _, kvar = kept[k]
            if kind == "address" or _metres(lon, lat, klon, klat) < _SAME_PLACE_M:
                kept[k] = (*kept[k][:4], tuple(dict.fromkeys((*kvar, *variants))))
                break
        else:
            group.append(len(kept))
            kept.append((label, lon, lat, kind, variants))
    return kept


def _metres_to(lon: float, lat: float, entry: tuple[str, float, float, str, tuple[str, ...]]) -> float:
    """Metres from a point to an index entry's position."""
    return _metres(lon, lat, entry[1], entry[2])


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Approximate ground distance (equirectangular, good to a fraction of a percent within a city)."""
    k = 111_320.0
    return math.hypot((lon2 - lon1) * k * math.cos(math.radians((lat1 + lat2) / 2)), (lat2 - lat1) * k)


# ------------------------------------------------------------------------------------------------------------
# Building the index of a run
# ------------------------------------------------------------------------------------------------------------


def osm_entries(
    path: Path, bounds: tuple[float, float, float, float]
) -> tuple[list[tuple[str, float, float, str, tuple[str, ...]]], list[PlaceHit]]:
    """Named features, streets, addresses and place nodes of an OSM file, inside ``bounds`` (WGS84).

    Parameters
    ----------
    path
        An OSM PBF file.
    bounds
        ``(west, south, east, north)``.

    Returns
    -------
    tuple
        The search entries, and the ``place=suburb/neighbourhood/quarter`` features as neighbourhoods.
    """
    import osmium
    import osmium.filter

    west, south, east, north = bounds

    def inside(lon: float, lat: float) -> bool:
        return west <= lon <= east and south <= lat <= north

    entries: list[tuple[str, float, float, str, tuple[str, ...]]] = []
    places: list[PlaceHit] = []
    street_pts: dict[str, list[tuple[float, float]]] = {}
    street_variants: dict[str, tuple[str, ...]] = {}
    keys = ("name", "addr:housenumber", *NAME_TAGS[1:])
    fp = (
        osmium.FileProcessor(str(path))
        .with_locations()
        .with_areas(osmium.filter.KeyFilter("name"))
        .with_filter(osmium.filter.KeyFilter(*keys))
    )
    for obj in fp:
        tags = dict(obj.tags)
        if _NOT_PLACES.intersection(tags):
            continue
        if obj.is_relation() or (obj.is_area() and obj.from_way()):
            continue  # a multipolygon relation comes as an area; a closed way is read as a way
        coords = _coords(obj)
        if coords is None:
            continue
        name = tags.get("name") or next((tags[t] for t in NAME_TAGS[1:] if tags.get(t)), None)
        variants = tuple(tags[t] for t in NAME_TAGS if tags.get(t) and tags[t] != name)
        if obj.is_way() and "highway" in tags and name:
            street_pts.setdefault(name, []).extend(c for c in coords if inside(*c))
            street_variants[name] = tuple(dict.fromkeys((*street_variants.get(name, ()), *variants)))
            continue
        lon = float(np.mean([c[0] for c in coords]))
        lat = float(np.mean([c[1] for c in coords]))
        if not inside(lon, lat):
            continue
        if name:
            kind = _kind(tags)
            if tags.get("place") in {"suburb", "neighbourhood", "quarter"}:
                places.append(PlaceHit(name, round(lon, 6), round(lat, 6), tags["place"]))
            entries.append((name, round(lon, 6), round(lat, 6), kind, variants))
        if tags.get("addr:street") and tags.get("addr:housenumber"):
            label = f"{tags['addr:street']} {tags['addr:housenumber']}"
            entries.append((label, round(lon, 6), round(lat, 6), "address", ()))
    for name, pts in street_pts.items():
        if not pts:
            continue
        arr = np.asarray(pts)
        middle = arr[np.argmin(((arr - arr.mean(axis=0)) ** 2).sum(axis=1))]
        entries.append(
            (name, round(float(middle[0]), 6), round(float(middle[1]), 6), "street", street_variants[name])
        )
    return entries, places


def _coords(obj: Any) -> list[tuple[float, float]] | None:
    """Coordinates of a node, a way's nodes or an area's outer rings (None when locations are missing)."""
    try:
        if obj.is_node():
            return [(obj.location.lon, obj.location.lat)] if obj.location.valid() else None
        if obj.is_way():
            return [(n.lon, n.lat) for n in obj.nodes if n.location.valid()] or None
        return [(n.lon, n.lat) for ring in obj.outer_rings() for n in ring if n.location.valid()] or None
    except RuntimeError:
        return None


def _kind(tags: dict[str, str]) -> str:
    """The OSM kind of a named feature: its first main key (``amenity``, ``shop`` …), else ``place``."""
    for key in ("amenity", "shop", "tourism", "leisure", "railway", "public_transport", "office", "historic"):
        if key in tags:
            return key
    return "building" if "building" in tags else "place"


def destination_entries(
    destinations: gpd.GeoDataFrame, categories: tuple[str, ...] | None = None
) -> list[tuple[str, float, float, str, tuple[str, ...]]]:
    """The run's named destinations: ``(name, lon, lat, category, ())``, one per OSM feature and category.

    Parameters
    ----------
    destinations
        The run's ``destinations.parquet``.
    categories
        Categories to take (the finder's, which leave out the indicators' regroupings); None takes all.
    """
    if destinations.empty or "name" not in destinations:
        return []
    keep = destinations["name"].notna() & (destinations["name"].astype(str).str.strip() != "")
    if categories is not None:
        keep &= destinations["category"].isin(categories)
    named = destinations[keep]
    named = named.drop_duplicates(subset=["category", "osm_type", "osm_id"])
    pts = named.geometry.to_crs("EPSG:4326")
    return [
        (str(n), round(float(p.x), 6), round(float(p.y), 6), str(c), ())
        for n, p, c in zip(named["name"], pts, named["category"], strict=True)
    ]


def neighbourhoods_from_origins(origins: gpd.GeoDataFrame, street_entries: list[PlaceHit]) -> list[PlaceHit]:
    """Neighbourhoods of a run without districts: grid squares of 1 km named by their nearest street.

    Parameters
    ----------
    origins
        The run's origins: every square with residents is one.
    street_entries
        Streets of the index, to name the squares by.

    Returns
    -------
    list of PlaceHit
        Squares with residents (kind ``grid``, at the origin nearest the middle of their origins), by label.
    """
    if origins.empty:
        return []
    pts = origins.geometry.to_crs("EPSG:4326")
    lon, lat = pts.x.to_numpy(), pts.y.to_numpy()
    xy = shapely.get_coordinates(origins.geometry.values)
    cell = np.floor(xy / 1000.0).astype(np.int64)
    _, group = np.unique(cell, axis=0, return_inverse=True)
    group = group.reshape(-1)
    out = []
    for g in np.unique(group):
        m = group == g
        i = np.flatnonzero(m)[np.argmin(((xy[m] - xy[m].mean(axis=0)) ** 2).sum(axis=1))]
        label = f"{cell[i, 0]}/{cell[i, 1]}"
        if street_entries:
            near = min(street_entries, key=lambda s: _metres(s.lon, s.lat, lon[i], lat[i]))
            label = f"Near {near.label}"
        out.append(PlaceHit(label, round(float(lon[i]), 6), round(float(lat[i]), 6), "grid"))
    return sorted(out, key=lambda p: p.label)


def neighbourhoods_from_areas(areas: gpd.GeoDataFrame) -> list[PlaceHit]:
    """Neighbourhoods from the run's districts (``areas.parquet``): a point inside each, sorted by name.

    Every district is one, whether or not residents live in it (a district of shops and offices is still a
    place to look for services from).

    Parameters
    ----------
    areas
        The run's areas (:attr:`Run.areas`): rows of ``level`` ``district`` become neighbourhoods.

    Returns
    -------
    list of PlaceHit
        One per named district with an area (kind ``district``, at its ``point_on_surface`` in WGS84),
        sorted by label; empty when the run has no districts.
    """
    if areas.empty or "level" not in areas or "name" not in areas:
        return []
    districts = areas[(areas["level"] == "district") & areas["name"].notna() & areas.geometry.notna()]
    districts = districts[~districts.geometry.is_empty]
    if districts.empty:
        return []
    pts = districts.geometry.representative_point().to_crs("EPSG:4326")  # shapely's point_on_surface
    hits = [
        PlaceHit(str(name), round(float(p.x), 6), round(float(p.y), 6), "district")
        for name, p in zip(districts["name"], pts, strict=True)
    ]
    return sorted(_dedupe_hits(hits), key=lambda p: p.label)


def build_place_index(run: Run) -> PlaceIndex:
    """The place index of a run: destinations, and the names and addresses of its OSM file when it exists.

    Neighbourhoods are the run's districts (``areas.parquet``) when it has any, else the OSM file's
    ``place=suburb``, ``neighbourhood`` and ``quarter`` features, else 1 km grid squares named by their
    nearest street.
    """
    params = run.manifest.get("parameters", {})
    bounds = params.get("boundary_wgs84_bounds")
    if bounds is None:
        b = run.network.to_crs("EPSG:4326").total_bounds
        bounds = [float(v) for v in b]
    bounds = tuple(float(v) for v in bounds)
    entries = destination_entries(run.destinations, finder_settings().categories)
    notes: list[str] = []
    osm_places: list[PlaceHit] = []
    osm_path = (run.manifest.get("inputs", {}).get("osm") or {}).get("path")
    if osm_path and Path(osm_path).is_file():
        osm, osm_places = osm_entries(Path(osm_path), bounds)  # type: ignore[arg-type]
        entries += osm
    else:
        notes.append(
            f"the run's OSM file ({osm_path or 'not recorded'}) is not on this machine: only the names of "
            "the run's destinations are searched, without streets and addresses"
        )
    streets = [PlaceHit(e[0], e[1], e[2], e[3]) for e in entries if e[3] == "street"]
    hoods = neighbourhoods_from_areas(run.areas)
    if not hoods and osm_places:
        hoods = sorted(_dedupe_hits(osm_places), key=lambda p: p.label)
    elif not hoods:
        hoods = neighbourhoods_from_origins(run.origins, streets)
    return PlaceIndex(entries, hoods, notes)


def _dedupe_hits(hits: list[PlaceHit]) -> list[PlaceHit]:
    seen: set[str] = set()
    out = []
    for h in hits:
        if h.label not in seen:
            seen.add(h.label)
            out.append(h)
    return out


_INDEXES: dict[str, PlaceIndex] = {}
_INDEXES_LOCK = threading.Lock()


def place_index_for(run: Run) -> PlaceIndex:
    """The :class:`PlaceIndex` of a run, built on first use and kept."""
    key = str(run.folder.resolve())
    with _INDEXES_LOCK:
        index = _INDEXES.get(key)
        if index is None:
            index = _INDEXES[key] = build_place_index(run)
        return index
