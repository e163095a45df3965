"""The teacher contract: an image and its boxes in, one probability map per box out.

A **teacher** is a frozen, box-prompted segmenter. :meth:`Teacher.predict` takes

* ``image``: ``(H, W, 3)`` uint8 RGB (see :mod:`boxpromptiml.data.images`);
* ``boxes``: ``(N, 4)`` float XYXY in pixels of that image (the original frame of
  :mod:`boxpromptiml.data.boxes`); boxes reaching outside the image are clipped with a
  :class:`~boxpromptiml.data.boxes.BoxWarning`, degenerate ones dropped the same way;

and returns a :class:`TeacherOutput`: one :class:`BoxMap` per kept box (a decision-centred
probability map cut to a window around the box, zero outside the box grown by
``clip_margin``, plus a confidence in ``[0, 1]``), the combined ``(H, W)`` map, and the
:class:`TeacherInfo` that says which teacher made it.

Every teacher runs the same steps (the template in :meth:`Teacher.predict`):

1. ``_predict`` (the backend): a raw decision-centred map per box;
2. clip to the box grown by ``clip_margin`` (a box says where the region is *not*);
3. optional refinement (``refine="grabcut"`` or ``"colour"``, see
   :mod:`boxpromptiml.teachers.refine`);
4. ``clean``: keep the main connected region(s), fill holes (one box, one region);
5. **guards**: a mask covering under ``min_fill`` or over ``max_fill`` of its box is
   replaced by the ``fallback`` teacher's map (``"box"`` by default) and flagged in
   :attr:`BoxMap.fallback`; ``fallback="keep"`` only flags it.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from boxpromptiml.data.boxes import BoxWarning, clip_boxes
from boxpromptiml.errors import ConfigError
from boxpromptiml.teachers import maps as M
from boxpromptiml.teachers.maps import Window
from boxpromptiml.teachers.types import BoxMap, TeacherInfo, TeacherOutput, box_map


def check_image(image: np.ndarray) -> np.ndarray:
    """Validate an ``(H, W, 3)`` uint8 RGB image; raises ValueError naming the problem."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 RGB, got dtype {image.dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image is empty: shape {image.shape}")
    return image


class Teacher(ABC):
    """Base class of the box-prompted teachers (see the module docstring for the steps).

    Args:
        clip_margin: each box map is zero outside its box grown by this fraction of the
            box's size on each side (0.02: a tight box does not cut the region's edge).
        min_fill, max_fill: the guards; a pseudo-mask covering less than ``min_fill`` or
            more than ``max_fill`` of its box is a failure.
        fallback: what replaces a failed map: ``"box"`` (the box itself), ``"keep"`` (keep
            it, only flag it) or the name of another teacher (whose own failure falls back
            to the box).
        refine: ``None``, ``"grabcut"`` or ``"colour"``: refine each map with the image
            (see :mod:`boxpromptiml.teachers.refine`).
        clean: drop specks and fill holes in each pseudo-mask.
    """

    #: registry name
    name: ClassVar[str] = "teacher"
    #: bump when the teacher's output for the same input changes
    version: ClassVar[str] = "1"
    #: builds a fallback teacher by name; set by :mod:`boxpromptiml.teachers.registry`
    #: (imported with the package), so that this module needs no subclass
    fallback_factory: ClassVar[Callable[..., Teacher] | None] = None

    def __init__(
        self,
        *,
        clip_margin: float = 0.02,
        min_fill: float = 0.1,
        max_fill: float = 0.95,
        fallback: str = "box",
        refine: str | None = None,
        clean: bool = True,
    ) -> None:
        if not 0.0 <= clip_margin <= 1.0:
            raise ConfigError(f"clip_margin must lie in [0, 1], got {clip_margin}")
        if not 0.0 <= min_fill < max_fill <= 1.0:
            raise ConfigError(
                f"need 0 <= min_fill < max_fill <= 1, got min_fill={min_fill}, max_fill={max_fill}"
            )
        if refine not in (None, "grabcut", "colour"):
            raise ConfigError(f"refine must be grabcut, colour or none, got {refine!r}")
        if fallback == self.name:
            raise ConfigError(f"teacher '{self.name}' cannot be its own fallback")
        self.clip_margin = float(clip_margin)
        self.min_fill = float(min_fill)
        self.max_fill = float(max_fill)
        self.fallback = fallback
        self.refine = refine
        self.clean = bool(clean)
        self._fallback_teacher: Teacher | None = None

    # ------------------------------------------------------------------ identity

    def options(self) -> dict[str, Any]:
        """The settings that define the teacher's output (recorded in :class:`TeacherInfo`)."""
        return {
            "clip_margin": self.clip_margin,
            "min_fill": self.min_fill,
            "max_fill": self.max_fill,
            "fallback": self.fallback,
            "refine": self.refine,
            "clean": self.clean,
        }

    def checkpoint_id(self) -> str:
        """SHA-256 of the weights, ``"random-init"``, or ``"none"``."""
        return "none"

    @property
    def label(self) -> str:
        """The registry name plus its refinement, e.g. ``u2netp+grabcut``."""
        return f"{self.name}+{self.refine}" if self.refine else self.name

    @property
    def info(self) -> TeacherInfo:
        return TeacherInfo(self.label, self.version, self.checkpoint_id(), self.options())

    # ------------------------------------------------------------------ backend

    @abstractmethod
    def _predict(self, image: np.ndarray, boxes: np.ndarray) -> list[BoxMap]:
        """One raw decision-centred :class:`BoxMap` per box (``boxes`` is clipped, ``N >= 1``).

        A map's window must contain the box grown by ``clip_margin``.
        """

    # ------------------------------------------------------------------ template

    def clip_window(self, box: np.ndarray, height: int, width: int) -> Window:
        """The window every map of ``box`` is cut to: the box grown by ``clip_margin``."""
        return M.grow_box(box, self.clip_margin, height, width)

    def propose(self, image: np.ndarray, boxes: np.ndarray) -> list[BoxMap]:
        """Steps 1–3: backend maps, clipped to their boxes, refined; no cleaning or guards.

        ``boxes`` must already be inside the image (``predict`` clips them). Ensembles
        combine their members' proposals.
        """
        return self._after_backend(image, self._predict(image, boxes))

    def _after_backend(self, image: np.ndarray, raw: list[BoxMap]) -> list[BoxMap]:
        """Steps 2–3 on the backend's maps: clip, then refine."""
        h, w = image.shape[:2]
        out = []
        for bm in raw:
            bm = self._clip(bm, h, w)
            if self.refine is not None:
                from boxpromptiml.teachers.refine import colour_refine, grabcut_refine

                fn = grabcut_refine if self.refine == "grabcut" else colour_refine
                bm = self._clip(fn(image, bm), h, w)
            out.append(bm)
        return out

    def _clip(self, bm: BoxMap, height: int, width: int) -> BoxMap:
        win = self.clip_window(bm.box, height, width)
        prob = M.to_window(bm.prob, bm.window, win)
        prob *= M.box_mask(bm.box, win, self.clip_margin)
        return BoxMap(bm.box, win, prob, bm.confidence, bm.source, bm.fallback)

    def finish(self, image: np.ndarray, bm: BoxMap) -> BoxMap:
        """Steps 4–5 on one proposal: clean, then guard (with the fallback)."""
        if self.clean:
            m = bm.mask()
            cleaned = M.clean_mask(m)
            if not np.array_equal(cleaned, m):
                bm = BoxMap(
                    bm.box,
                    bm.window,
                    M.decide(bm.prob, cleaned),
                    bm.confidence,
                    bm.source,
                    bm.fallback,
                )
        fill = bm.fill
        if self.min_fill <= fill <= self.max_fill:
            return bm
        reason = (
            f"mask covers {fill:.0%} of its box (under min_fill {self.min_fill:g})"
            if fill < self.min_fill
            else f"mask covers {fill:.0%} of its box (over max_fill {self.max_fill:g})"
        )
        if self.fallback == "keep":
            return BoxMap(bm.box, bm.window, bm.prob, bm.confidence, bm.source, reason)
        fb = self._fallback_for(bm.box, image)
        return BoxMap(fb.box, fb.window, fb.prob, fb.confidence, fb.source, reason)

    def _fallback_for(self, box: np.ndarray, image: np.ndarray) -> BoxMap:
        h, w = image.shape[:2]
        if self.fallback != "box":
            if self._fallback_teacher is None:
                factory = type(self).fallback_factory
                if factory is None:
                    raise ConfigError(
                        f"fallback teacher {self.fallback!r}: import boxpromptiml.teachers "
                        "to build teachers by name"
                    )
                self._fallback_teacher = factory(self.fallback, clip_margin=self.clip_margin)
            fb = self._fallback_teacher
            bm = fb.finish(image, fb.propose(image, box[None, :])[0])
            if bm.fallback is None:
                return BoxMap(bm.box, bm.window, bm.prob, bm.confidence, fb.label, None)
        return box_map(box, h, w, self.clip_margin)

    def predict(
        self, image: np.ndarray, boxes: np.ndarray | Sequence[Sequence[float]]
    ) -> TeacherOutput:
        """Pseudo-masks of ``boxes`` on ``image`` (see the module docstring).

        Args:
            image: ``(H, W, 3)`` uint8 RGB.
            boxes: ``(N, 4)`` XYXY, pixels of ``image``; ``N = 0`` gives no maps (authentic).

        Returns:
            a :class:`TeacherOutput` with one :class:`BoxMap` per box kept after clipping.
        """
        image = check_image(image)
        h, w = image.shape[:2]
        kept, problems = self._check_boxes(boxes, h, w)
        maps: list[BoxMap] = []
        if len(kept):
            maps = [self.finish(image, bm) for bm in self.propose(image, kept)]
        return TeacherOutput(h, w, maps, self.info, problems)

    def predict_batch(
        self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]
    ) -> list[TeacherOutput]:
        """:meth:`predict` over several images; GPU teachers override it to batch."""
        if len(images) != len(boxes):
            raise ValueError(f"{len(images)} images but {len(boxes)} box arrays")
        return [self.predict(im, b) for im, b in zip(images, boxes, strict=True)]

    @staticmethod
    def _check_boxes(
        boxes: np.ndarray | Sequence[Sequence[float]], height: int, width: int
    ) -> tuple[np.ndarray, list[str]]:
        arr = np.asarray(boxes, dtype=np.float64)
        if arr.size == 0:
            return np.zeros((0, 4)), []
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise ValueError(f"boxes must have shape (N, 4) XYXY, got {arr.shape}")
        kept, msgs = clip_boxes(arr, width, height)
        for msg in msgs:
            warnings.warn(msg, BoxWarning, stacklevel=3)
        return kept, msgs

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts})"
