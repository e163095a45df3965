"""Run folders: ``runs/<mode>/<name>``, auto-incremented so that no earlier run is overwritten."""

from __future__ import annotations

import os
from pathlib import Path


def next_run_dir(
    mode: str, name: str = "exp", root: str | os.PathLike[str] = "runs", exist_ok: bool = False
) -> Path:
    """Create and return ``root/mode/name``, or ``name2``, ``name3``, ... if it exists.

    With ``exist_ok=True`` the folder is reused as is (for resuming a run).
    """
    base = Path(root) / mode
    base.mkdir(parents=True, exist_ok=True)
    candidate = base / name
    if exist_ok:
        candidate.mkdir(parents=True, exist_ok=True)
        return candidate
    k = 2
    while True:
        try:
            candidate.mkdir(parents=False, exist_ok=False)
            return candidate
        except FileExistsError:
            candidate = base / f"{name}{k}"
            k += 1
