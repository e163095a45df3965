"""Metrics checked against scikit-learn on seeded random maps, plus edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import (
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    jaccard_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)

from boxpromptiml.errors import BoxPromptError
from boxpromptiml.metrics import (
    IMAGE_REDUCTIONS,
    Counts,
    MetricAccumulator,
    MetricInputError,
    binary_counts,
    bootstrap_ci,
    image_score,
    pixel_scores,
    roc_auc,
)

TOL = 1e-6

# --------------------------------------------------------------------------- helpers


def make_mask(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A rectangle plus scattered pixels, so neither class is trivial."""
    h, w = shape
    mask = rng.random(shape) < 0.05
    y0, x0 = rng.integers(0, h), rng.integers(0, w)
    mask[y0 : y0 + max(1, h // 3), x0 : x0 + max(1, w // 3)] = True
    return mask


def make_map(rng: np.random.Generator, mask: np.ndarray, kind: str) -> np.ndarray:
    """Maps of several kinds: continuous, quantised (ties), float64, informative."""
    noise = rng.random(mask.shape)
    if kind == "uniform32":
        return noise.astype(np.float32)
    if kind == "quant255":
        return (np.round(noise * 255) / 255).astype(np.float32)
    if kind == "quant4":
        return (np.round(noise * 4) / 4).astype(np.float32)
    if kind == "float64":
        return noise
    if kind == "informative":
        return np.clip(0.6 * mask + 0.5 * noise - 0.05, 0.0, 1.0).astype(np.float32)
    raise AssertionError(kind)


def reference(prob: np.ndarray, mask: np.ndarray, threshold: float) -> dict[str, float]:
    """The same scores from scikit-learn, with the module's zero-denominator rule."""
    y = mask.ravel()
    s = prob.ravel()
    pred = s > threshold

    def zd(p: np.ndarray) -> float:  # 1.0 when prediction and mask are both empty
        return 1.0 if not y.any() and not p.any() else 0.0

    out: dict[str, float] = {
        "f1": f1_score(y, pred, zero_division=zd(pred)),
        "iou": jaccard_score(y, pred, zero_division=zd(pred)),
        "precision": precision_score(y, pred, zero_division=zd(pred)),
        "recall": recall_score(y, pred, zero_division=zd(pred)),
        "permuted_f1": max(
            f1_score(y, pred, zero_division=zd(pred)), f1_score(y, ~pred, zero_division=zd(~pred))
        ),
        "auc": roc_auc_score(y, s) if 0 < y.sum() < y.size else math.nan,
    }
    if y.any():
        p, r, _ = precision_recall_curve(y, s)
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.nan_to_num(2 * p * r / (p + r))
        out["best_f1"] = float(f.max())
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[False, True]).ravel()
    out.update(tp=tp, fp=fp, fn=fn, tn=tn)
    return out


def assert_scores_match(got: dict[str, float], want: dict[str, float]) -> None:
    for key, value in want.items():
        if math.isnan(value):
            assert math.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(value, abs=TOL), key


# --------------------------------------------------------------------------- pixel scores vs sklearn

KINDS = ["uniform32", "quant255", "quant4", "float64", "informative"]
SHAPES = [(17, 23), (64, 64), (5, 200), (120, 31)]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_pixel_scores_match_sklearn(seed: int, kind: str, threshold: float) -> None:
    rng = np.random.default_rng(seed)
    shape = SHAPES[seed % len(SHAPES)]
    mask = make_mask(rng, shape)
    prob = make_map(rng, mask, kind)
    got = pixel_scores(prob, mask, threshold)
    want = reference(prob, mask, threshold)
    assert set(want) <= set(got)
    assert_scores_match(got, want)
    assert isinstance(got["tp"], int)


def test_pixel_scores_larger_map_matches_sklearn() -> None:
    rng = np.random.default_rng(7)
    mask = make_mask(rng, (300, 400))
    prob = make_map(rng, mask, "informative")
    assert_scores_match(pixel_scores(prob, mask), reference(prob, mask, 0.5))


def test_float64_map_is_not_rounded_to_float32() -> None:
    # Values that collapse to one float32 must stay distinct: rounding would create ties.
    rng = np.random.default_rng(3)
    mask = make_mask(rng, (20, 30))
    prob = 0.5 + rng.random(mask.shape) * 1e-9
    assert len(np.unique(prob.astype(np.float32))) < len(np.unique(prob)) / 2
    got = pixel_scores(prob, mask)
    assert got["auc"] == pytest.approx(roc_auc_score(mask.ravel(), prob.ravel()), abs=1e-12)
    assert_scores_match(got, reference(prob, mask, 0.5))
    assert pixel_scores(prob.astype(">f8"), mask) == got  # byte order does not matter
    assert pixel_scores(prob[::-1, ::-1], mask[::-1, ::-1]) == got  # nor memory layout


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_negative_zero_ranks_as_zero(dtype: type) -> None:
    mask = np.array([[True, False, True, False, False, True]])
    prob = np.array([[-0.0, -0.0, 0.4, 0.2, 0.0, 0.1]], dtype=dtype)
    got = pixel_scores(prob, mask)
    assert got["auc"] == pytest.approx(roc_auc_score(mask.ravel(), np.abs(prob.ravel())))
    assert got == pixel_scores(np.abs(prob), mask)


def test_best_f1_is_at_least_f1_at_any_threshold() -> None:
    rng = np.random.default_rng(11)
    mask = make_mask(rng, (40, 50))
    prob = make_map(rng, mask, "quant255")
    best = pixel_scores(prob, mask)["best_f1"]
    for t in np.linspace(0, 1, 21):
        assert pixel_scores(prob, mask, float(t))["f1"] <= best + 1e-12


def test_permuted_f1_of_inverted_map() -> None:
    rng = np.random.default_rng(5)
    mask = make_mask(rng, (30, 40))
    prob = make_map(rng, mask, "informative")
    inv = (1.0 - prob).astype(np.float32)
    got = pixel_scores(inv, mask)
    # the inverted map scores badly at 0.5 but its complement is good again
    assert got["f1"] < got["permuted_f1"]
    y = mask.ravel()
    want = max(f1_score(y, inv.ravel() > 0.5), f1_score(y, ~(inv.ravel() > 0.5)))
    assert got["permuted_f1"] == pytest.approx(want, abs=TOL)


def test_binary_counts_match_confusion_matrix() -> None:
    rng = np.random.default_rng(2)
    pred = rng.random((13, 9)) < 0.4
    mask = rng.random((13, 9)) < 0.3
    tn, fp, fn, tp = confusion_matrix(mask.ravel(), pred.ravel(), labels=[False, True]).ravel()
    assert binary_counts(pred, mask) == Counts(tp=tp, fp=fp, fn=fn, tn=tn)
    assert binary_counts(pred.astype(np.uint8), mask.astype(int)) == Counts(tp, fp, fn, tn)


# --------------------------------------------------------------------------- edge cases


def test_empty_mask_with_prediction() -> None:
    mask = np.zeros((8, 10), bool)
    prob = np.zeros((8, 10), np.float32)
    prob[2:4, 2:4] = 0.9
    s = pixel_scores(prob, mask)
    assert (s["f1"], s["iou"], s["precision"], s["recall"]) == (0.0, 0.0, 0.0, 0.0)
    assert s["permuted_f1"] == 0.0
    assert math.isnan(s["auc"])
    assert s["best_f1"] == 1.0  # predicting nothing (threshold above 0.9) is a choice
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (0, 4, 0, 76)


def test_empty_mask_and_empty_prediction_agree() -> None:
    mask = np.zeros((6, 7), bool)
    prob = np.full((6, 7), 0.2, np.float32)
    s = pixel_scores(prob, mask)
    assert (s["f1"], s["iou"], s["precision"], s["recall"]) == (1.0, 1.0, 1.0, 1.0)
    assert s["best_f1"] == 1.0
    assert math.isnan(s["auc"])
    assert_scores_match(s, reference(prob, mask, 0.5))


def test_full_mask() -> None:
    rng = np.random.default_rng(4)
    mask = np.ones((9, 11), bool)
    prob = rng.random((9, 11)).astype(np.float32)
    s = pixel_scores(prob, mask)
    assert math.isnan(s["auc"])
    assert s["precision"] == 1.0
    assert s["best_f1"] == 1.0
    assert_scores_match(s, reference(prob, mask, 0.5))


def test_constant_map_with_mixed_mask() -> None:
    rng = np.random.default_rng(8)
    mask = make_mask(rng, (12, 15))
    n_pos, n = int(mask.sum()), mask.size
    prob = np.full(mask.shape, 0.7, np.float32)
    s = pixel_scores(prob, mask)
    assert s["auc"] == 0.5
    assert s["best_f1"] == pytest.approx(2 * n_pos / (n_pos + n))
    assert s["f1"] == pytest.approx(s["best_f1"])
    assert_scores_match(s, reference(prob, mask, 0.5))


def test_threshold_is_strict() -> None:
    mask = np.array([[True, False], [True, True]])
    s = pixel_scores(np.full((2, 2), 0.5), mask)
    assert s["tp"] == 0 and s["fp"] == 0
    assert s["precision"] == 0.0 and s["f1"] == 0.0


@pytest.mark.parametrize(
    ("value", "label", "f1", "permuted", "best"),
    [(0.9, True, 1.0, 1.0, 1.0), (0.2, True, 0.0, 1.0, 1.0), (0.9, False, 0.0, 1.0, 1.0)],
)
def test_one_pixel_image(
    value: float, label: bool, f1: float, permuted: float, best: float
) -> None:
    s = pixel_scores(np.array([[value]]), np.array([[label]]))
    assert (s["f1"], s["permuted_f1"], s["best_f1"]) == (f1, permuted, best)
    assert math.isnan(s["auc"])


def test_all_zero_prediction_on_nonempty_mask() -> None:
    rng = np.random.default_rng(9)
    mask = make_mask(rng, (10, 25))
    prob = np.zeros(mask.shape, np.float32)
    s = pixel_scores(prob, mask)
    assert (s["f1"], s["iou"], s["precision"], s["recall"]) == (0.0, 0.0, 0.0, 0.0)
    n_pos = int(mask.sum())
    assert s["permuted_f1"] == pytest.approx(2 * n_pos / (n_pos + mask.size))
    assert s["auc"] == 0.5
    assert_scores_match(s, reference(prob, mask, 0.5))


def test_bool_and_integer_maps_are_accepted() -> None:
    mask = np.array([[True, False, True], [False, False, True]])
    prob = np.array([[1, 0, 0], [1, 0, 1]], dtype=np.uint8)
    want = pixel_scores(prob.astype(np.float64), mask)
    assert pixel_scores(prob, mask) == want
    assert pixel_scores(prob.astype(bool), mask) == want


# --------------------------------------------------------------------------- invalid input


@pytest.mark.parametrize(
    ("prob", "mask", "match"),
    [
        (np.zeros((4, 5)), np.zeros((5, 4), bool), "does not match"),
        (np.zeros((4, 5, 1)), np.zeros((4, 5), bool), "2-D"),
        (np.zeros(5), np.zeros(5, bool), "2-D"),
        (np.zeros((0, 5)), np.zeros((0, 5), bool), "empty"),
        (np.full((3, 3), np.nan), np.zeros((3, 3), bool), "NaN"),
        (np.full((3, 3), 1.01), np.zeros((3, 3), bool), r"\[0, 1\]"),
        (np.full((3, 3), -0.1), np.zeros((3, 3), bool), r"\[0, 1\]"),
        (np.full((3, 3), np.inf), np.zeros((3, 3), bool), r"\[0, 1\]"),
        (np.full((3, 3), 255, np.uint8), np.zeros((3, 3), bool), r"\[0, 1\]"),
        (np.array([["a", "b"]]), np.zeros((1, 2), bool), "dtype"),
        (np.zeros((3, 3)), np.full((3, 3), 2), "0/1"),
        (np.zeros((3, 3)), np.zeros((3, 3, 3), bool), "2-D"),
    ],
)
def test_invalid_input_raises_value_error(prob: np.ndarray, mask: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        pixel_scores(prob, mask)
    assert isinstance(info.value, MetricInputError)
    assert isinstance(info.value, BoxPromptError)


@pytest.mark.parametrize("threshold", [1.5, -0.1, math.nan, "high"])
def test_invalid_threshold_raises(threshold: object) -> None:
    with pytest.raises(ValueError, match="threshold"):
        pixel_scores(np.zeros((2, 2)), np.zeros((2, 2), bool), threshold)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threshold"):
        MetricAccumulator(threshold=threshold)  # type: ignore[arg-type]


def test_binary_counts_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="does not match"):
        binary_counts(np.zeros((2, 3), bool), np.zeros((3, 2), bool))


# --------------------------------------------------------------------------- image score


def test_image_score_reductions() -> None:
    rng = np.random.default_rng(6)
    prob = rng.random((10, 23)).astype(np.float32)  # 230 pixels: top 1 % = 3 pixels
    assert image_score(prob, "max") == pytest.approx(float(prob.max()))
    assert image_score(prob) == image_score(prob, "max")
    assert image_score(prob, "mean") == pytest.approx(float(prob.astype(np.float64).mean()))
    top3 = np.sort(prob.ravel())[-3:].astype(np.float64).mean()
    assert image_score(prob, "top1pct") == pytest.approx(float(top3))
    assert image_score(np.array([[0.25]]), "top1pct") == 0.25
    # the top 5 / 10 / 25 % of the pixels: ceil(share * n) of them, at least one
    ranked = np.sort(prob.ravel())[::-1].astype(np.float64)
    for name, share in (("top5pct", 5), ("top10pct", 10), ("top25pct", 25)):
        k = max(1, -(-ranked.size * share // 100))
        assert image_score(prob, name) == pytest.approx(float(ranked[:k].mean()))
    assert image_score(prob, "top25pct") < image_score(prob, "top5pct") < image_score(prob, "max")


def test_image_score_invalid() -> None:
    with pytest.raises(ValueError, match="image reduction"):
        image_score(np.zeros((2, 2)), "median")
    with pytest.raises(ValueError, match="NaN"):
        image_score(np.full((2, 2), np.nan))


# --------------------------------------------------------------------------- roc_auc helper


def test_roc_auc_matches_sklearn_with_ties_and_any_real_scores() -> None:
    rng = np.random.default_rng(12)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.normal(size=300) + labels, 1)  # negative values and ties
    assert roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert math.isnan(roc_auc([0.1, 0.2], [1, 1]))
    with pytest.raises(ValueError):
        roc_auc([0.1, 0.2], [1, 2])
    with pytest.raises(ValueError):
        roc_auc([0.1], [1, 0])


# --------------------------------------------------------------------------- accumulator


def make_dataset(
    seed: int, n_manip: int = 8, n_auth: int = 5
) -> list[tuple[str, np.ndarray, np.ndarray | None, int]]:
    rng = np.random.default_rng(seed)
    items: list[tuple[str, np.ndarray, np.ndarray | None, int]] = []
    for i in range(n_manip):
        shape = SHAPES[i % len(SHAPES)]
        mask = make_mask(rng, shape)
        prob = make_map(rng, mask, KINDS[i % len(KINDS)])
        items.append((f"m{i}", prob, mask, 1))
    for i in range(n_auth):
        prob = (rng.random((16, 18)) * rng.uniform(0.3, 1.0)).astype(np.float32)
        items.append((f"a{i}", prob, None if i % 2 else np.zeros((16, 18), bool), 0))
    return items


def fill(
    acc: MetricAccumulator, items: list[tuple[str, np.ndarray, np.ndarray | None, int]]
) -> None:
    for name, prob, mask, label in items:
        acc.update(name, prob, mask, label)


def test_summary_matches_sklearn_and_ignores_authentic_images() -> None:
    items = make_dataset(0)
    acc = MetricAccumulator()
    fill(acc, items)
    s = acc.summary()
    manip = [(p, m) for _, p, m, label in items if label == 1 and m is not None]
    refs = [reference(p, m, 0.5) for p, m in manip]
    assert s["n_manipulated"] == 8 and s["n_authentic"] == 5
    for key in ("f1", "iou", "precision", "recall", "permuted_f1", "best_f1", "auc"):
        assert s[key] == pytest.approx(np.mean([r[key] for r in refs]), abs=TOL), key
    assert s["auc_skipped"] == 0
    # dataset-level (micro) scores: all manipulated pixels pooled
    y = np.concatenate([m.ravel() for _, m in manip])
    pred = np.concatenate([p.ravel() > 0.5 for p, _ in manip])
    assert s["micro_f1"] == pytest.approx(f1_score(y, pred), abs=TOL)
    assert s["micro_iou"] == pytest.approx(jaccard_score(y, pred), abs=TOL)
    assert s["micro_precision"] == pytest.approx(precision_score(y, pred), abs=TOL)
    assert s["micro_recall"] == pytest.approx(recall_score(y, pred), abs=TOL)
    # micro differs from the per-image mean on this data, so the test tells them apart
    assert abs(s["micro_f1"] - s["f1"]) > 1e-3


def test_authentic_images_do_not_change_pixel_scores() -> None:
    items = make_dataset(1)
    only_manip = MetricAccumulator()
    fill(only_manip, [it for it in items if it[3] == 1])
    both = MetricAccumulator()
    fill(both, items)
    a, b = only_manip.summary(), both.summary()
    for key in ("f1", "iou", "auc", "best_f1", "permuted_f1", "micro_f1", "micro_iou"):
        assert a[key] == b[key], key
    assert "f1" not in both.rows[-1] and both.rows[-1]["label"] == 0
    name, prob, mask, _ = items[0]
    assert mask is not None and both.rows[0]["name"] == name
    assert both.rows[0]["f1"] == pytest.approx(reference(prob, mask, 0.5)["f1"], abs=TOL)


@pytest.mark.parametrize("reduce", IMAGE_REDUCTIONS)
def test_image_level_scores_match_sklearn(reduce: str) -> None:
    items = make_dataset(2, n_manip=10, n_auth=9)
    acc = MetricAccumulator(threshold=0.5, image_reduce=reduce)
    fill(acc, items)
    labels = np.array([label for *_, label in items])
    scores = np.array([image_score(p, reduce) for _, p, _, _ in items])
    assert [r["image_score"] for r in acc.rows] == pytest.approx(list(scores))
    s = acc.summary()
    assert s["image_auc"] == pytest.approx(roc_auc_score(labels, scores), abs=TOL)
    assert s["image_balanced_acc"] == pytest.approx(
        balanced_accuracy_score(labels, scores > 0.5), abs=TOL
    )


def test_image_level_is_nan_with_one_class_and_summary_of_nothing() -> None:
    acc = MetricAccumulator()
    fill(acc, make_dataset(3, n_manip=3, n_auth=0))
    s = acc.summary()
    assert math.isnan(s["image_auc"]) and math.isnan(s["image_balanced_acc"])
    empty = MetricAccumulator().summary()
    assert empty["n_manipulated"] == 0 and empty["n_authentic"] == 0
    assert all(math.isnan(empty[k]) for k in ("f1", "auc", "micro_f1", "image_auc"))


def test_auc_mean_skips_constant_masks() -> None:
    rng = np.random.default_rng(4)
    acc = MetricAccumulator()
    mask = make_mask(rng, (20, 20))
    prob = make_map(rng, mask, "informative")
    acc.update("ok", prob, mask, 1)
    acc.update("empty", prob, np.zeros_like(mask), 1)
    acc.update("full", prob, np.ones_like(mask), 1)
    s = acc.summary()
    assert s["auc_skipped"] == 2
    assert s["auc"] == pytest.approx(roc_auc_score(mask.ravel(), prob.ravel()), abs=TOL)
    assert s["n_manipulated"] == 3  # still counted in the other means
    assert s["f1"] == pytest.approx(np.mean(acc.values("f1")))
    assert acc.values("f1").shape == (3,)


def test_merge_equals_single_accumulator() -> None:
    items = make_dataset(5)
    single = MetricAccumulator(0.4, "top1pct")
    fill(single, items)
    parts = [MetricAccumulator(0.4, "top1pct") for _ in range(3)]
    for i, item in enumerate(items):
        fill(parts[i % 3], [item])
    merged = parts[0].merge(parts[1]).merge(parts[2])
    assert len(merged) == len(single)
    assert sorted(merged.rows, key=lambda r: str(r["name"])) == sorted(
        single.rows, key=lambda r: str(r["name"])
    )
    a, b = merged.summary(), single.summary()
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == pytest.approx(b[key], abs=1e-12, nan_ok=True), key


def test_merge_duplicates_and_settings() -> None:
    items = make_dataset(6, n_manip=3, n_auth=1)
    a, b = MetricAccumulator(), MetricAccumulator()
    fill(a, items[:3])
    fill(b, items[2:])  # items[2] in both, as a distributed sampler's padding would do
    with pytest.raises(ValueError, match="m2"):
        a.merge(b)
    assert len(a) == 3  # a failed merge changes nothing
    a.merge(b, skip_duplicates=True)
    assert len(a) == 4
    with pytest.raises(ValueError, match="threshold"):
        MetricAccumulator(0.5).merge(MetricAccumulator(0.3))


def test_update_rejects_bad_records() -> None:
    acc = MetricAccumulator()
    prob = np.full((4, 4), 0.3)
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = True
    acc.update("x", prob, mask, 1)
    with pytest.raises(ValueError, match="x: image already recorded"):
        acc.update("x", prob, mask, 1)
    with pytest.raises(ValueError, match="label"):
        acc.update("y", prob, mask, 2)
    with pytest.raises(ValueError, match="needs a mask"):
        acc.update("y", prob, None, 1)
    with pytest.raises(ValueError, match="authentic"):
        acc.update("y", prob, mask, 0)
    with pytest.raises(ValueError, match=r"^y: mask shape"):
        acc.update("y", prob, np.zeros((3, 4), bool), 1)
    with pytest.raises(ValueError, match="image reduction"):
        MetricAccumulator(image_reduce="median")
    with pytest.raises(ValueError, match="unknown pixel score"):
        acc.values("nope")
    assert len(acc) == 1


def test_summary_with_confidence_intervals() -> None:
    acc = MetricAccumulator()
    fill(acc, make_dataset(7, n_manip=12, n_auth=0))
    s = acc.summary(ci=True, n_boot=200)
    for key in ("f1", "iou", "auc", "best_f1"):
        assert s[f"{key}_ci_lo"] <= s[key] <= s[f"{key}_ci_hi"], key
        assert s[f"{key}_ci_lo"] < s[f"{key}_ci_hi"], key


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_properties() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(0.6, 0.1, size=400)
    lo, hi = bootstrap_ci(values)
    assert (lo, hi) == bootstrap_ci(values)  # deterministic for a seed
    assert (lo, hi) != bootstrap_ci(values, seed=1)
    # close to the normal-theory interval mean ± 1.96 s / sqrt(n)
    half = 1.96 * values.std(ddof=1) / math.sqrt(values.size)
    assert lo == pytest.approx(values.mean() - half, abs=0.2 * half)
    assert hi == pytest.approx(values.mean() + half, abs=0.2 * half)
    narrow = bootstrap_ci(values, alpha=0.5)
    assert lo < narrow[0] < narrow[1] < hi
    with_nan = np.concatenate([values, [np.nan, np.nan]])
    assert bootstrap_ci(with_nan) == (lo, hi)
    assert bootstrap_ci([0.3, 0.3, 0.3]) == pytest.approx((0.3, 0.3))
    assert all(math.isnan(x) for x in bootstrap_ci([]))


def test_bootstrap_ci_invalid_options() -> None:
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_ci([0.1, 0.2], alpha=1.5)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ci([0.1, 0.2], n_boot=0)
