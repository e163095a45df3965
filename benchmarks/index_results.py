"""Write ``benchmarks/results/INDEX.md``: one line per result file, grouped by benchmark.

    python benchmarks/index_results.py           # rewrite the index
    python benchmarks/index_results.py --check   # exit 1 when the index is out of date

Each line names the file, the script that writes it (from the file-name prefix), its date
and its headline figure when the JSON has one (``f1`` for COVERAGE rows, the int8 delta,
the per-set F1 of a real-world run).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SCRIPTS = {
    "arch-speed": "arch_speed.py",
    "box-quality": "box_quality.py",
    "calibration": "calibration.py",
    "coverage": "coverage.py",
    "int8-coverage": "int8_coverage.py",
    "generalisation": "generalisation.py",
    "image-head": "image_head.py",
    "photo-scaling": "photo_scaling.py",
    "realworld": "realworld.py / general_ablation.py / window_study.py / finetune_crop.py",
    "robustness": "robustness.py",
    "score-reference": "score_reference.py",
    "speed": "speed.py",
    "teachers": "teachers.py",
    "train-speed": "train_speed.py",
    "untouched-robustness": "untouched_robustness.py",
}


def _script(*names: str) -> str:
    """The script of a result file: the longest known prefix of any of ``names`` (the
    file's name, its path under the results folder)."""
    best = max((p for p in SCRIPTS for n in names if n.startswith(p)), key=len, default="")
    return SCRIPTS.get(best, "?")


def _headline(d: Any) -> str:
    if not isinstance(d, dict):
        return ""
    if isinstance(d.get("f1"), float):
        return f"F1 {d['f1']:.3f}"
    if "f1_int8" in d:
        return f"F1 {d['f1_fp32']:.3f} → int8 {d['f1_int8']:.3f}"
    if isinstance(d.get("chosen"), dict):  # calibration.py
        c = d["chosen"]
        return (
            f"chosen threshold {c['threshold']:g} (dev F1 over floor {c['dev_f1_over_floor']:+.3f})"
        )
    settings = d.get("settings")
    if isinstance(settings, dict) and all(
        isinstance(v, dict) and "pseudo_iou" in v for v in settings.values()
    ):  # box_quality.py
        return ", ".join(f"{k} IoU {v['pseudo_iou']['mean']:.3f}" for k, v in settings.items())
    auc = d.get("image_auc")
    if isinstance(auc, dict) and isinstance(auc.get("head"), dict):  # image_head.py
        return ", ".join(
            f"{k} pooled development image AUC {auc[k]['development_pooled']:.3f}"
            for k in ("head", "mean")
            if isinstance(auc.get(k), dict)
        )
    if isinstance(d.get("forged_at_or_under"), dict):  # score_reference.py
        halves = d.get("halves", {}).get("0.05", [])
        return "at a 5 % untouched share: " + ", ".join(
            [f"{k} {v['0.05']:.2f} caught" for k, v in d["forged_at_or_under"].items()]
            + [f"halves flag {'/'.join(f'{h:.2f}' for h in halves)}"]
        )
    summ = d.get("summary")
    if isinstance(summ, dict) and "dev_pixel_auc" in summ:  # photo_scaling.py
        return (
            f"{d.get('photos')} photos: development pixel AUC {summ['dev_pixel_auc']:.3f}, "
            f"pooled image AUC {summ['dev_image_auc_mean']:.3f}, "
            f"held-out synthetic F1 {summ['synthetic_f1']:.3f}"
        )
    if isinstance(d.get("sets"), dict):
        return ", ".join(
            f"{k} {v['f1']:.3f}" for k, v in d["sets"].items() if isinstance(v, dict) and "f1" in v
        )
    variants = d.get("variants")
    if isinstance(variants, dict) and all(
        isinstance(v, dict) and "latency_ms_median" in v for v in variants.values()
    ):  # arch_speed.py
        return ", ".join(f"{k} {v['latency_ms_median']:.1f} ms" for k, v in variants.items())
    rows = d.get("rows")
    if isinstance(rows, list) and rows and isinstance(rows[0], dict) and "n_authentic" in rows[0]:
        return "untouched > 1 %: " + ", ".join(  # untouched_robustness.py, robust sweeps
            f"{r['condition']} {r['authentic_over_1pct']:.2f}"
            for r in rows
            if r.get("n_authentic") and r["family"] in ("none", "resize")
        )
    if "f1_all_kinds" in d:
        return f"synthetic F1 {d['f1_all_kinds']:.3f}"
    return ""


def build() -> str:
    rows: dict[str, list[str]] = {}
    for path in sorted(RESULTS.rglob("*.json")):
        rel = path.relative_to(RESULTS).as_posix()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            data = None
        date = ""
        if isinstance(data, dict):  # a result's own date, else its machine record's
            machine = data.get("machine")
            date = str(data.get("date") or "")
            if not date and isinstance(machine, dict):
                date = str(machine.get("date") or "")
        script = _script(path.name, rel)
        rows.setdefault(script, []).append(
            " ".join(x for x in (f"- `{rel}`", date, _headline(data)) if x)
        )
    out = ["# Index of benchmark results", "",
           "Written by `python benchmarks/index_results.py`; one line per JSON file.", ""]  # fmt: skip
    for script in sorted(rows):
        out += [f"## `benchmarks/{script}`" if "/" not in script else f"## {script}", ""]
        out += rows[script] + [""]
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--check", action="store_true")
    args = p.parse_args()
    text = build()
    index = RESULTS / "INDEX.md"
    if args.check:
        current = index.read_text(encoding="utf-8") if index.is_file() else ""
        if current != text:
            print(
                f"{index} is out of date: run python benchmarks/index_results.py", file=sys.stderr
            )
            return 1
        return 0
    index.write_text(text, encoding="utf-8")
    print(f"wrote {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
