"""A larger synthetic city as a real PBF: copies of an OSM extract laid side by side in a grid.

Each copy is shifted by the extract's own width and height (in degrees, from its header box) and gets its
own id range, so that everything downstream — reading, the network, buildings, places — runs on a real
OSM file ``cols × rows`` times the size. Copies are not stitched together: a street ends at its tile's edge.
"""

from __future__ import annotations

from pathlib import Path

import osmium

#: Ids of tile ``k`` are shifted by ``k × ID_STRIDE`` (larger than any id of the source extract).
ID_STRIDE = 100_000_000_000


def tile_pbf(source: Path, target: Path, cols: int, rows: int) -> Path:
    """Write ``target``: ``cols × rows`` shifted copies of ``source``; return ``target``.

    Parameters
    ----------
    source
        An OSM PBF file with a bounding box in its header.
    target
        The file to write (replaced if it exists).
    cols, rows
        The grid of copies.
    """
    box = osmium.io.Reader(str(source), osmium.osm.osm_entity_bits.NOTHING).header().box()
    width = box.top_right.lon - box.bottom_left.lon
    height = box.top_right.lat - box.bottom_left.lat
    target.unlink(missing_ok=True)
    tiles = [(i, j) for j in range(rows) for i in range(cols)]
    with osmium.SimpleWriter(str(target)) as writer:
        for kind in ("node", "way", "relation"):
            for k, (i, j) in enumerate(tiles):
                shift = k * ID_STRIDE
                for obj in osmium.FileProcessor(str(source), getattr(osmium.osm, kind.upper())):
                    if kind == "node":
                        loc = obj.location
                        moved = osmium.osm.Location(loc.lon + i * width, loc.lat + j * height)
                        writer.add_node(obj.replace(id=obj.id + shift, location=moved))
                    elif kind == "way":
                        writer.add_way(
                            obj.replace(id=obj.id + shift, nodes=[n.ref + shift for n in obj.nodes])
                        )
                    else:
                        members = [(m.type, m.ref + shift, m.role) for m in obj.members]
                        writer.add_relation(obj.replace(id=obj.id + shift, members=members))
    return target
