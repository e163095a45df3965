"""Naming of result files after the benchmark run a checkpoint comes from."""

from __future__ import annotations

from pathlib import Path


def run_name(checkpoint: Path) -> str:
    """The run folder's name for ``<run>/train/last.pt`` and ``<run>/soup.pt`` (the
    layout of ``benchmarks/coverage.py``), else the file's stem."""
    if checkpoint.parent.name == "train":
        return checkpoint.parent.parent.name
    if checkpoint.stem == "soup":
        return checkpoint.parent.name
    return checkpoint.stem
