"""Where should a model's map cross 0.5? Pixel F1 against false alarms, per threshold.

    python benchmarks/calibration.py MODEL [MODEL ...] [--max-flagged 0.3]

Predicts once, then scores every threshold in ``THRESHOLDS``: per-image pixel F1 on the
development sets (``coverage-train``, ``casia2``, ``mixed``) and on ``coverage-test``, and
on untouched photos the share with more than 1 % of pixels flagged. The held-out untouched
photos of ``benchmarks/_wild.py`` are split in two by order: the **calibration half**
(even positions) chooses, the **report half** (odd positions) reports. The chosen threshold
is the one with the highest mean F1-over-floor on the development sets among those that flag
at most ``--max-flagged`` of the calibration half; ``coverage-test`` and the report half are
never used to choose. A packaged model can carry it (``inference.calibration``): the map is
then remapped monotonically so that this threshold becomes 0.5 (image AUC unchanged).

Writes ``benchmarks/results/calibration-<label>.json``.
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
THRESHOLDS = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)
DEV = ("coverage-train", "casia2", "mixed")


def sweep(model: Path) -> dict[str, Any]:
    from boxpromptiml.metrics import floor_f1, pixel_scores
    from boxpromptiml.predict import Localizer

    loc = Localizer.from_checkpoint(model, device="auto", calibration=None)  # the raw map
    flagged: dict[float, list[float]] = {t: [] for t in THRESHOLDS}
    acc: dict[str, dict[str, Any]] = {}
    for name, prob, mask in each_map(loc, skip=("coverage-all",)):
        if mask is None:
            for t in THRESHOLDS:
                flagged[t].append(float((prob > t).mean()))
            continue
        a = acc.setdefault(name, {"floors": [], "f1": {t: [] for t in THRESHOLDS}})
        a["floors"].append(floor_f1(mask))
        for t in THRESHOLDS:
            a["f1"][t].append(pixel_scores(prob, mask, t)["f1"])
    sets: dict[str, Any] = {
        name: {"floor": float(np.mean(a["floors"])),
               "f1": {str(t): float(np.mean(v)) for t, v in a["f1"].items()}}
        for name, a in acc.items()
    }  # fmt: skip
    calib = {t: v[0::2] for t, v in flagged.items()}
    report = {t: v[1::2] for t, v in flagged.items()}
    rows = []
    for t in THRESHOLDS:
        gain = float(np.mean([sets[s]["f1"][str(t)] - sets[s]["floor"] for s in DEV if s in sets]))
        rows.append({
            "threshold": t,
            "dev_f1_over_floor": gain,
            "calib_over_1pct": float(np.mean([f > 0.01 for f in calib[t]])),
            "report_over_1pct": float(np.mean([f > 0.01 for f in report[t]])),
            "report_flagged_pixels": float(np.mean(report[t])),
            **{f"{s}_f1": sets[s]["f1"][str(t)] for s in sets},
        })  # fmt: skip
    return {"sets": {s: {"floor": v["floor"]} for s, v in sets.items()}, "rows": rows,
            "n_calib": len(calib[THRESHOLDS[0]]), "n_report": len(report[THRESHOLDS[0]])}  # fmt: skip


def choose(rows: list[dict[str, Any]], max_flagged: float) -> dict[str, Any] | None:
    ok = [r for r in rows if r["calib_over_1pct"] <= max_flagged]
    return max(ok, key=lambda r: r["dev_f1_over_floor"]) if ok else None


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("models", nargs="+", type=Path)
    p.add_argument("--label", action="append", default=[])
    p.add_argument("--max-flagged", type=float, default=0.3,
                   help="most calibration photos with > 1 %% flagged (default 0.3)")  # fmt: skip
    args = p.parse_args()
    for i, m in enumerate(args.models):
        label = args.label[i] if i < len(args.label) else run_name(m)
        out = sweep(m)
        best = choose(out["rows"], args.max_flagged)
        out.update(label=label, model=str(m), max_flagged=args.max_flagged, chosen=best,
                   command="python benchmarks/calibration.py " + " ".join(sys.argv[1:]),
                   date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                   machine={"cpu": platform.processor() or platform.machine(),
                            "cores": os.cpu_count(), "python": platform.python_version()})  # fmt: skip
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"calibration-{label}.json").write_text(json.dumps(out, indent=2) + "\n")
        names = [s for s in out["sets"]]
        print(
            f"## {label} (floors: "
            + ", ".join(f"{s} {out['sets'][s]['floor']:.3f}" for s in names)
            + ")"
        )
        print("| t | dev F1-floor | calib >1 % | report >1 % | " + " | ".join(names) + " |")
        print("|---|---|---|---|" + "---|" * len(names))
        for r in out["rows"]:
            mark = " *" if best is not None and r["threshold"] == best["threshold"] else ""
            print(f"| {r['threshold']:g}{mark} | {r['dev_f1_over_floor']:+.3f} | {r['calib_over_1pct']:.2f} | "
                  f"{r['report_over_1pct']:.2f} | " + " | ".join(f"{r[s + '_f1']:.3f}" for s in names) + " |")  # fmt: skip


if __name__ == "__main__":
    main()
