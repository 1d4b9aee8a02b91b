"""The problems residents can report: the Open311 service catalogue of ``data/open311_services.yml``.

Each :class:`Service` has a code (a string, as GeoReport v2 wants), names and descriptions in English and
Chinese, the department a new report goes to, the days within which it should be resolved, and the questions
(attributes) of its service definition, in the spec's six datatypes. :func:`check_attributes` reads a
resident's answers against them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

from exquisite.outputs.i18n import pick

#: GeoReport v2's attribute datatypes, with the description a client shows for each.
DATATYPES = {
    "string": "A single line of text",
    "number": "A number",
    "datetime": "A date and time (ISO 8601, e.g. 2026-05-01T08:30:00+08:00)",
    "text": "Text of several lines",
    "singlevaluelist": "One of the listed values",
    "multivaluelist": "Any of the listed values",
}
#: The longest answer of a ``string`` attribute (a single line).
STRING_MAX_CHARS = 200


@dataclass(frozen=True)
class Problem:
    """What is wrong with one field of a report, for the resident or the Open311 client.

    Attributes
    ----------
    field
        The field as the client sent it (``lat``, ``service_code``, ``attribute[light_state]`` …).
    code
        A short machine-readable reason (``missing``, ``not_a_number``, ``outside`` …).
    message
        One sentence in English naming the field and what to do.
    """

    field: str
    code: str
    message: str


@dataclass(frozen=True)
class AttributeValue:
    """One choice of a list attribute."""

    key: str
    name: Mapping[str, str]


@dataclass(frozen=True)
class Attribute:
    """One question of a service definition (GeoReport v2 ``attribute``)."""

    code: str
    datatype: str
    required: bool
    variable: bool
    order: int
    description: Mapping[str, str]
    values: tuple[AttributeValue, ...] = ()

    @property
    def datatype_description(self) -> str:
        """What the answer must be, in words."""
        return DATATYPES[self.datatype]

    def check(self, answer: str | list[str] | None) -> tuple[Any, Problem | None]:
        """The answer as stored (str, float, ISO text or list of keys), or the problem with it."""
        field = f"attribute[{self.code}]"
        values = [a for a in (answer if isinstance(answer, list) else [answer]) if a not in (None, "")]
        if not values:
            if self.required:
                return None, Problem(field, "missing", f"{field}: required ({self.description['en']})")
            return None, None
        if self.datatype != "multivaluelist" and len(values) > 1:
            return None, Problem(field, "one_value", f"{field}: give one value, not {len(values)}")
        value = str(values[0])
        if self.datatype in ("singlevaluelist", "multivaluelist"):
            keys = [v.key for v in self.values]
            wrong = [v for v in values if v not in keys]
            if wrong:
                return None, Problem(
                    field, "not_a_choice", f"{field}: {wrong[0]!r} is not one of {', '.join(keys)}"
                )
            return (list(dict.fromkeys(values)) if self.datatype == "multivaluelist" else value), None
        if self.datatype == "number":
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                return None, Problem(field, "not_a_number", f"{field}: {value[:40]!r} is not a number")
            return number, None
        if self.datatype == "datetime":
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                moment = None
            if moment is None or moment.tzinfo is None:
                return None, Problem(
                    field,
                    "not_a_datetime",
                    f"{field}: {value[:40]!r} is not a date and time with a time zone",
                )
            return moment.isoformat(), None
        limit = STRING_MAX_CHARS if self.datatype == "string" else 4000
        if self.datatype == "string" and ("\n" in value or "\r" in value):
            return None, Problem(field, "one_line", f"{field}: one line only")
        if len(value) > limit:
            return None, Problem(field, "too_long", f"{field}: {len(value)} characters; at most {limit}")
        return value, None


@dataclass(frozen=True)
class Service:
    """A problem residents can report (a GeoReport v2 service)."""

    code: str
    name: Mapping[str, str]
    description: Mapping[str, str]
    group: str
    department: str
    keywords: tuple[str, ...]
    days_to_resolve: int
    attributes: tuple[Attribute, ...]

    @property
    def metadata(self) -> bool:
        """Whether the service has a definition to fetch (questions or notices)."""
        return bool(self.attributes)

    @property
    def questions(self) -> tuple[Attribute, ...]:
        """The attributes a resident answers (``variable`` ones), in order."""
        return tuple(a for a in self.attributes if a.variable)


@dataclass(frozen=True)
class ServiceCatalogue:
    """The services, by code, and the departments they are routed to (code → names)."""

    services: Mapping[str, Service]
    departments: Mapping[str, Mapping[str, str]]

    def __iter__(self) -> Iterator[Service]:
        return iter(self.services.values())

    def __len__(self) -> int:
        return len(self.services)

    def get(self, code: str) -> Service | None:
        """The service of this code, or None."""
        return self.services.get(code)

    def name_of(self, code: str, lang: str) -> str:
        """The name of the service ``code`` in ``lang`` (the code itself for a service no longer listed)."""
        service = self.services.get(code)
        return pick(service.name, lang, code) if service is not None else code


def check_attributes(
    service: Service, answers: Mapping[str, str | list[str]]
) -> tuple[dict[str, Any], list[Problem]]:
    """A resident's answers to ``service``'s questions, checked.

    Parameters
    ----------
    service
        The service reported.
    answers
        ``{attribute code: value or list of values}`` as sent (``attribute[CODE]`` / ``attribute[CODE][]``).

    Returns
    -------
    tuple
        The answers as stored (only questions answered), and the problems (empty when all is well): a missing
        required answer, a value of the wrong type or not among the choices, an unknown attribute code.
    """
    questions = {a.code: a for a in service.questions}
    problems = [
        Problem(
            f"attribute[{code}]",
            "unknown",
            f"attribute[{code}]: service {service.code} asks no such question",
        )
        for code in answers
        if code not in questions
    ]
    stored: dict[str, Any] = {}
    for code, attribute in questions.items():
        value, problem = attribute.check(answers.get(code))
        if problem is not None:
            problems.append(problem)
        elif value is not None:
            stored[code] = value
    return stored, problems


def _attribute(raw: Mapping[str, Any], order: int) -> Attribute:
    return Attribute(
        code=str(raw["code"]),
        datatype=str(raw["datatype"]),
        required=bool(raw.get("required", False)),
        variable=bool(raw.get("variable", True)),
        order=order,
        description=dict(raw["description"]),
        values=tuple(AttributeValue(str(v["key"]), dict(v["name"])) for v in raw.get("values", ())),
    )


def catalogue_from_dict(data: Mapping[str, Any]) -> ServiceCatalogue:
    """A catalogue from the mapping of a services file (see ``data/open311_services.yml``)."""
    services = {}
    for code, raw in data["services"].items():
        attributes = tuple(_attribute(a, i + 1) for i, a in enumerate(raw.get("attributes") or ()))
        for attribute in attributes:
            if attribute.datatype not in DATATYPES:
                raise ValueError(
                    f"service {code}: attribute {attribute.code}: unknown datatype {attribute.datatype}"
                )
        services[str(code)] = Service(
            code=str(code),
            name=dict(raw["name"]),
            description=dict(raw["description"]),
            group=str(raw["group"]),
            department=str(raw["department"]),
            keywords=tuple(str(k) for k in raw.get("keywords", ())),
            days_to_resolve=int(raw["days_to_resolve"]),
            attributes=attributes,
        )
    departments = {str(k): dict(v) for k, v in data["departments"].items()}
    unknown = {s.department for s in services.values()} - set(departments)
    if unknown:
        raise ValueError(f"services name departments that are not listed: {', '.join(sorted(unknown))}")
    return ServiceCatalogue(services, departments)


@cache
def load_services() -> ServiceCatalogue:
    """The built-in catalogue (``data/open311_services.yml``)."""
    text = files("exquisite").joinpath("data/open311_services.yml").read_text(encoding="utf-8")
    return catalogue_from_dict(yaml.safe_load(text))
