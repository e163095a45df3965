"""Refining a teacher's soft map with the image: GrabCut and a colour model.

Both take a :class:`~boxpromptiml.teachers.base.BoxMap` (a decision-centred map of one box)
and return a new one in a window that includes some background around the box.

* :func:`grabcut_refine`: GrabCut initialised from the map — outside the box is known
  background, the map's mask is "probably foreground", its interior (the mask eroded by
  3 % of the box's shorter side) is known foreground, the rest of the box "probably
  background". GrabCut then moves the edges to where the colours change.
* :func:`colour_posterior`: a two-class colour model. The foreground histogram is the
  image's colours inside the box weighted by the prior map; the background histogram
  weighs them by ``1 - prior`` and adds every pixel of the ring outside the box. The
  posterior ``P(foreground | colour)`` is re-estimated ``iterations`` times (EM-like).
  :func:`colour_refine` thresholds it per box with Otsu.

The confidence of a refined map is the mean of the input map's confidence and the
agreement (IoU) between the input mask and the refined mask.
"""

from __future__ import annotations

import cv2
import numpy as np

from boxpromptiml.teachers import maps as M
from boxpromptiml.teachers.maps import Window
from boxpromptiml.teachers.types import BoxMap


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


def _prior_in(
    bm: BoxMap, image: np.ndarray, context: float
) -> tuple[Window, np.ndarray, np.ndarray]:
    h, w = image.shape[:2]
    win = M.grow_box(bm.box, context, h, w)
    return win, M.to_window(bm.prob, bm.window, win), M.box_mask(bm.box, win)


def _refined(bm: BoxMap, win: Window, prob: np.ndarray, inside: np.ndarray, tag: str) -> BoxMap:
    before = M.to_window(bm.prob, bm.window, win) > 0.5
    agree = M.iou(before & inside, (prob > 0.5) & inside)
    conf = 0.5 * (bm.confidence + agree)
    return BoxMap(bm.box, win, prob, conf, f"{bm.source}+{tag}", bm.fallback)


def grabcut_refine(
    image: np.ndarray,
    bm: BoxMap,
    *,
    context: float = 0.1,
    iterations: int = 5,
    max_side: int | None = 256,
    seed: int = 0,
) -> BoxMap:
    """GrabCut initialised from ``bm``'s map (see the module docstring).

    ``image`` is ``(H, W, 3)`` uint8 RGB; the result is in the box grown by ``context``.
    When GrabCut cannot run (empty or full mask) the map is returned unchanged.
    """
    win, prior, inside = _prior_in(bm, image, context)
    fg = (prior > 0.5) & inside
    if not fg.any():
        return bm
    x1, y1, x2, y2 = bm.box
    r = max(1, round(0.03 * min(x2 - x1, y2 - y1)))
    core = cv2.erode(
        fg.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    )
    labels = np.full(fg.shape, cv2.GC_PR_BGD, dtype=np.uint8)
    labels[fg] = cv2.GC_PR_FGD
    labels[core > 0] = cv2.GC_FGD
    labels[~inside] = cv2.GC_BGD
    prob = run_grabcut(image, win, labels, iterations=iterations, max_side=max_side, seed=seed)
    if prob is None:
        return bm
    return _refined(bm, win, M.decide(prob, prob > 0.5), inside, "grabcut")


def colour_posterior(
    image: np.ndarray,
    box: np.ndarray,
    prior: np.ndarray,
    window: Window,
    *,
    bins: int = 16,
    iterations: int = 2,
) -> np.ndarray:
    """``P(foreground | colour)`` in ``window`` from a prior map (see the module docstring).

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        box: ``(4,)`` XYXY, original frame.
        prior: ``(h, w)`` float in ``[0, 1]`` in ``window``, the foreground belief inside the box.
        window: the box plus a background ring, ``(x0, y0, x1, y1)``.
        bins: histogram bins per RGB channel (``bins ** 3`` colours).
        iterations: re-estimations of the two histograms from the posterior.

    Returns:
        ``(h, w)`` float32 in ``[0, 1]``, zero outside the box.
    """
    inside = M.box_mask(box, window)
    idx = M.colour_index(M.crop(image, window), bins).ravel()
    wf = np.where(inside, prior, 0.0).ravel()
    wb = np.where(inside, 1.0 - prior, 1.0).ravel()
    n_in = max(1, int(inside.sum()))
    post = np.zeros(idx.shape, dtype=np.float64)
    for _ in range(max(1, iterations)):
        hf = np.bincount(idx, weights=wf, minlength=bins**3) + 1.0  # Laplace smoothing
        hb = np.bincount(idx, weights=wb, minlength=bins**3) + 1.0
        hf /= hf.sum()
        hb /= hb.sum()
        pi = float(np.clip(wf.sum() / n_in, 0.05, 0.95))  # foreground share of the box
        lf, lb = hf[idx] * pi, hb[idx] * (1.0 - pi)
        post = lf / (lf + lb)
        wf = np.where(inside.ravel(), post, 0.0)
        wb = np.where(inside.ravel(), 1.0 - post, 1.0)
    return (post.reshape(inside.shape) * inside).astype(np.float32)


def colour_refine(
    image: np.ndarray, bm: BoxMap, *, context: float = 0.15, bins: int = 16, iterations: int = 2
) -> BoxMap:
    """The colour posterior of ``bm``'s map, Otsu-thresholded within the box."""
    win, prior, inside = _prior_in(bm, image, context)
    post = colour_posterior(image, bm.box, prior, win, bins=bins, iterations=iterations)
    prob = M.recentre(post, M.otsu_threshold(post[inside])) * inside
    return _refined(bm, win, prob.astype(np.float32), inside, "colour")
