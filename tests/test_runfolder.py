"""The run folder appears whole or not at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exquisite.outputs.runfolder import file_record, write_run_folder


def test_written_whole_with_manifest_last(tmp_path: Path) -> None:
    folder = write_run_folder(
        tmp_path / "runs", {"a.txt": lambda p: p.write_text("A")}, {"k": 1}, name="20260101T000000Z"
    )
    assert folder == tmp_path / "runs" / "20260101T000000Z"
    assert (folder / "a.txt").read_text() == "A"
    assert json.loads((folder / "manifest.json").read_text()) == {"k": 1}
    again = write_run_folder(tmp_path / "runs", {}, {}, name="20260101T000000Z")
    assert again.name == "20260101T000000Z-1"


def test_failure_leaves_nothing_behind(tmp_path: Path) -> None:
    def broken(path: Path) -> None:
        path.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_run_folder(tmp_path, {"a.txt": lambda p: p.write_text("A"), "b.txt": broken}, {})
    assert list(tmp_path.iterdir()) == []


def test_file_record_hashes(tmp_path: Path) -> None:
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")
    rec = file_record(f)
    assert rec["bytes"] == 3
    assert rec["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
