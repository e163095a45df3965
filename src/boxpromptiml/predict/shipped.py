"""The general-purpose student that ships inside the package (``assets/models/``).

Its training data, recipe command and measured figures are in ``docs/model-card.md``.
"""

from __future__ import annotations

from pathlib import Path

from boxpromptiml.errors import CheckpointError

__all__ = ["SHIPPED_MODEL", "shipped_model"]

#: file name of the shipped student under ``boxpromptiml/assets/models``
SHIPPED_MODEL = "general-v1.pt"


def shipped_model() -> Path:
    """Path of the shipped student; :class:`CheckpointError` when this install lacks it."""
    path = Path(__file__).resolve().parents[1] / "assets" / "models" / SHIPPED_MODEL
    if not path.is_file():
        raise CheckpointError(
            f"{path}: the shipped model is missing from this installation; reinstall "
            "boxpromptiml, or give a model with --model"
        )
    return path
