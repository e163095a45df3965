"""How good are the pseudo-masks? IoU and F1 against ground truth, per image and on average.

The paper never measures its teacher; we do, wherever masks exist. A pseudo-mask is read
from its PNG (``<stem>.png``, 0–255) and binarised with ``> threshold`` (0.5 by default,
the decision of every teacher); the scores come from
:func:`boxpromptiml.metrics.pixel_scores`. Only manipulated images are scored (pixel
metrics are undefined on authentic ones, as in :mod:`boxpromptiml.metrics`). Means are
over images, like the paper's F1.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from boxpromptiml.data.images import image_size, load_map
from boxpromptiml.data.sources import Dataset, SizeMismatch, mask_or_skip
from boxpromptiml.errors import DataError
from boxpromptiml.fileio import atomic_write_json

PathLike = str | os.PathLike[str]


@dataclass
class QualityReport:
    """Per-image scores (``rows``: name, iou, f1, precision, recall) and their means.

    ``missing`` lists manipulated images with no pseudo-mask; ``problems`` images left out
    (size mismatch, unreadable files).
    """

    teacher: dict[str, Any]
    rows: list[dict[str, Any]]
    threshold: float = 0.5
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.rows)

    def mean(self, key: str) -> float:
        """Mean of a per-image score over the scored images (NaN when none)."""
        return float(np.mean([r[key] for r in self.rows])) if self.rows else float("nan")

    @property
    def mean_iou(self) -> float:
        return self.mean("iou")

    @property
    def mean_f1(self) -> float:
        return self.mean("f1")

    def to_dict(self) -> dict[str, Any]:
        return {
            "teacher": self.teacher,
            "threshold": self.threshold,
            "n": self.n,
            "mean_iou": round(self.mean_iou, 4),
            "mean_f1": round(self.mean_f1, 4),
            "mean_precision": round(self.mean("precision"), 4),
            "mean_recall": round(self.mean("recall"), 4),
            "images": self.rows,
            "missing": self.missing,
            "problems": self.problems,
        }

    def save(self, path: PathLike) -> Path:
        """Write the report as JSON, atomically."""
        return atomic_write_json(path, self.to_dict())

    def summary(self) -> str:
        name = self.teacher.get("name", "?")
        return (
            f"pseudo-mask quality ({name}, {self.n} images): mean IoU {self.mean_iou:.4f}, "
            f"mean F1 {self.mean_f1:.4f}"
        )


def score_mask(pred: np.ndarray, mask: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """IoU, F1, precision, recall of a map or mask ``(H, W)`` against a mask ``(H, W)`` bool."""
    from boxpromptiml.metrics import pixel_scores

    s = pixel_scores(np.asarray(pred, dtype=np.float32), mask, threshold)
    return {k: round(float(s[k]), 6) for k in ("iou", "f1", "precision", "recall")}


def pseudo_quality(
    pseudo_dir: PathLike,
    dataset: Dataset,
    *,
    threshold: float = 0.5,
    on_size_mismatch: SizeMismatch = "skip",
    invert_masks: bool = False,
) -> QualityReport:
    """Score the pseudo-masks in ``pseudo_dir`` against the masks of ``dataset``.

    Args:
        pseudo_dir: a folder written by :func:`~boxpromptiml.teachers.pseudo.pseudo_label`
            (its ``manifest.json``, when present, names the teacher).
        dataset: samples with ground-truth masks (authentic samples are ignored).
        threshold: pseudo-mask pixels ``> threshold`` count as manipulated.
        on_size_mismatch: ``skip`` (default), ``error`` or ``resize`` for image/mask pairs of
            different sizes (see :func:`boxpromptiml.data.sources.mask_or_skip`).
        invert_masks: masks mark manipulated pixels black.
    """
    folder = Path(pseudo_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: pseudo-mask folder not found")
    teacher: dict[str, Any] = {}
    manifest = folder / "manifest.json"
    if manifest.is_file():
        try:
            teacher = dict(json.loads(manifest.read_text(encoding="utf-8")).get("teacher", {}))
        except (json.JSONDecodeError, AttributeError) as exc:
            raise DataError(f"{manifest}: malformed manifest ({exc})") from exc
    rows: list[dict[str, Any]] = []
    missing: list[str] = []
    problems: list[str] = []
    for s in dataset:
        if s.mask is None or s.label == 0:
            continue
        pred_path = folder / f"{s.image.stem}.png"
        if not pred_path.is_file():
            missing.append(s.name)
            continue
        try:
            hw = image_size(s.image)
            mask = mask_or_skip(s, hw, on_size_mismatch, problems, invert=invert_masks)
            if mask is None:
                continue
            pred = load_map(pred_path)
        except DataError as exc:
            if on_size_mismatch == "error":
                raise
            problems.append(f"{exc} [skipped]")
            continue
        if pred.shape != mask.shape:
            problems.append(
                f"{pred_path}: pseudo-mask is {pred.shape[1]}x{pred.shape[0]} but the mask is "
                f"{mask.shape[1]}x{mask.shape[0]} [skipped]"
            )
            continue
        rows.append({"name": s.name, **score_mask(pred, mask, threshold)})
    return QualityReport(teacher, rows, threshold, missing, problems)
