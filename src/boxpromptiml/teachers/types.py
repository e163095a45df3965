"""The data a teacher returns: one map per box (:class:`BoxMap`), per image
(:class:`TeacherOutput`), and which teacher made it (:class:`TeacherInfo`).

Frames: boxes are XYXY in the original image's pixels; a map covers a window of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from boxpromptiml.teachers import maps as M
from boxpromptiml.teachers.maps import Window

__all__ = ["BoxMap", "TeacherInfo", "TeacherOutput", "box_map"]


@dataclass(frozen=True)
class TeacherInfo:
    """Which teacher made an output.

    ``checkpoint`` is the SHA-256 (hex) of the weights file, ``"random-init"`` for a model
    with random weights (tests only), or ``"none"`` for teachers without weights.
    ``options`` are the teacher's settings, enough to rebuild it with
    :func:`~boxpromptiml.teachers.build_teacher`.
    """

    name: str
    version: str
    checkpoint: str = "none"
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "checkpoint": self.checkpoint,
            "options": dict(self.options),
        }


@dataclass
class BoxMap:
    """The pseudo-mask of one box.

    Attributes:
        box: ``(4,)`` float64 XYXY, original pixel frame (after clipping to the image).
        window: ``(x0, y0, x1, y1)`` ints; ``prob`` covers image rows ``y0:y1`` and columns
            ``x0:x1``.
        prob: ``(y1 - y0, x1 - x0)`` float32 in ``[0, 1]``, decision-centred (``> 0.5`` is
            the pseudo-mask), zero outside the box grown by the teacher's ``clip_margin``.
        confidence: in ``[0, 1]``, how far to trust the map (see each teacher).
        source: the teacher that made this map (a member or the fallback, for ensembles).
        fallback: ``None``, or why a guard replaced (or, with ``fallback="keep"``, flagged)
            the teacher's map.
    """

    box: np.ndarray
    window: Window
    prob: np.ndarray
    confidence: float
    source: str
    fallback: str | None = None

    def full(self, height: int, width: int) -> np.ndarray:
        """The map at image size, ``(height, width)`` float32, zero outside the window."""
        return M.to_window(self.prob, self.window, (0, 0, width, height))

    def mask(self) -> np.ndarray:
        """The pseudo-mask inside the window, ``(y1 - y0, x1 - x0)`` bool."""
        return self.prob > 0.5

    @property
    def fill(self) -> float:
        """Fraction of the box's pixels inside the pseudo-mask."""
        inside = M.box_mask(self.box, self.window)
        n = int(inside.sum())
        return 0.0 if n == 0 else float(np.count_nonzero(self.mask() & inside)) / n


@dataclass
class TeacherOutput:
    """All box maps of one image. ``height``/``width`` are the image's size."""

    height: int
    width: int
    boxes: list[BoxMap]
    info: TeacherInfo
    problems: list[str] = field(default_factory=list)

    def combined(self) -> np.ndarray:
        """``(H, W)`` float32: the pixel-wise maximum of the box maps (zeros without boxes)."""
        out = np.zeros((self.height, self.width), dtype=np.float32)
        for bm in self.boxes:
            x0, y0, x1, y1 = bm.window
            np.maximum(out[y0:y1, x0:x1], bm.prob, out=out[y0:y1, x0:x1])
        return out

    def mask(self) -> np.ndarray:
        """``(H, W)`` bool: the union of the box pseudo-masks (``combined() > 0.5``)."""
        return self.combined() > 0.5

    def maps(self) -> np.ndarray:
        """``(N, H, W)`` float32, one full-size map per box (uses ``N * H * W * 4`` bytes)."""
        if not self.boxes:
            return np.zeros((0, self.height, self.width), dtype=np.float32)
        return np.stack([bm.full(self.height, self.width) for bm in self.boxes])

    @property
    def confidences(self) -> np.ndarray:
        """``(N,)`` float64 confidences, in box order."""
        return np.array([bm.confidence for bm in self.boxes], dtype=np.float64)

    def record(self) -> dict[str, Any]:
        """JSON-ready summary: boxes, confidences, sources, fallbacks, problems."""
        return {
            "boxes": [[round(float(v), 2) for v in bm.box] for bm in self.boxes],
            "confidence": [round(float(bm.confidence), 4) for bm in self.boxes],
            "source": [bm.source for bm in self.boxes],
            "fallback": [bm.fallback for bm in self.boxes],
            "problems": list(self.problems),
        }


def box_map(
    box: np.ndarray, height: int, width: int, clip_margin: float = 0.0, confidence: float = 0.5
) -> BoxMap:
    """The box as a map: 1.0 on the pixels the box covers, 0 in the ``clip_margin`` ring."""
    win = M.grow_box(box, clip_margin, height, width)
    prob = M.box_mask(box, win).astype(np.float32)
    return BoxMap(np.asarray(box, dtype=np.float64), win, prob, float(confidence), "box")
