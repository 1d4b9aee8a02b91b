"""Exquisite City: measure, plan, govern and serve a city from open data."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("exquisite-city")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
