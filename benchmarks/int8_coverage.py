"""Accuracy price of int8 on COVERAGE: a trained student, fp32 ONNX vs static int8 ONNX.

    python benchmarks/int8_coverage.py --model runs/bench-coverage/<tag>/train/last.pt

Exports the checkpoint (verified against PyTorch), quantizes it with static QDQ int8
calibrated on the COVERAGE *train* images (the 62 of split.json), and scores both models
on the 29 *test* images with per-image pixel F1 at 0.5
(:func:`boxpromptiml.export.quantization_cost`). The issue's budget is a loss of at most
0.01. Writes benchmarks/results/int8-coverage-<run>.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from _runs import run_name

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", required=True, type=Path, help="student checkpoint (.pt)")
    p.add_argument("--data", type=Path, default=SHARED / "coverage")
    p.add_argument("--format", default="qdq", choices=("qdq", "qoperator"))
    args = p.parse_args()

    from boxpromptiml.data.sources import load_dataset
    from boxpromptiml.export import export_onnx, quantization_cost, quantize_onnx

    split = json.loads((args.data / "split.json").read_text())
    full = load_dataset(args.data, name="coverage")
    train = full.subset(split["train"], name="coverage-train")
    test = full.subset(split["test"], name="coverage-test")
    tmp = Path(tempfile.mkdtemp(prefix="int8-coverage-"))
    report = export_onnx(args.model, tmp / "student.onnx")
    int8 = quantize_onnx(
        report.onnx, calibration=[str(s.image) for s in train], calib_count=len(train),
        quant_format=args.format,
    )  # fmt: skip
    cost = quantization_cost(report.onnx, int8, test)
    run = run_name(args.model)
    out = {
        "model": str(args.model), "format": args.format, "calibration": "coverage train (62)",
        "export_max_abs_diff": report.max_abs_diff, **cost,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }  # fmt: skip
    dest = REPO / "benchmarks" / "results" / f"int8-coverage-{run}.json"
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
