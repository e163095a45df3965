"""GrabCut (Rother et al., SIGGRAPH 2004, OpenCV's implementation) prompted by a box.

Each box is segmented in its own window: the box grown by ``context`` (the ring outside the
box is the known background GrabCut learns its background colours from). Pixels inside the
box start as "probably foreground". For speed the window is processed at most
``max_side`` pixels on its longer side (``None``: full resolution) and the result is
resized back with bilinear interpolation, which gives soft edges.

GrabCut initialises its colour models with k-means, whose random centres come from
OpenCV's global RNG; it is seeded with ``seed`` right before each call, so labels are
reproducible run to run (for the same OpenCV build).

Confidence: the colour separation of the result (``1 -`` the intersection of the colour
histograms of the mask and of the rest of the window): GrabCut is only as good as the
foreground's colours differ from the background's.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from boxpromptiml.errors import ConfigError
from boxpromptiml.teachers import maps as M
from boxpromptiml.teachers.base import BoxMap, Teacher
from boxpromptiml.teachers.maps import Window


def run_grabcut(
    image: np.ndarray,
    window: Window,
    labels: np.ndarray,
    *,
    iterations: int = 5,
    max_side: int | None = 256,
    seed: int = 0,
) -> np.ndarray | None:
    """Run OpenCV GrabCut in ``window`` from initial ``labels``; ``(h, w)`` float32 map.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        window: ``(x0, y0, x1, y1)``; ``labels`` and the result are in this window.
        labels: ``(h, w)`` uint8 of ``cv2.GC_BGD / GC_FGD / GC_PR_BGD / GC_PR_FGD``.
        iterations, max_side, seed: see the module docstring.

    Returns:
        the foreground map in ``[0, 1]`` (1/0 at full resolution, soft edges when resized),
        or ``None`` when GrabCut cannot run (no background or no foreground sample).
    """
    fg = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    if not fg.any() or fg.all():
        return None
    bgr = np.ascontiguousarray(M.crop(image, window)[:, :, ::-1])
    h, w = labels.shape
    scale = 1.0 if max_side is None else min(1.0, max_side / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        work = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
    else:
        work = labels.copy()
    wfg = (work == cv2.GC_FGD) | (work == cv2.GC_PR_FGD)
    if not wfg.any() or wfg.all():
        return None
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(int(seed))
    try:
        cv2.grabCut(bgr, work, (0, 0, 0, 0), bgd, fgd, int(iterations), cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return None
    out = ((work == cv2.GC_FGD) | (work == cv2.GC_PR_FGD)).astype(np.float32)
    if scale < 1.0:
        out = np.clip(cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    return out


class GrabCutTeacher(Teacher):
    """GrabCut initialised from each box (see the module docstring).

    Args:
        context: background ring around the box, as a fraction of the box's size.
        iterations: GrabCut iterations.
        max_side: longest side of the working window in pixels (``None``: full size).
        seed: seed of OpenCV's RNG for the k-means initialisation.
        **common: see :class:`~boxpromptiml.teachers.base.Teacher`.
    """

    name = "grabcut"
    version = "1"

    def __init__(
        self,
        *,
        context: float = 0.1,
        iterations: int = 5,
        max_side: int | None = 256,
        seed: int = 0,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if not 0.0 < context <= 1.0:
            raise ConfigError(f"context must lie in (0, 1], got {context}")
        if int(iterations) < 1:
            raise ConfigError(f"iterations must be at least 1, got {iterations}")
        if max_side is not None and int(max_side) < 16:
            raise ConfigError(f"max_side must be at least 16 pixels (or none), got {max_side}")
        self.context = float(context)
        self.iterations = int(iterations)
        self.max_side = None if max_side is None else int(max_side)
        self.seed = int(seed)

    def options(self) -> dict[str, Any]:
        return {
            "context": self.context,
            "iterations": self.iterations,
            "max_side": self.max_side,
            "seed": self.seed,
            **super().options(),
        }

    def _predict(self, image: np.ndarray, boxes: np.ndarray) -> list[BoxMap]:
        h, w = image.shape[:2]
        out = []
        for box in boxes:
            win = M.grow_box(box, max(self.context, self.clip_margin), h, w)
            inside = M.box_mask(box, win)
            labels = np.where(inside, cv2.GC_PR_FGD, cv2.GC_BGD).astype(np.uint8)
            prob = run_grabcut(
                image,
                win,
                labels,
                iterations=self.iterations,
                max_side=self.max_side,
                seed=self.seed,
            )
            if prob is None:  # the box fills its window: nothing to learn the background from
                prob, conf = inside.astype(np.float32), 0.0
            else:
                prob = M.decide(prob, prob > 0.5)
                conf = M.colour_separation(M.crop(image, win), prob > 0.5, prob <= 0.5)
            out.append(BoxMap(box, win, prob, conf, self.name))
        return out
