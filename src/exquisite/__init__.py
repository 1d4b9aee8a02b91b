"""Exquisite City: measure, plan, govern and serve a city from open data."""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

try:
    __version__ = version("exquisite-city")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

if TYPE_CHECKING:
    from exquisite.analysis import Analysis
    from exquisite.config import StudyRegion

__all__ = ["__version__", "analyse"]


def analyse(config: StudyRegion | str | os.PathLike[str]) -> Analysis:
    """Analyse a study region: access, life circles, SDG 11, the peer-comparable set and equity.

    Parameters
    ----------
    config
        The study region's YAML file, or a validated :class:`~exquisite.config.StudyRegion`.

    Returns
    -------
    Analysis
        ``origins`` (GeoDataFrame with every per-origin value), ``indicators`` (records for the city and its
        districts), ``grid()``, ``indicator_table()``; ``write(out, lang)`` writes the run folder.
    """
    from exquisite.analysis import analyse as _analyse

    return _analyse(config)
