"""The tiny example dataset shipped inside the package (for a first run without data).

``assets/example/`` holds six synthetic 96×96 images: five manipulated (a bright shape
pasted on a textured background, exact masks in ``Gt/``) and one authentic (``Au/``), plus
``pred/``: maps made by blurring and adding noise to the masks. Those maps are NOT the
output of any model; they exist to show what the evaluator prints. The files are generated
by ``scripts/make_example.py``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def example_paths() -> tuple[Path, Path]:
    """``(dataset_root, prediction_folder)`` of the shipped example."""
    root = Path(str(resources.files("boxpromptiml") / "assets" / "example"))
    return root, root / "pred"
