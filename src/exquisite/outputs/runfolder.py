"""The run folder: written whole into a temporary folder, then renamed; no half-written run is seen."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

#: Packages whose versions every manifest records.
_VERSIONED = (
    "exquisite-city",
    "numpy",
    "scipy",
    "numba",
    "pandas",
    "geopandas",
    "shapely",
    "pyproj",
    "pyarrow",
    "osmium",
    "rasterio",
    "h3",
)


def timestamp() -> str:
    """A run's folder name: the UTC time, sortable and safe on every file system (``20261129T160530Z``)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def file_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What the manifest says of an input file: its path, size and SHA-256."""
    path = Path(path)
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape the results."""
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def write_run_folder(
    parent: str | os.PathLike[str],
    writers: Mapping[str, Callable[[Path], None]],
    manifest: Mapping[str, Any],
    name: str | None = None,
) -> Path:
    """Write a run folder atomically.

    Every file is written into a hidden temporary folder next to the final one; ``manifest.json`` comes last
    and the folder is renamed into place only when all is written. On any error the temporary folder is
    removed and nothing is left behind.

    Parameters
    ----------
    parent
        Folder that holds the runs of one region (created when missing).
    writers
        File name → function writing that file to the path it is given.
    manifest
        The manifest's content (JSON-serialisable).
    name
        Folder name of the run; defaults to :func:`timestamp`.

    Returns
    -------
    pathlib.Path
        The finished run folder.
    """
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    name = name or timestamp()
    final = parent / name
    suffix = 1
    while final.exists():
        final = parent / f"{name}-{suffix}"
        suffix += 1
    tmp = parent / f".{final.name}.partial-{os.getpid()}"
    try:
        tmp.mkdir()
        for filename, write in writers.items():
            write(tmp / filename)
        (tmp / "manifest.json").write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n"
        )
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
