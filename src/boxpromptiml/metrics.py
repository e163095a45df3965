"""Pixel- and image-level scores for manipulation localization.

Conventions (see :mod:`boxpromptiml.data.images`):

* **mask**: ``(H, W)`` ``bool``; ``True`` marks manipulated pixels (the positive class).
* **map** (``prob``): ``(H, W)`` real-valued, every value in ``[0, 1]``; higher means
  "more likely manipulated".
* A pixel is predicted manipulated when ``prob > threshold`` (strictly greater).

The headline number of the paper is the **per-image pixel F1 at threshold 0.5, averaged
over the manipulated images of a dataset**. The other conventions of the field are offered
under their own names:

* ``auc``: per-image pixel ROC AUC (ties count one half, as in
  ``sklearn.metrics.roc_auc_score``); NaN for an image whose mask is constant, and such
  images are skipped (and counted) when averaging.
* ``permuted_f1``: ``max(F1(pred), F1(~pred))``, i.e. the map or its inverse.
* ``best_f1``: the best F1 over every threshold, i.e. over every prediction
  ``prob >= v`` for ``v`` a distinct value of the map, and the empty prediction.
* ``micro_f1`` / ``micro_iou``: dataset-level scores from counts summed over images.
* ``image_auc`` / ``image_balanced_acc``: image-level detection from one score per image
  (:func:`image_score`), only when authentic and manipulated images are both present.

**Zero-denominator rule.** A ratio whose denominator is 0 is ``1.0`` when the prediction
and the mask agree entirely (both empty) and ``0.0`` otherwise. Hence precision is 0.0
when nothing is predicted but the mask is not empty, recall is 0.0 when something is
predicted but the mask is empty, and F1, IoU, precision and recall are all 1.0 when both
are empty. ``best_f1`` of an empty mask is 1.0 (predicting nothing is one of the choices).

Authentic images never enter pixel metrics. Invalid data (shape mismatch, not 2-D, NaN,
values outside ``[0, 1]``) raises :class:`MetricInputError`, a ``ValueError``; invalid
options raise :class:`~boxpromptiml.errors.ConfigError`, also a ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from boxpromptiml.errors import ConfigError, DataError

__all__ = [
    "IMAGE_REDUCTIONS",
    "MEAN_KEYS",
    "Counts",
    "MetricAccumulator",
    "MetricInputError",
    "binary_counts",
    "bootstrap_ci",
    "floor_f1",
    "image_score",
    "pixel_scores",
    "roc_auc",
]

#: Ways to turn a map into one image-level score (see :func:`image_score`): the largest
#: pixel, the mean pixel, or the mean of the largest 1, 5, 10 or 25 % of the pixels.
IMAGE_REDUCTIONS: tuple[str, ...] = ("max", "mean", "top1pct", "top5pct", "top10pct", "top25pct")

#: Per-image pixel scores that :meth:`MetricAccumulator.summary` averages over manipulated
#: images (``auc`` skips images with a constant mask).
MEAN_KEYS: tuple[str, ...] = ("f1", "iou", "precision", "recall", "permuted_f1", "best_f1", "auc")


class MetricInputError(DataError, ValueError):
    """A map, mask or label given to a metric is malformed (shape, dtype, range, NaN)."""


# --------------------------------------------------------------------------- counts


@dataclass(frozen=True)
class Counts:
    """Confusion counts of a binary prediction against a mask (pixels, or images).

    ``tp``: predicted and manipulated; ``fp``: predicted, not manipulated; ``fn``: missed
    manipulated; ``tn``: correctly left out. Ratios follow the zero-denominator rule of the
    module docstring. Counts add up (``a + b``) for dataset-level (micro) scores.
    """

    tp: int
    fp: int
    fn: int
    tn: int

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )

    @property
    def agree(self) -> bool:
        """True when prediction and mask are both empty (no positive anywhere)."""
        return self.tp + self.fp + self.fn == 0

    def _ratio(self, num: int, den: int) -> float:
        if den == 0:
            return 1.0 if self.agree else 0.0
        return num / den

    @property
    def precision(self) -> float:
        """``tp / (tp + fp)`` in ``[0, 1]``."""
        return self._ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        """``tp / (tp + fn)`` in ``[0, 1]``."""
        return self._ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        """``2 tp / (2 tp + fp + fn)`` in ``[0, 1]``."""
        return self._ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def iou(self) -> float:
        """``tp / (tp + fp + fn)`` (Jaccard) in ``[0, 1]``."""
        return self._ratio(self.tp, self.tp + self.fp + self.fn)

    def inverted(self) -> Counts:
        """Counts of the inverted prediction ``~pred`` against the same mask."""
        return Counts(tp=self.fn, fp=self.tn, fn=self.tp, tn=self.fp)


# --------------------------------------------------------------------------- validation


def _check_2d(arr: np.ndarray, what: str) -> None:
    if arr.ndim != 2:
        raise MetricInputError(f"{what} must be 2-D (H, W), got shape {arr.shape}")
    if arr.size == 0:
        raise MetricInputError(f"{what} is empty, shape {arr.shape}")


def _as_map(prob: np.ndarray) -> np.ndarray:
    """Validate a map; return it as a C-contiguous ``float32`` or ``float64`` array."""
    arr = np.asarray(prob)
    _check_2d(arr, "map")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.float32)
    elif not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise MetricInputError(f"map must hold real numbers, got dtype {arr.dtype}")
    lo, hi = arr.min(), arr.max()
    if np.isnan(lo) or np.isnan(hi):
        raise MetricInputError("map contains NaN values")
    if lo < 0 or hi > 1:
        raise MetricInputError(f"map values must lie in [0, 1], got range [{lo:.6g}, {hi:.6g}]")
    # float16, float32 and integers (only 0 and 1 pass the range check) are exact in
    # float32; float64 stays (rounding would create ties); long doubles become float64.
    wide = arr.dtype.kind == "f" and arr.dtype.itemsize >= 8
    return np.ascontiguousarray(arr, dtype=np.float64 if wide else np.float32)


def _as_mask(mask: np.ndarray, shape: tuple[int, ...], what: str = "mask") -> np.ndarray:
    """Validate a mask against a map shape; return it as a C-contiguous ``bool`` array."""
    arr = np.asarray(mask)
    _check_2d(arr, what)
    if arr.shape != shape:
        raise MetricInputError(f"{what} shape {arr.shape} does not match map shape {shape}")
    if arr.dtype != np.bool_:
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise MetricInputError(f"{what} must be boolean, got dtype {arr.dtype}")
        if not np.all((arr == 0) | (arr == 1)):
            raise MetricInputError(f"{what} must be boolean (True = manipulated) or hold only 0/1")
        arr = arr != 0
    return np.ascontiguousarray(arr)


def _check_threshold(threshold: float) -> float:
    try:
        t = float(threshold)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"threshold must be a number in [0, 1], got {threshold!r}") from exc
    if not 0.0 <= t <= 1.0:
        raise ConfigError(f"threshold must be a number in [0, 1], got {threshold!r}")
    return t


def _check_reduce(reduce: str) -> str:
    if reduce not in IMAGE_REDUCTIONS:
        raise ConfigError(
            f"image reduction must be one of {', '.join(IMAGE_REDUCTIONS)}, got {reduce!r}"
        )
    return reduce


# --------------------------------------------------------------------------- ranking core


def _value_groups(prob: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct map value, in ascending order: (#positives, #negatives), both ``int64``.

    ``prob`` is a validated C-contiguous float32/float64 map (values in ``[0, 1]``) and
    ``mask`` a bool array of the same shape. One sort of ``n`` integer keys: for
    non-negative IEEE floats the bit pattern orders like the value, so the key
    ``bits << 1 | label`` sorts by value and carries the label in its lowest bit (it fits:
    values <= 1.0 leave the top two bits free).
    """
    utype = np.uint32 if prob.dtype == np.float32 else np.uint64
    # The shift also drops the sign bit, so -0.0 gets the key of 0.0.
    key = prob.reshape(-1).view(utype) << utype(1)
    key |= mask.reshape(-1).view(np.uint8)
    key.sort()
    n = key.size
    vals = key >> utype(1)
    last = np.flatnonzero(vals[1:] != vals[:-1])  # last index of every group but the final
    del vals
    last = np.append(last, n - 1)
    if n >= 2**32:  # uint32 running count could overflow
        key = key.astype(np.uint64)
    np.bitwise_and(key, utype(1), out=key)
    np.cumsum(key, dtype=key.dtype, out=key)
    pos_upto = key[last].astype(np.int64)
    pos = np.diff(pos_upto, prepend=0)
    size = np.diff(last, prepend=-1).astype(np.int64)
    return pos, size - pos


def _auc_from_groups(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney U / (P N), ties count one half); NaN if a class is absent."""
    n_pos, n_neg = int(pos.sum()), int(neg.sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    neg_below = np.cumsum(neg) - neg
    twice_u = int(np.dot(pos, 2 * neg_below + neg))  # exact in int64
    return twice_u / (2 * n_pos * n_neg)


def _best_f1_from_groups(pos: np.ndarray, neg: np.ndarray) -> float:
    """Best F1 over the predictions ``score >= v`` (every distinct ``v``) and the empty one."""
    n_pos, n_neg = int(pos.sum()), int(neg.sum())
    if n_pos == 0:
        return 1.0  # the empty prediction agrees with the empty mask
    tp = n_pos - (np.cumsum(pos) - pos)  # positives with value >= v
    fp = n_neg - (np.cumsum(neg) - neg)
    return float(np.max(2.0 * tp / (tp + fp + n_pos)))


def roc_auc(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """ROC AUC of 1-D real ``scores`` against binary ``labels`` (1 = positive).

    Exact, ties count one half (as ``sklearn.metrics.roc_auc_score``). Returns NaN when
    only one class is present. Raises :class:`MetricInputError` on length mismatch,
    non-finite scores or labels other than 0/1.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1)
    if s.shape != y.shape:
        raise MetricInputError(f"{s.size} scores but {y.size} labels")
    if not np.all(np.isfinite(s)):
        raise MetricInputError("scores contain NaN or infinite values")
    if not np.all((y == 0) | (y == 1)):
        raise MetricInputError("labels must be 0 or 1")
    if s.size == 0:
        return math.nan
    _, inverse = np.unique(s, return_inverse=True)
    pos = np.bincount(inverse.reshape(-1), weights=(y == 1)).astype(np.int64)
    total = np.bincount(inverse.reshape(-1)).astype(np.int64)
    return _auc_from_groups(pos, total - pos)


# --------------------------------------------------------------------------- per image


def binary_counts(pred: np.ndarray, mask: np.ndarray) -> Counts:
    """Confusion counts of ``pred`` against ``mask``, both ``(H, W)`` bool (or 0/1)."""
    p = _as_mask(np.asarray(pred), np.asarray(pred).shape, "prediction")
    return _counts(p, _as_mask(mask, p.shape))


def _counts(p: np.ndarray, m: np.ndarray) -> Counts:
    n = p.size
    tp = int(np.count_nonzero(p & m))
    n_pred = int(np.count_nonzero(p))
    n_true = int(np.count_nonzero(m))
    return Counts(tp=tp, fp=n_pred - tp, fn=n_true - tp, tn=n - n_pred - n_true + tp)


def pixel_scores(prob: np.ndarray, mask: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Pixel scores of one map against its mask.

    Args:
        prob: ``(H, W)`` map, values in ``[0, 1]`` (float or bool; any real dtype).
        mask: ``(H, W)`` bool, ``True`` = manipulated (0/1 integers are accepted).
        threshold: a pixel is predicted manipulated when ``prob > threshold``.

    Returns:
        ``f1, iou, precision, recall`` of the thresholded prediction (zero-denominator rule
        of the module docstring), ``auc`` (pixel ROC AUC, NaN when the mask is constant),
        ``permuted_f1``, ``best_f1`` (all in ``[0, 1]``), and the raw counts
        ``tp, fp, fn, tn`` (ints).

    Cost: one sort of ``H * W`` integer keys, shared by ``auc`` and ``best_f1``.
    """
    t = _check_threshold(threshold)
    p = _as_map(prob)
    return _pixel_scores(p, _as_mask(mask, p.shape), t)


def _pixel_scores(p: np.ndarray, m: np.ndarray, t: float) -> dict[str, float]:
    """:func:`pixel_scores` on an already validated map ``p`` and mask ``m``."""
    c = _counts(p > t, m)
    pos, neg = _value_groups(p, m)
    return {
        "f1": c.f1,
        "iou": c.iou,
        "precision": c.precision,
        "recall": c.recall,
        "auc": _auc_from_groups(pos, neg),
        "permuted_f1": max(c.f1, c.inverted().f1),
        "best_f1": _best_f1_from_groups(pos, neg),
        "tp": c.tp,
        "fp": c.fp,
        "fn": c.fn,
        "tn": c.tn,
    }


def image_score(prob: np.ndarray, reduce: str = "max") -> float:
    """One image-level score in ``[0, 1]`` from an ``(H, W)`` map in ``[0, 1]``.

    ``reduce``: ``"max"`` (largest pixel), ``"mean"`` (mean pixel) or ``"top<q>pct"`` for
    ``q`` in 1, 5, 10, 25 (mean of the ``ceil(q %)`` largest pixels, at least one).
    """
    return _image_score(_as_map(prob), _check_reduce(reduce))


def _image_score(prob: np.ndarray, reduce: str) -> float:
    """:func:`image_score` on an already validated map."""
    p = prob.reshape(-1)
    if reduce == "max":
        return float(p.max())
    if reduce == "mean":
        return float(p.mean(dtype=np.float64))
    share = int(reduce[len("top") : -len("pct")])  # "top5pct" -> 5 (validated names only)
    k = max(1, math.ceil(p.size * share / 100))
    return float(np.partition(p, p.size - k)[p.size - k :].mean(dtype=np.float64))


# --------------------------------------------------------------------------- bootstrap


def floor_f1(mask: np.ndarray) -> float:
    """F1 of the trivial map "every pixel manipulated" against ``mask`` (``(H, W)``,
    bool or {0, 1}): ``2|m| / (|m| + H·W)``. The mean over a set's manipulated images is the
    floor a localizer must beat (it scores without looking at the image)."""
    m = np.asarray(mask) > 0
    _check_2d(m, "mask")
    pos, total = int(m.sum()), int(m.size)
    return 2.0 * pos / (pos + total) if total else math.nan


def _floor_from_counts(scores: dict[str, float]) -> float:
    pos = scores["tp"] + scores["fn"]
    total = scores["tp"] + scores["fp"] + scores["fn"] + scores["tn"]
    return 2.0 * pos / (pos + total) if total else math.nan


def bootstrap_ci(
    values: Iterable[float] | np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of per-image ``values``.

    NaN values are dropped first (e.g. ``auc`` of constant masks). Returns the
    ``alpha / 2`` and ``1 - alpha / 2`` quantiles of ``n_boot`` resampled means
    (``(nan, nan)`` when no value is left). Deterministic for a given ``seed``.
    """
    if int(n_boot) != n_boot or n_boot < 1:
        raise ConfigError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    v = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, np.float64)
    v = v.reshape(-1)
    v = v[~np.isnan(v)]
    n = v.size
    if n == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = np.empty(int(n_boot), dtype=np.float64)
    chunk = max(1, 2_000_000 // n)  # bounds the index matrix to ~16 MB
    for start in range(0, int(n_boot), chunk):
        stop = min(int(n_boot), start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = v[idx].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


# --------------------------------------------------------------------------- dataset


@dataclass(frozen=True)
class _Record:
    name: str
    label: int
    image_score: float
    scores: dict[str, float] | None  # pixel scores; None for authentic images
    flagged: float = 0.0  # share of pixels above the threshold


class MetricAccumulator:
    """Collects per-image scores of a dataset and summarises them.

    Args:
        threshold: pixel threshold (``prob > threshold``), also used for image-level
            balanced accuracy (``image_score > threshold``).
        image_reduce: how :func:`image_score` reduces a map (one of
            :data:`IMAGE_REDUCTIONS`).

    Image names must be unique; :meth:`merge` combines accumulators from several
    workers (``skip_duplicates=True`` drops the repeated tail samples that a distributed
    sampler pads with).
    """

    def __init__(self, threshold: float = 0.5, image_reduce: str = "max") -> None:
        self.threshold = _check_threshold(threshold)
        self.image_reduce = _check_reduce(image_reduce)
        self._records: list[_Record] = []
        self._names: set[str] = set()

    def __len__(self) -> int:
        return len(self._records)

    def update(self, name: str, prob: np.ndarray, mask: np.ndarray | None, label: int) -> None:
        """Score one image.

        Args:
            name: unique image identifier (used in error messages and rows).
            prob: ``(H, W)`` map in ``[0, 1]``.
            mask: ``(H, W)`` bool, ``True`` = manipulated. Required for a manipulated
                image; for an authentic one it may be ``None`` or all ``False``.
            label: 1 = manipulated, 0 = authentic.
        """
        if name in self._names:
            raise MetricInputError(f"{name}: image already recorded")
        if label not in (0, 1):
            raise MetricInputError(f"{name}: label must be 0 (authentic) or 1, got {label!r}")
        try:
            p = _as_map(prob)
            score = _image_score(p, self.image_reduce)
            scores: dict[str, float] | None = None
            if label == 1:
                if mask is None:
                    raise MetricInputError("a manipulated image needs a mask")
                scores = _pixel_scores(p, _as_mask(mask, p.shape), self.threshold)
            elif mask is not None and np.any(_as_mask(mask, p.shape)):
                raise MetricInputError("authentic image (label 0) has manipulated mask pixels")
        except MetricInputError as exc:
            raise MetricInputError(f"{name}: {exc}") from exc
        flagged = float(np.mean(p > self.threshold))
        self._records.append(_Record(name, int(label), score, scores, flagged))
        self._names.add(name)

    def merge(self, other: MetricAccumulator, skip_duplicates: bool = False) -> MetricAccumulator:
        """Add the images of ``other`` (same threshold and reduction) to this one; returns self.

        A name present in both raises :class:`MetricInputError` unless ``skip_duplicates``,
        which keeps this accumulator's record.
        """
        if other is self:
            raise ConfigError("cannot merge an accumulator into itself")
        if (other.threshold, other.image_reduce) != (self.threshold, self.image_reduce):
            raise ConfigError(
                f"cannot merge accumulators with different settings: threshold "
                f"{self.threshold} / {other.threshold}, image_reduce "
                f"{self.image_reduce} / {other.image_reduce}"
            )
        dup = [r.name for r in other._records if r.name in self._names]
        if dup and not skip_duplicates:
            raise MetricInputError(f"{dup[0]}: image recorded in both accumulators")
        for r in other._records:
            if r.name not in self._names:
                self._records.append(r)
                self._names.add(r.name)
        return self

    @property
    def rows(self) -> list[dict[str, str | int | float]]:
        """One dict per image, in insertion order: ``name``, ``label``, ``image_score`` and,
        for manipulated images, every key of :func:`pixel_scores`."""
        out: list[dict[str, str | int | float]] = []
        for r in self._records:
            row: dict[str, str | int | float] = {
                "name": r.name,
                "label": r.label,
                "image_score": r.image_score,
            }
            if r.scores is not None:
                row.update(r.scores)
            out.append(row)
        return out

    def values(self, key: str) -> np.ndarray:
        """Per-image values of pixel score ``key`` over manipulated images (``float64``)."""
        keys = (*MEAN_KEYS, "tp", "fp", "fn", "tn")
        if key not in keys:
            raise ConfigError(f"unknown pixel score {key!r}; choose from {', '.join(keys)}")
        return np.array(
            [r.scores[key] for r in self._records if r.scores is not None], dtype=np.float64
        )

    def summary(self, ci: bool = False, n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
        """Dataset summary.

        Keys (always all present):

        * ``n_manipulated``, ``n_authentic`` (ints).
        * ``f1, iou, precision, recall, permuted_f1, best_f1``: means over manipulated
          images (NaN when there are none).
        * ``auc``: mean over manipulated images with a non-constant mask;
          ``auc_skipped``: how many were skipped (int).
        * ``micro_f1, micro_iou, micro_precision, micro_recall``: from counts summed over
          manipulated images (NaN when there are none).
        * ``image_auc``, ``image_balanced_acc``: image-level ROC AUC of
          :func:`image_score` against labels and balanced accuracy of
          ``image_score > threshold``; NaN unless both classes are present.

        * ``floor_f1``: mean F1 of the trivial map "every pixel manipulated" over the
          manipulated images (:func:`floor_f1`), the figure a model must beat.
        * ``authentic_flagged``: mean share of pixels above ``threshold`` on authentic
          images; ``authentic_over_1pct``: share of authentic images with more than 1 %
          flagged (NaN without authentic images): false alarms a user would see.

        With ``ci=True``, each mean key ``k`` also gets ``k_ci_lo`` / ``k_ci_hi``, a 95 %
        bootstrap interval (:func:`bootstrap_ci`).
        """
        manip = [r.scores for r in self._records if r.scores is not None]
        n_auth = len(self._records) - len(manip)
        out: dict[str, float] = {"n_manipulated": len(manip), "n_authentic": n_auth}
        for key in MEAN_KEYS:
            vals = self.values(key)
            if key == "auc":
                finite = vals[~np.isnan(vals)]
                out["auc"] = float(finite.mean()) if finite.size else math.nan
                out["auc_skipped"] = int(vals.size - finite.size)
            else:
                out[key] = float(vals.mean()) if vals.size else math.nan
            if ci:
                out[f"{key}_ci_lo"], out[f"{key}_ci_hi"] = bootstrap_ci(vals, n_boot, seed)
        total = Counts(0, 0, 0, 0)
        for s in manip:
            total = total + Counts(int(s["tp"]), int(s["fp"]), int(s["fn"]), int(s["tn"]))
        for key in ("f1", "iou", "precision", "recall"):
            out[f"micro_{key}"] = getattr(total, key) if manip else math.nan
        out["image_auc"], out["image_balanced_acc"] = self._image_level()
        floors = [_floor_from_counts(s) for s in manip]
        out["floor_f1"] = float(np.mean(floors)) if floors else math.nan
        flagged = np.array([r.flagged for r in self._records if r.scores is None])
        out["authentic_flagged"] = float(flagged.mean()) if flagged.size else math.nan
        out["authentic_over_1pct"] = float((flagged > 0.01).mean()) if flagged.size else math.nan
        return out

    def _image_level(self) -> tuple[float, float]:
        labels = np.array([r.label for r in self._records], dtype=np.int64)
        scores = np.array([r.image_score for r in self._records], dtype=np.float64)
        if labels.size == 0 or labels.min() == labels.max():
            return math.nan, math.nan
        pred = scores > self.threshold
        c = Counts(
            tp=int(np.sum(pred & (labels == 1))),
            fp=int(np.sum(pred & (labels == 0))),
            fn=int(np.sum(~pred & (labels == 1))),
            tn=int(np.sum(~pred & (labels == 0))),
        )
        specificity = c.tn / (c.tn + c.fp)
        return roc_auc(scores, labels), (c.recall + specificity) / 2
