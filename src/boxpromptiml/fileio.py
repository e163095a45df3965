"""Atomic file writes: a killed process never leaves a half-written file behind.

Each writer writes to a temporary file in the destination folder, flushes it, then
renames it over the destination with :func:`os.replace`, which is atomic on POSIX and
Windows when source and destination are on the same file system.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` and move the result to ``path`` atomically.

    ``write`` receives a temporary path with the same suffix as ``path`` (so that
    libraries choosing a format by suffix keep working) and must create that file.
    Parent folders are created. Returns ``path`` as a :class:`Path`.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{dest.stem}.", suffix=(dest.suffix or ".tmp"), dir=dest.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600 files; give the result the permissions a plain open() would
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = 2) -> Path:
    """Serialise ``obj`` as JSON and write it to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def output_dir(path: str | os.PathLike[str], what: str = "output folder") -> Path:
    """Create the folder ``path`` (and its parents) and return it; a clear
    :class:`~boxpromptiml.errors.DataError` when it, or a parent, is an existing file."""
    from boxpromptiml.errors import DataError

    out = Path(path)
    for p in (out, *out.parents):
        if p.exists() and not p.is_dir():
            raise DataError(f"{p}: is a file, not a folder (the {what} {out})")
    out.mkdir(parents=True, exist_ok=True)
    return out
