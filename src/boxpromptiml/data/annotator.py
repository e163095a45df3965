"""A simulated box annotator: ground-truth masks in, coarse boxes out.

It stands in for a person drawing boxes (about 7 s an image) on datasets that only have
pixel masks, and drives the box-quality study (how tight must boxes be?).

For each connected manipulated region (8-connectivity) whose area is at least ``min_area``
pixels, one box is drawn around it. Regions closer than ``merge_distance`` pixels are
merged first, as a person would draw one box around nearby fragments. Each side of the
tight box then moves **outward** by ``margin`` times the box's width (left/right) or height
(top/bottom), and by an extra random amount drawn uniformly from
``[-jitter, +jitter]`` times that size (negative values move the side inward, as a hasty
annotator might). Boxes are clipped to the image. A manipulated image never ends up
without a box: when every region is under ``min_area``, the largest one is kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from boxpromptiml.data.boxes import BoxFile, ImageBoxes
from boxpromptiml.data.images import image_size
from boxpromptiml.data.sources import (
    Dataset,
    SizeMismatch,
    SizeMismatchError,
    check_sizes,
    mask_or_skip,
)
from boxpromptiml.errors import ConfigError, DataError


@dataclass(frozen=True)
class AnnotatorConfig:
    """Parameters of the simulated annotator (see the module docstring)."""

    margin: float = 0.10
    jitter: float = 0.0
    min_area: int = 16
    merge_distance: int = 0
    seed: int = 0
    #: probability that a region's box is left out (an annotator missing a region)
    miss: float = 0.0
    #: probability of one extra box on an untouched area of a manipulated image
    extra: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.margin <= 1.0:
            raise ConfigError(f"margin must lie in [0, 1], got {self.margin}")
        for name in ("miss", "extra"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
                raise ConfigError(f"{name} must be a probability in [0, 1], got {v!r}")
        if not 0.0 <= self.jitter <= 0.5:
            raise ConfigError(f"jitter must lie in [0, 0.5], got {self.jitter}")
        if self.min_area < 1:
            raise ConfigError(f"min_area must be at least 1 pixel, got {self.min_area}")
        if self.merge_distance < 0:
            raise ConfigError(f"merge_distance must be >= 0, got {self.merge_distance}")


def tight_boxes(mask: np.ndarray, min_area: int = 1, merge_distance: int = 0) -> np.ndarray:
    """Tight XYXY boxes ``(N, 4)`` float64 of the connected regions of an ``(H, W)`` bool mask.

    Regions under ``min_area`` pixels are dropped unless all are, in which case the largest
    is kept. With ``merge_distance > 0`` regions within that many pixels are grouped.
    Boxes are sorted by area, largest first.
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {m.shape}")
    if not m.any():
        return np.zeros((0, 4))
    u8 = m.astype(np.uint8)
    labels: Any
    if merge_distance >= sum(m.shape):
        # farther than any two pixels can be: every region of the image in one group
        n, labels = 2, m.astype(np.int32)
    elif merge_distance > 0:
        k = 2 * merge_distance + 1
        grouped = cv2.dilate(u8, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        n, labels = cv2.connectedComponents(grouped, connectivity=8)
        labels = np.where(m, labels, 0)
    else:
        n, labels = cv2.connectedComponents(u8, connectivity=8)
    found: list[tuple[int, list[float]]] = []
    for lab in range(1, n):
        ys, xs = np.nonzero(labels == lab)
        if len(ys) == 0:
            continue
        found.append(
            (len(ys), [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)])
        )
    found.sort(key=lambda t: -t[0])
    kept = [b for area, b in found if area >= min_area] or [found[0][1]]
    return np.array(kept, dtype=np.float64)


def simulate_boxes(
    mask: np.ndarray, config: AnnotatorConfig, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Boxes ``(N, 4)`` XYXY (original pixel frame) that a simulated annotator draws on ``mask``.

    ``rng`` drives the jitter; by default one seeded with ``config.seed`` is used.
    """
    rng = rng if rng is not None else np.random.default_rng(config.seed)
    h, w = mask.shape
    boxes = tight_boxes(mask, config.min_area, config.merge_distance)
    out = []
    for x1, y1, x2, y2 in boxes:
        bw, bh = x2 - x1, y2 - y1
        grow = config.margin + (
            rng.uniform(-config.jitter, config.jitter, 4) if config.jitter else 0.0
        )
        grow = np.broadcast_to(np.asarray(grow, dtype=np.float64), (4,))
        nb = np.array([x1 - grow[0] * bw, y1 - grow[1] * bh, x2 + grow[2] * bw, y2 + grow[3] * bh])
        nb = np.clip(nb, 0.0, [w, h, w, h])
        # jitter may push a side across its opposite one on a tiny region: keep 1 px at least
        if nb[2] - nb[0] < 1.0:
            cx = (x1 + x2) / 2
            nb[0], nb[2] = max(0.0, cx - 0.5), min(float(w), cx + 0.5)
        if nb[3] - nb[1] < 1.0:
            cy = (y1 + y2) / 2
            nb[1], nb[3] = max(0.0, cy - 0.5), min(float(h), cy + 0.5)
        out.append(np.round(nb, 2))
    # drawn after the jitter, and only when asked: the boxes of other settings stay the same
    if config.miss and out:
        out = [b for b in out if rng.random() >= config.miss]
    if config.extra and rng.random() < config.extra:
        fake = _extra_box(mask, boxes, rng)
        if fake is not None:
            out.append(fake)
    return np.array(out, dtype=np.float64).reshape(-1, 4)


def _extra_box(
    mask: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, tries: int = 20
) -> np.ndarray | None:
    """A box the size of one of the image's regions, placed where it covers at most 5 % of
    manipulated pixels (``None`` when no such place is found)."""
    h, w = mask.shape
    if len(boxes):
        x1, y1, x2, y2 = boxes[int(rng.integers(0, len(boxes)))]
        bw, bh = max(2.0, x2 - x1), max(2.0, y2 - y1)
    else:
        bw, bh = w / 6, h / 6
    bw, bh = min(bw, w - 1.0), min(bh, h - 1.0)
    for _ in range(tries):
        x0, y0 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        xi, yi = int(x0), int(y0)
        window = mask[yi : int(y0 + bh) + 1, xi : int(x0 + bw) + 1]
        if window.size and window.mean() <= 0.05:
            return np.round(np.array([x0, y0, x0 + bw, y0 + bh]), 2)
    return None


def per_image_rngs(seed: int, names: Iterable[str]) -> dict[str, np.random.Generator]:
    """One generator per image name, independent of the order images are processed in."""
    import zlib

    return {n: np.random.default_rng([seed, zlib.crc32(n.encode("utf-8"))]) for n in names}


def annotate_dataset(
    dataset: Dataset,
    config: AnnotatorConfig | None = None,
    *,
    on_size_mismatch: SizeMismatch = "error",
    invert_masks: bool = False,
    progress: bool = True,
) -> BoxFile:
    """Simulated boxes for every sample of a mask dataset, as a :class:`BoxFile`.

    Authentic samples (no mask) get no boxes. Unreadable samples, and size-mismatched pairs
    under ``on_size_mismatch="skip"``, are left out and listed in ``BoxFile.problems``;
    under ``"error"`` a mismatch raises :class:`DataError`. Each image's jitter comes from its
    own generator seeded by ``(config.seed, name)``, so results do not depend on order.
    """
    from tqdm.auto import tqdm

    config = config or AnnotatorConfig()
    check_sizes(dataset, on_size_mismatch)
    rngs = per_image_rngs(config.seed, (s.name for s in dataset))
    entries: list[ImageBoxes] = []
    problems: list[str] = list(dataset.problems)
    for s in tqdm(dataset.samples, desc="boxes", unit="img", disable=not progress):
        try:
            h, w = image_size(s.image)
            mask = mask_or_skip(s, (h, w), on_size_mismatch, problems, invert=invert_masks)
        except SizeMismatchError:
            raise
        except DataError as exc:  # unreadable image or mask: skip and report
            problems.append(f"{exc} [skipped]")
            continue
        if mask is None:
            continue
        boxes = simulate_boxes(mask, config, rngs[s.name]) if s.label != 0 else np.zeros((0, 4))
        entries.append(ImageBoxes(s.image.name, w, h, boxes, extra={"source": "simulated"}))
    info = {
        "description": f"boxes simulated from the masks of {dataset.name}",
        "annotator": {
            "margin": config.margin,
            "jitter": config.jitter,
            "min_area": config.min_area,
            "merge_distance": config.merge_distance,
            "seed": config.seed,
            **({"miss": config.miss} if config.miss else {}),
            **({"extra": config.extra} if config.extra else {}),
        },
    }
    return BoxFile(entries, info, problems)
