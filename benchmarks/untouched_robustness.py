"""Does the shipped student stay quiet on untouched photos once they are recompressed,
resized or sent through an upload-like chain, and does its image score still separate
forged from untouched photos?

    python benchmarks/untouched_robustness.py                       # the default student
    python benchmarks/untouched_robustness.py --model runs/general/v4obj/model.pt --label v4obj
    python benchmarks/untouched_robustness.py --levels blur=3,7 --levels noise=3 --label general-v4-blur-noise

Users rarely hold camera originals: a photo has usually been recompressed or downscaled
once or more before anyone asks whether it was edited. ``benchmarks/realworld.py`` counts
false alarms on the 51 untouched photos held out of the general recipe's synthesis as they
are; this runs the same photos, with the real forgeries of the development sets
(``real-dev/casia2`` and ``real-dev/mixed``, pooled), through ``boxprompt robust``'s
perturbations (:mod:`boxpromptiml.robust`): JPEG at quality 90, 75 and 50, downscaling to
half size and back, and the four upload-like chains (resize cap, JPEG quality, chroma
subsampling). Per condition: the share of untouched photos with more than 1 % of their
pixels at or above 0.5 (the false-alarm figure of the model card), their mean flagged
share, the pooled image AUC (forged vs untouched, with the model's own image score) and
the forged images' pixel F1 and AUC. Inference settings are the model's own (packaged ones
for a recipe model: tiled, longer side capped, mirrored where packaged so).

Writes ``benchmarks/results/untouched-robustness-<label>.json`` (rows, machine, date,
command) and one plot per perturbation family under
``benchmarks/results/untouched-robustness-<label>/``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _wild import SHARED, photo_split, realdev_sets

REPO = Path(__file__).resolve().parents[1]
#: The conditions: the robust command's families at levels a shared photo meets.
SWEEP: dict[str, list[Any]] = {
    "jpeg": [90, 75, 50],
    "resize": [0.5],
    "social": ["facebook", "whatsapp", "wechat", "weibo"],
}


def _dataset() -> Any:
    """One dataset: the development sets' forgeries (label 1) and the held-out untouched
    photos (label 0), sample names prefixed by their set so that none collide."""
    from boxpromptiml.data.sources import Dataset, Sample

    samples: list[Sample] = []
    for name, ds in realdev_sets(SHARED):
        samples += [dataclasses.replace(s, name=f"{name}/{s.name}") for s in ds if s.label]
    _, held = photo_split()
    samples += [Sample(f"untouched/{p.parent.name}/{p.stem}", p, None, 0) for p in held]
    if not any(s.label for s in samples) or all(s.label for s in samples):
        raise SystemExit(f"need real-dev forgeries and held-out photos under {SHARED}")
    return Dataset("dev+untouched", samples)


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of the sweep's rows."""
    lines = [
        "| condition | untouched > 1 % | untouched px flagged | image AUC | forged F1 | forged pixel AUC |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['condition']} | {r['authentic_over_1pct']:.3f} "
            f"({round(r['authentic_over_1pct'] * r['n_authentic'])}/{r['n_authentic']}) "
            f"| {r['authentic_flagged']:.4f} | {r['image_auc']:.3f} | {r['f1']:.3f} "
            f"| {r['auc']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default=None, help="student .pt/.onnx (default: the shipped one)")
    p.add_argument("--label", default=None, help="name of the result (default: model's stem)")
    p.add_argument("--max-images", type=int, default=None, help="cap of each kind (a quick look)")
    p.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results")
    p.add_argument(
        "--levels",
        action="append",
        default=[],
        metavar="FAMILY=L1,L2",
        help="sweep these instead of the default conditions (repeatable; families of "
        "boxprompt robust: jpeg, resize, blur, noise, social)",
    )
    args = p.parse_args()
    from boxpromptiml.robust.perturb import parse_levels

    sweep: dict[str, list[Any]] = dict(parse_levels(item) for item in args.levels) or SWEEP

    from boxpromptiml.bench import machine_info
    from boxpromptiml.predict import Localizer
    from boxpromptiml.robust.sweep import robustness_sweep

    if args.model:
        localizer = Localizer.from_checkpoint(args.model, device="cpu")
        label = args.label or Path(args.model).stem
    else:
        from boxpromptiml.predict.shipped import DEFAULT_MODEL

        localizer = Localizer.pretrained(device="cpu")
        label = args.label or DEFAULT_MODEL
    ds = _dataset()
    machine = machine_info()
    t0 = time.perf_counter()
    result = robustness_sweep(
        lambda images, sample: localizer.predict_maps(images),
        [ds],
        sweep,
        on_size_mismatch="skip",
        max_images=args.max_images,
        image_reduce=localizer.image_score,
    )
    seconds = time.perf_counter() - t0
    out_dir = args.results / f"untouched-robustness-{label}"
    result.save(out_dir)
    command = "python benchmarks/untouched_robustness.py " + shlex.join(sys.argv[1:])
    out = {
        "label": label,
        "model": args.model or "shipped default",
        "settings": {
            "image_score": localizer.image_score,
            "tile": localizer.tile,
            "tta": localizer.tta,
            "max_side": localizer.max_side,
            **result.settings,
        },
        "rows": result.rows,
        "problems": result.problems,
        "seconds": round(seconds, 1),
        "command": command.strip(),
        "machine": machine,
    }
    path = args.results / f"untouched-robustness-{label}.json"
    path.write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")
    print(table(result.rows))
    print(f"wrote {path} and the plots in {out_dir} ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
