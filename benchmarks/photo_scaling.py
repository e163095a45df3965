"""Does the general student improve with more source photos? A photo-count scaling study.

    python benchmarks/photo_scaling.py --point 96 --point 12 --point 96:1 --point 24 --point 48

Every student the general recipe makes learns from synthetic forgeries of the recipe's
96 training photos (``benchmarks/_wild.py``), and none finds real forgeries much above
the all-pixels floor. If the number of distinct photos is what limits it, a student made
from fewer of them should be clearly worse, and the curve says what more photos might buy.

Each ``--point N[:SEED]`` takes the first ``N`` photos of one fixed random order of the
recipe's training photos (order drawn with seed 0 whatever ``SEED``, so the subsets are
nested: 12 ⊂ 24 ⊂ 48 ⊂ 96), synthesises ``--forged`` forgeries and ``--authentic``
untouched images from them with the recipe's settings and ``SEED`` (default 0), and trains
the recipe's student (ImageNet start, the recipe's losses and crops) for one epoch on
them: the reduced budget of ``benchmarks/general_ablation.py``. Only the photo count (and,
for a second seed, the random draws) differ between points. ``--variant NAME --synth
KEY=VALUE ...`` changes synthesiser settings from the recipe's for every point it runs (the
points are named ``n<N>-s<SEED>-NAME``), to compare a kind of synthetic data against the
plain points at the same budget, e.g.::

    python benchmarks/photo_scaling.py --point 96 --point 96:1 --variant object06 \
        --synth splice_object=0.6

The student of every point is packaged with the recipe's inference settings (tiled at
native resolution, one pass) and scored:

- on real data by ``benchmarks/realworld.py`` (F1, pixel AUC, image AUCs, untouched
  photos flagged);
- on held-out synthetic forgeries of photos no point uses (``benchmarks/generalisation.py``:
  the 8 photos embedded in the dependencies), the cleaner measure of how a student
  carries to photos it never saw.

Stages run through the pipeline engine and resume (``--work``, default
``runs/photo-scaling``). Writes ``benchmarks/results/photo-scaling-n<N>-s<SEED>.json`` per
point and prints one table (``--table-only`` prints it from the saved results;
``--plot PNG`` also draws them; with ``--variant NAME`` the table holds the plain points and
that variant's side by side).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generalisation
import realworld
from _wild import photo_split

REPO = Path(__file__).resolve().parents[1]
ORDER_SEED = 0


def parse_point(text: str) -> tuple[int, int]:
    """``N[:SEED]`` → ``(N, SEED)``."""
    n, _, seed = text.partition(":")
    try:
        return int(n), int(seed or 0)
    except ValueError:
        raise SystemExit(f"--point: expected N[:SEED] with whole numbers, got {text!r}") from None


def point_name(n: int, seed: int, variant: str | None) -> str:
    """``n96-s0``, or ``n96-s0-<variant>`` for a point with changed synthesiser settings."""
    return f"n{n}-s{seed}" + (f"-{variant}" if variant else "")


def photo_order() -> list[Path]:
    """The recipe's training photos in one fixed random order (seed 0)."""
    train, _ = photo_split()
    order = sorted(train)
    random.Random(ORDER_SEED).shuffle(order)
    return order


def summary(out: dict[str, Any]) -> dict[str, float]:
    """The figures the study compares, from one point's result."""
    rw, gen = out["realworld"], out["synthetic"]
    dev = [rw["sets"][s] for s in realworld.DEVELOPMENT if s in rw["sets"]]
    return {
        "dev_f1": float(np.mean([s["f1"] for s in dev])),
        "dev_f1_over_floor": float(np.mean([s["f1"] - s["floor_f1"] for s in dev])),
        "dev_pixel_auc": float(np.mean([s["pixel_auc"] for s in dev])),
        "dev_image_auc_mean": float(rw["development_image_auc"]["mean"]),
        "dev_image_auc_top1pct": float(rw["development_image_auc"]["top1pct"]),
        "untouched_over_1pct": float(rw["authentic"]["images_over_1pct"]),
        "synthetic_f1": float(gen["f1_all_kinds"]),
        "synthetic_pixel_auc": float(np.mean([k["auc"] for k in gen["kinds"].values()])),
        "synthetic_image_auc": float(gen["image_auc"]),
    }


def run_point(n: int, seed: int, args: argparse.Namespace, synth_set: Path) -> dict[str, Any]:
    from boxpromptiml.pipeline import Pipeline
    from boxpromptiml.recipes.general import get_recipe, package_model
    from boxpromptiml.synth.dataset import default_workers

    order = photo_order()
    if n < 2 or n > len(order):
        raise SystemExit(f"--point {n}: choose between 2 and {len(order)} photos")
    folder = args.work / point_name(n, seed, args.variant)
    folder.mkdir(parents=True, exist_ok=True)
    photos = folder / "photos.txt"
    photos.write_text("".join(f"{p.resolve()}\n" for p in order[:n]), encoding="utf-8")
    recipe = get_recipe("general")
    recipe = recipe.replace(
        photos=[str(photos)], forged=args.forged, authentic=args.authentic, seed=seed, epochs=1,
        synth={**recipe.synth, **args.synth},
    )  # fmt: skip
    pipe = Pipeline(folder, tag="scaling")
    t0 = time.perf_counter()
    data = pipe.synth(
        "data", list(recipe.photos), recipe.synth_config(), folder=folder / "data",
        workers=default_workers(), isolate=True,
    )  # fmt: skip
    t_synth = time.perf_counter() - t0
    trained = pipe.train(recipe.train_config(data, folder / "train"))
    t_train = time.perf_counter() - t0 - t_synth
    model = package_model(trained.last, folder / "model.pt", inference=recipe.inference())
    rw = realworld.score_model(model, None, None, None)
    rw.pop("image_scores", None)  # per-image scores stay in the run folder
    gen = generalisation.score(model, synth_set, folder / "synthetic")
    out: dict[str, Any] = {
        "label": f"photo-scaling-{point_name(n, seed, args.variant)}",
        "photos": n,
        "seed": seed,
        "synth_changes": args.synth,
        "photo_names": [p.name for p in order[:n]],
        "train": {"forged": args.forged, "authentic": args.authentic, "epochs": 1,
                  "synth_seconds": round(t_synth, 1), "train_seconds": round(t_train, 1)},
        "model": str(model),
        "realworld": rw,
        "synthetic": gen,
        "command": "python benchmarks/photo_scaling.py " + " ".join(sys.argv[1:]),
    }  # fmt: skip
    out["summary"] = summary(out)
    return out


COLUMNS = (
    ("dev_f1", "dev F1"), ("dev_f1_over_floor", "dev F1 − floor"),
    ("dev_pixel_auc", "dev pixel AUC"), ("dev_image_auc_mean", "dev image AUC (mean)"),
    ("untouched_over_1pct", "untouched > 1 %"), ("synthetic_f1", "held-out synth F1"),
    ("synthetic_pixel_auc", "held-out synth pixel AUC"),
    ("synthetic_image_auc", "held-out synth image AUC"),
)  # fmt: skip


def variant_of(result: dict[str, Any]) -> str:
    """The synthesiser settings a point changed (``recipe`` when none), e.g.
    ``splice_object=0.6``."""
    changes = result.get("synth_changes") or {}
    return ", ".join(f"{k}={v}" for k, v in sorted(changes.items())) or "recipe"


def table(results: list[dict[str, Any]]) -> str:
    """Markdown table, one row per point, ordered by photo count, seed, then synthesis."""
    head = "| photos | seed | synthesis | " + " | ".join(c for _, c in COLUMNS) + " |"
    lines = [head, "|---|---|---|" + "---|" * len(COLUMNS)]
    order = sorted(results, key=lambda r: (r["photos"], r["seed"], bool(r.get("synth_changes"))))
    for r in order:
        cells = " | ".join(f"{r['summary'][k]:.3f}" for k, _ in COLUMNS)
        lines.append(f"| {r['photos']} | {r['seed']} | {variant_of(r)} | {cells} |")
    return "\n".join(lines)


PLOTTED = (
    ("dev_pixel_auc", "real forgeries: pixel AUC (dev sets)"),
    ("dev_image_auc_mean", "real forgeries: image AUC (mean score)"),
    ("synthetic_pixel_auc", "held-out synthetic: pixel AUC"),
    ("untouched_over_1pct", "untouched photos > 1 % flagged"),
)


def plot(results: list[dict[str, Any]], path: Path) -> Path:
    """One panel per figure of :data:`PLOTTED` against the photo count (log scale), a
    marker per seed; saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PLOTTED), figsize=(4 * len(PLOTTED), 3.4))
    for ax, (key, title) in zip(axes, PLOTTED, strict=True):
        for seed, marker in ((0, "o"), (1, "s")):
            pts = sorted((r["photos"], r["summary"][key]) for r in results if r["seed"] == seed)
            if pts:
                ax.plot(*zip(*pts, strict=True), marker=marker, label=f"seed {seed}")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({r["photos"] for r in results}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("training photos")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--point", action="append", required=True, metavar="N[:SEED]")
    p.add_argument("--forged", type=int, default=3000)
    p.add_argument("--authentic", type=int, default=2000)
    p.add_argument("--work", type=Path, default=REPO / "runs" / "photo-scaling")
    p.add_argument("--table-only", action="store_true",
                   help="print the table of the points' saved results, run nothing")  # fmt: skip
    p.add_argument("--plot", type=Path, help="also draw the points' results into this PNG")
    p.add_argument("--synth", action="append", default=[], metavar="KEY=VALUE",
                   help="a synthesiser setting changed from the recipe's (SynthConfig field); "
                   "needs --variant")  # fmt: skip
    p.add_argument("--variant", help="name of the changed settings, added to each point's name")
    args = p.parse_args()
    from boxpromptiml.overrides import parse_overrides
    from boxpromptiml.recipes.general import GENERAL_SYNTH
    from boxpromptiml.synth import SynthConfig

    args.synth = parse_overrides(
        args.synth, "--synth", {**SynthConfig().to_dict(), **GENERAL_SYNTH}
    )
    if bool(args.synth) != bool(args.variant) and not (args.table_only and args.variant):
        p.error("--synth and --variant go together: name the changed settings")
    points = [parse_point(t) for t in args.point]
    results = []
    if args.table_only:  # the plain points, and with --variant that variant's too
        for n, seed in points:
            for variant in dict.fromkeys([None, args.variant]):
                path = realworld.RESULTS / f"photo-scaling-{point_name(n, seed, variant)}.json"
                if path.is_file():
                    results.append(json.loads(path.read_text()))
        print(table(results))
        if args.plot:
            print(f"wrote {plot(results, args.plot)}")
        return
    synth_set = generalisation.make_set(REPO / "runs" / "bench-generalisation", 60, 60)
    for n, seed in points:
        out = run_point(n, seed, args, synth_set)
        print(f"wrote {realworld.save(out, name=out['label'] + '.json')}", flush=True)
        results.append(out)
        print(table([out]).splitlines()[-1], flush=True)
    print(table(results))
    if args.plot:
        print(f"wrote {plot(results, args.plot)}")


if __name__ == "__main__":
    main()
