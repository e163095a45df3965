"""Naming of result files after the benchmark run a checkpoint comes from."""

from __future__ import annotations

from pathlib import Path


def run_name(checkpoint: Path) -> str:
    """The run folder's name for ``<run>/train/last.pt``, ``<run>/soup.pt`` and
    ``<run>/last.pt`` (the layouts of ``benchmarks/coverage.py``: fine-tuned runs, soups,
    pretrainings), else the file's stem."""
    if checkpoint.parent.name == "train":
        return checkpoint.parent.parent.name
    if checkpoint.stem in ("soup", "last", "best"):
        return checkpoint.parent.name
    return checkpoint.stem
