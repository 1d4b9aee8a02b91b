"""The parameter files of the indicator families (``data/<family>.yml``) and their definitions."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

#: Each family's parameter file under ``exquisite/data``.
FAMILY_FILES = ("lifecircles.yml", "sdg11.yml", "ghsci.yml", "equity.yml")


@cache
def load_parameters(filename: str) -> dict[str, Any]:
    """A family's parameter file: ``version``, ``parameters``, ``indicators`` (definitions), sources.

    Parameters
    ----------
    filename
        The file under ``exquisite/data``, e.g. ``"sdg11.yml"``.
    """
    text = resources.files("exquisite").joinpath("data", filename).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def method_version(filename: str) -> str:
    """``"<file> v<version>"``: what an indicator record names as its method version."""
    return f"{filename} v{load_parameters(filename)['version']}"


def definitions() -> dict[str, dict[str, Any]]:
    """Every indicator id → its ``label``, ``definition`` (``en``/``zh``), ``unit`` and ``standard``.

    A share that is not of people also names its ``numerator_unit`` (e.g. ``m²``).
    """
    merged: dict[str, dict[str, Any]] = {}
    for filename in FAMILY_FILES:
        merged.update(load_parameters(filename)["indicators"])
    return merged
