"""Does an image-level gate help? Blank the map of images whose score is under a cut.

    python benchmarks/gate.py MODEL [MODEL ...] [--label NAME ...]

For each model: per image its image score (the model's own ``image_score``, or
``--score``), its pixel F1 at 0.5 (forged sets) or its
share of pixels over 0.5 (untouched photos). A gate ``g`` keeps an image's map when its
score is at least ``g`` and blanks it otherwise (a blanked forged image scores F1 0, a
blanked untouched photo flags nothing). The untouched photos are split as in
``benchmarks/calibration.py`` (calibration half: even positions; report half: odd ones);
the printed table shows, per gate, the mean F1 over the floor on the development sets
(coverage-train, casia2, mixed), coverage-test's F1, and the share of each half's photos
with more than 1 % flagged. Nothing here is shipped: it measures whether a gate is worth
building. Writes ``benchmarks/results/gate-<label>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import run_name
from realworld import each_map

RESULTS = Path(__file__).resolve().parent / "results"
DEV = ("coverage-train", "casia2", "mixed")


def per_image(model: Path, score_name: str | None = None) -> dict[str, Any]:
    """Per image: score, F1 and floor (forged sets) or flagged share (untouched photos);
    ``score_name``: the image reduction (default: the model's own ``image_score``)."""
    from boxpromptiml.metrics import floor_f1, image_score, pixel_scores
    from boxpromptiml.predict import Localizer

    loc = Localizer.from_checkpoint(model, device="auto")
    reduce = score_name or loc.image_score
    untouched: list[dict[str, float]] = []
    sets: dict[str, list[dict[str, float]]] = {}
    for name, prob, mask in each_map(loc, skip=("coverage-all",)):
        score = image_score(prob, reduce)
        if mask is None:
            untouched.append({"score": score, "flagged": float((prob > 0.5).mean())})
        else:
            sets.setdefault(name, []).append(
                {"score": score, "f1": pixel_scores(prob, mask, 0.5)["f1"], "floor": floor_f1(mask)}
            )
    return {"score": reduce, "untouched": untouched, "sets": sets}


def _f1(rows: list[dict[str, float]], g: float) -> float:
    """Mean F1 of forged images when maps under the gate ``g`` are blanked (F1 0)."""
    return float(np.mean([r["f1"] if r["score"] >= g else 0.0 for r in rows])) if rows else 0.0


def _over(photos: list[dict[str, float]], g: float) -> float:
    """Share of untouched photos left with more than 1 % flagged under the gate ``g``."""
    return float(np.mean([u["flagged"] > 0.01 and u["score"] >= g for u in photos]))


def table(data: dict[str, Any]) -> list[dict[str, float]]:
    scores = sorted({round(u["score"], 3) for u in data["untouched"]})
    gates = [0.0] + [float(q) for q in np.quantile(scores, [0.25, 0.5, 0.6, 0.7, 0.8, 0.9])]
    calib, report = data["untouched"][0::2], data["untouched"][1::2]
    out = []
    for g in gates:
        dev = [
            _f1(data["sets"][s], g) - float(np.mean([r["floor"] for r in data["sets"][s]]))
            for s in DEV
            if s in data["sets"]
        ]
        out.append({"gate": g, "dev_f1_over_floor": float(np.mean(dev)),
                    "coverage_test_f1": _f1(data["sets"].get("coverage-test", []), g),
                    "calib_over_1pct": _over(calib, g), "report_over_1pct": _over(report, g)})  # fmt: skip
    return out


def main() -> None:
    from boxpromptiml.metrics import IMAGE_REDUCTIONS

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("models", nargs="+", type=Path)
    p.add_argument("--label", action="append", default=[])
    p.add_argument("--score", default=None, choices=IMAGE_REDUCTIONS,
                   help="image score to gate on (default: each model's own image_score)")  # fmt: skip
    args = p.parse_args()
    for i, m in enumerate(args.models):
        label = args.label[i] if i < len(args.label) else run_name(m)
        data = per_image(m, args.score)
        rows = table(data)
        out = {"label": label, "model": str(m), "rows": rows, "per_image": data,
               "command": "python benchmarks/gate.py " + " ".join(sys.argv[1:]),
               "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": {"cpu": platform.processor() or platform.machine(),
                           "cores": os.cpu_count(), "python": platform.python_version()}}  # fmt: skip
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"gate-{label}.json").write_text(json.dumps(out, indent=2) + "\n")
        print(f"## {label}")
        print(
            f"| gate ({data['score']}) | dev F1 − floor | coverage-test F1 | calib > 1 % | report > 1 % |"
        )
        print("|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['gate']:.3f} | {r['dev_f1_over_floor']:+.3f} | {r['coverage_test_f1']:.3f} | "
                  f"{r['calib_over_1pct']:.2f} | {r['report_over_1pct']:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
