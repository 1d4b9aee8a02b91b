"""The study region: one YAML file that says which city, which data and which walking profiles.

A study region is read with :func:`load_region` (or built from a dictionary with :func:`region_from_dict`)
and comes back as a frozen :class:`StudyRegion`, with every path made absolute and checked, and the walking
profiles resolved from ``data/profiles.yml``. Every mistake in the file becomes one
:class:`~exquisite.errors.InputError` that names the file and the key, says what is wrong and what to do::

    my_city.yml: population.colum: unknown key 'colum'. Did you mean 'column'?

An example::

    name: Helsinki
    country: FI
    year: 2024
    boundary: {bbox: [24.90, 60.15, 24.96, 60.18]}   # or a polygon file; missing = the OSM file's extent
    osm: helsinki.osm.pbf
    population: {source: vector, path: population_grid.gpkg, column: population}
    gtfs: [hsl.zip]
    gtfs_window: ["07:00", "19:00"]
    crs: EPSG:3067                                    # missing = the local UTM zone
    profiles: [adult, older, child, gb50180]
    districts: communities.gpkg                       # optional: named polygons, any CRS; or `osm` for
                                                      # approximate ones from the OSM file's place nodes
    built_up: {path: wsf2019.tif, values: [255]}      # optional: built-up raster for SDG 11.7.1

Paths are relative to the folder of the YAML file.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from exquisite.errors import InputError

__all__ = [
    "AGE_GROUPS",
    "BoundingBox",
    "Population",
    "Profile",
    "StudyRegion",
    "bbox_problem",
    "load_profiles",
    "load_region",
    "region_from_dict",
]

#: Age groups that ``population.age_shares`` and ``population.age_columns`` may name.
AGE_GROUPS = ("child", "adult", "older")

_PROFILES_FILE = "profiles.yml"
_PROFILE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
#: The ``districts:`` value that asks for districts made from the OSM file's place nodes.
_OSM_DISTRICTS = "osm"

# Keys people write for the ones we mean, that difflib would not find.
_SYNONYMS = {
    "categories": "taxonomy",
    "pbf": "osm",
    "osm_file": "osm",
    "osm_pbf": "osm",
    "pop": "population",
    "epsg": "crs",
    "projection": "crs",
    "city": "name",
    "region": "name",
    "file": "path",
    "speed": "speed_m_s",
    "distances": "distances_m",
    "thresholds": "minutes",
    "elderly": "older",
    "children": "child",
    "adults": "adult",
}

# What to write, for a missing key.
_EXAMPLES = {
    "name": "Add it, for example `name: Helsinki`.",
    "country": "Add the ISO 3166-1 alpha-2 code, for example `country: FI`.",
    "osm": "Add the local OpenStreetMap extract, for example `osm: helsinki.osm.pbf`.",
    "population": "Add it, for example `population: {source: buildings}` to estimate it from OSM buildings.",
    "population.source": "Add `source:` with one of raster, vector, h3 or buildings.",
    "population.path": "Add `path:` with the population file, relative to the YAML file's folder.",
    "boundary.bbox": "Write `boundary: {bbox: [min_lon, min_lat, max_lon, max_lat]}`.",
    "built_up.path": "Add `path:` with the built-up raster (GeoTIFF), relative to the YAML file's folder.",
}


# ------------------------------------------------------------------------------------------------------------
# YAML: the core schema of YAML 1.2, so that `country: NO` stays Norway and `19:00` stays a time.
# ------------------------------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """A safe YAML loader with YAML 1.2 scalars and an error on duplicate keys."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text)


def _construct_float(loader: _Loader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).lower()
    if text.endswith(".inf"):
        return -math.inf if text.startswith("-") else math.inf
    if text == ".nan":
        return math.nan
    return float(text)


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Iterator[dict[Any, Any]]:
    """Construct a mapping like PyYAML does, but refuse a key written twice."""
    seen: dict[str, yaml.Node] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        if key_node.value in seen:
            first = seen[key_node.value].start_mark.line + 1
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"the key '{key_node.value}' appears twice (first on line {first})",
                key_node.start_mark,
            )
        seen[key_node.value] = key_node
    data: dict[Any, Any] = {}
    yield data
    data.update(loader.construct_mapping(node))


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)


def read_yaml(
    path: Path, label: str, empty_hint: str = "Write at least name, country, osm and population."
) -> Any:
    """Parse a YAML file, turning every failure into an :class:`InputError` naming the file.

    ``empty_hint`` says what an empty file should hold.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            str(path), "file not found", f"Check the path; the current folder is {Path.cwd()}."
        ) from None
    except IsADirectoryError:
        raise InputError(
            str(path), "is a folder, not a YAML file", "Give the path of the .yml file."
        ) from None
    except OSError as error:
        raise InputError(str(path), f"cannot be read ({error.strerror})", "Check its permissions.") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(
            label, f"is not UTF-8 text (byte {error.start})", "Save the file as UTF-8 (plain text)."
        ) from None
    if not text.strip() or not _strip_comments(text):
        raise InputError(label, "the file is empty", empty_hint)
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        place = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = error.problem or error.context or "invalid YAML"
        if "appears twice" in problem:
            raise InputError(f"{label}: {place}", problem, "Keep one of them.") from None
        if "could not determine a constructor" in problem:
            raise InputError(
                f"{label}: {place}",
                f"unsupported YAML tag: {problem.rsplit('tag ', 1)[-1]}",
                "Remove the '!' tag; the file holds plain values only.",
            ) from None
        raise InputError(
            f"{label}: {place}",
            f"YAML syntax error: {problem}",
            "Check indentation (spaces, not tabs), colons after keys and quotes around text with ':' or '#'.",
        ) from None
    except yaml.YAMLError as error:
        raise InputError(label, f"YAML syntax error: {error}", "Check the file's syntax.") from None


def _strip_comments(text: str) -> str:
    """Return the text without comment lines and document markers."""
    lines = (line.strip() for line in text.splitlines())
    return "".join(line for line in lines if line and not line.startswith("#") and line not in {"---", "..."})


# ------------------------------------------------------------------------------------------------------------
# Errors: pydantic's error list -> one InputError.
# ------------------------------------------------------------------------------------------------------------


def _fail(problem: str, hint: str = "", loc: tuple[str | int, ...] = ()) -> PydanticCustomError:
    """Build a validation error that keeps our problem, hint and the key below the validated field."""
    return PydanticCustomError("exquisite", "{problem}", {"problem": problem, "hint": hint, "loc": loc})


def _dotted(loc: Iterable[str | int]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _describe(value: Any) -> str:
    """Describe a value the user wrote, for "got ..." messages."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a yes/no value)"
    if isinstance(value, Mapping):
        return "a mapping (key: value lines)"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)}"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _no_bool(value: Any) -> Any:
    """Refuse true/false where a number is expected (pydantic would read true as 1)."""
    if isinstance(value, bool):
        raise _fail(f"expected a number, got {_describe(value)}")
    return value


def _suggest(key: str, known: Iterable[str]) -> str:
    known = sorted(known)
    guess = _SYNONYMS.get(key.lower()) if isinstance(key, str) else None
    if guess not in known:
        close = difflib.get_close_matches(str(key).lower(), known, n=1, cutoff=0.6)
        guess = close[0] if close else None
    known_text = ", ".join(known)
    return (
        f"Did you mean '{guess}'? Known keys here: {known_text}." if guess else f"Known keys: {known_text}."
    )


def _known_keys(loc: tuple[str | int, ...]) -> list[str]:
    """Return the keys allowed in the mapping at ``loc`` of a study region."""
    parent = [part for part in loc if isinstance(part, str)]
    if not parent:
        return list(_USER_KEYS)
    if parent[0] == "population" and len(parent) == 1:
        return list(Population.model_fields)
    if parent[0] == "population" and parent[1:] and parent[1] in {"age_shares", "age_columns"}:
        return list(AGE_GROUPS)
    if parent[0] == "boundary":
        return ["bbox"]
    if parent[0] == "built_up" and len(parent) == 1:
        return list(BuiltUp.model_fields)
    return []


_NUMBER_TYPES = {"float_type", "float_parsing", "finite_number"}
_INT_TYPES = {"int_type", "int_parsing", "int_from_float", "int_parsing_size"}
_LIST_TYPES = {"list_type", "tuple_type", "iterable_type"}
_MAP_TYPES = {"dict_type", "model_type", "model_attributes_type", "mapping_type"}
_COMPARE = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _error_to_input_error(error: Mapping[str, Any], label: str) -> InputError:
    """Turn one pydantic error into an :class:`InputError` with the file and the dotted key."""
    kind = error["type"]
    loc = tuple(error["loc"])
    ctx = error.get("ctx") or {}
    value = error.get("input")
    hint = ""
    if kind == "exquisite":
        loc = loc + tuple(ctx.get("loc", ()))
        problem, hint = ctx["problem"], ctx.get("hint", "")
    elif value is None and kind not in {"literal_error"}:
        problem = "has no value"
        hint = f"Write a value after '{loc[-1]}:'." if loc else ""
    elif kind == "missing":
        problem = "this required key is missing"
        hint = _EXAMPLES.get(_dotted(loc), "Add it.")
    elif kind == "extra_forbidden":
        problem = f"unknown key '{loc[-1]}'"
        hint = (
            _hint_for_unknown_root(loc[0]) if len(loc) == 1 else _suggest(str(loc[-1]), _known_keys(loc[:-1]))
        )
    elif kind in _NUMBER_TYPES:
        problem = f"expected a number, got {_describe(value)}"
    elif kind in _INT_TYPES:
        problem = f"expected a whole number, got {_describe(value)}"
    elif kind in {"string_type", "string_sub_type"}:
        problem = f"expected text, got {_describe(value)}"
        hint = "Put the value in quotes."
    elif kind in _LIST_TYPES:
        problem = f"expected a list, got {_describe(value)}"
        hint = "Write a list as [a, b] or as lines starting with '- '."
    elif kind in _MAP_TYPES:
        problem = f"expected a mapping (key: value lines), got {_describe(value)}"
        hint = _EXAMPLES.get(_dotted(loc), "")
    elif kind == "literal_error":
        expected = ctx.get("expected", "")
        problem = f"expected one of {expected}, got {_describe(value)}"
        options = re.findall(r"'([^']*)'", expected)
        close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.5)
        hint = f"Did you mean '{close[0]}'?" if close else ""
    elif kind in _COMPARE:
        bound = next(iter(v for k, v in ctx.items() if k in {"gt", "ge", "lt", "le"}), "")
        problem = f"must be {_COMPARE[kind]} {bound}, got {_describe(value)}"
    elif kind in {"bool_type", "bool_parsing"}:
        problem = f"expected true or false, got {_describe(value)}"
    else:
        problem = f"{error.get('msg', 'is not valid')}, got {_describe(value)}"
    where = f"{label}: {_dotted(loc)}" if loc else label
    return InputError(where, problem, hint)


def _first_error(error: ValidationError, data: Mapping[str, Any], label: str) -> InputError:
    """Pick the error of the earliest key in the document; unknown keys before the missing ones."""
    order = {key: index for index, key in enumerate(data)}

    def rank(item: Mapping[str, Any]) -> int:
        loc = item["loc"]
        if item["type"] == "missing" and len(loc) == 1:
            return len(order) + 1
        return order.get(loc[0], len(order)) if loc else len(order)

    errors = sorted(error.errors(include_url=False), key=rank)
    return _error_to_input_error(errors[0], label)


# ------------------------------------------------------------------------------------------------------------
# Walking profiles
# ------------------------------------------------------------------------------------------------------------


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Profile(BaseModel):
    """A walking profile: a speed with minute thresholds, or a planning standard's distances.

    Parameters
    ----------
    name
        Short identifier, lower case (``adult``); used in column names.
    label_en, label_zh
        Names shown to people, in English and Chinese.
    speed_m_s
        Walking speed in metres per second; required with ``minutes``.
    minutes
        Time thresholds in minutes, ascending.
    distances_m
        Distance thresholds in metres, ascending, for a distance profile (``gb50180``).
    source
        Where the numbers come from.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    label_en: str
    label_zh: str
    speed_m_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    minutes: tuple[int, ...] | None = None
    distances_m: tuple[float, ...] | None = None
    source: str = "user-defined"

    _numbers = field_validator("speed_m_s", mode="before")(_no_bool)

    @field_validator("minutes", "distances_m")
    @classmethod
    def _ascending_positive(cls, value: tuple[float, ...] | None, info: ValidationInfo) -> Any:
        if value is None:
            return None
        if not value:
            raise _fail("expected at least one threshold", "For example [5, 10, 15].")
        if any(not math.isfinite(v) or v <= 0 for v in value):
            raise _fail(f"thresholds must be positive numbers, got {list(value)}")
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _kind(self) -> Profile:
        if self.minutes is not None and self.distances_m is not None:
            raise _fail(
                "has both minutes and distances_m",
                "A profile is either a speed with minutes, or a list of distances_m; remove one.",
            )
        if self.minutes is None and self.distances_m is None:
            raise _fail(
                "has neither minutes nor distances_m",
                "Give speed_m_s with minutes (e.g. minutes: [5, 10, 15]) or distances_m.",
            )
        if self.minutes is not None and self.speed_m_s is None:
            raise _fail("has minutes but no speed_m_s", "Add speed_m_s, e.g. speed_m_s: 1.2.")
        return self

    @property
    def is_distance(self) -> bool:
        """Whether the thresholds are distances of a standard rather than minutes at a speed."""
        return self.distances_m is not None

    def cutoffs_m(self) -> dict[str, float]:
        """Return the distance cutoffs in metres, keyed by threshold name.

        Returns
        -------
        dict of str to float
            ``{"5min": 360.0, ...}`` for a time profile (speed x 60 x minutes),
            ``{"300m": 300.0, ...}`` for a distance profile; ascending.
        """
        if self.minutes is not None and self.speed_m_s is not None:
            return {f"{m}min": round(self.speed_m_s * 60.0 * m, 6) for m in self.minutes}
        return {f"{_format_number(d)}m": float(d) for d in self.distances_m or ()}


_PROFILE_KEYS = ("label", "speed_m_s", "minutes", "distances_m", "source")


class _ProfileError(Exception):
    """A problem in a profiles setting, at a key below ``profiles``."""

    def __init__(self, loc: tuple[str | int, ...], problem: str, hint: str = "") -> None:
        super().__init__(problem)
        self.loc, self.problem, self.hint = loc, problem, hint


@cache
def _builtin_profiles() -> tuple[dict[str, Profile], tuple[str, ...]]:
    """Read the profiles of ``data/profiles.yml`` and the names of the default ones."""
    resource = files("exquisite") / "data" / _PROFILES_FILE
    data = yaml.load(resource.read_text(encoding="utf-8"), Loader=_Loader)
    profiles = {name: _make_profile(name, entry, None, ()) for name, entry in data["profiles"].items()}
    return profiles, tuple(data["defaults"])


def _make_profile(
    name: str, entry: Mapping[str, Any], base: Profile | None, loc: tuple[str | int, ...]
) -> Profile:
    """Build a profile from a YAML entry, on top of a built-in profile when there is one."""
    if not isinstance(entry, Mapping):
        raise _ProfileError(
            loc, f"expected a mapping of settings, got {_describe(entry)}", "For example {speed_m_s: 1.3}."
        )
    if "label_en" in entry and set(entry) <= set(Profile.model_fields):  # a dumped Profile, read back
        return Profile.model_validate({**entry, "name": name})
    for key in entry:
        if key not in _PROFILE_KEYS:
            raise _ProfileError((*loc, str(key)), f"unknown key '{key}'", _suggest(str(key), _PROFILE_KEYS))
    label = entry.get("label", {})
    if isinstance(label, str):
        label = {"en": label}
    if not isinstance(label, Mapping) or set(label) - {"en", "zh"}:
        raise _ProfileError(
            (*loc, "label"),
            f"expected {{en: ..., zh: ...}}, got {_describe(label)}",
            "For example label: {en: Runners, zh: 跑步者}.",
        )
    fields: dict[str, Any] = base.model_dump() if base is not None else {"name": name}
    changed = {key for key in ("speed_m_s", "minutes", "distances_m") if key in entry}
    fields.update({key: entry[key] for key in changed})
    fields["label_en"] = label.get("en", fields.get("label_en", name))
    fields["label_zh"] = label.get("zh", fields.get("label_zh", fields["label_en"]))
    if "source" in entry:
        fields["source"] = entry["source"]
    elif base is not None and changed:
        fields["source"] = f"user-defined, changing {', '.join(sorted(changed))} of: {base.source}"
    try:
        return Profile.model_validate(fields)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        converted = _error_to_input_error(first, "")
        sub = tuple(first["loc"]) + tuple((first.get("ctx") or {}).get("loc", ()))
        raise _ProfileError((*loc, *sub), converted.problem, converted.hint) from None


def _unknown_profile(name: Any, known: Iterable[str], loc: tuple[str | int, ...]) -> _ProfileError:
    known = sorted(known)
    close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
    guess = f"Did you mean '{close[0]}'? " if close else ""
    return _ProfileError(
        loc,
        f"unknown profile '{name}'",
        f"{guess}Known profiles: {', '.join(known)}. To add one, write profiles as a mapping, "
        "e.g. {adult: {}, runner: {speed_m_s: 2.5, minutes: [5, 10, 15]}}.",
    )


def _resolve_profiles(value: Any) -> dict[str, Profile]:
    builtin, defaults = _builtin_profiles()
    if value is None:
        return {name: builtin[name] for name in defaults}
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list | tuple):
        if not value:
            raise _ProfileError(
                (), "the list of profiles is empty", f"Name at least one of: {', '.join(builtin)}."
            )
        resolved: dict[str, Profile] = {}
        for index, name in enumerate(value):
            if isinstance(name, Profile):
                resolved[name.name] = name
                continue
            if not isinstance(name, str):
                raise _ProfileError((index,), f"expected a profile name, got {_describe(name)}")
            if name not in builtin:
                raise _unknown_profile(name, builtin, (index,))
            if name in resolved:
                raise _ProfileError((index,), f"profile '{name}' is listed twice", "Remove one.")
            resolved[name] = builtin[name]
        return resolved
    if isinstance(value, Mapping):
        if not value:
            raise _ProfileError((), "the mapping of profiles is empty", "Name at least one profile.")
        resolved = {}
        for name, entry in value.items():
            if isinstance(entry, Profile):
                resolved[str(name)] = entry
                continue
            if not isinstance(name, str) or not _PROFILE_NAME.match(name):
                raise _ProfileError(
                    (str(name),),
                    f"'{name}' is not a valid profile name",
                    "Use lower-case letters, digits and '_', starting with a letter.",
                )
            base = builtin.get(name)
            settings = {} if entry is None else entry
            if (
                base is None
                and isinstance(settings, Mapping)
                and not ({"speed_m_s", "minutes", "distances_m"} & set(settings))
            ):
                raise _unknown_profile(name, builtin, (name,))
            resolved[name] = _make_profile(name, settings, base, (name,))
        return resolved
    raise _ProfileError(
        (),
        f"expected a list of profile names or a mapping, got {_describe(value)}",
        "For example profiles: [adult, older, child, gb50180].",
    )


def load_profiles(
    names_or_overrides: Iterable[str] | Mapping[str, Any] | None = None, *, where: str = "profiles"
) -> dict[str, Profile]:
    """Resolve the walking profiles of a run from ``data/profiles.yml``.

    Parameters
    ----------
    names_or_overrides
        ``None`` for the default profiles (adult, older, child, gb50180); a list of built-in names; or a
        mapping whose keys are the run's profiles and whose values change a built-in profile
        (``{adult: {speed_m_s: 1.3}}``), define a new one (``{runner: {speed_m_s: 2.5, minutes: [5, 10]}}``)
        or are empty to take a built-in profile as it is.
    where
        How errors name the setting, e.g. ``"my_city.yml: profiles"``.

    Returns
    -------
    dict of str to Profile
        The profiles, in the order given.

    Raises
    ------
    InputError
        For an unknown profile name, a bad setting or an incomplete new profile.
    """
    if isinstance(names_or_overrides, Iterable) and not isinstance(
        names_or_overrides, Mapping | list | tuple | str
    ):
        names_or_overrides = list(names_or_overrides)
    try:
        return _resolve_profiles(names_or_overrides)
    except _ProfileError as problem:
        suffix = _dotted(problem.loc)
        joined = f"{where}{'' if suffix.startswith('[') else '.'}{suffix}" if suffix else where
        raise InputError(joined, problem.problem, problem.hint) from None


# ------------------------------------------------------------------------------------------------------------
# Paths, bbox and CRS
# ------------------------------------------------------------------------------------------------------------


def _base_dir(info: ValidationInfo) -> Path:
    context = info.context or {}
    return Path(context.get("base_dir") or Path.cwd())


def _resolve_file(value: Any, info: ValidationInfo, what: str = "file") -> Path:
    """Return the absolute path of an existing file, relative to the YAML file's folder."""
    if isinstance(value, Path):
        path = value
    elif isinstance(value, str) and value.strip():
        path = Path(value.strip())
    else:
        raise _fail(f"expected the path of the {what}, got {_describe(value)}", "Write the path as text.")
    base = _base_dir(info)
    path = path.expanduser()
    resolved = (path if path.is_absolute() else base / path).resolve()
    if not resolved.exists():
        raise _fail(
            f"file not found: {resolved}",
            f"Paths are relative to the folder of the YAML file ({base}); check the name and the folder.",
        )
    if resolved.is_dir():
        raise _fail(f"{resolved} is a folder, not a file", f"Give the path of the {what} itself.")
    return resolved


def bbox_problem(values: Any) -> tuple[str, str] | None:
    """Say what is wrong with a bounding box in degrees, or return ``None`` when it is right.

    Parameters
    ----------
    values
        Anything; a good box is four numbers ``[min_lon, min_lat, max_lon, max_lat]`` in EPSG:4326.

    Returns
    -------
    tuple of (str, str) or None
        The problem and a hint, or ``None``.
    """
    order = "The order is [min_lon, min_lat, max_lon, max_lat], in degrees (EPSG:4326)."
    if not isinstance(values, list | tuple):
        return f"expected a list of 4 numbers, got {_describe(values)}", order
    if len(values) != 4:
        return f"expected 4 numbers, got {len(values)}", order
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return f"expected a number at position {index + 1}, got {_describe(value)}", order
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in values)
    for name, value, limit in (
        ("min_lon", min_lon, 180),
        ("min_lat", min_lat, 90),
        ("max_lon", max_lon, 180),
        ("max_lat", max_lat, 90),
    ):
        if abs(value) > limit:
            kind = "longitude" if limit == 180 else "latitude"
            return f"{name} {_format_number(value)} is not a {kind} (-{limit}..{limit})", order
    if min_lon >= max_lon:
        return f"min_lon ({min_lon:g}) must be less than max_lon ({max_lon:g})", order
    if min_lat >= max_lat:
        return f"min_lat ({min_lat:g}) must be less than max_lat ({max_lat:g})", order
    return None


def _check_crs(value: Any) -> str:
    """Check a projected CRS in metres; return it as ``EPSG:nnnn`` when it has a code."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _fail(f"expected a CRS such as 'EPSG:3067', got {_describe(value)}")
    text = f"EPSG:{value}" if isinstance(value, int) else value.strip()
    try:
        crs = CRS.from_user_input(text)
    except CRSError:
        raise _fail(
            f"'{text}' is not a coordinate reference system pyproj knows",
            "Write it as EPSG:nnnn (e.g. EPSG:3067), or leave crs out for the local UTM zone.",
        ) from None
    if not crs.is_projected:
        raise _fail(
            f"{text} ({crs.name}) is a geographic CRS in degrees",
            "Distances need a projected CRS in metres (e.g. a UTM zone); or leave crs out for the local one.",
        )
    units = {axis.unit_name for axis in crs.axis_info}
    if units - {"metre", "meter", "m"}:
        raise _fail(
            f"{text} ({crs.name}) is in {', '.join(sorted(units))}, not metres",
            "Use a projected CRS in metres, or leave crs out for the local UTM zone.",
        )
    code = crs.to_epsg()
    return f"EPSG:{code}" if code else crs.to_string()


# ------------------------------------------------------------------------------------------------------------
# The models
# ------------------------------------------------------------------------------------------------------------


class BoundingBox(BaseModel):
    """A study area given as a box in longitude/latitude (EPSG:4326)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bbox: tuple[float, float, float, float]

    @field_validator("bbox", mode="before")
    @classmethod
    def _check(cls, value: Any) -> Any:
        problem = bbox_problem(value)
        if problem:
            raise _fail(*problem)
        return tuple(float(v) for v in value)


# Which population settings apply to which source, and their defaults.
_POPULATION_KEYS: dict[str, dict[str, Any]] = {
    "raster": {"path": None, "band": 1, "total": None, "age_shares": None},
    "vector": {
        "path": None,
        "column": None,
        "id_column": None,
        "total": None,
        "age_shares": None,
        "age_columns": None,
    },
    "h3": {
        "path": None,
        "column": None,
        "id_column": None,
        "total": None,
        "age_shares": None,
        "age_columns": None,
    },
    "buildings": {"floor_area_per_person_m2": None, "total": None, "age_shares": None},
}
_SHARE_TOLERANCE = 1e-6


class Population(BaseModel):
    """Where the residents come from.

    Parameters
    ----------
    source
        ``raster`` (a grid of counts), ``vector`` (polygons or points with a count column), ``h3`` (a table of
        H3 cells with a count column) or ``buildings`` (estimated from the OSM residential buildings).
    path
        The population file; not used with ``buildings``.
    column
        The count column (``vector``, ``h3``); ``None`` for the reader's default, ``population``.
    id_column
        The H3 cell id column (``h3``), or the feature id column (``vector``); ``None`` for the reader's
        default (``id``, ``h3`` or ``hex_id``, whichever is present).
    band
        The raster band (``raster``); default 1.
    floor_area_per_person_m2
        Residential floor area per person (``buildings``); ``None`` for the population module's default.
    total
        Scale the counts so they add up to this total.
    age_shares
        Shares of ``child`` (0-14) and ``older`` (65+) residents, applied everywhere; ``adult`` is the rest,
        or given so that the three add up to 1.
    age_columns
        Columns holding the ``child`` and ``older`` (and optionally ``adult``) counts per feature
        (``vector``, ``h3``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Literal["raster", "vector", "h3", "buildings"]
    path: Path | None = None
    column: str | None = None
    id_column: str | None = None
    band: int | None = Field(default=None, ge=1)
    floor_area_per_person_m2: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    total: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    age_shares: dict[str, float] | None = None
    age_columns: dict[str, str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _applicable(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or data.get("source") not in _POPULATION_KEYS:
            return data
        source = data["source"]
        allowed = _POPULATION_KEYS[source]
        for key in data:
            if key in cls.model_fields and key not in {"source", *allowed} and data[key] is not None:
                users = [name for name, keys in _POPULATION_KEYS.items() if key in keys]
                reason = (
                    "population is estimated from the OSM buildings"
                    if source == "buildings" and key == "path"
                    else f"it applies to source: {' or '.join(users)}"
                )
                raise _fail(f"'{key}' is not used with source: {source}", f"Remove it; {reason}.", (key,))
        if "path" in allowed and data.get("path") is None:
            raise _fail("this required key is missing", _EXAMPLES["population.path"], ("path",))
        if data.get("age_shares") is not None and data.get("age_columns") is not None:
            raise _fail(
                "give either age_shares or age_columns, not both",
                "age_columns reads the counts per feature; age_shares applies one share everywhere.",
                ("age_columns",),
            )
        filled = {key: default for key, default in allowed.items() if default is not None}
        filled.update({key: value for key, value in data.items() if value is not None or key not in filled})
        return filled

    _numbers = field_validator("band", "floor_area_per_person_m2", "total", mode="before")(_no_bool)

    @field_validator("path", mode="before")
    @classmethod
    def _path(cls, value: Any, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve_file(value, info, "population file")

    @field_validator("age_shares", "age_columns", mode="before")
    @classmethod
    def _groups(cls, value: Any) -> Any:
        if value is None or not isinstance(value, Mapping):
            return value
        for key in value:
            if key not in AGE_GROUPS:
                raise _fail(f"unknown age group '{key}'", _suggest(str(key), AGE_GROUPS), (str(key),))
        missing = [group for group in ("child", "older") if group not in value]
        if missing:
            raise _fail(
                f"'{missing[0]}' is missing; both 'child' and 'older' are needed",
                "adult is the rest when it is not given.",
            )
        return value

    @field_validator("age_shares")
    @classmethod
    def _shares(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is None:
            return None
        for key, share in value.items():
            if not 0 <= share <= 1:
                raise _fail(
                    f"a share is a fraction from 0 to 1, got {_format_number(share)}",
                    "For 15 % write 0.15.",
                    (key,),
                )
        rest = value["child"] + value["older"]
        if rest > 1 + _SHARE_TOLERANCE:
            raise _fail(
                f"the child and older shares add up to {rest:g}, more than 1",
                "Shares are fractions of the whole population.",
            )
        if "adult" in value and abs(rest + value["adult"] - 1) > _SHARE_TOLERANCE:
            raise _fail(
                f"the shares add up to {rest + value['adult']:g}, not 1",
                "Give child and older only (adult is the rest), or three shares that add up to 1.",
            )
        return value


class BuiltUp(BaseModel):
    """A built-up raster: the denominator of the SDG 11.7.1 land share, instead of the OSM estimate.

    Parameters
    ----------
    path
        A GeoTIFF in any CRS: a built-up mask (e.g. WSF 2019, 255 = built-up), built-up surface per cell
        (GHS-BUILT-S) or land cover classes (ESA WorldCover, 50 = built-up).
    band
        The band to read; default 1.
    min_value
        A cell whose value is above this is built-up (default 0: any positive value).
    values
        Or: a cell is built-up when its value is one of these classes (``min_value`` is then not used).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path
    band: int = Field(default=1, ge=1)
    min_value: float = Field(default=0.0, allow_inf_nan=False)
    values: tuple[float, ...] | None = None

    _numbers = field_validator("band", "min_value", mode="before")(_no_bool)

    @field_validator("path", mode="before")
    @classmethod
    def _path(cls, value: Any, info: ValidationInfo) -> Path:
        return _resolve_file(value, info, "built-up raster")

    def rule(self) -> str:
        """The rule in words, for caveats and parameters (``value > 0``, ``value in 50``)."""
        if self.values is not None:
            return "value in " + ", ".join(f"{v:g}" for v in self.values)
        return f"value > {self.min_value:g}"


#: The keys a user may write in a study-region file, in the documented order.
_USER_KEYS = (
    "name",
    "country",
    "year",
    "boundary",
    "osm",
    "population",
    "gtfs",
    "gtfs_window",
    "crs",
    "profiles",
    "taxonomy",
    "districts",
    "district_name_column",
    "built_up",
)


class StudyRegion(BaseModel):
    """One city's study region: what to read and how to measure it.

    Parameters
    ----------
    name
        The region's name, as shown in reports.
    country
        ISO 3166-1 alpha-2 code, upper case.
    year
        The year the data describe, if known.
    boundary
        A polygon file (absolute path), a :class:`BoundingBox`, or ``None`` for the OSM file's extent.
    osm
        The OpenStreetMap PBF extract.
    population
        Where the residents come from.
    gtfs
        Public-transport feeds (GTFS zips).
    gtfs_window
        Service window ``("HH:MM", "HH:MM")`` for frequencies; ``None`` for the GTFS module's default.
    crs
        Projected CRS in metres (``EPSG:nnnn``); ``None`` for the local UTM zone of the boundary
        (see :func:`exquisite.boundary.region_crs`).
    profiles
        The walking profiles of the run, by name.
    taxonomy
        ``"default"`` or a path to a taxonomy YAML.
    districts
        A polygon file of districts (communities) with names, or ``"osm"``: approximate districts made from
        the OSM file's place nodes (see :func:`exquisite.districts.osm_districts`).
    district_name_column
        The column of ``districts`` with the names; ``None`` to let the reader pick.
    built_up
        A built-up raster for the SDG 11.7.1 land share; ``None`` to estimate the built-up area from OSM.
    source_file
        The YAML file the region was read from; ``None`` when built from a dictionary.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    country: str
    year: int | None = None
    boundary: Path | BoundingBox | None = None
    osm: Path
    population: Population
    gtfs: tuple[Path, ...] = ()
    gtfs_window: tuple[str, str] | None = None
    crs: str | None = None
    profiles: dict[str, Profile] = Field(default_factory=load_profiles)
    taxonomy: Literal["default"] | Path = "default"
    districts: Literal["osm"] | Path | None = None
    district_name_column: str | None = None
    built_up: BuiltUp | None = None
    source_file: Path | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise _fail("the name is empty", "Write the region's name, e.g. name: Helsinki.")
        return value.strip() if isinstance(value, str) else value

    @field_validator("country", mode="before")
    @classmethod
    def _country(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if not _COUNTRY.match(value.strip()):
            raise _fail(
                f"expected a two-letter ISO 3166-1 alpha-2 code, got {_describe(value)}",
                "For example FI (Finland), CN (China), BR (Brazil).",
            )
        return value.strip().upper()

    _numbers = field_validator("year", mode="before")(_no_bool)

    @field_validator("year")
    @classmethod
    def _year(cls, value: int | None) -> int | None:
        if value is not None and not 1800 <= value <= 2200:
            raise _fail(f"{value} does not look like a year", "Write the data's year, e.g. year: 2024.")
        return value

    @field_validator("boundary", mode="before")
    @classmethod
    def _boundary(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or isinstance(value, BoundingBox):
            return value
        if isinstance(value, Mapping):
            for key in value:
                if key != "bbox":
                    raise _fail(f"unknown key '{key}'", _suggest(str(key), ["bbox"]), (str(key),))
            if "bbox" not in value:
                raise _fail("this required key is missing", _EXAMPLES["boundary.bbox"], ("bbox",))
            problem = bbox_problem(value["bbox"])
            if problem:
                raise _fail(*problem, ("bbox",))
            return BoundingBox(bbox=value["bbox"])
        if isinstance(value, list | tuple):
            raise _fail(
                "expected a file or {bbox: [...]}, got a list",
                "Write boundary: {bbox: [min_lon, min_lat, max_lon, max_lat]}.",
            )
        return _resolve_file(value, info, "boundary file")

    @field_validator("osm", mode="before")
    @classmethod
    def _osm(cls, value: Any, info: ValidationInfo) -> Path:
        path = _resolve_file(value, info, "OSM PBF")
        if path.suffix.lower() != ".pbf":
            raise _fail(
                f"{path.name} is not an OSM PBF file (.osm.pbf)",
                "Convert it with `osmium cat in.osm -o out.osm.pbf`, or download a .osm.pbf extract.",
            )
        return path

    @field_validator("gtfs", mode="before")
    @classmethod
    def _gtfs(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return ()
        if isinstance(value, str | Path):
            value = [value]
        if not isinstance(value, list | tuple):
            return value
        paths = []
        for index, item in enumerate(value):
            try:
                paths.append(_resolve_file(item, info, "GTFS zip"))
            except PydanticCustomError as error:
                raise _fail(error.context["problem"], error.context["hint"], (index,)) from None
        return tuple(paths)

    @field_validator("gtfs_window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> Any:
        if value is None:
            return None
        hint = 'Write two times in quotes, e.g. gtfs_window: ["07:00", "19:00"].'
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise _fail(f"expected a start and an end time, got {_describe(value)}", hint)
        seconds = []
        for index, item in enumerate(value):
            match = _TIME.match(item) if isinstance(item, str) else None
            if not match or int(match[2]) > 59 or int(match[3] or 0) > 59 or int(match[1]) > 47:
                raise _fail(f"expected a time HH:MM, got {_describe(item)}", hint, (index,))
            seconds.append(int(match[1]) * 3600 + int(match[2]) * 60 + int(match[3] or 0))
        if seconds[0] >= seconds[1]:
            raise _fail(f"the window ends ({value[1]}) before it starts ({value[0]})", hint)
        return tuple(
            f"{s // 3600:02d}:{s % 3600 // 60:02d}" + (f":{s % 60:02d}" if s % 60 else "") for s in seconds
        )

    @field_validator("crs", mode="before")
    @classmethod
    def _crs(cls, value: Any) -> Any:
        return None if value is None else _check_crs(value)

    @field_validator("profiles", mode="before")
    @classmethod
    def _profiles(cls, value: Any) -> dict[str, Profile]:
        try:
            return _resolve_profiles(value)
        except _ProfileError as problem:
            raise _fail(problem.problem, problem.hint, problem.loc) from None

    @field_validator("taxonomy", mode="before")
    @classmethod
    def _taxonomy(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or value == "default":
            return "default"
        try:
            return _resolve_file(value, info, "taxonomy YAML")
        except PydanticCustomError as error:
            near = isinstance(value, str) and difflib.get_close_matches(value, ["default"], cutoff=0.7)
            hint = (
                "Did you mean 'default'?"
                if near
                else f"Use 'default' or a taxonomy YAML. {error.context['hint']}"
            )
            raise _fail(error.context["problem"], hint) from None

    @field_validator("districts", mode="before")
    @classmethod
    def _districts(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        if isinstance(value, str) and value.strip().lower() == _OSM_DISTRICTS:
            return _OSM_DISTRICTS
        try:
            return _resolve_file(value, info, "districts file")
        except PydanticCustomError as error:
            raise _fail(
                error.context["problem"],
                f"{error.context['hint']} Or write `districts: {_OSM_DISTRICTS}` for approximate districts "
                "made from the OSM file's place nodes.",
            ) from None

    @model_validator(mode="after")
    def _district_column(self) -> StudyRegion:
        if self.district_name_column is not None and self.districts is None:
            raise _fail(
                "district_name_column is set but there is no districts file",
                "Add districts: <polygon file>, or remove district_name_column.",
                ("district_name_column",),
            )
        if self.district_name_column is not None and self.districts == _OSM_DISTRICTS:
            raise _fail(
                f"district_name_column is set but the districts come from the OSM file "
                f"(districts: {_OSM_DISTRICTS}), where they are named by their name tag",
                "Remove district_name_column, or give a districts file with that column.",
                ("district_name_column",),
            )
        return self

    @property
    def base_dir(self) -> Path | None:
        """The folder of the YAML file, or ``None`` when built from a dictionary."""
        return self.source_file.parent if self.source_file else None


# ------------------------------------------------------------------------------------------------------------
# Entry points
# ------------------------------------------------------------------------------------------------------------


def region_from_dict(data: Mapping[str, Any], base_dir: str | Path, source: str = "<dict>") -> StudyRegion:
    """Validate a study region given as a dictionary (the parsed YAML).

    Parameters
    ----------
    data
        The settings, as in the YAML file.
    base_dir
        The folder relative paths start from.
    source
        How error messages name the settings, e.g. the file name.

    Returns
    -------
    StudyRegion
        The validated region, with absolute paths and resolved profiles; ``source_file`` is ``None``.

    Raises
    ------
    InputError
        For the first mistake, naming ``source`` and the key.
    """
    return _validate(data, Path(base_dir), source, None)


def load_region(path: str | Path) -> StudyRegion:
    """Read and validate a study-region YAML file.

    Parameters
    ----------
    path
        The YAML file; paths inside it are relative to its folder.

    Returns
    -------
    StudyRegion
        The validated region, with ``source_file`` set to the file's absolute path.

    Raises
    ------
    InputError
        For a missing or unreadable file, a YAML syntax error, an empty file, or the first mistake in it.
    """
    path = Path(path).expanduser()
    label = str(path)
    data = read_yaml(path, label)
    return _validate(data, path.resolve().parent, label, path.resolve())


def _validate(data: Any, base_dir: Path, label: str, source_file: Path | None) -> StudyRegion:
    if data is None:
        raise InputError(label, "the file is empty", "Write at least name, country, osm and population.")
    if not isinstance(data, Mapping):
        raise InputError(
            label,
            f"expected a mapping of settings (name:, country:, osm:, ...), got {_describe(data)}",
            "Start each setting at the beginning of a line as `key: value`.",
        )
    for key in data:
        if not isinstance(key, str) or key == "source_file":
            raise InputError(f"{label}: {key}", f"unknown key '{key}'", _hint_for_unknown_root(key))
    try:
        return StudyRegion.model_validate(
            {**data, "source_file": source_file}, context={"base_dir": base_dir.resolve()}
        )
    except ValidationError as error:
        raise _first_error(error, data, label) from None


def _hint_for_unknown_root(key: Any) -> str:
    if key == "bbox":
        return "Write the box under boundary: boundary: {bbox: [min_lon, min_lat, max_lon, max_lat]}."
    if key == "column":
        return "Write it under population: population: {source: vector, path: ..., column: ...}."
    return _suggest(str(key), _USER_KEYS)
