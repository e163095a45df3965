"""Real forgeries and untouched photos that a model never trained on.

    python benchmarks/realworld.py MODEL [MODEL ...]
    python benchmarks/realworld.py --shipped runs/train/demo/last.pt --label demo=...

Sets (each skipped when absent; none is copied into the repository):

- ``coverage-train`` / ``coverage-test``: the 62 train / 29 test images of
  ``../shared/data/coverage/split.json`` (settings of the general recipe are chosen on
  ``coverage-train``, ``casia2`` and ``mixed``, never on ``coverage-test``);
  ``coverage-all``: the 91 COVERAGE images whose mask fits the image (copy-moves of
  similar objects, 400–750 px PNG). Read ``coverage-all`` only for models that never saw
  COVERAGE.
- ``casia2``: 21 CASIA v2 splices and copy-moves (``real-dev/casia2``, 384–800 px).
- ``mixed``: 5 NIST16, IMD2020 and Korus images (``real-dev/mixed``, up to 4000×3000).
- ``authentic``: the photos held out of the general recipe's synthesis
  (``benchmarks/_wild.py``: kodak24, a quarter of cbsd68, a quarter of the Debian
  wallpaper photos), untouched.

Per forged set: per-image pixel F1 at 0.5 (mean and 95 % bootstrap interval), the floor
(every pixel marked manipulated), pixel AUC, and the image-level AUC of the set against
the authentic photos, for every image score of ``boxpromptiml.metrics.IMAGE_REDUCTIONS``
(the map's ``max``, ``mean``, and ``top<q>pct`` = mean of the top q % of pixels), and the
share of forged images detected when the image threshold lets 5 % of the authentic photos
through. ``development_image_auc``: the same AUC with the forged images of the development
sets (coverage-train, casia2, mixed) pooled, the figure for choosing a score without the
test split; every image's scores are saved (``image_scores``). On the authentic photos:
mean share of pixels above 0.5 and share of photos with more than 1 % flagged, also per
source (``by_source``). The inference settings are the model's own (packaged ones for a
recipe model: tiled, longer side capped; plain resize for the others) unless
``--tile``/``--no-tile``, ``--max-side`` and ``--tta`` (test-time mirroring) say otherwise.
The table's image AUC column reads ``--score`` (default ``top1pct``).

Writes ``benchmarks/results/realworld-<label>.json`` per model and prints a Markdown table
(also saved as ``benchmarks/results/realworld-table.md`` when ``--table`` is given).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import run_name
from _wild import SHARED, photo_split

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
DEVELOPMENT = ("coverage-train", "casia2", "mixed")


def forged_sets() -> dict[str, list[tuple[str, Path, Path]]]:
    """Set name → ``(name, image, mask)`` triples of the real forged sets present."""
    from boxpromptiml.data.sources import load_dataset

    out: dict[str, list[tuple[str, Path, Path]]] = {}
    cov = SHARED / "coverage"
    if (cov / "split.json").is_file():
        split = json.loads((cov / "split.json").read_text())
        ds = {s.name: s for s in load_dataset(cov)}
        keep = set(split["train"]) | set(split["test"])
        out["coverage-train"] = [(n, ds[n].image, ds[n].mask) for n in split["train"]]  # type: ignore[misc]
        out["coverage-test"] = [(n, ds[n].image, ds[n].mask) for n in split["test"]]  # type: ignore[misc]
        out["coverage-all"] = [
            (n, s.image, s.mask) for n, s in sorted(ds.items()) if n in keep and s.mask
        ]  # type: ignore[misc]
    for name in ("casia2", "mixed"):
        root = SHARED / "real-dev" / name
        if (root / "Tp").is_dir():
            out[name] = [(s.name, s.image, s.mask) for s in load_dataset(root) if s.mask]  # type: ignore[misc]
    return out


def each_map(loc: Any, skip: tuple[str, ...] = ()) -> Any:
    """``(set, map, mask)`` for every held-out untouched photo (set ``"authentic"``, mask
    ``None``), then every image of the forged sets (but ``skip``) whose mask fits it, one
    prediction each: the loop every real-world benchmark scores from."""
    from boxpromptiml.data.images import load_image, load_mask

    _, held = photo_split()
    for path in held:
        yield "authentic", loc.predict_maps([load_image(path)])[0], None
    for set_name, items in forged_sets().items():
        if set_name in skip:
            continue
        for _, image_path, mask_path in items:
            image, mask = load_image(image_path), load_mask(mask_path)
            if mask.shape != image.shape[:2]:
                continue
            yield set_name, loc.predict_maps([image])[0], mask


def _scores(prob: np.ndarray) -> dict[str, float]:
    from boxpromptiml.metrics import IMAGE_REDUCTIONS, image_score

    return {r: image_score(prob, r) for r in IMAGE_REDUCTIONS}


def _flagged_summary(flagged: list[float]) -> dict[str, Any]:
    """Mean share of pixels over 0.5, and share of photos with more than 1 % of them."""
    return {
        "n": len(flagged),
        "flagged_pixels": float(np.mean(flagged)) if flagged else None,
        "images_over_1pct": float(np.mean([f > 0.01 for f in flagged])) if flagged else None,
    }


def _by_source(flagged: list[float]) -> dict[str, Any]:
    """:func:`_flagged_summary` per source of the held-out photos (``kodak24``, ``cbsd68``,
    ``wallpapers``), in the order :func:`each_map` predicts them."""
    _, held = photo_split()
    groups: dict[str, list[float]] = {}
    for path, f in zip(held, flagged, strict=True):
        source = path.parent.name if path.parent.parent == SHARED / "photos" else "wallpapers"
        groups.setdefault(source, []).append(f)
    return {k: _flagged_summary(v) for k, v in groups.items()}


def score_model(
    model: Path, tile: bool | None, max_side: int | None, tta: str | None = None
) -> dict[str, Any]:
    """Predict every set with ``model`` and score it (see the module docstring)."""
    from boxpromptiml.metrics import IMAGE_REDUCTIONS, bootstrap_ci, floor_f1, pixel_scores, roc_auc
    from boxpromptiml.predict import Localizer

    kwargs: dict[str, Any] = {}
    if tile is not None:
        kwargs["tile"] = tile
    if max_side is not None:
        kwargs["max_side"] = max_side
    if tta is not None:
        kwargs["tta"] = tta
    loc = Localizer.from_checkpoint(model, device="auto", **kwargs)
    t0 = time.perf_counter()
    au_scores: list[dict[str, float]] = []
    flagged: list[float] = []
    per_set: dict[str, dict[str, list[Any]]] = {}
    for set_name, prob, mask in each_map(loc):
        if mask is None:
            flagged.append(float((prob > 0.5).mean()))
            au_scores.append(_scores(prob))
            continue
        acc = per_set.setdefault(set_name, {"f1": [], "floor": [], "auc": [], "sc": []})
        s = pixel_scores(prob, mask, 0.5)
        acc["f1"].append(s["f1"])
        acc["auc"].append(s.get("auc", float("nan")))
        acc["floor"].append(floor_f1(mask))
        acc["sc"].append(_scores(prob))
    out: dict[str, Any] = {
        "inference": loc.info | {"tile": loc.tile, "max_side": loc.max_side, "tta": loc.tta},
        "authentic": {**_flagged_summary(flagged), "by_source": _by_source(flagged)},
        "sets": {},
    }
    for set_name, acc in per_set.items():
        f1, floor, auc, sc = acc["f1"], acc["floor"], acc["auc"], acc["sc"]
        lo, hi = bootstrap_ci(f1)
        image_auc = {}
        at_5pct = {}
        for r in IMAGE_REDUCTIONS:
            if au_scores:  # the score 95 % of untouched photos stay under: 5 % false alarms
                cut = float(np.quantile([x[r] for x in au_scores], 0.95))
                at_5pct[r] = {"threshold": cut,
                              "detected": float(np.mean([x[r] > cut for x in sc]))}  # fmt: skip
            scores = [x[r] for x in sc] + [x[r] for x in au_scores]
            labels = [1] * len(sc) + [0] * len(au_scores)
            image_auc[r] = roc_auc(scores, labels) if au_scores else None
        out["sets"][set_name] = {
            "n": len(f1),
            "f1": float(np.mean(f1)),
            "f1_ci": [lo, hi],
            "floor_f1": float(np.mean(floor)),
            "pixel_auc": float(np.nanmean(auc)),
            "image_auc": image_auc,
            "detected_at_5pct_false_alarms": at_5pct,
        }
    dev = [x for name in DEVELOPMENT for x in per_set.get(name, {}).get("sc", [])]
    if dev and au_scores:
        labels = [1] * len(dev) + [0] * len(au_scores)
        out["development_image_auc"] = {
            "n_forged": len(dev), "n_authentic": len(au_scores),
            **{r: roc_auc([x[r] for x in dev + au_scores], labels) for r in IMAGE_REDUCTIONS},
        }  # fmt: skip
    out["image_scores"] = {"authentic": au_scores} | {k: v["sc"] for k, v in per_set.items()}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def save(out: dict[str, Any], name: str | None = None) -> Path:
    """Write one result, with date and machine, atomically as ``benchmarks/results/NAME``
    (default ``realworld-<label>.json``)."""
    from boxpromptiml.fileio import atomic_write_text

    out.setdefault("date", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    out.setdefault(
        "machine", {"cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(), "python": platform.python_version()}
    )  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / (name or f"realworld-{out['label']}.json")
    return atomic_write_text(path, json.dumps(out, indent=2) + "\n")


def table(results: list[dict[str, Any]], score: str = "top1pct") -> str:
    """Markdown table: one row per model; image AUC of ``score`` averaged over
    coverage-test, casia2 and mixed (each against the held-out authentic photos)."""
    sets = [s for s in ("coverage-train", "coverage-test", "casia2", "mixed")
            if any(s in r["sets"] for r in results)]  # fmt: skip
    head = "| model | " + " | ".join(f"{s} F1 (floor)" for s in sets)
    head += f" | image AUC ({score}) | authentic px flagged | authentic >1 % |"
    lines = [head, "|---|" + "---|" * (len(sets) + 3)]
    for r in results:
        cells = []
        for s in sets:
            v = r["sets"].get(s)
            cells.append(
                f"{v['f1']:.3f} [{v['f1_ci'][0]:.2f}, {v['f1_ci'][1]:.2f}] ({v['floor_f1']:.3f})"
                if v else "–"
            )  # fmt: skip
        aucs = [r["sets"][s]["image_auc"].get(score) for s in ("coverage-test", "casia2", "mixed")
                if s in r["sets"]]  # fmt: skip
        auc = f"{np.mean(aucs):.3f}" if aucs and None not in aucs else "–"  # older results
        au = r["authentic"]
        lines.append(
            f"| {r['label']} | " + " | ".join(cells)
            + f" | {auc} | {au['flagged_pixels']:.3f} | {au['images_over_1pct']:.2f} |"
        )  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    from boxpromptiml.metrics import IMAGE_REDUCTIONS
    from boxpromptiml.predict.localizer import TTA_MODES

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("models", nargs="*", type=Path, help="student checkpoints (.pt) or .onnx")
    p.add_argument("--load", action="append", default=[], metavar="LABEL",
                   help="add the saved result realworld-LABEL.json to the table (no scoring)")  # fmt: skip
    p.add_argument("--label", action="append", default=[], metavar="NAME",
                   help="result name per model, in order (default: the run folder)")  # fmt: skip
    g = p.add_mutually_exclusive_group()
    g.add_argument("--tile", dest="tile", action="store_true", default=None)
    g.add_argument("--no-tile", dest="tile", action="store_false")
    p.add_argument("--max-side", type=int, default=None)
    p.add_argument("--tta", choices=TTA_MODES, default=None,
                   help="test-time mirroring (default: the model's own setting)")  # fmt: skip
    p.add_argument("--table", action="store_true", help="also write realworld-table.md")
    p.add_argument("--score", default="top1pct", choices=IMAGE_REDUCTIONS,
                   help="image score of the table's image AUC column (default top1pct)")  # fmt: skip
    args = p.parse_args()
    for m in args.models:
        if not m.is_file():
            p.error(f"{m}: no such file")
    results = []
    for i, m in enumerate(args.models):
        label = args.label[i] if i < len(args.label) else run_name(m)
        out = score_model(m, args.tile, args.max_side, args.tta)
        out.update(
            label=label, model=str(m),
            command="python benchmarks/realworld.py " + " ".join(sys.argv[1:]),
        )  # fmt: skip
        save(out)
        results.append(out)
        print(table([out], args.score).splitlines()[-1], flush=True)
    for label in args.load:
        results.append(json.loads((RESULTS / f"realworld-{label}.json").read_text()))
    if not results:
        p.error("give MODELS to score or --load LABEL")
    text = table(results, args.score)
    print(text)
    if args.table:
        (RESULTS / "realworld-table.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
