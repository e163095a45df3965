"""Combining teachers per box: soft voting, or choosing by confidence where they disagree.

For each box the members' proposals (decision-centred maps, see
:meth:`~boxpromptiml.teachers.base.Teacher.propose`) are brought into one window (the box
grown by ``context``), then combined.

``mode="vote"`` (default): the pseudo-mask is a vote of independent cues, averaged with
equal weights —

* each member's map (by default U²-Netp's saliency and GrabCut's colour segmentation);
* ``colour=True``: a colour model of the box, ``P(foreground | colour)`` with the *first*
  member's map as prior (:func:`~boxpromptiml.teachers.refine.colour_posterior`): it
  re-reads the primary teacher's shape in the image's colours (GrabCut, a colour model
  itself, is not fed in twice);
* ``box_prior > 0``: the box prior (:func:`~boxpromptiml.teachers.maps.box_ramp`), which
  falls to 0 towards the box's edges over ``box_prior`` of its size — an annotator leaves
  slack around a region, so its edges are rarely the region's.

The mean is thresholded per box with Otsu's method and re-centred so the threshold is 0.5.

``mode="select"``: when the members agree (mean pairwise IoU of their masks at least
``agree``) their maps are averaged; otherwise the member with the highest confidence wins.

Confidence, both modes: the mean IoU between each member's mask and the final mask (how
much the backends agree with the outcome).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np

from boxpromptiml.errors import ConfigError
from boxpromptiml.teachers import maps as M
from boxpromptiml.teachers.base import BoxMap, Teacher
from boxpromptiml.teachers.refine import colour_posterior

#: Settings of the default members when they vote, chosen for speed (about 4 images/s on
#: 2 CPU cores): U²-Netp at 224 px instead of its native 320 (COVERAGE mean IoU of the
#: ensemble 0.863 vs 0.862 at 256, for 0.46 vs 0.52 CPU-seconds per image), GrabCut at 160 px
#: (at low resolution it segments regions rather than details, which is what a vote
#: needs from it; 256 px: 0.853). Any of them can be overridden with ``member_options``.
DEFAULT_MEMBER_OPTIONS: dict[str, dict[str, Any]] = {
    "u2netp": {"input_size": 224},
    "grabcut": {"max_side": 160},
}


class EnsembleTeacher(Teacher):
    """Several teachers combined per box (see the module docstring).

    Args:
        members: teacher names (``"u2netp"``, ``"grabcut"``, ``"sam"``, ``"u2netp+grabcut"``
            ...) or :class:`Teacher` instances.
        mode: ``"vote"`` or ``"select"``.
        colour: add the colour-model vote (``vote`` mode).
        box_prior: width of the box prior's ramp as a fraction of the box (0: no prior).
        agree: mean pairwise IoU above which ``select`` averages instead of choosing.
        context: the common window is the box grown by this fraction (the colour model's
            background ring).
        member_options: options per member name, e.g. ``{"u2netp": {"input_size": 320}}``,
            over :data:`DEFAULT_MEMBER_OPTIONS`; the registry also accepts them as
            ``"u2netp.input_size"`` keys.
        **common: see :class:`~boxpromptiml.teachers.base.Teacher`.
    """

    name = "ensemble"
    version = "1"

    def __init__(
        self,
        *,
        members: Sequence[str | Teacher] = ("u2netp", "grabcut"),
        mode: str = "vote",
        colour: bool = True,
        box_prior: float = 0.2,
        agree: float = 0.75,
        context: float = 0.15,
        member_options: dict[str, dict[str, Any]] | None = None,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if mode not in ("vote", "select"):
            raise ConfigError(f"mode must be vote or select, got {mode!r}")
        if not 0.0 <= box_prior <= 0.5:
            raise ConfigError(f"box_prior must lie in [0, 0.5], got {box_prior}")
        if not 0.0 <= agree <= 1.0:
            raise ConfigError(f"agree must lie in [0, 1], got {agree}")
        if isinstance(members, str):
            members = [m for m in members.split(",") if m]
        if not members:
            raise ConfigError("an ensemble needs at least one member")
        from boxpromptiml.teachers.registry import build_teacher

        names = {m for m in members if isinstance(m, str)}
        unknown = set(member_options or {}) - names
        opts = {
            m: {**DEFAULT_MEMBER_OPTIONS.get(m, {}), **(member_options or {}).get(m, {})}
            for m in names
        }
        if unknown:
            raise ConfigError(
                f"member_options for teachers not in the ensemble: {', '.join(sorted(unknown))}"
            )
        self.members: list[Teacher] = [
            m
            if isinstance(m, Teacher)
            else build_teacher(m, clip_margin=self.clip_margin, **opts.get(m, {}))
            for m in members
        ]
        if any(isinstance(m, EnsembleTeacher) for m in self.members):
            raise ConfigError("an ensemble cannot contain another ensemble")
        self.mode = mode
        self.colour = bool(colour)
        self.box_prior = float(box_prior)
        self.agree = float(agree)
        self.context = float(context)

    def options(self) -> dict[str, Any]:
        return {
            "members": [m.info.to_dict() for m in self.members],
            "mode": self.mode,
            "colour": self.colour,
            "box_prior": self.box_prior,
            "agree": self.agree,
            "context": self.context,
            **super().options(),
        }

    def checkpoint_id(self) -> str:
        ids = [
            f"{m.label}:{m.checkpoint_id()}" for m in self.members if m.checkpoint_id() != "none"
        ]
        return ",".join(ids) if ids else "none"

    def _predict(self, image: np.ndarray, boxes: np.ndarray) -> list[BoxMap]:
        h, w = image.shape[:2]
        proposals = [m.propose(image, boxes) for m in self.members]
        out = []
        for k, box in enumerate(boxes):
            win = M.grow_box(box, max(self.context, self.clip_margin), h, w)
            inside = M.box_mask(box, win)
            props = [p[k] for p in proposals]
            maps = [M.to_window(p.prob, p.window, win) for p in props]
            masks = [(m > 0.5) & inside for m in maps]
            if self.mode == "select" and len(maps) > 1 and _mean_pairwise_iou(masks) < self.agree:
                best = int(np.argmax([p.confidence for p in props]))
                prob, source = maps[best], props[best].source
            else:
                prob, source = self._vote(image, box, win, inside, maps), self.name
            final = (prob > 0.5) & inside
            conf = float(np.mean([M.iou(m, final) for m in masks]))
            out.append(BoxMap(box, win, prob, conf, source))
        return out

    def _vote(
        self,
        image: np.ndarray,
        box: np.ndarray,
        win: M.Window,
        inside: np.ndarray,
        maps: list[np.ndarray],
    ) -> np.ndarray:
        votes = list(maps)
        if self.mode == "vote":
            if self.colour:
                votes.append(colour_posterior(image, box, maps[0], win))
            if self.box_prior > 0:
                votes.append(M.box_ramp(box, win, self.box_prior))
        mean = np.mean(votes, axis=0).astype(np.float32) * inside
        return M.recentre(mean, M.otsu_threshold(mean[inside])) * inside


def _mean_pairwise_iou(masks: list[np.ndarray]) -> float:
    pairs = list(combinations(range(len(masks)), 2))
    return float(np.mean([M.iou(masks[i], masks[j]) for i, j in pairs])) if pairs else 1.0
