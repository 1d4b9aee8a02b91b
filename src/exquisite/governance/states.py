"""The states of a report (``data/report_states.yml``): FixMyStreet's workflow, mapped onto Open311's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import yaml


@dataclass(frozen=True)
class State:
    """One state: its labels, its Open311 status, whether the public sees it, whether it closes the report."""

    name: str
    label: Mapping[str, str]
    open311: str
    public: bool
    closed: bool


@dataclass(frozen=True)
class StateModel:
    """All states and the moves staff may make between them."""

    states: Mapping[str, State]
    transitions: Mapping[str, tuple[str, ...]]

    def __getitem__(self, name: str) -> State:
        return self.states[name]

    def allowed(self, current: str, target: str) -> bool:
        """Whether a report in ``current`` may be moved to ``target``."""
        return target in self.transitions.get(current, ())

    def public(self) -> list[str]:
        """The states shown to the public (and returned by Open311)."""
        return [s.name for s in self.states.values() if s.public]

    def with_status(self, status: str) -> list[str]:
        """The public states whose Open311 status is ``status`` (``open`` or ``closed``)."""
        return [s.name for s in self.states.values() if s.public and s.open311 == status]


@cache
def load_states() -> StateModel:
    """The built-in state model (``data/report_states.yml``)."""
    data = yaml.safe_load(files("exquisite").joinpath("data/report_states.yml").read_text(encoding="utf-8"))
    states = {
        name: State(name, dict(raw["label"]), str(raw["open311"]), bool(raw["public"]), bool(raw["closed"]))
        for name, raw in data["states"].items()
    }
    transitions = {name: tuple(targets) for name, targets in data["transitions"].items()}
    for name, targets in transitions.items():
        unknown = [t for t in (name, *targets) if t not in states]
        if unknown:
            raise ValueError(f"report_states.yml: transitions name unknown states: {', '.join(unknown)}")
    return StateModel(states, transitions)
