"""The photo split of the general recipe: which authentic photos train, which are held out.

Sources (none is copied into the repository):

* ``../shared/data/photos`` (kodak24, mcmaster, cbsd68);
* Debian wallpaper photos listed in ``benchmarks/data/wallpapers.tsv`` (package, version,
  path, size, licence, sha256, attribution), fetched by ``scripts/fetch_wallpapers.sh``
  into ``WALLPAPERS`` (default ``../wallpapers``);
* the photos bundled with the dependencies (scikit-image, scikit-learn, matplotlib).

Held out from synthesis and training, for the untouched-photo check of
``benchmarks/realworld.py``: all of kodak24, every 4th cbsd68 photo and every 4th
wallpaper (sorted by path). Everything else trains.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BOXPROMPT_SHARED", ROOT.parent / "shared" / "data"))
WALLPAPERS = Path(os.environ.get("BOXPROMPT_WALLPAPERS", ROOT.parent / "wallpapers"))
MANIFEST = ROOT / "benchmarks" / "data" / "wallpapers.tsv"
EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTS)


def wallpapers() -> list[Path]:
    """The listed wallpaper photos present under :data:`WALLPAPERS`, sorted by path."""
    with MANIFEST.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    paths = [WALLPAPERS / r["relative_path"] for r in rows]
    return sorted(p for p in paths if p.is_file())


def photo_split() -> tuple[list[Path], list[Path]]:
    """``(train, held_out)`` photo paths (files that are absent are left out)."""
    photos = SHARED / "photos"
    kodak = _images(photos / "kodak24")
    mcm = _images(photos / "mcmaster")
    bsd = _images(photos / "cbsd68")
    wall = wallpapers()
    held = kodak + bsd[::4] + wall[::4]
    train = mcm + [p for i, p in enumerate(bsd) if i % 4] + [p for i, p in enumerate(wall) if i % 4]
    return train, held


def write_lists(out: Path) -> tuple[Path, Path]:
    """Write ``train-photos.txt`` and ``heldout-photos.txt`` (absolute paths) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    train, held = photo_split()
    a, b = out / "train-photos.txt", out / "heldout-photos.txt"
    a.write_text("".join(f"{p.resolve()}\n" for p in train), encoding="utf-8")
    b.write_text("".join(f"{p.resolve()}\n" for p in held), encoding="utf-8")
    return a, b


def coverage_split(data: Path = SHARED / "coverage") -> tuple[Any, Any]:
    """COVERAGE's ``(train, test)`` datasets (62 and 29 images) as ``data/split.json`` lists
    them; the 9 size-mismatched pairs are in neither."""
    import json

    from boxpromptiml.data.sources import load_dataset

    split = json.loads((data / "split.json").read_text())
    full = load_dataset(data, name="coverage")
    return full.subset(split["train"], name="coverage-train"), full.subset(
        split["test"], name="coverage-test"
    )


def realdev_sets(shared: Path = SHARED) -> list[tuple[str, Any]]:
    """``(name, dataset)`` of every ``shared/real-dev`` set with a ``Tp/`` folder
    (``casia2``, ``mixed``), sorted by name; empty when the folder is absent."""
    from boxpromptiml.data.sources import load_dataset

    root = shared / "real-dev"
    if not root.is_dir():
        return []
    return [
        (p.name, load_dataset(p, name=p.name))
        for p in sorted(root.iterdir())
        if (p / "Tp").is_dir()
    ]
