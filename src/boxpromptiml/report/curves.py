"""Pooled pixel curves: precision-recall and ROC over the pixels of a whole dataset.

Pixels of all manipulated images are pooled (like ``micro_f1``); for speed a deterministic
subsample is drawn: each image keeps ``rate`` of its pixels, chosen by a generator seeded
with the image name, so the same run always gives the same curve whatever the order.
A point of a curve is the prediction ``score >= t`` for ``t`` a distinct sampled score,
as in ``sklearn.metrics.precision_recall_curve`` / ``roc_curve``.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import numpy as np


def sample_pixels(
    prob: np.ndarray, mask: np.ndarray, rate: float, name: str, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(scores float32, labels bool)`` of about ``rate`` of the pixels of one image.

    ``prob`` ``(H, W)`` float in ``[0, 1]``; ``mask`` ``(H, W)`` bool. ``rate`` in
    ``(0, 1]``; the pixels kept depend only on ``(seed, name, rate, image size)``.
    """
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"pixel sampling rate must lie in (0, 1], got {rate}")
    p = np.asarray(prob, dtype=np.float32).ravel()
    m = np.asarray(mask, dtype=bool).ravel()
    if p.shape != m.shape:
        raise ValueError(f"map and mask differ in size: {prob.shape} vs {mask.shape}")
    if rate >= 1.0:
        return p.copy(), m.copy()
    k = max(1, math.ceil(rate * p.size))
    rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
    idx = np.sort(rng.choice(p.size, size=k, replace=False, shuffle=False))
    return p[idx], m[idx]


@dataclass
class PixelPool:
    """Accumulates sampled pixels of many images (see :func:`sample_pixels`)."""

    rate: float = 1.0
    seed: int = 0
    _scores: list[np.ndarray] = field(default_factory=list)
    _labels: list[np.ndarray] = field(default_factory=list)

    def add(self, name: str, prob: np.ndarray, mask: np.ndarray) -> None:
        s, lab = sample_pixels(prob, mask, self.rate, name, self.seed)
        self._scores.append(s)
        self._labels.append(lab)

    def __len__(self) -> int:
        return sum(s.size for s in self._scores)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All sampled ``(scores, labels)`` concatenated."""
        if not self._scores:
            return np.zeros(0, np.float32), np.zeros(0, bool)
        return np.concatenate(self._scores), np.concatenate(self._labels)


def _cumulative_counts(
    scores: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True- and false-positive counts of ``scores >= t`` at each distinct ``t``, descending."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=bool).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in length: {s.size} vs {y.size}")
    if s.size == 0:
        raise ValueError("no pixels to build a curve from")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last index of each distinct value
    tps = np.cumsum(y, dtype=np.int64)[last]
    fps = (last + 1) - tps
    return tps, fps, s[last]


@dataclass(frozen=True)
class Curve:
    """One curve: ``x`` and ``y`` arrays, the thresholds of its points, and its area."""

    x: np.ndarray
    y: np.ndarray
    thresholds: np.ndarray
    area: float


def pr_curve(scores: np.ndarray, labels: np.ndarray) -> Curve | None:
    """Precision (``y``) against recall (``x``), recall increasing, starting at
    ``(0, 1)``; ``area`` is the average precision ``sum (R_i - R_{i-1}) P_i``.
    ``None`` when there is no positive pixel."""
    tps, fps, thr = _cumulative_counts(scores, labels)
    if tps[-1] == 0:
        return None
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    x = np.r_[0.0, recall]
    y = np.r_[1.0, precision]
    ap = float(np.sum(np.diff(x) * y[1:]))
    return Curve(x, y, np.r_[np.inf, thr], ap)


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> Curve | None:
    """True-positive rate (``y``) against false-positive rate (``x``) from ``(0, 0)``;
    ``area`` is the ROC AUC (trapezoid rule, ties counted one half). ``None`` unless both
    classes are present."""
    tps, fps, thr = _cumulative_counts(scores, labels)
    if tps[-1] == 0 or fps[-1] == 0:
        return None
    x = np.r_[0.0, fps / fps[-1]]
    y = np.r_[0.0, tps / tps[-1]]
    area = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))
    return Curve(x, y, np.r_[np.inf, thr], area)
