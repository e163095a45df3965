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
from boxpromptiml.teachers.refine import run_grabcut


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
