"""Destination categories as OSM tag conditions: load, validate and match a taxonomy file.

A taxonomy is a YAML file (the packaged ``exquisite/data/taxonomy.yml`` by default) that names each category,
labels it in English and Chinese, and lists the OSM tag conditions that put a feature in it. The syntax of a
condition is described at the top of the packaged file; in short, ``key=value`` (``a|b`` for alternatives),
``key=*``, ``key!=value``, ``key!=*`` and ``key~lo-hi`` (numeric overlap), joined by ``&``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import yaml

from exquisite.errors import InputError

__all__ = [
    "Category",
    "Condition",
    "Taxonomy",
    "Term",
    "default_taxonomy",
    "load_taxonomy",
]

Kind = Literal["point", "open_space"]
KINDS: tuple[str, ...] = ("point", "open_space")

_TOP_KEYS = frozenset({"version", "description", "categories", "open_space_entrances"})
_CATEGORY_KEYS = frozenset({"label", "kind", "min_area_ha", "tags", "exclude", "source", "note"})
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TERM = re.compile(r"^(?P<key>[^\s=!~&|][^=!~&|]*?)\s*(?P<op>!=|=|~)\s*(?P<value>\S.*?)$")
_RANGE = re.compile(r"^(?P<lo>-?\d+(?:\.\d+)?)\s*-\s*(?P<hi>-?\d+(?:\.\d+)?)$")
_PART_RANGE = re.compile(r"^\s*(?P<lo>[0-9.]+|k|pk|r)\s*(?:-\s*(?P<hi>[0-9.]+|k|pk|r))?\s*$", re.IGNORECASE)
_PACKAGED = "taxonomy.yml"


@dataclass(frozen=True)
class Term:
    """One test on one tag.

    Attributes
    ----------
    key
        The OSM key tested.
    op
        ``"="`` (value in ``values``, or present when ``values`` is None), ``"!="`` (the negation) or ``"~"``
        (numeric overlap with ``lo``..``hi``).
    values
        Accepted values, or None for any value (``*``).
    lo, hi
        The numeric range of a ``~`` term.
    """

    key: str
    op: str
    values: frozenset[str] | None = None
    lo: float = math.nan
    hi: float = math.nan

    def holds(self, tags: Mapping[str, str]) -> bool:
        """Whether the term holds for a feature's tags."""
        value = tags.get(self.key)
        if self.op == "~":
            return value is not None and _overlaps(value, self.lo, self.hi)
        if value is None or value == "":
            found = False
        elif self.values is None or value in self.values:
            found = True
        elif ";" in value:
            found = any(part.strip() in self.values for part in value.split(";"))
        else:
            found = False
        return found if self.op == "=" else not found

    @property
    def positive(self) -> bool:
        """Whether the term needs its key to be present (so the key can pre-filter features)."""
        return self.op in ("=", "~")


@dataclass(frozen=True)
class Condition:
    """Terms that must all hold (an AND); a category's conditions are alternatives (an OR).

    Attributes
    ----------
    terms
        The terms.
    text
        The condition as written in the taxonomy file.
    """

    terms: tuple[Term, ...]
    text: str

    def holds(self, tags: Mapping[str, str]) -> bool:
        """Whether every term holds for a feature's tags."""
        return all(term.holds(tags) for term in self.terms)

    @property
    def anchor(self) -> Term:
        """The term a feature must pass first, used to index the condition.

        A positive term, preferring listed values and keys other than ``name``, so that matching looks up
        few conditions per tag.
        """
        positive = [term for term in self.terms if term.positive]
        return min(positive, key=lambda t: (t.key == "name", t.op != "=" or t.values is None))


@dataclass(frozen=True)
class Category:
    """A destination category.

    Attributes
    ----------
    name
        Identifier, lower_snake_case (used as a column name).
    label_en, label_zh
        Labels in English and Chinese.
    conditions
        A feature belongs to the category if any condition holds ...
    excludes
        ... and no exclude condition holds.
    kind
        ``"point"`` (any feature gives a destination point) or ``"open_space"`` (polygons only, reached
        through entrance points on their edge).
    min_area_ha
        Open spaces only: keep spaces strictly larger than this (hectares); None keeps every size.
    source
        Where the definition comes from.
    note
        Caveats, or an empty string.
    """

    name: str
    label_en: str
    label_zh: str
    conditions: tuple[Condition, ...]
    excludes: tuple[Condition, ...] = ()
    kind: Kind = "point"
    min_area_ha: float | None = None
    source: str = ""
    note: str = ""

    def matches(self, tags: Mapping[str, str]) -> bool:
        """Whether a feature with these tags belongs to the category."""
        if not any(condition.holds(tags) for condition in self.conditions):
            return False
        return not any(condition.holds(tags) for condition in self.excludes)


@dataclass(frozen=True)
class Entrances:
    """Where open spaces are entered (the ``open_space_entrances`` of a taxonomy file).

    Attributes
    ----------
    spacing_m
        Largest distance between two entrance points along an open space's boundary (metres, > 0).
    max_distance_m
        An entrance point is kept only within this straight-line distance of a network edge (metres, ≥ 0).
    """

    spacing_m: float
    max_distance_m: float


@dataclass(frozen=True)
class Taxonomy:
    """A set of destination categories, in file order.

    Attributes
    ----------
    categories
        Categories by name.
    path
        The file the taxonomy was read from (None when built in code).
    entrances
        How open spaces are entered: ``spacing_m`` (largest distance between two entrance points along
        a space's edge) and ``max_distance_m`` (an entrance is kept only this close to a network edge);
        None to use the default taxonomy's.
    """

    categories: dict[str, Category]
    path: Path | None = None
    entrances: Entrances | None = None
    _by_key: dict[str, tuple[tuple[str, Condition], ...]] = field(init=False, repr=False, compare=False)
    _by_tag: dict[tuple[str, str], tuple[tuple[str, Condition], ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        by_key: dict[str, list[tuple[str, Condition]]] = {}
        by_tag: dict[tuple[str, str], list[tuple[str, Condition]]] = {}
        for name, category in self.categories.items():
            for condition in category.conditions:
                anchor = condition.anchor
                if anchor.op == "=" and anchor.values is not None:
                    for value in anchor.values:
                        by_tag.setdefault((anchor.key, value), []).append((name, condition))
                else:
                    by_key.setdefault(anchor.key, []).append((name, condition))
        object.__setattr__(self, "_by_key", {k: tuple(v) for k, v in by_key.items()})
        object.__setattr__(self, "_by_tag", {k: tuple(v) for k, v in by_tag.items()})

    def __hash__(self) -> int:
        return id(self)

    def match(self, tags: Mapping[str, str]) -> list[str]:
        """Names of the categories a feature with these tags belongs to, in taxonomy order.

        Parameters
        ----------
        tags
            The feature's OSM tags.

        Returns
        -------
        list of str
            Category names; empty when none matches.
        """
        hits: set[str] = set()
        for key in tags:
            candidates = self._by_key.get(key, ())
            value = tags[key]
            listed = self._by_tag.get((key, value))
            if listed:
                candidates = candidates + listed
            if ";" in value:
                for part in value.split(";"):
                    candidates = candidates + self._by_tag.get((key, part.strip()), ())
            for name, condition in candidates:
                if name not in hits and condition.holds(tags):
                    hits.add(name)
        if not hits:
            return []
        return [
            name
            for name, category in self.categories.items()
            if name in hits and not any(condition.holds(tags) for condition in category.excludes)
        ]

    def anchor_keys(self, kind: Kind | None = None) -> frozenset[str]:
        """Keys that a feature must have (one of) to belong to any category (of one kind).

        Parameters
        ----------
        kind
            Only categories of this kind; None for all.

        Returns
        -------
        frozenset of str
            The keys, for filtering OSM objects before their tags are read.
        """
        return frozenset(
            condition.anchor.key
            for category in self.categories.values()
            if kind is None or category.kind == kind
            for condition in category.conditions
        )

    def anchors(self, kind: Kind | None = None) -> tuple[frozenset[str], frozenset[str]]:
        """What a feature must have to possibly belong to a category (of one kind), for fast pre-filtering.

        Parameters
        ----------
        kind
            Only categories of this kind; None for all.

        Returns
        -------
        tags : frozenset of str
            ``"key=value"`` strings: a feature with one of these tags may match.
        keys : frozenset of str
            Keys whose mere presence may make a feature match (``key=*`` and ``key~lo-hi`` anchors).
            A feature with neither, and no ``;`` list in the value of an anchor key, matches no category.
        """
        wanted = {name for name, c in self.categories.items() if kind is None or c.kind == kind}
        tags = frozenset(
            f"{key}={value}"
            for (key, value), entries in self._by_tag.items()
            if any(name in wanted for name, _ in entries)
        )
        keys = frozenset(
            key for key, entries in self._by_key.items() if any(name in wanted for name, _ in entries)
        )
        return tags, keys

    def names(self, kind: Kind | None = None) -> list[str]:
        """Category names (of one kind), in taxonomy order."""
        return [name for name, category in self.categories.items() if kind is None or category.kind == kind]


def default_taxonomy() -> Taxonomy:
    """The packaged default taxonomy (GB 50180 life-circle facilities and GHSCI destination groups)."""
    return _packaged()


@lru_cache(maxsize=1)
def _packaged() -> Taxonomy:
    resource = files("exquisite") / "data" / _PACKAGED
    return _parse(resource.read_text(encoding="utf-8"), f"exquisite/data/{_PACKAGED}", Path(str(resource)))


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load and validate a taxonomy file.

    Parameters
    ----------
    path
        A taxonomy YAML file; None for the packaged default.

    Returns
    -------
    Taxonomy
        The validated taxonomy.

    Raises
    ------
    exquisite.errors.InputError
        When the file is missing, is not YAML, or a key is missing or wrong; the message names the file and
        the key (``taxonomy.yml: categories.pharmacy.tags[0]``).
    """
    if path is None:
        return default_taxonomy()
    path = Path(path)
    if not path.is_file():
        raise InputError(
            str(path), "taxonomy file not found", "Check the path, or leave it out to use the default."
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(
            str(path), f"cannot read the taxonomy file ({error})", "Save it as UTF-8 text."
        ) from None
    return _parse(text, str(path), path)


def _parse(text: str, display: str, path: Path | None) -> Taxonomy:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{display}: line {mark.line + 1}" if mark is not None else display
        problem = getattr(error, "problem", None) or str(error)
        raise InputError(
            where, f"not valid YAML ({problem})", "Fix the YAML syntax (indentation, quotes)."
        ) from None
    if not isinstance(data, dict):
        raise InputError(
            display,
            "a taxonomy file must be a mapping with a 'categories' key",
            "See exquisite/data/taxonomy.yml for the format.",
        )
    unknown = sorted(set(map(str, data)) - _TOP_KEYS)
    if unknown:
        raise InputError(
            f"{display}: {unknown[0]}",
            "unknown key",
            f"Allowed top-level keys: {', '.join(sorted(_TOP_KEYS))}.",
        )
    raw = data.get("categories")
    if not isinstance(raw, dict) or not raw:
        raise InputError(
            f"{display}: categories",
            "missing or empty; it must map category names to definitions",
            "See exquisite/data/taxonomy.yml for the format.",
        )
    categories = {}
    for name, body in raw.items():
        category = _category(str(name), body, f"{display}: categories.{name}")
        categories[category.name] = category
    entrances = data.get("open_space_entrances")
    return Taxonomy(
        categories=categories,
        path=path,
        entrances=None if entrances is None else _entrances(entrances, f"{display}: open_space_entrances"),
    )


def _entrances(body: Any, where: str) -> Entrances:
    """The ``open_space_entrances`` mapping: ``spacing_m`` > 0, ``max_distance_m`` ≥ 0, and a ``source``."""
    if not isinstance(body, dict) or set(body) != {"spacing_m", "max_distance_m", "source"}:
        raise InputError(
            where,
            "must map spacing_m, max_distance_m and source",
            "For example {spacing_m: 50, max_distance_m: 30, source: ...}.",
        )
    values = {}
    for key, smallest, strict in (("spacing_m", 0.0, True), ("max_distance_m", 0.0, False)):
        value = body[key]
        good = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if not good or value < smallest or (strict and value == smallest):
            bound = "above 0" if strict else "0 or more"
            raise InputError(
                f"{where}.{key}",
                f"must be a number of metres {bound}, not {value!r}",
                f"For example {key}: 50.",
            )
        values[key] = float(value)
    return Entrances(**values)


def _category(name: str, body: Any, where: str) -> Category:
    if not _NAME.match(name):
        raise InputError(
            where,
            "a category name must be lower_snake_case (letters, digits, _)",
            "Rename it, e.g. 'food_market'.",
        )
    if not isinstance(body, dict):
        raise InputError(
            where,
            "a category must be a mapping with label, tags and source",
            "See exquisite/data/taxonomy.yml for the format.",
        )
    unknown = sorted(set(map(str, body)) - _CATEGORY_KEYS)
    if unknown:
        raise InputError(
            f"{where}.{unknown[0]}", "unknown key", f"Allowed keys: {', '.join(sorted(_CATEGORY_KEYS))}."
        )
    label = body.get("label")
    if not isinstance(label, dict):
        raise InputError(
            f"{where}.label",
            "missing; it must be a mapping {en: ..., zh: ...}",
            "Add an English and a Chinese label.",
        )
    labels = {}
    for lang in ("en", "zh"):
        value = label.get(lang)
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"{where}.label.{lang}", "missing or empty", "Add the label text.")
        labels[lang] = value.strip()
    kind = body.get("kind", "point")
    if kind not in KINDS:
        raise InputError(
            f"{where}.kind",
            f"must be one of {', '.join(KINDS)}, not {kind!r}",
            "Use 'open_space' for parks and squares reached through their edge, else 'point'.",
        )
    min_area = body.get("min_area_ha")
    if min_area is not None:
        if kind != "open_space":
            raise InputError(
                f"{where}.min_area_ha",
                "only open_space categories have a minimum area",
                "Remove min_area_ha or set kind: open_space.",
            )
        if isinstance(min_area, bool) or not isinstance(min_area, int | float) or not min_area >= 0:
            raise InputError(
                f"{where}.min_area_ha",
                f"must be a number of hectares >= 0, not {min_area!r}",
                "Write e.g. 'min_area_ha: 1.5'.",
            )
        min_area = float(min_area)
    source = body.get("source")
    if not isinstance(source, str) or not source.strip():
        raise InputError(
            f"{where}.source",
            "missing; every category must say where its definition comes from",
            "Cite the OSM wiki pages and the standard, e.g. 'GB 50180-2018 Appendix B'.",
        )
    note = body.get("note", "")
    if not isinstance(note, str):
        raise InputError(f"{where}.note", "must be text", "Quote it as a string.")
    conditions = _conditions(body.get("tags"), f"{where}.tags", required=True)
    excludes = _conditions(body.get("exclude"), f"{where}.exclude", required=False)
    return Category(
        name=name,
        label_en=labels["en"],
        label_zh=labels["zh"],
        conditions=conditions,
        excludes=excludes,
        kind=kind,
        min_area_ha=min_area,
        source=source.strip(),
        note=note.strip(),
    )


def _conditions(raw: Any, where: str, *, required: bool) -> tuple[Condition, ...]:
    if raw is None and not required:
        return ()
    if not isinstance(raw, list) or (required and not raw):
        raise InputError(
            where,
            "must be a list of tag conditions" + (" (at least one)" if required else ""),
            "Write e.g. '- \"amenity=pharmacy\"'.",
        )
    return tuple(_condition(item, f"{where}[{i}]") for i, item in enumerate(raw))


def _condition(item: Any, where: str) -> Condition:
    if not isinstance(item, str) or not item.strip():
        raise InputError(
            where,
            f'a condition must be text like "key=value", not {item!r}',
            "Quote it; YAML reads bare yes/no as booleans.",
        )
    terms = tuple(_term(part.strip(), where) for part in item.split("&"))
    if not any(term.positive for term in terms):
        raise InputError(
            where,
            f"{item!r} has no term that requires a tag (key=value, key=* or key~lo-hi)",
            "Add a positive term, e.g. 'amenity=school & isced:level!=*'.",
        )
    return Condition(terms=terms, text=item.strip())


def _term(text: str, where: str) -> Term:
    found = _TERM.match(text)
    if found is None:
        raise InputError(
            where,
            f"cannot read the term {text!r}",
            "Write key=value, key=a|b, key=*, key!=value, key!=* or key~lo-hi.",
        )
    key, op, value = found["key"].strip(), found["op"], found["value"].strip()
    if op == "~":
        bounds = _RANGE.match(value)
        if bounds is None or float(bounds["lo"]) > float(bounds["hi"]):
            raise InputError(
                where, f"{text!r}: a numeric range must be lo-hi with lo <= hi", "Write e.g. 'grades~1-6'."
            )
        return Term(key=key, op=op, lo=float(bounds["lo"]), hi=float(bounds["hi"]))
    if value == "*":
        return Term(key=key, op=op, values=None)
    values = frozenset(v.strip() for v in value.split("|"))
    if "" in values or "*" in values:
        raise InputError(
            where, f"{text!r} has an empty value or '*' inside a list", "Write key=a|b or key=*."
        )
    return Term(key=key, op=op, values=values)


def _overlaps(value: str, lo: float, hi: float) -> bool:
    """Whether a tag value listing numbers or ranges (``1-6``, ``1;2``, ``K-5``) overlaps ``lo..hi``."""
    for part in re.split(r"[;,]", value):
        found = _PART_RANGE.match(part)
        if found is None:
            continue
        try:
            a = _number(found["lo"])
            b = _number(found["hi"]) if found["hi"] else a
        except ValueError:
            continue
        if min(a, b) <= hi and max(a, b) >= lo:
            return True
    return False


def _number(text: str) -> float:
    return 0.0 if text.lower() in ("k", "pk", "r") else float(text)
