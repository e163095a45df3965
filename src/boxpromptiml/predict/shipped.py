"""The general-purpose students that ship inside the package (``assets/models/``).

Their training data, recipe commands and measured figures are in ``docs/model-card.md``.

- ``general-v4`` (the default): general-v3's recipe with whole-object splices in the
  synthesis (``splice_object`` 0.6): the uniform weight soup of two runs of that recipe,
  plain and with global colour changes, packaged with test-time mirroring and the map's
  mean as image score. On the development sets, mean pixel F1 0.172 against general-v3's
  0.105 (casia2 0.250, above its all-pixels floor), pooled image AUC 0.81 (0.76), with as
  many held-out untouched photos flagged (16 %).
- ``general-v3`` (the default before general-v4): the uniform weight soup of
  ``general-v2`` and a run of the same recipe, seed and data with global colour changes
  (``photometric`` 0.8), packaged with test-time mirroring and the map's mean as image
  score: 16 % of held-out untouched photos flagged, image AUC 0.76 over the development
  sets pooled (0.72 with ``top1pct``), pixel F1 at about ``general-v2``'s.
- ``general-v2``: trained with the image-level top-1 % loss and packaged with test-time
  mirroring (``tta="h"``, two passes per window): quiet on untouched photos (18 % of
  held-out photos with more than 1 % of pixels flagged), image AUC 0.80, but it marks
  fewer manipulated pixels.
- ``general-v3-fast``: two backbone levels fused instead of three, one pass per window:
  4.5 ms per 224² window on two CPU cores (5.4–6.1 in a slower run of the same VM) against
  5.7 for one pass of ``general-v2``. The uniform weight soup of three runs of one seed on
  the same data (plain, with global colour changes, and with those and a heavier positive
  weight): 22 % of untouched photos flagged, image AUC 0.81, pixel F1 at about
  ``general-v2``'s. For bulk screening.
- ``general-v1``: the recipe without the image-level loss; marks manipulated regions more
  readily (pixel F1 above the all-pixels floor on real splices) at the price of flagging
  most untouched photos (69 %). For images already suspected.
"""

from __future__ import annotations

from pathlib import Path

from boxpromptiml.errors import CheckpointError

__all__ = ["DEFAULT_MODEL", "SHIPPED_MODEL", "SHIPPED_MODELS", "shipped_model"]

#: name -> file name under ``boxpromptiml/assets/models``
SHIPPED_MODELS: dict[str, str] = {
    "general-v4": "general-v4.pt",
    "general-v3": "general-v3.pt",
    "general-v2": "general-v2.pt",
    "general-v3-fast": "general-v3-fast.pt",
    "general-v1": "general-v1.pt",
}
#: the student used when no model is given
DEFAULT_MODEL = "general-v4"
#: file name of the default shipped student
SHIPPED_MODEL = SHIPPED_MODELS[DEFAULT_MODEL]


def shipped_model(name: str | None = None) -> Path:
    """Path of the shipped student ``name`` (default :data:`DEFAULT_MODEL`);
    :class:`CheckpointError` for an unknown name or when this install lacks the file."""
    name = name or DEFAULT_MODEL
    if name not in SHIPPED_MODELS:
        raise CheckpointError(
            f"{name}: not a shipped model; choose from {', '.join(SHIPPED_MODELS)} or give a file"
        )
    path = Path(__file__).resolve().parents[1] / "assets" / "models" / SHIPPED_MODELS[name]
    if not path.is_file():
        raise CheckpointError(
            f"{path}: the shipped model is missing from this installation; reinstall "
            "boxpromptiml, or give a model with --model"
        )
    return path


def resolve_model(model: str | Path | None) -> Path:
    """A ``--model`` value: a shipped model's name, a file, or ``None`` (the default)."""
    if model is None:
        return shipped_model()
    if isinstance(model, str) and model in SHIPPED_MODELS:
        return shipped_model(model)
    return Path(model)
