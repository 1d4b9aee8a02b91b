"""The study-region YAML: a valid file, and one clear error for each kind of mistake."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from exquisite.config import (
    BoundingBox,
    Profile,
    StudyRegion,
    load_profiles,
    load_region,
    region_from_dict,
)
from exquisite.errors import InputError

MINIMAL = """\
name: Helsinki
country: FI
osm: city.osm.pbf
population:
  source: buildings
"""


def write(tmp_path: Path, text: str, *files: str, name: str = "my_city.yml") -> Path:
    """Write a study-region YAML and create the (empty) files it refers to."""
    for file in ("city.osm.pbf", *files):
        target = tmp_path / file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"")
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(path: Path) -> InputError:
    with pytest.raises(InputError) as caught:
        load_region(path)
    return caught.value


# ---------------------------------------------------------------------------------------------------------
# Valid files
# ---------------------------------------------------------------------------------------------------------


def test_full_valid_config(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        name: Helsinki
        country: fi
        year: 2024
        boundary: boundary.gpkg
        osm: data/helsinki.osm.pbf
        population:
          source: h3
          path: pop.csv
          column: pop
          id_column: h3
          total: 650000
          age_shares: {child: 0.15, older: 0.22}
        gtfs: [buses.zip, rail.zip]
        gtfs_window: [07:00, 19:00]
        crs: EPSG:3067
        profiles:
          adult: {speed_m_s: 1.3}
          older:
          runner: {speed_m_s: 2.5, minutes: [15, 5, 10], label: {en: Runners, zh: 跑步者}}
        taxonomy: tax.yml
        districts: districts.gpkg
        district_name_column: nimi
        """,
        "boundary.gpkg",
        "data/helsinki.osm.pbf",
        "pop.csv",
        "buses.zip",
        "rail.zip",
        "tax.yml",
        "districts.gpkg",
    )
    region = load_region(path)
    base = tmp_path.resolve()
    assert isinstance(region, StudyRegion)
    assert region.name == "Helsinki"
    assert region.country == "FI"
    assert region.year == 2024
    assert region.boundary == base / "boundary.gpkg"
    assert region.osm == base / "data" / "helsinki.osm.pbf"
    assert region.population.source == "h3"
    assert region.population.path == base / "pop.csv"
    assert region.population.column == "pop"
    assert region.population.id_column == "h3"
    assert region.population.total == 650000
    assert region.population.age_shares == {"child": 0.15, "older": 0.22}
    assert region.gtfs == (base / "buses.zip", base / "rail.zip")
    assert region.gtfs_window == ("07:00", "19:00")  # YAML 1.1 would have read 19:00 as 1140
    assert region.crs == "EPSG:3067"
    assert list(region.profiles) == ["adult", "older", "runner"]
    assert region.profiles["adult"].speed_m_s == 1.3
    assert "user-defined" in region.profiles["adult"].source
    assert region.profiles["older"].speed_m_s == 0.9
    assert region.profiles["runner"].cutoffs_m() == {"5min": 750.0, "10min": 1500.0, "15min": 2250.0}
    assert region.profiles["runner"].label_zh == "跑步者"
    assert region.taxonomy == base / "tax.yml"
    assert region.districts == base / "districts.gpkg"
    assert region.district_name_column == "nimi"
    assert region.source_file == path.resolve()
    assert region.base_dir == base
    with pytest.raises(Exception, match="frozen"):
        region.name = "Espoo"  # type: ignore[misc]


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    region = load_region(write(tmp_path, MINIMAL))
    assert region.boundary is None
    assert region.crs is None
    assert region.year is None
    assert region.gtfs == ()
    assert region.gtfs_window is None
    assert region.taxonomy == "default"
    assert list(region.profiles) == ["adult", "older", "child", "gb50180"]
    assert region.population.path is None


def test_bbox_boundary_and_norway(tmp_path: Path) -> None:
    text = MINIMAL.replace("FI", "NO") + "boundary: {bbox: [10.7, 59.9, 10.8, 59.95]}\n"
    region = load_region(write(tmp_path, text))
    assert region.country == "NO"  # YAML 1.1 would have read NO as false
    assert isinstance(region.boundary, BoundingBox)
    assert region.boundary.bbox == (10.7, 59.9, 10.8, 59.95)


@pytest.mark.parametrize(
    ("population", "expected"),
    [
        ("{source: raster, path: pop.tif}", {"band": 1, "column": None}),
        ("{source: raster, path: pop.tif, band: 2}", {"band": 2}),
        (
            "{source: vector, path: pop.tif, id_column: fid}",
            {"column": None, "band": None, "id_column": "fid"},
        ),
        ("{source: h3, path: pop.tif, column: pop}", {"column": "pop", "id_column": None}),
        ("{source: buildings, floor_area_per_person_m2: 38}", {"floor_area_per_person_m2": 38.0}),
    ],
)
def test_population_defaults(tmp_path: Path, population: str, expected: dict) -> None:
    text = MINIMAL.replace("population:\n  source: buildings\n", f"population: {population}\n")
    region = load_region(write(tmp_path, text, "pop.tif"))
    for key, value in expected.items():
        assert getattr(region.population, key) == value


def test_region_from_dict(tmp_path: Path) -> None:
    (tmp_path / "x.osm.pbf").write_bytes(b"")
    data = {"name": "X", "country": "BR", "osm": "x.osm.pbf", "population": {"source": "buildings"}}
    region = region_from_dict(data, tmp_path)
    assert region.osm == (tmp_path / "x.osm.pbf").resolve()
    assert region.source_file is None
    with pytest.raises(InputError) as caught:
        region_from_dict({**data, "year": "soon"}, tmp_path, source="api request")
    assert str(caught.value).startswith("api request: year: expected a whole number, got 'soon'")


def test_region_round_trips_through_model_dump(tmp_path: Path) -> None:
    text = MINIMAL + "boundary: {bbox: [24.9, 60.15, 24.96, 60.18]}\nprofiles: {adult: {speed_m_s: 1.4}}\n"
    region = load_region(write(tmp_path, text))
    again = StudyRegion.model_validate(region.model_dump(mode="json"))
    assert again == region


# ---------------------------------------------------------------------------------------------------------
# Profiles
# ---------------------------------------------------------------------------------------------------------


def test_default_profiles_and_cutoffs() -> None:
    profiles = load_profiles()
    assert list(profiles) == ["adult", "older", "child", "gb50180"]
    assert profiles["adult"].cutoffs_m() == {"5min": 360.0, "10min": 720.0, "15min": 1080.0}
    assert profiles["older"].cutoffs_m() == {"5min": 270.0, "10min": 540.0, "15min": 810.0}
    assert profiles["child"].cutoffs_m() == {"5min": 300.0, "10min": 600.0, "15min": 900.0}
    assert profiles["gb50180"].cutoffs_m() == {"300m": 300.0, "500m": 500.0, "1000m": 1000.0}
    assert profiles["gb50180"].speed_m_s is None
    for profile in profiles.values():
        assert profile.label_en
        assert profile.label_zh
        assert "§" in profile.source


def test_wheelchair_profile_is_available() -> None:
    wheelchair = load_profiles(["wheelchair"])["wheelchair"]
    assert isinstance(wheelchair, Profile)
    assert wheelchair.speed_m_s == 0.9
    assert wheelchair.minutes == (5, 10, 15)


@pytest.mark.parametrize(
    ("value", "where", "words"),
    [
        (["adults"], "profiles[0]", ["unknown profile 'adults'", "Did you mean 'adult'?", "wheelchair"]),
        (["adult", "adult"], "profiles[1]", ["listed twice"]),
        ([], "profiles", ["empty"]),
        ({"runner": {"speed_m_s": 2.5}}, "profiles.runner", ["neither minutes"]),
        ({"runner": {"minutes": [5]}}, "profiles.runner", ["no speed_m_s"]),
        ({"adult": {"speed_m_s": -1}}, "profiles.adult.speed_m_s", ["must be > 0"]),
        ({"adult": {"speed_m_s": "fast"}}, "profiles.adult.speed_m_s", ["expected a number, got 'fast'"]),
        ({"adult": {"sped_m_s": 1}}, "profiles.adult.sped_m_s", ["Did you mean 'speed_m_s'?"]),
        ({"gb50180": {"minutes": [5]}}, "profiles.gb50180", ["both minutes and distances_m"]),
        ({"Runner!": {"speed_m_s": 2, "minutes": [5]}}, "profiles.Runner!", ["not a valid profile name"]),
        ({"adult": {"minutes": [0, 5]}}, "profiles.adult.minutes", ["positive"]),
        (42, "profiles", ["expected a list of profile names"]),
    ],
)
def test_profile_errors(value: object, where: str, words: list[str]) -> None:
    with pytest.raises(InputError) as caught:
        load_profiles(value)  # type: ignore[arg-type]
    assert caught.value.where == where
    for word in words:
        assert word in str(caught.value)


# ---------------------------------------------------------------------------------------------------------
# One clear error per mistake
# ---------------------------------------------------------------------------------------------------------


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    text = MINIMAL.replace("population:", "populaton:")
    error = error_of(write(tmp_path, text))
    assert error.where.endswith("my_city.yml: populaton")
    assert "unknown key 'populaton'" in str(error)
    assert "Did you mean 'population'?" in str(error)


def test_unknown_nested_key(tmp_path: Path) -> None:
    text = MINIMAL.replace("source: buildings", "source: vector\n  path: pop.gpkg\n  colum: pop")
    error = error_of(write(tmp_path, text, "pop.gpkg"))
    assert error.where.endswith("my_city.yml: population.colum")
    assert "Did you mean 'column'?" in str(error)


@pytest.mark.parametrize(
    ("key", "hint"),
    [("categories", "Did you mean 'taxonomy'?"), ("bbox", "boundary: {bbox:"), ("epsg", "'crs'")],
)
def test_unknown_key_synonyms(tmp_path: Path, key: str, hint: str) -> None:
    error = error_of(write(tmp_path, MINIMAL + f"{key}: x\n"))
    assert error.where.endswith(f"my_city.yml: {key}")
    assert hint in str(error)


@pytest.mark.parametrize("key", ["name", "country", "osm", "population"])
def test_missing_required_key(tmp_path: Path, key: str) -> None:
    lines = MINIMAL.splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(f"{key}:")]
    if key == "population":
        kept = [line for line in kept if "source: buildings" not in line]
    error = error_of(write(tmp_path, "".join(kept)))
    assert error.where.endswith(f"my_city.yml: {key}")
    assert "this required key is missing" in str(error)


def test_missing_population_path(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, MINIMAL.replace("source: buildings", "source: raster")))
    assert error.where.endswith("my_city.yml: population.path")
    assert "missing" in str(error)


@pytest.mark.parametrize(
    ("line", "where", "problem"),
    [
        ("year: abc", "year", "expected a whole number, got 'abc'"),
        ("year: 20.5", "year", "expected a whole number, got 20.5"),
        ("year: 24", "year", "does not look like a year"),
        ("year: true", "year", "expected a number, got true"),
        ("name:", "name", "has no value"),
        ("name: [a, b]", "name", "expected text, got a list of 2"),
        ("gtfs: {a: 1}", "gtfs", "expected a list, got a mapping"),
        ("gtfs_window: [07:00]", "gtfs_window", "expected a start and an end time"),
        ("gtfs_window: ['25:00', '7:61']", "gtfs_window[1]", "expected a time HH:MM, got '7:61'"),
        ("gtfs_window: ['19:00', '07:00']", "gtfs_window", "ends (07:00) before it starts (19:00)"),
        ("country: FIN", "country", "two-letter ISO 3166-1 alpha-2 code, got 'FIN'"),
        ("country: 12", "country", "expected text, got 12"),
        ("district_name_column: nimi", "district_name_column", "no districts file"),
        ("boundary: [1, 2, 3, 4]", "boundary", "expected a file or {bbox: [...]}"),
        ("boundary: {box: [1, 2, 3, 4]}", "boundary.box", "unknown key 'box'"),
        ("taxonomy: defualt", "taxonomy", "file not found"),
    ],
)
def test_wrong_values(tmp_path: Path, line: str, where: str, problem: str) -> None:
    key = line.split(":", 1)[0]
    kept = "".join(row for row in MINIMAL.splitlines(keepends=True) if not row.startswith(f"{key}:"))
    error = error_of(write(tmp_path, kept + line + "\n"))
    assert error.where.endswith(f"my_city.yml: {where}"), error.where
    assert problem in error.problem, error.problem


def test_taxonomy_typo_suggests_default(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, MINIMAL + "taxonomy: defualt\n"))
    assert "Did you mean 'default'?" in str(error)


@pytest.mark.parametrize(
    ("population", "where", "problem"),
    [
        ("{source: vector, path: pop.gpkg, total: abc}", "population.total", "expected a number, got 'abc'"),
        ("{source: vector, path: pop.gpkg, total: -5}", "population.total", "must be > 0"),
        ("{source: rastr, path: pop.gpkg}", "population.source", "expected one of"),
        ("{source: vector, path: pop.gpkg, band: 2}", "population.band", "not used with source: vector"),
        ("{source: buildings, path: pop.gpkg}", "population.path", "not used with source: buildings"),
        ("{source: h3, path: pop.gpkg, age_shares: {kids: 0.1}}", "population.age_shares.kids", "age group"),
        (
            "{source: h3, path: pop.gpkg, age_shares: {child: 15, older: 0.2}}",
            "population.age_shares.child",
            "0 to 1",
        ),
        (
            "{source: h3, path: pop.gpkg, age_shares: {child: 0.6, older: 0.6}}",
            "population.age_shares",
            "more than 1",
        ),
        (
            "{source: h3, path: pop.gpkg, age_shares: {child: 0.1, older: 0.2, adult: 0.6}}",
            "population.age_shares",
            "add up to 0.9, not 1",
        ),
        (
            "{source: h3, path: pop.gpkg, age_columns: {child: c}}",
            "population.age_columns",
            "'older' is missing",
        ),
        (
            "{source: raster, path: pop.gpkg, age_columns: {child: c, older: o}}",
            "population.age_columns",
            "not used with source: raster",
        ),
        (
            "{source: h3, path: pop.gpkg, age_shares: {child: 0.1, older: 0.1}, age_columns: {child: c}}",
            "population.age_columns",
            "either age_shares or age_columns",
        ),
        ("{source: raster, path: nowhere.tif}", "population.path", "file not found"),
        ("buildings", "population", "expected a mapping"),
    ],
)
def test_population_errors(tmp_path: Path, population: str, where: str, problem: str) -> None:
    text = MINIMAL.replace("population:\n  source: buildings\n", f"population: {population}\n")
    error = error_of(write(tmp_path, text, "pop.gpkg"))
    assert error.where.endswith(f"my_city.yml: {where}"), error.where
    assert problem in error.problem, error.problem


def test_source_typo_suggests(tmp_path: Path) -> None:
    text = MINIMAL.replace("source: buildings", "source: rastr\n  path: pop.gpkg")
    error = error_of(write(tmp_path, text, "pop.gpkg"))
    assert "Did you mean 'raster'?" in str(error)


def test_missing_file_names_resolved_path_and_key(tmp_path: Path) -> None:
    text = MINIMAL.replace("osm: city.osm.pbf", "osm: data/nowhere.osm.pbf")
    error = error_of(write(tmp_path, text))
    assert error.where.endswith("my_city.yml: osm")
    assert str((tmp_path / "data" / "nowhere.osm.pbf").resolve()) in str(error)
    assert str(tmp_path.resolve()) in error.hint


def test_missing_gtfs_file_names_its_position(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, MINIMAL + "gtfs: [a.zip, b.zip]\n", "a.zip"))
    assert error.where.endswith("my_city.yml: gtfs[1]")
    assert "b.zip" in str(error)


def test_osm_must_be_a_pbf(tmp_path: Path) -> None:
    text = MINIMAL.replace("city.osm.pbf", "city.osm")
    error = error_of(write(tmp_path, text, "city.osm"))
    assert error.where.endswith("my_city.yml: osm")
    assert "not an OSM PBF file" in str(error)


def test_folder_instead_of_file(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    error = error_of(write(tmp_path, MINIMAL + "districts: folder\n"))
    assert error.where.endswith("my_city.yml: districts")
    assert "is a folder" in str(error)


@pytest.mark.parametrize(
    ("bbox", "problem"),
    [
        ("[24.9, 60.1, 24.96]", "expected 4 numbers, got 3"),
        ("[24.9, 60.1, 24.96, abc]", "expected a number at position 4, got 'abc'"),
        ("[24.96, 60.1, 24.9, 60.2]", "min_lon (24.96) must be less than max_lon (24.9)"),
        ("[24.9, 60.2, 24.96, 60.1]", "min_lat (60.2) must be less than max_lat (60.1)"),
        ("[385000, 6670000, 390000, 6675000]", "min_lon 385000 is not a longitude (-180..180)"),
        ("[24.9, -95, 24.96, 60.1]", "min_lat -95 is not a latitude (-90..90)"),
        ("'24.9, 60.1, 24.96, 60.2'", "expected a list of 4 numbers"),
    ],
)
def test_bad_bbox(tmp_path: Path, bbox: str, problem: str) -> None:
    error = error_of(write(tmp_path, MINIMAL + f"boundary: {{bbox: {bbox}}}\n"))
    assert error.where.endswith("my_city.yml: boundary.bbox")
    assert problem in error.problem, error.problem
    assert "[min_lon, min_lat, max_lon, max_lat]" in error.hint


@pytest.mark.parametrize(
    ("crs", "problem"),
    [
        ("EPSG:99999", "not a coordinate reference system pyproj knows"),
        ("not a crs", "not a coordinate reference system pyproj knows"),
        ("EPSG:4326", "geographic CRS in degrees"),
        ("EPSG:2263", "not metres"),
    ],
)
def test_bad_crs(tmp_path: Path, crs: str, problem: str) -> None:
    error = error_of(write(tmp_path, MINIMAL + f"crs: '{crs}'\n"))
    assert error.where.endswith("my_city.yml: crs")
    assert problem in error.problem, error.problem


def test_crs_as_number(tmp_path: Path) -> None:
    assert load_region(write(tmp_path, MINIMAL + "crs: 3067\n")).crs == "EPSG:3067"


def test_unknown_profile_lists_known_ones(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, MINIMAL + "profiles: [adult, elderly]\n"))
    assert error.where.endswith("my_city.yml: profiles[1]")
    assert "unknown profile 'elderly'" in error.problem
    for known in ("adult", "older", "child", "wheelchair", "gb50180"):
        assert known in error.hint


def test_profile_override_error_names_the_key(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, MINIMAL + "profiles: {adult: {speed_m_s: abc}}\n"))
    assert error.where.endswith("my_city.yml: profiles.adult.speed_m_s")
    assert "expected a number, got 'abc'" in error.problem


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "name: Helsinki\ncountry: FI\nosm: [a, b\n"))
    assert "YAML syntax error" in error.problem
    assert "line" in error.where
    assert "column" in error.where


def test_tab_indentation_is_a_syntax_error(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "name: Helsinki\npopulation:\n\tsource: buildings\n"))
    assert "line 3" in error.where


def test_python_tags_are_refused(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "name: !!python/object/apply:os.system [ls]\n"))
    assert "unsupported YAML tag" in error.problem
    assert "line 1" in error.where


def test_duplicate_key(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, MINIMAL + "name: Espoo\n"))
    assert error.problem == "the key 'name' appears twice (first on line 1)"
    assert "line 6" in error.where


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    error = error_of(write(tmp_path, text))
    assert error.problem == "the file is empty"


def test_not_a_mapping(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "- name: Helsinki\n"))
    assert "expected a mapping of settings" in error.problem


def test_file_not_found(tmp_path: Path) -> None:
    error = error_of(tmp_path / "nowhere.yml")
    assert error.where == str(tmp_path / "nowhere.yml")
    assert error.problem == "file not found"


def test_folder_given_as_config(tmp_path: Path) -> None:
    error = error_of(tmp_path)
    assert "is a folder" in error.problem


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes("name: Zürich\n".encode("latin-1"))
    assert "not UTF-8" in error_of(path).problem


def test_source_file_is_not_a_user_key(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, MINIMAL + "source_file: x.yml\n"))
    assert "unknown key 'source_file'" in error.problem


def test_unknown_key_reported_before_the_missing_key_it_causes(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, MINIMAL.replace("osm:", "osmm:")))
    assert "unknown key 'osmm'" in error.problem
    assert "Did you mean 'osm'?" in error.hint


def test_first_problem_in_document_order(tmp_path: Path) -> None:
    text = "name: Helsinki\ncountry: FI\nyear: abc\nosm: city.osm.pbf\npopulation: {source: x}\n"
    error = error_of(write(tmp_path, text))
    assert error.where.endswith("my_city.yml: year")


@pytest.mark.parametrize(
    "text",
    [
        "name: 1\n",
        "42\n",
        "name: [\n",
        "name: x\ncountry: FI\nosm: city.osm.pbf\npopulation: {source: 3, path: {a: 1}}\n",
        "name: x\ncountry: FI\nosm: {a: b}\npopulation: []\nprofiles: {1: 2}\n",
        "name: x\ncountry: FI\nosm: city.osm.pbf\npopulation: {source: buildings}\nprofiles: [[1]]\n",
        "name: x\ncountry: FI\nosm: city.osm.pbf\npopulation: {source: buildings}\nboundary: {bbox: null}\n",
        "name: x\ncountry: FI\nosm: city.osm.pbf\npopulation: {source: buildings}\ngtfs: [[1]]\n",
        "name: x\ncountry: FI\nosm: city.osm.pbf\npopulation: {source: buildings}\ncrs: [1]\n",
        "name: x\ncountry: FI\nosm: city.osm.pbf\npopulation: {source: h3, path: city.osm.pbf, band: x}\n",
        "1: x\n",
        "name: !!python/object:os.system x\n",
    ],
)
def test_only_input_errors_escape(tmp_path: Path, text: str) -> None:
    error = error_of(write(tmp_path, text))
    message = str(error)
    assert message.count("\n") == 0
    assert "validation error" not in message.lower()
    assert "pydantic" not in message.lower()
