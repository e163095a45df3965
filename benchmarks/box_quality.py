"""How carefully must boxes be drawn? Box quality → pseudo-mask quality → student F1.

    python benchmarks/box_quality.py                       # pseudo-mask IoU, every setting
    python benchmarks/box_quality.py --student margin-10,margin-50 --seeds 0,1,2
    python benchmarks/box_quality.py --plot                # the figure from saved results

Boxes are simulated from the ground-truth masks of COVERAGE's train split (62 images,
``../shared/data/coverage/split.json``) by the simulated annotator, degraded one way at a
time (``SETTINGS``): the outward margin (0, 10, 25, 50 % of the region's size a side),
corner jitter, one box around all regions of an image, regions left unboxed, a false box
on an untouched area. For each setting and annotator seed, the default teacher turns the
boxes into pseudo-masks; their per-image IoU against the GT masks (mean, 95 % bootstrap
interval) says what the teacher can make of such boxes. With ``--student``, the
project's default student (``TrainConfig()``) is trained on those pseudo-masks alone and
scored on the 29-image test split and on ``real-dev`` (pixel F1 at 0.5, with intervals),
one run per seed. Every stage runs through the pipeline engine and is cached under
``--work``; results go to ``benchmarks/results/box-quality.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _wild import SHARED, coverage_split, realdev_sets

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

#: Annotator settings (fields of AnnotatorConfig), each against the default (margin 0.1).
SETTINGS: dict[str, dict[str, Any]] = {
    "margin-0": {"margin": 0.0},
    "margin-10": {"margin": 0.1},
    "margin-25": {"margin": 0.25},
    "margin-50": {"margin": 0.5},
    "jitter-10": {"jitter": 0.1},
    "jitter-25": {"jitter": 0.25},
    "one-box": {"merge_distance": 100_000},
    "miss-25": {"miss": 0.25},
    "extra-50": {"extra": 0.5},
}


def _ci(values: list[float]) -> dict[str, Any]:
    from boxpromptiml.metrics import bootstrap_ci

    v = np.asarray(values, dtype=float)
    lo, hi = bootstrap_ci(v)
    return {"mean": float(np.nanmean(v)), "ci": [lo, hi], "n": int(v.size)}


def pseudo_row(pipe: Any, name: str, seed: int, train: Any, teacher: str) -> dict[str, Any]:
    """Boxes of setting ``name`` at ``seed`` → pseudo-masks → their IoU against GT."""
    from boxpromptiml.data.annotator import AnnotatorConfig

    cfg = AnnotatorConfig(**{"margin": 0.1, "seed": seed, **SETTINGS[name]})
    tag = f"{name}-s{seed}"
    boxes = pipe.boxes(tag, train, annotator=cfg)
    pseudo = pipe.pseudo(tag, train, boxes, teacher=teacher, workers=2, on_size_mismatch="error")
    quality = json.loads((pseudo.folder / "quality.json").read_text())
    ious = [float(r["iou"]) for r in quality.get("images", []) if r.get("iou") is not None]
    return {"boxes": boxes.n_boxes, "pseudo_iou": _ci(ious), "pseudo": pseudo, "tag": tag}


def student_row(pipe: Any, row: dict[str, Any], train: Any, test: Any, seed: int) -> dict[str, Any]:
    """The default student on one setting's pseudo-masks, scored on the test split and
    on each real-dev set."""
    from boxpromptiml.train import TrainConfig

    tag = row["tag"]
    cfg = TrainConfig(
        train=row["pseudo"].samples(train), out_dir=pipe.out / "train" / tag, seed=seed,
        workers=0, tensorboard=False,
    )  # fmt: skip
    trained = pipe.train(cfg, stage_id=f"train/{tag}")
    out: dict[str, Any] = {}
    sets = [("coverage-test", test), *realdev_sets()]
    for set_name, ds in sets:
        pred = pipe.predict(f"{tag}-{set_name}", list(ds), trained, settings={"device": "cpu"})
        s = pipe.evaluate(f"{tag}-{set_name}", ds, pred, ci=True, on_size_mismatch="skip").summary
        out[set_name] = {"f1": s["f1"], "ci": [s["f1_ci_lo"], s["f1_ci_hi"]],
                         "floor": s["floor_f1"], "n": s["n_manipulated"]}  # fmt: skip
    return out


def plot(results: dict[str, Any], path: Path) -> Path:
    """Pseudo-mask IoU per setting (bars with intervals), and student F1 where measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in SETTINGS if n in results["settings"]]
    iou = [results["settings"][n]["pseudo_iou"]["mean"] for n in names]
    lo = [results["settings"][n]["pseudo_iou"]["ci"][0] for n in names]
    hi = [results["settings"][n]["pseudo_iou"]["ci"][1] for n in names]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    x = np.arange(len(names))
    ax.bar(x, iou, color="#4c78a8", label="pseudo-mask IoU (COVERAGE train)")
    ax.errorbar(x, iou, yerr=[np.subtract(iou, lo), np.subtract(hi, iou)], fmt="none", c="k")
    f1 = [
        results["settings"][n].get("student", {}).get("coverage-test", {}).get("f1") for n in names
    ]
    if any(v is not None for v in f1):
        ax.plot(x, [np.nan if v is None else v for v in f1], "o", c="#e45756",
                label="student F1 (COVERAGE test; mean of the seeds run)")  # fmt: skip
        floors = [results["settings"][n]["student"]["coverage-test"]["floor"]
                  for n in names if "student" in results["settings"][n]]  # fmt: skip
        ax.axhline(floors[0], ls="--", c="#e45756", lw=0.8, label="F1 floor (all pixels marked)")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_title("How box quality moves pseudo-masks and the student")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--settings", default=",".join(SETTINGS), help="comma list of SETTINGS")
    p.add_argument("--seeds", default="0", help="annotator (and student) seeds, comma list")
    p.add_argument("--teacher", default="ensemble")
    p.add_argument("--student", default="", help="settings to train the student on (comma list)")
    p.add_argument("--work", type=Path, default=REPO / "runs" / "bench-box-quality")
    p.add_argument("--results", type=Path, default=RESULTS / "box-quality.json")
    p.add_argument("--plot", action="store_true", help="only redraw the figure from --results")
    args = p.parse_args()
    if args.plot:
        results = json.loads(args.results.read_text())
        print(plot(results, args.results.with_suffix(".png")))
        return
    if not (SHARED / "coverage" / "split.json").is_file():
        raise SystemExit(f"needs {SHARED / 'coverage'}")
    from boxpromptiml.pipeline import Pipeline

    names = [n.strip() for n in args.settings.split(",") if n.strip()]
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        p.error(f"unknown setting(s) {unknown}; choose from {', '.join(SETTINGS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    students = {n.strip() for n in args.student.split(",") if n.strip()}
    pipe = Pipeline(args.work, progress=False, tag="box-quality")
    train, test = coverage_split()
    results: dict[str, Any] = (
        json.loads(args.results.read_text()) if args.results.is_file() else {"settings": {}}
    )
    for name in names:
        rows = [pseudo_row(pipe, name, sd, train, args.teacher) for sd in seeds]
        ious = [r["pseudo_iou"]["mean"] for r in rows]
        entry: dict[str, Any] = {
            "annotator": SETTINGS[name],
            "seeds": seeds,
            "boxes": [r["boxes"] for r in rows],
            "pseudo_iou": rows[0]["pseudo_iou"] if len(rows) == 1 else {
                "mean": float(np.mean(ious)), "per_seed": ious,
                "ci": [min(r["pseudo_iou"]["ci"][0] for r in rows),
                       max(r["pseudo_iou"]["ci"][1] for r in rows)],
            },
        }  # fmt: skip
        if name in students:
            per_seed = [
                student_row(pipe, r, train, test, sd) for r, sd in zip(rows, seeds, strict=True)
            ]
            entry["student"] = {
                k: {"f1": float(np.mean([s[k]["f1"] for s in per_seed])),
                    "per_seed": [s[k]["f1"] for s in per_seed],
                    "ci_seed0": per_seed[0][k]["ci"], "floor": per_seed[0][k]["floor"],
                    "n": per_seed[0][k]["n"]}
                for k in per_seed[0]
            }  # fmt: skip
        results["settings"][name] = {**results["settings"].get(name, {}), **entry}
        line = f"{name}: pseudo IoU {entry['pseudo_iou']['mean']:.3f}"
        if "student" in entry:
            line += "; student F1 " + ", ".join(
                f"{k} {v['f1']:.3f}" for k, v in entry["student"].items()
            )
        print(line, flush=True)
    results.update(
        teacher=args.teacher,
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        machine={
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        command="python " + " ".join(sys.argv),
    )
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(plot(results, args.results.with_suffix(".png")))


if __name__ == "__main__":
    main()
