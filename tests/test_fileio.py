"""Atomic writes: complete files or none, with ordinary permissions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from boxpromptiml.fileio import atomic_write, atomic_write_json


def test_atomic_write_permissions_and_no_leftovers(tmp_path: Path) -> None:
    p = atomic_write_json(tmp_path / "sub" / "a.json", {"x": 1})
    umask = os.umask(0)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [f.name for f in p.parent.iterdir()] == ["a.json"]


def test_failed_write_leaves_old_file(tmp_path: Path) -> None:
    p = atomic_write_json(tmp_path / "a.json", {"v": 1})

    def broken(tmp: Path) -> None:
        tmp.write_text('{"v": 2')  # half written, then the process "dies"
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(p, broken)
    assert p.read_text().strip() == '{\n  "v": 1\n}'
    assert [f.name for f in tmp_path.iterdir()] == ["a.json"]
