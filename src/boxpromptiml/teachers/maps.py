"""Operations on soft maps and boxes shared by the teachers.

Frames and conventions:

* A **box** is ``(4,)`` float XYXY in pixels of the original image (see
  :mod:`boxpromptiml.data.boxes`); it covers pixel columns ``floor(x1) .. ceil(x2) - 1``.
* A **window** is ``(x0, y0, x1, y1)`` integers, a pixel rectangle of the original image;
  an array "in the window" has shape ``(y1 - y0, x1 - x0)`` and its pixel ``[0, 0]`` is the
  image pixel ``(row y0, column x0)``.
* A **map** is float32 in ``[0, 1]``; every teacher map is *decision-centred*: a pixel is
  in the pseudo-mask exactly when its value is ``> 0.5``.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

Window = tuple[int, int, int, int]

#: Smallest value a mask pixel may have, and largest a background pixel may have, so that
#: ``> 0.5`` gives the same decision before and after an 8-bit PNG round trip (v / 255).
MASK_LO = 128.0 / 255.0
BACK_HI = 127.0 / 255.0


def box_cover(box: np.ndarray, height: int, width: int) -> Window:
    """The pixel rectangle ``(c0, r0, c1, r1)`` a box covers, clipped to the image."""
    x1, y1, x2, y2 = (float(v) for v in box)
    c0 = min(max(0, int(np.floor(x1))), width)
    r0 = min(max(0, int(np.floor(y1))), height)
    c1 = min(max(c0, int(np.ceil(x2))), width)
    r1 = min(max(r0, int(np.ceil(y2))), height)
    return c0, r0, c1, r1


def grow_box(box: np.ndarray, frac: float, height: int, width: int) -> Window:
    """The window of ``box`` grown by ``frac`` of its width (left/right) and height
    (top/bottom) on each side, clipped to the image."""
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = frac * (x2 - x1), frac * (y2 - y1)
    return box_cover(np.array([x1 - dx, y1 - dy, x2 + dx, y2 + dy]), height, width)


def box_mask(box: np.ndarray, window: Window, grow: float = 0.0) -> np.ndarray:
    """``(h, w)`` bool mask, in ``window``, of the pixels covered by ``box`` grown by ``grow``."""
    x0, y0, x1, y1 = window
    bx1, by1, bx2, by2 = (float(v) for v in box)
    dx, dy = grow * (bx2 - bx1), grow * (by2 - by1)
    c0, r0, c1, r1 = box_cover(np.array([bx1 - dx, by1 - dy, bx2 + dx, by2 + dy]), y1, x1)
    out = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    out[max(0, r0 - y0) : max(0, r1 - y0), max(0, c0 - x0) : max(0, c1 - x0)] = True
    return out


def to_window(prob: np.ndarray, src: Window, dst: Window) -> np.ndarray:
    """Re-cut a map given in window ``src`` into window ``dst`` (zero where ``src`` has no data)."""
    out = np.zeros((dst[3] - dst[1], dst[2] - dst[0]), dtype=np.float32)
    ix0, iy0 = max(src[0], dst[0]), max(src[1], dst[1])
    ix1, iy1 = min(src[2], dst[2]), min(src[3], dst[3])
    if ix1 > ix0 and iy1 > iy0:
        out[iy0 - dst[1] : iy1 - dst[1], ix0 - dst[0] : ix1 - dst[0]] = prob[
            iy0 - src[1] : iy1 - src[1], ix0 - src[0] : ix1 - src[0]
        ]
    return out


def crop(image: np.ndarray, window: Window) -> np.ndarray:
    """The pixels of ``image`` (any ``(H, W, ...)`` array) inside ``window``."""
    x0, y0, x1, y1 = window
    return image[y0:y1, x0:x1]


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of values in ``[0, 1]``: the cut maximising the between-class variance.

    Returns a value strictly between 0 and 1; ``0.5`` when the values are (nearly) constant.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0 or float(v.max() - v.min()) < 1e-6:
        return 0.5
    hist, edges = np.histogram(v, bins=bins, range=(0.0, 1.0))
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    mean0 = m0 / np.maximum(w0, 1)
    mean1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mean0 - mean1) ** 2
    k = int(np.argmax(between[:-1]))
    return float(np.clip(edges[k + 1], 1.0 / bins, 1.0 - 1.0 / bins))


def recentre(prob: np.ndarray, threshold: float) -> np.ndarray:
    """Map ``prob`` piecewise-linearly so that ``threshold`` becomes 0.5 (0 and 1 stay)."""
    t = float(np.clip(threshold, 1e-3, 1 - 1e-3))
    p = prob.astype(np.float32, copy=False)
    low = 0.5 * p / t
    high = 0.5 + 0.5 * (p - t) / (1.0 - t)
    return np.clip(np.where(p > t, high, low), 0.0, 1.0).astype(np.float32)


def decide(prob: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Make ``prob > 0.5`` equal ``mask`` exactly, also after an 8-bit round trip.

    Mask pixels are raised to at least 128/255, others lowered to at most 127/255; values
    already on the right side are kept, so the map stays soft where the decision is sure.
    """
    p = prob.astype(np.float32, copy=False)
    return np.where(mask, np.maximum(p, MASK_LO), np.minimum(p, BACK_HI)).astype(np.float32)


def clean_mask(mask: np.ndarray, keep_ratio: float = 0.1, fill_holes: bool = True) -> np.ndarray:
    """One box, one region: drop specks, fill holes.

    Connected components (8-connectivity) smaller than ``keep_ratio`` times the largest are
    removed, then enclosed holes are filled. An empty mask stays empty.
    """
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return m.copy()
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    if n > 2:
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = np.flatnonzero(areas >= keep_ratio * areas.max()) + 1
        m = np.isin(labels, keep)
    if fill_holes:
        m = ndimage.binary_fill_holes(m)
    return np.asarray(m, dtype=bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool arrays; 1.0 when both are empty."""
    union = int(np.count_nonzero(a | b))
    return 1.0 if union == 0 else int(np.count_nonzero(a & b)) / union


def stability(prob: np.ndarray, inside: np.ndarray | None = None, delta: float = 0.15) -> float:
    """SAM-style stability of a decision-centred map: IoU of ``prob > 0.5 + delta`` and
    ``prob > 0.5 - delta`` over the pixels ``inside`` (a boolean mask of ``prob``'s shape;
    None: all of them) (1.0: a crisp map, 0: all doubtful)."""
    p = prob if inside is None else prob[inside]
    loose = p > 0.5 - delta
    if not loose.any():
        return 0.0
    return iou(p > 0.5 + delta, loose)


def box_ramp(box: np.ndarray, window: Window, delta: float) -> np.ndarray:
    """The box prior, ``(h, w)`` float32 in ``window``: 0 on the box's edges, rising linearly
    to 1 at ``delta`` of the box's width (height) inside them, 0 outside the box.

    It encodes what a drawn box says beyond its extent: the annotator leaves some slack
    around the region, so pixels near the box's edges are less likely to belong to it.
    """
    x0, y0, x1, y1 = window
    bx1, by1, bx2, by2 = (float(v) for v in box)
    xs = np.arange(x0, x1, dtype=np.float64) + 0.5
    ys = np.arange(y0, y1, dtype=np.float64) + 0.5
    dx = np.minimum(xs - bx1, bx2 - xs) / max(bx2 - bx1, 1.0)
    dy = np.minimum(ys - by1, by2 - ys) / max(by2 - by1, 1.0)
    if delta <= 0:
        rx, ry = (dx >= 0).astype(np.float64), (dy >= 0).astype(np.float64)
    else:
        rx, ry = np.clip(dx / delta, 0.0, 1.0), np.clip(dy / delta, 0.0, 1.0)
    return np.minimum(ry[:, None], rx[None, :]).astype(np.float32)


def colour_index(rgb: np.ndarray, bins: int) -> np.ndarray:
    """Joint RGB histogram bin of each pixel of an ``(h, w, 3)`` uint8 array, ``(h, w)`` int."""
    q = (rgb.astype(np.int32) * bins) // 256
    return (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]


def colour_separation(rgb: np.ndarray, fg: np.ndarray, bg: np.ndarray, bins: int = 8) -> float:
    """How different the colours of two pixel sets are: ``1 -`` the intersection of their
    normalised joint RGB histograms (0: same colours, 1: disjoint colours).

    ``rgb`` is ``(h, w, 3)`` uint8, ``fg`` and ``bg`` are ``(h, w)`` bool. 0.0 when a set is empty.
    """
    if not fg.any() or not bg.any():
        return 0.0
    idx = colour_index(rgb, bins)
    hf = np.bincount(idx[fg], minlength=bins**3) / np.count_nonzero(fg)
    hb = np.bincount(idx[bg], minlength=bins**3) / np.count_nonzero(bg)
    return float(1.0 - np.minimum(hf, hb).sum())
