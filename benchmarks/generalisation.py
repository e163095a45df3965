"""Beyond COVERAGE: a COVERAGE-trained student on manipulations and photos it never saw.

    python benchmarks/generalisation.py --model runs/bench-coverage/<tag>/train/last.pt
    python benchmarks/generalisation.py --model A.pt --model B/soup.pt --n 60 --authentic 40

COVERAGE holds copy-moves only, and every choice in ``benchmarks/coverage.py`` was made on
it. The real test sets a user cares about (CASIA, Columbia, NIST16, in-the-wild images) are
mostly splices and cannot be had here, so this is the nearest check we can run:

- ``3 × --n`` forgeries, each of a kind drawn at random (splice, copy-move, removal, equal
  odds; the JSON gives the count of each), and ``--authentic`` untouched images, made by
  the synthesiser (``boxprompt synth``: random shapes and objects, colour matching,
  feathering, then resizing, blur, noise and JPEG at random) from the photos
  embedded in the install (scikit-image, scikit-learn, matplotlib; 8 photos). None of
  these photos is used by ``benchmarks/coverage.py``, which pretrains on forgeries made
  from ``../shared/data/photos``. Seed 123, 512 px; made once and cached under ``--work``.
- per kind: per-image pixel F1 at 0.5 (mean, 95 % bootstrap interval), IoU, pixel AUC;
  over all: image-level AUC of the map's maximum (forged against authentic), and on the
  authentic images the mean share of pixels marked manipulated (false alarms), and the
  share of authentic images with more than 1 % of their pixels marked. The floor of each
  kind (every pixel marked manipulated) is in the JSON.

Read it as a proxy with a known bias: the forgeries come from the same synthesiser a
model may have been pretrained on (with other photos), so a model pretrained on all three
kinds meets familiar kinds of forgery here, one pretrained on copy-moves only does not.
That is the point of the check (does the COVERAGE recipe still see a splice?), but it is
not a real out-of-distribution test set. Writes
``benchmarks/results/generalisation-<run>.json`` per model and prints one table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from _runs import run_name

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
KINDS = ("splice", "copymove", "removal")
SEED = 123


def make_set(work: Path, n: int, authentic: int) -> Path:
    """The held-out synthetic set (cached): ``3 n`` forgeries plus ``authentic`` images."""
    from boxpromptiml.synth import make_dataset

    folder = work / f"embedded-n{n}x{len(KINDS)}-au{authentic}-seed{SEED}"
    if not (folder / "manifest.json").is_file():
        make_dataset(
            None, folder, n=n * len(KINDS), kinds=list(KINDS), authentic=authentic,
            seed=SEED, size=512, workers=2, progress=True,
        )  # fmt: skip
    return folder


def kinds_of(folder: Path) -> dict[str, str]:
    """Image stem -> kind (splice, copymove, removal or authentic), from the manifest."""
    manifest = json.loads((folder / "manifest.json").read_text())
    return {rec["name"]: rec["kind"] for rec in manifest["images"]}


def floor_f1(folder: Path) -> dict[str, float]:
    """Per kind, the mean F1 of marking every pixel manipulated: what a model that flags
    everything scores."""
    from boxpromptiml.data.images import load_mask
    from boxpromptiml.data.sources import load_dataset
    from boxpromptiml.metrics import floor_f1 as one_floor

    kind = kinds_of(folder)
    forged = [s for s in load_dataset(folder) if s.label == 1 and s.mask is not None]
    out = {}
    for k in KINDS:
        masks = [load_mask(s.mask) for s in forged if kind.get(s.name) == k]
        out[k] = float(np.mean([one_floor(m) for m in masks]))
    return out


def score(model: Path, folder: Path, work: Path) -> dict[str, Any]:
    """Predict every image of ``folder`` with ``model`` and score it (see the docstring)."""
    from boxpromptiml.data.images import load_map
    from boxpromptiml.data.sources import load_dataset
    from boxpromptiml.evaluate import evaluate
    from boxpromptiml.metrics import bootstrap_ci
    from boxpromptiml.predict import Localizer, predict_to_folder

    ds = load_dataset(folder, name="embedded-synth")
    kind = kinds_of(folder)
    pred = work / "predict" / run_name(model)
    t0 = time.perf_counter()
    loc = Localizer.from_checkpoint(model, device="auto")
    predict_to_folder(loc, [s.image for s in ds], pred, save_overlay=False, save_json=False,
                      progress=False)  # fmt: skip
    res = evaluate([ds], [pred / "maps"], progress=False).datasets[0]
    out: dict[str, Any] = {"kinds": {}}
    for k in KINDS:
        rows = [r for r in res.rows if r.get("label") == 1 and kind.get(str(r["name"])) == k]
        f1 = np.array([r["f1"] for r in rows], dtype=float)
        lo, hi = bootstrap_ci(f1)
        out["kinds"][k] = {
            "n": len(rows), "f1": float(f1.mean()), "f1_ci": [lo, hi],
            "iou": float(np.mean([r["iou"] for r in rows])),
            "auc": float(np.nanmean([r["auc"] for r in rows])),
        }  # fmt: skip
    forged = [r for r in res.rows if r.get("label") == 1]
    out["f1_all_kinds"] = float(np.mean([r["f1"] for r in forged]))
    out["image_auc"] = float(res.summary.get("image_auc", float("nan")))
    # false alarms: share of pixels above 0.5 on each authentic image, from its saved map
    au = [s for s in ds if s.label == 0]
    fa = [float((load_map(pred / "maps" / f"{s.name}.png") > 0.5).mean()) for s in au]
    out["authentic_n"] = len(au)
    out["authentic_flagged_pixels"] = float(np.mean(fa)) if fa else float("nan")
    out["authentic_any_flagged"] = float(np.mean([f > 0.01 for f in fa])) if fa else float("nan")
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", action="append", required=True, type=Path,
                   help="student checkpoint (.pt) or .onnx; repeat for several")  # fmt: skip
    p.add_argument("--n", type=int, default=60, help="forgeries per kind, on average (default 60)")
    p.add_argument("--authentic", type=int, default=60, help="authentic images (default 60)")
    p.add_argument("--work", type=Path, default=REPO / "runs" / "bench-generalisation")
    args = p.parse_args()

    for m in args.model:
        if not m.is_file():
            p.error(f"--model {m}: no such file")
    folder = make_set(args.work, args.n, args.authentic)
    floor = floor_f1(folder)
    head = "| run | " + " | ".join(f"{k} F1" for k in KINDS)
    lines = [
        head + " | all F1 | image AUC | authentic: pixels flagged | authentic: images with >1 % |",
        "|---|" + "---|" * (len(KINDS) + 4),
    ]
    for m in args.model:
        out = score(m, folder, args.work)
        for k in KINDS:
            out["kinds"][k]["floor_f1"] = floor[k]
        run = run_name(m)
        out.update(
            model=str(m), run=run, set=folder.name,
            date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            machine={"cpu": platform.processor() or platform.machine(),
                     "python": platform.python_version()},
        )  # fmt: skip
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"generalisation-{run}.json").write_text(json.dumps(out, indent=2) + "\n")
        ks = out["kinds"]
        cells = " | ".join(
            f"{ks[k]['f1']:.3f} [{ks[k]['f1_ci'][0]:.3f}, {ks[k]['f1_ci'][1]:.3f}]" for k in KINDS
        )
        lines.append(
            f"| {run} | {cells} | {out['f1_all_kinds']:.3f} | {out['image_auc']:.3f} "
            f"| {out['authentic_flagged_pixels']:.3f} | {out['authentic_any_flagged']:.2f} |"
        )
        print(lines[-1], flush=True)
    cells = " | ".join(f"{floor[k]:.3f}" for k in KINDS)
    lines.append(f"| floor: every pixel marked | {cells} | | 0.500 | 1.000 | 1.00 |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
