"""A learned image score: logistic regression on statistics of the map, fit on synthetic data.

    python benchmarks/image_head.py MODEL [--label NAME] [--n 600] [--authentic 600] [--seed 1]

The shipped students report one reduction of their map as the image score (the map's mean
for general-v3). This study asks whether a small learned head over several statistics of
the map (:func:`map_features`: its mean, maximum, top 1/5/10/25 % means, share above 0.3
and 0.5, standard deviation, largest and number of blobs above 0.5) separates forged from
untouched photos better, without fitting on any real image:

1. a head-training set is synthesised with the general recipe's settings from the recipe's
   training photos with another seed (``--seed``, default 1; the students trained on seed
   0): ``--n`` forgeries and ``--authentic`` untouched photos, cached under
   ``runs/image-head/`` (resumable);
2. MODEL predicts each with its packaged settings; a standardised logistic regression
   (scikit-learn) is fit on the features, forged against untouched;
3. MODEL predicts the real sets of ``benchmarks/realworld.py`` (development sets
   coverage-train, casia2 and mixed, then coverage-test, and the 51 held-out untouched
   photos); the image AUC of the head and of each reduction is reported per set and with
   the development sets' forged images pooled.

Writes ``benchmarks/results/image-head-<label>.json`` (the fitted coefficients included).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import run_name
from _wild import photo_split
from realworld import DEVELOPMENT, each_map

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

#: names of the columns of :func:`map_features`, in order
FEATURES = (
    "mean", "max", "top1pct", "top5pct", "top10pct", "top25pct",
    "over_0.3", "over_0.5", "std", "largest_blob", "blobs",
)  # fmt: skip


def map_features(prob: np.ndarray) -> np.ndarray:
    """``(len(FEATURES),)`` float64 statistics of an ``(H, W)`` map in ``[0, 1]``; shares and
    means are log-scaled (``log(x + 1e-4)``) so that the head sees their order of magnitude;
    ``largest_blob`` is the largest 8-connected component of ``prob > 0.5`` as a share of the
    image, ``blobs`` ``log(1 + count)`` of the components."""
    import cv2

    from boxpromptiml.metrics import image_score

    p = np.asarray(prob, dtype=np.float32)
    mask = (p > 0.5).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    largest = float(stats[1:, cv2.CC_STAT_AREA].max()) / p.size if n > 1 else 0.0
    values = [image_score(p, r) for r in FEATURES[:6]]
    values += [float((p > 0.3).mean()), float(mask.mean()), float(p.std()), largest]
    logged = [float(np.log(v + 1e-4)) for v in values]
    return np.array([*logged, float(np.log1p(n - 1))], dtype=np.float64)


def head_data(out: Path, n: int, authentic: int, seed: int) -> Path:
    """The head's synthetic training set (the general recipe's settings, ``seed``)."""
    from boxpromptiml.recipes.general import get_recipe
    from boxpromptiml.synth.dataset import default_workers, make_dataset

    train, _ = photo_split()
    recipe = get_recipe("general").replace(forged=n, authentic=authentic, seed=seed)
    return make_dataset(
        train, out, config=recipe.synth_config(), workers=default_workers(), progress=True
    )


def auc(pos: list[float], neg: list[float]) -> float:
    from boxpromptiml.metrics import roc_auc

    return float(roc_auc(pos + neg, [1] * len(pos) + [0] * len(neg)))


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("model", type=Path, help="student checkpoint (.pt) or .onnx")
    p.add_argument("--label", help="result name (default: the run folder)")
    p.add_argument("--n", type=int, default=600, help="synthetic forgeries to fit on")
    p.add_argument("--authentic", type=int, default=600, help="synthetic untouched photos")
    p.add_argument("--seed", type=int, default=1, help="synthesis seed (the recipe used 0)")
    p.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the head")
    args = p.parse_args()
    if not args.model.is_file():
        p.error(f"{args.model}: no such file")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from tqdm import tqdm

    from boxpromptiml.data.images import load_image
    from boxpromptiml.data.sources import load_dataset
    from boxpromptiml.metrics import IMAGE_REDUCTIONS
    from boxpromptiml.predict import Localizer

    label = args.label or run_name(args.model)
    t0 = time.perf_counter()
    data = head_data(
        REPO / "runs" / "image-head" / f"seed{args.seed}-n{args.n}-au{args.authentic}",
        args.n,
        args.authentic,
        args.seed,
    )
    loc = Localizer.from_checkpoint(args.model, device="auto")
    x, y = [], []
    for s in tqdm(list(load_dataset(data).samples), desc="synthetic", unit="img"):
        x.append(map_features(loc.predict_maps([load_image(s.image)])[0]))
        y.append(0 if s.mask is None else 1)
    head = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, max_iter=1000))
    head.fit(np.array(x), np.array(y))
    z = [float(v) for v in head.decision_function(np.array(x))]
    synthetic_auc = auc([v for v, t in zip(z, y, strict=True) if t],
                        [v for v, t in zip(z, y, strict=True) if not t])  # fmt: skip

    feats: dict[str, list[np.ndarray]] = {}
    for set_name, prob, _ in tqdm(
        each_map(loc, skip=("coverage-all",)), desc="real sets", unit="img"
    ):
        feats.setdefault(set_name, []).append(map_features(prob))
    au = feats.pop("authentic")
    scores = {"head": {k: [float(v) for v in head.decision_function(np.array(f))]
                       for k, f in [("authentic", au), *feats.items()]}}  # fmt: skip
    for r in IMAGE_REDUCTIONS:
        i = FEATURES.index(r)
        scores[r] = {k: [float(v[i]) for v in f] for k, f in [("authentic", au), *feats.items()]}
    table: dict[str, dict[str, float]] = {}
    for name, by_set in scores.items():
        neg = by_set["authentic"]
        row = {s: auc(by_set[s], neg) for s in feats}
        dev = [v for s in DEVELOPMENT if s in by_set for v in by_set[s]]
        row["development_pooled"] = auc(dev, neg)
        table[name] = row
    scaler, lr = head.named_steps["standardscaler"], head.named_steps["logisticregression"]
    out: dict[str, Any] = {
        "label": label,
        "model": str(args.model),
        "inference": loc.info,
        "head_data": {"n": args.n, "authentic": args.authentic, "seed": args.seed},
        "features": list(FEATURES),
        "head": {
            "C": args.C,
            "mean": scaler.mean_.tolist(),
            "scale": scaler.scale_.tolist(),
            "coef": lr.coef_[0].tolist(),
            "intercept": float(lr.intercept_[0]),
        },
        "synthetic_auc_in_sample": synthetic_auc,
        "image_auc": table,
        "scores": scores,
        "seconds": round(time.perf_counter() - t0, 1),
        "command": "python benchmarks/image_head.py " + " ".join(sys.argv[1:]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"image-head-{label}.json"
    path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    sets = [*[s for s in DEVELOPMENT if s in feats], "development_pooled",
            *[s for s in feats if s not in DEVELOPMENT]]  # fmt: skip
    print("| score | " + " | ".join(sets) + " |")
    print("|---" * (len(sets) + 1) + "|")
    for name, row in table.items():
        print(f"| {name} | " + " | ".join(f"{row[s]:.3f}" for s in sets) + " |")
    print(f"in-sample synthetic AUC of the head {synthetic_auc:.3f}; wrote {path}")


if __name__ == "__main__":
    main()
