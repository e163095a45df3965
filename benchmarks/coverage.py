"""COVERAGE with box supervision only: boxes → pseudo-masks → student → test split.

    python benchmarks/coverage.py                       # default teacher and student
    python benchmarks/coverage.py --teacher box --model tinyvit5m --epochs 40

Boxes come from the simulated annotator on the COVERAGE *train* masks (10 % margin,
seed 0); pseudo-masks from the chosen teacher; the student trains on images + pseudo-masks
only; the 29-image test split (../shared/data/coverage/split.json) is scored with per-image
pixel F1 at 0.5, IoU and AUC, each with a 95 % bootstrap interval. Results are printed as
a markdown row and written to benchmarks/results/coverage-<tag>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", type=Path, default=SHARED / "coverage")
    p.add_argument(
        "--teacher", default="ensemble", help="teacher, or 'gt' for the fully supervised bound"
    )
    p.add_argument("--model", default="efficientnet-lite0")
    p.add_argument(
        "--pretrained",
        default="auto",
        help="auto: ImageNet weights when shipped; none: random init; or a file",
    )
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--imgsz", type=int, default=224)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--dice", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=REPO / "runs" / "bench-coverage")
    p.add_argument("--tag", default=None)
    args = p.parse_args()

    from boxpromptiml.data.annotator import AnnotatorConfig, annotate_dataset
    from boxpromptiml.data.boxes import write_coco
    from boxpromptiml.data.sources import Sample, load_dataset
    from boxpromptiml.demo import _default_pretrained
    from boxpromptiml.evaluate import evaluate
    from boxpromptiml.metrics import bootstrap_ci
    from boxpromptiml.predict import Localizer, predict_to_folder
    from boxpromptiml.student.build import resolve_student_args
    from boxpromptiml.teachers.pseudo import pseudo_label
    from boxpromptiml.teachers.quality import pseudo_quality
    from boxpromptiml.train import TrainConfig, fit

    tag = args.tag or f"{args.teacher}-{args.model}-e{args.epochs}-s{args.imgsz}"
    work = args.work / tag
    split = json.loads((args.data / "split.json").read_text())
    full = load_dataset(args.data, name="coverage")
    train_ds = full.subset(split["train"], name="coverage-train")
    test_ds = full.subset(split["test"], name="coverage-test")
    t0 = time.perf_counter()

    if args.teacher == "gt":
        train = list(train_ds.samples)
        supervision, pseudo_iou = "gt", 1.0
    else:
        boxes = annotate_dataset(train_ds, AnnotatorConfig(margin=0.1, seed=0), progress=False)
        write_coco(work / "boxes.json", boxes)
        pseudo_label(train_ds, boxes, work / "pseudo", args.teacher, workers=2, progress=False)
        pseudo_iou = pseudo_quality(work / "pseudo", train_ds).mean_iou
        train = [Sample(x.name, x.image, work / "pseudo" / f"{x.name}.png", 1) for x in train_ds]
        supervision = "pseudo"
    if args.pretrained == "auto":
        pretrained = _default_pretrained(args.model)
    else:
        pretrained = None if args.pretrained == "none" else args.pretrained
    cfg = TrainConfig(
        train=train, out_dir=work / "train", supervision=supervision,
        model=resolve_student_args(args.model), pretrained=pretrained, epochs=args.epochs,
        batch_size=args.batch, input_size=args.imgsz, lr=args.lr, dice_weight=args.dice,
        seed=args.seed, workers=0, progress=False, tensorboard=False,
        resume=(work / "train" / "last.pt").is_file(),
    )  # fmt: skip
    trained = fit(cfg)
    loc = Localizer.from_checkpoint(trained.last, device="auto")
    predict_to_folder(loc, [s.image for s in test_ds], work / "predict", save_overlay=False,
                      save_json=False, progress=False)  # fmt: skip
    res = evaluate([test_ds], [work / "predict" / "maps"], progress=False)
    res.save(work / "eval")
    d = res.datasets[0]
    out = {
        "tag": tag, "teacher": args.teacher, "model": args.model, "pretrained": pretrained,
        "epochs": args.epochs, "input_size": args.imgsz, "n_test": int(d.summary["n_manipulated"]),
        "pseudo_iou_train": pseudo_iou, "seconds": round(time.perf_counter() - t0, 1),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
    }  # fmt: skip
    for key in ("f1", "iou", "auc"):
        vals = np.array([r[key] for r in d.rows if r.get("label") == 1], dtype=float)
        lo, hi = bootstrap_ci(vals)
        out[key] = float(np.nanmean(vals))
        out[f"{key}_ci"] = [lo, hi]
    results = REPO / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"coverage-{tag}.json").write_text(json.dumps(out, indent=2) + "\n")
    print("| run | test F1 [95% CI] | IoU | AUC | pseudo IoU (train) | s |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {tag} | {out['f1']:.3f} [{out['f1_ci'][0]:.3f}, {out['f1_ci'][1]:.3f}] | {out['iou']:.3f} "
        f"| {out['auc']:.3f} | {pseudo_iou:.3f} | {out['seconds']:.0f} |"
    )


if __name__ == "__main__":
    main()
