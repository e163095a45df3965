"""The trivial teacher: the box itself is the pseudo-mask (the baseline every teacher must beat)."""

from __future__ import annotations

from typing import Any

import numpy as np

from boxpromptiml.errors import ConfigError
from boxpromptiml.teachers.base import BoxMap, Teacher
from boxpromptiml.teachers.types import box_map


class BoxTeacher(Teacher):
    """Every box becomes a filled rectangle.

    Args:
        confidence: the constant confidence of every map (0.5: a box around a region with
            some slack overlaps it by about that IoU; COVERAGE at 10 % margin: 0.53).
        clip_margin: see :class:`~boxpromptiml.teachers.base.Teacher` (the map itself never
            reaches into the margin).

    No guards apply (the fill is 1 by construction), no cleaning, no refinement.
    """

    name = "box"
    version = "1"

    def __init__(self, *, confidence: float = 0.5, clip_margin: float = 0.02) -> None:
        if not 0.0 <= confidence <= 1.0:
            raise ConfigError(f"confidence must lie in [0, 1], got {confidence}")
        super().__init__(
            clip_margin=clip_margin, min_fill=0.0, max_fill=1.0, fallback="keep", clean=False
        )
        self.confidence = float(confidence)

    def options(self) -> dict[str, Any]:
        return {"clip_margin": self.clip_margin, "confidence": self.confidence}

    def _predict(self, image: np.ndarray, boxes: np.ndarray) -> list[BoxMap]:
        h, w = image.shape[:2]
        return [box_map(b, h, w, self.clip_margin, self.confidence) for b in boxes]
