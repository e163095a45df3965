"""Robustness of a trained student on the COVERAGE test split (the README table).

    python benchmarks/robustness.py --model runs/bench-coverage/<tag>/train/last.pt

Runs the default sweep of ``boxprompt robust`` (JPEG 100–50, resize 0.25–0.75, blur 3–15,
noise 3–23, upload-like chains) on the 29 test images and prints pixel F1 / AUC per
condition with the drop relative to the clean images; writes the JSON, CSV and plots to
benchmarks/results/robustness-<run>/. Compare the relative drops with the paper's
(CASIA through real services, pixel F1: none 0.552, Facebook 0.532, Weibo 0.536,
WeChat 0.477, WhatsApp 0.530).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

from _runs import run_name

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", type=Path, required=True, help="student .pt or .onnx")
    p.add_argument("--data", type=Path, default=SHARED / "coverage")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()

    import numpy as np

    from boxpromptiml.data.sources import Sample, load_dataset
    from boxpromptiml.predict import Localizer
    from boxpromptiml.robust.sweep import robustness_sweep

    split = json.loads((args.data / "split.json").read_text())
    test = load_dataset(args.data, name="coverage").subset(split["test"], name="coverage-test")
    loc = Localizer.from_checkpoint(args.model, device="auto")

    def predict(images: list[np.ndarray], sample: Sample) -> list[np.ndarray]:
        return loc.predict_maps(images)

    res = robustness_sweep(predict, [test], progress=False)
    res.settings["model"] = str(args.model)
    res.settings["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = args.out or REPO / "benchmarks" / "results" / f"robustness-{run_name(args.model)}"
    res.save(out)
    print("| condition | F1 | AUC | F1 / clean F1 |")
    print("|---|---|---|---|")
    for r in res.relative_drop("f1"):
        print(f"| {r['condition']} | {r['f1']:.3f} | {r['auc']:.3f} | {r['f1_relative']:.2f} |")
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
