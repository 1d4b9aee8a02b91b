"""The destination taxonomy: the packaged default, matching rules, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from exquisite.errors import InputError
from exquisite.taxonomy import Entrances, Taxonomy, default_taxonomy, load_taxonomy

GB50180 = [
    "kindergarten",
    "primary_school",
    "middle_school",
    "community_health",
    "clinic",
    "hospital",
    "pharmacy",
    "elderly_care",
    "food_market",
    "convenience",
    "sports_ground",
    "cultural_centre",
    "bus_stop",
    "rail_station",
    "open_space",
]
GHSCI = [
    "ghsci_fresh_food",
    "ghsci_convenience",
    "ghsci_pt_any",
    "ghsci_open_space_any",
    "ghsci_open_space_large",
]


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return default_taxonomy()


def test_default_covers_gb50180_and_ghsci(taxonomy: Taxonomy) -> None:
    assert set(GB50180 + GHSCI) <= set(taxonomy.categories)
    for category in taxonomy.categories.values():
        assert category.label_en
        assert category.label_zh
        assert category.source
        assert category.conditions


def test_load_none_is_the_default(taxonomy: Taxonomy) -> None:
    assert load_taxonomy() is taxonomy


def test_open_space_groups(taxonomy: Taxonomy) -> None:
    large = taxonomy.categories["ghsci_open_space_large"]
    assert large.kind == "open_space"
    assert large.min_area_ha == 1.5
    assert taxonomy.categories["ghsci_open_space_any"].min_area_ha == 0.001
    assert taxonomy.categories["open_space"].min_area_ha is None
    assert large.conditions == taxonomy.categories["open_space"].conditions
    assert large.excludes == taxonomy.categories["open_space"].excludes
    assert taxonomy.names("open_space") == ["open_space", "ghsci_open_space_any", "ghsci_open_space_large"]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"amenity": "pharmacy"}, ["pharmacy"]),
        ({"amenity": "school"}, ["primary_school", "middle_school"]),
        ({"amenity": "school", "isced:level": "1"}, ["primary_school"]),
        ({"amenity": "school", "isced:level": "2;3"}, ["middle_school"]),
        ({"amenity": "school", "isced:level": "1-2"}, ["primary_school", "middle_school"]),
        ({"amenity": "school", "isced:level": "3"}, []),
        ({"amenity": "school", "grades": "K-5"}, ["primary_school"]),
        ({"amenity": "school", "grades": "7;8;9"}, ["middle_school"]),
        ({"amenity": "school", "grades": "10-12"}, []),
        ({"amenity": "kindergarten"}, ["kindergarten"]),
        ({"amenity": "clinic"}, ["community_health", "clinic"]),
        ({"amenity": "clinic", "access": "private"}, []),
        ({"healthcare": "centre"}, ["community_health"]),
        ({"amenity": "doctors"}, ["clinic"]),
        ({"amenity": "hospital", "healthcare": "hospital"}, ["hospital"]),
        ({"amenity": "clinic;pharmacy"}, ["community_health", "clinic", "pharmacy"]),
        (
            {"amenity": "social_facility", "social_facility": "group_home", "social_facility:for": "senior"},
            ["elderly_care"],
        ),
        ({"amenity": "social_facility", "social_facility": "day_care", "social_facility:for": "child"}, []),
        ({"social_facility": "nursing_home"}, ["elderly_care"]),
        ({"shop": "supermarket"}, ["food_market", "ghsci_fresh_food"]),
        ({"shop": "bakery"}, ["ghsci_fresh_food"]),
        ({"amenity": "marketplace"}, ["food_market", "ghsci_fresh_food"]),
        ({"shop": "convenience"}, ["convenience", "ghsci_convenience"]),
        ({"amenity": "fuel"}, ["ghsci_convenience"]),
        ({"leisure": "pitch"}, ["sports_ground"]),
        ({"leisure": "pitch", "access": "private"}, []),
        ({"amenity": "library"}, ["cultural_centre"]),
        ({"highway": "bus_stop"}, ["bus_stop", "ghsci_pt_any"]),
        ({"public_transport": "platform", "bus": "yes"}, ["bus_stop", "ghsci_pt_any"]),
        ({"public_transport": "stop_position", "bus": "yes"}, ["ghsci_pt_any"]),
        ({"railway": "station"}, ["rail_station"]),
        ({"railway": "station", "station": "funicular"}, []),
        ({"railway": "tram_stop"}, ["tram_stop", "ghsci_pt_any"]),
        ({"leisure": "park"}, ["open_space", "ghsci_open_space_any", "ghsci_open_space_large"]),
        ({"leisure": "park", "access": "private"}, []),
        ({"leisure": "garden", "garden:type": "residential"}, []),
        ({"highway": "pedestrian"}, []),
        (
            {"highway": "pedestrian", "area": "yes"},
            ["open_space", "ghsci_open_space_any", "ghsci_open_space_large"],
        ),
        ({"name": "Tortillería"}, ["ghsci_fresh_food"]),
        ({"supermarket": "yes"}, ["ghsci_fresh_food"]),
        ({"building": "supermarket"}, ["ghsci_fresh_food"]),
        ({"building": "yes", "name": "Something"}, []),
        ({}, []),
    ],
)
def test_match(taxonomy: Taxonomy, tags: dict[str, str], expected: list[str]) -> None:
    assert taxonomy.match(tags) == expected


def test_anchors_cover_every_condition(taxonomy: Taxonomy) -> None:
    tags, keys = taxonomy.anchors()
    assert "amenity=pharmacy" in tags
    assert "highway=bus_stop" in tags
    assert "supermarket" in keys
    point_tags, _ = taxonomy.anchors("point")
    assert "leisure=park" not in point_tags  # parks are open spaces only
    assert "leisure" in taxonomy.anchor_keys("open_space")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "taxonomy.yml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
categories:
  pharmacy:
    label: {en: Pharmacy, zh: 药店}
    tags: ["amenity=pharmacy"]
    source: OSM wiki
"""


def test_user_file(tmp_path: Path) -> None:
    taxonomy = load_taxonomy(_write(tmp_path, GOOD))
    assert list(taxonomy.categories) == ["pharmacy"]
    assert taxonomy.match({"amenity": "pharmacy"}) == ["pharmacy"]
    assert taxonomy.path == tmp_path / "taxonomy.yml"
    assert taxonomy.entrances is None  # the default taxonomy's are used


def test_open_space_entrances_setting(tmp_path: Path) -> None:
    assert default_taxonomy().entrances == Entrances(spacing_m=50.0, max_distance_m=30.0)
    text = GOOD + "open_space_entrances: {spacing_m: 20, max_distance_m: 0, source: GHSCI}\n"
    assert load_taxonomy(_write(tmp_path, text)).entrances == Entrances(spacing_m=20.0, max_distance_m=0.0)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("categories: [\n", ": line"),
        ("- a\n- b\n", "taxonomy.yml"),
        ("version: 1\nextra: 2\ncategories: {}\n", "taxonomy.yml: extra"),
        ("version: 1\n", "taxonomy.yml: categories"),
        (GOOD.replace("amenity=pharmacy", "amenity"), "taxonomy.yml: categories.pharmacy.tags[0]"),
        (
            GOOD.replace('["amenity=pharmacy"]', '["amenity=pharmacy", yes]'),
            "taxonomy.yml: categories.pharmacy.tags[1]",
        ),
        (
            GOOD.replace('["amenity=pharmacy"]', '["amenity!=pharmacy"]'),
            "taxonomy.yml: categories.pharmacy.tags[0]",
        ),
        (GOOD.replace('["amenity=pharmacy"]', '["grades~6-1"]'), "taxonomy.yml: categories.pharmacy.tags[0]"),
        (
            GOOD.replace('["amenity=pharmacy"]', '["amenity=a||b"]'),
            "taxonomy.yml: categories.pharmacy.tags[0]",
        ),
        (GOOD.replace('["amenity=pharmacy"]', "[]"), "taxonomy.yml: categories.pharmacy.tags"),
        (
            GOOD.replace('["amenity=pharmacy"]', '"amenity=pharmacy"'),
            "taxonomy.yml: categories.pharmacy.tags",
        ),
        (GOOD.replace("zh: 药店", "zh: ''"), "taxonomy.yml: categories.pharmacy.label.zh"),
        (
            GOOD.replace("    label: {en: Pharmacy, zh: 药店}\n", ""),
            "taxonomy.yml: categories.pharmacy.label",
        ),
        (GOOD.replace("    source: OSM wiki\n", ""), "taxonomy.yml: categories.pharmacy.source"),
        (GOOD + "    kind: shop\n", "taxonomy.yml: categories.pharmacy.kind"),
        (GOOD + "    min_area_ha: 1\n", "taxonomy.yml: categories.pharmacy.min_area_ha"),
        (
            GOOD + "    kind: open_space\n    min_area_ha: big\n",
            "taxonomy.yml: categories.pharmacy.min_area_ha",
        ),
        (GOOD + "    colour: red\n", "taxonomy.yml: categories.pharmacy.colour"),
        (GOOD + "    exclude: access=private\n", "taxonomy.yml: categories.pharmacy.exclude"),
        (GOOD.replace("  pharmacy:", "  Pharmacy-Shop:"), "taxonomy.yml: categories.Pharmacy-Shop"),
        ("categories:\n  pharmacy: [1, 2]\n", "taxonomy.yml: categories.pharmacy"),
        (GOOD + "open_space_entrances: {spacing_m: 50}\n", "taxonomy.yml: open_space_entrances"),
        (
            GOOD + "open_space_entrances: {spacing_m: 0, max_distance_m: 30, source: x}\n",
            "taxonomy.yml: open_space_entrances.spacing_m",
        ),
        (
            GOOD + "open_space_entrances: {spacing_m: 20, max_distance_m: -1, source: x}\n",
            "taxonomy.yml: open_space_entrances.max_distance_m",
        ),
    ],
)
def test_bad_file_names_the_key(tmp_path: Path, text: str, where: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as caught:
        load_taxonomy(path)
    assert str(path).replace("taxonomy.yml", "") in caught.value.where
    assert where in caught.value.where
    assert caught.value.hint


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_taxonomy(tmp_path / "nope.yml")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes("categories: {é: 1}".encode("latin-1"))
    with pytest.raises(InputError, match="UTF-8"):
        load_taxonomy(path)
