"""Region shapes for synthetic manipulations: object-like segments, blobs and polygons.

Every function returns a boolean mask ``(H, W)`` (``True`` = inside the region) in the
pixel frame of the image it was drawn on, and draws all its randomness from the
``np.random.Generator`` it is given, so a shape is a pure function of its inputs.

* :func:`grow_segment` follows a real photo's edges: the photo is cut into about
  ``n`` superpixels (a marker-based watershed on a jittered grid), then one superpixel in
  the central part of the photo grows by absorbing the neighbour whose mean Lab colour is
  closest to the region's, until the region reaches the requested area. Colour-coherent
  growth tends to stop at object boundaries, which gives object-like regions.
* :func:`blob` is a smooth random star-shaped outline (a radius with a few Fourier terms).
* :func:`polygon` is a random star-shaped polygon with 3–9 vertices, or a rotated rectangle.

Only OpenCV and NumPy are used, so the shapes do not depend on optional packages.
"""

from __future__ import annotations

import cv2
import numpy as np

SHAPES = ("segment", "blob", "polygon")


def superpixels(image: np.ndarray, n_segments: int, rng: np.random.Generator) -> np.ndarray:
    """Over-segment an ``(H, W, 3)`` uint8 RGB image into about ``n_segments`` regions.

    Returns ``(H, W)`` int32 labels in ``0 .. K-1``; every label is one 4-connected
    watershed basin grown from one marker of a randomly jittered square grid.
    """
    h, w = image.shape[:2]
    step = max(4.0, float(np.sqrt(h * w / max(1, n_segments))))
    ys = np.arange(step / 2, h, step)
    xs = np.arange(step / 2, w, step)
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    jitter = rng.uniform(-step / 3, step / 3, size=(2, *gy.shape))
    py = np.clip(np.rint(gy + jitter[0]), 0, h - 1).astype(np.int64)
    px = np.clip(np.rint(gx + jitter[1]), 0, w - 1).astype(np.int64)
    markers = np.zeros((h, w), np.int32)
    markers[py.ravel(), px.ravel()] = np.arange(1, py.size + 1, dtype=np.int32)
    smooth = cv2.GaussianBlur(np.ascontiguousarray(image), (0, 0), 1.0)
    cv2.watershed(smooth, markers)
    # watershed leaves -1 on basin boundaries (and on the image border): give each such
    # pixel the largest neighbouring label so that every pixel belongs to a region
    lab = markers.copy()
    lab[lab < 0] = 0
    grown = cv2.dilate(lab.astype(np.uint16), np.ones((3, 3), np.uint8)).astype(np.int32)
    lab = np.where(markers < 0, grown, lab)
    if (lab == 0).any():  # isolated boundary pixels left: one more pass
        grown = cv2.dilate(lab.astype(np.uint16), np.ones((5, 5), np.uint8)).astype(np.int32)
        lab = np.where(lab == 0, grown, lab)
    # renumber to 0 .. K-1 (markers lost to collisions leave gaps)
    _, inverse = np.unique(lab, return_inverse=True)
    return inverse.reshape(h, w).astype(np.int32)


def _adjacency(labels: np.ndarray, k: int) -> list[set[int]]:
    """Neighbour sets of the ``k`` labels of an ``(H, W)`` label image (4-connectivity)."""
    pairs = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        diff = a != b
        pairs.append(np.stack([a[diff], b[diff]], axis=1))
    allp = np.concatenate(pairs, axis=0).astype(np.int64)
    codes = np.unique(np.concatenate([allp[:, 0] * k + allp[:, 1], allp[:, 1] * k + allp[:, 0]]))
    nbrs: list[set[int]] = [set() for _ in range(k)]
    for c in codes.tolist():
        nbrs[c // k].add(c % k)
    return nbrs


def clean_region(mask: np.ndarray, open_px: int = 2, close_px: int = 2) -> np.ndarray:
    """Smooth a region: morphological opening (cuts thin bridges and spurs), closing,
    holes filled, largest 8-connected part kept.

    ``mask`` and the result are ``(H, W)`` bool; an empty mask stays empty. When the
    opening would erase the region it is skipped.
    """
    m: np.ndarray = mask.astype(np.uint8)
    if not m.any():
        return mask.astype(bool)
    if open_px > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * open_px + 1, 2 * open_px + 1))
        opened = np.asarray(cv2.morphologyEx(m, cv2.MORPH_OPEN, k))
        if opened.any():
            m = opened
    if close_px > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * close_px + 1, 2 * close_px + 1))
        m = np.asarray(cv2.morphologyEx(m, cv2.MORPH_CLOSE, k))
    m = fill_holes(m.astype(bool)).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n > 2:
        biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        m = (lab == biggest).astype(np.uint8)
    return m.astype(bool)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool mask with every background area not connected to the border filled."""
    h, w = mask.shape
    padded = np.zeros((h + 2, w + 2), np.uint8)
    padded[1:-1, 1:-1] = mask.astype(np.uint8)
    flood = np.zeros((h + 4, w + 4), np.uint8)
    cv2.floodFill(padded, flood, (0, 0), 2)
    return padded[1:-1, 1:-1] != 2


def grow_segment(
    image: np.ndarray,
    target_px: float,
    rng: np.random.Generator,
    *,
    n_segments: int | None = None,
    forbid: np.ndarray | None = None,
) -> np.ndarray:
    """An object-like region of about ``target_px`` pixels that follows the photo's edges.

    ``image`` is ``(H, W, 3)`` uint8 RGB; the result is an ``(H, W)`` bool mask, one
    8-connected region without holes. ``forbid`` (``(H, W)`` bool) marks pixels the region
    must stay away from: superpixels touching it are never absorbed. The seed superpixel
    is drawn among those whose centre lies in the central 70 % of each side. By default
    the photo is cut into enough superpixels that each holds at most a fifth of the
    target (60 to 800 of them).
    """
    h, w = image.shape[:2]
    if n_segments is None:
        # superpixels of at most a fifth of the target, so that small regions are possible
        n_segments = int(np.clip(max(h * w / 900, 5 * h * w / max(target_px, 1.0)), 60, 800))
    labels = superpixels(image, n_segments, rng)
    k = int(labels.max()) + 1
    flat = labels.ravel()
    counts = np.bincount(flat, minlength=k).astype(np.float64)
    lab = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2LAB).reshape(-1, 3)
    sums = np.stack([np.bincount(flat, lab[:, c].astype(np.float64), k) for c in range(3)], 1)
    means = sums / np.maximum(counts, 1)[:, None]
    yy, xx = np.mgrid[0:h, 0:w]
    cy = np.bincount(flat, yy.ravel().astype(np.float64), k) / np.maximum(counts, 1)
    cx = np.bincount(flat, xx.ravel().astype(np.float64), k) / np.maximum(counts, 1)
    banned = np.zeros(k, bool)
    if forbid is not None and forbid.any():
        banned[np.unique(labels[forbid])] = True
    central = (
        (cy > 0.15 * h)
        & (cy < 0.85 * h)
        & (cx > 0.15 * w)
        & (cx < 0.85 * w)
        & ~banned
        & (counts > 0)
    )
    candidates = np.flatnonzero(central)
    if candidates.size == 0:
        candidates = np.flatnonzero(~banned & (counts > 0))
    if candidates.size == 0:
        return np.zeros((h, w), bool)
    nbrs = _adjacency(labels, k)
    seed = int(rng.choice(candidates))
    region = {seed}
    area = counts[seed]
    colour = sums[seed].copy()
    frontier = {n for n in nbrs[seed] if not banned[n]}
    # a little randomness in the merge order so that the same photo yields varied regions
    noise = rng.uniform(0.85, 1.15, size=k)
    while area < target_px and frontier:
        cand = np.fromiter(frontier, dtype=np.int64)
        dist = np.linalg.norm(means[cand] - colour / area, axis=1) * noise[cand]
        best = int(cand[int(np.argmin(dist))])
        region.add(best)
        frontier.discard(best)
        area += counts[best]
        colour += sums[best]
        frontier |= {n for n in nbrs[best] if n not in region and not banned[n]}
    mask = np.isin(labels, np.fromiter(region, dtype=np.int64))
    return clean_region(mask, open_px=3, close_px=2)


def _rotate_stretch(
    pts: np.ndarray, rng: np.random.Generator, max_aspect: float = 2.0
) -> np.ndarray:
    """Stretch ``(N, 2)`` points along x by a random aspect ratio, then rotate randomly."""
    aspect = float(np.exp(rng.uniform(-np.log(max_aspect), np.log(max_aspect))))
    pts = pts * np.array([np.sqrt(aspect), 1.0 / np.sqrt(aspect)])
    theta = rng.uniform(0.0, np.pi)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    out: np.ndarray = pts @ rot.T
    return out


def _polygon_area(pts: np.ndarray) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def _raster(pts: np.ndarray, target_px: float) -> np.ndarray:
    """Scale a closed outline ``(N, 2)`` to ``target_px`` area and fill it on a tight canvas."""
    pts = pts - pts.mean(axis=0)
    scale = np.sqrt(target_px / max(_polygon_area(pts), 1e-9))
    pts = pts * scale
    lo = pts.min(axis=0)
    pts = pts - lo + 1.0
    wh = np.ceil(pts.max(axis=0) + 2.0).astype(int)
    canvas = np.zeros((int(wh[1]), int(wh[0])), np.uint8)
    # fillPoly with 4 fractional bits, so the outline is not snapped to whole pixels
    cv2.fillPoly(canvas, [np.rint(pts * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    ys, xs = np.nonzero(canvas)
    if ys.size == 0:
        return np.ones((1, 1), bool)
    return canvas[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(bool)


def blob(target_px: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth random blob of about ``target_px`` pixels on its tight ``(h, w)`` bool canvas.

    The outline is ``r(t) = 1 + sum_k a_k cos(k t + phi_k)`` for ``k = 2..5``, stretched to
    an aspect ratio up to 2 and rotated.
    """
    t = np.linspace(0.0, 2 * np.pi, 180, endpoint=False)
    r = np.ones_like(t)
    for k in range(2, 6):
        r += rng.uniform(0.0, 0.3) / np.sqrt(k - 1) * np.cos(k * t + rng.uniform(0, 2 * np.pi))
    r = np.maximum(r, 0.25)
    pts = np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    return _raster(_rotate_stretch(pts, rng), target_px)


def polygon(target_px: float, rng: np.random.Generator) -> np.ndarray:
    """A random polygon of about ``target_px`` pixels on its tight ``(h, w)`` bool canvas.

    One time in four a rectangle, otherwise a star-shaped polygon with 3–9 vertices
    (sorted random angles, radii in ``[0.45, 1]``); either is stretched and rotated.
    """
    if rng.random() < 0.25:
        pts = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
        return _raster(_rotate_stretch(pts, rng, max_aspect=3.0), target_px)
    n = int(rng.integers(3, 10))
    gaps = rng.uniform(0.4, 1.0, size=n)
    angles = np.cumsum(gaps) / gaps.sum() * 2 * np.pi + rng.uniform(0, 2 * np.pi)
    radii = rng.uniform(0.45, 1.0, size=n)
    pts = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    return _raster(_rotate_stretch(pts, rng), target_px)
