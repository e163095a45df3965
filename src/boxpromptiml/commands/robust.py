"""Measure how localization degrades under JPEG, resizing, blur, noise and upload chains.

Each image of each DATASET is predicted clean and under every perturbation level
(applied in memory; the dataset is never modified), and pixel F1 / AUC / IoU are reported
per level with the relative drop against the clean images. Untouched images (a dataset's
Au/ folder, or photos given with --untouched) are perturbed alike and give the false
alarms per level: the share of them with more than 1 % of their pixels flagged, and the
image-level AUC where forged and untouched images are both present. Writes
robustness.json, robustness.csv and one plot per perturbation family to the run folder.

Test a trained student (--model, a .pt checkpoint or an exported .onnx), or a box-prompted
teacher (--teacher NAME with --boxes, a COCO box file) to see how its pseudo-masks hold up.

default levels:
  jpeg     quality 100 90 80 70 60 50
  resize   scale 0.25 0.5 0.75 (down, then back to the original size)
  blur     Gaussian kernel 3 7 11 15
  noise    Gaussian sigma 3 7 15 23 (0-255 scale)
  social   facebook whatsapp wechat weibo (see boxpromptiml.robust.perturb)

examples:
  boxprompt robust data/coverage --model runs/train/exp/best.pt --on-size-mismatch skip
  boxprompt robust data/coverage --model model.onnx --families jpeg,social --max-images 20
  boxprompt robust data/coverage --teacher ensemble --boxes boxes.json --levels blur=3,15
  boxprompt robust --untouched photos/ --model general-v4 --families jpeg,social
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from boxpromptiml.commands._common import (
    add_dataset_arguments,
    add_output_arguments,
    dataset_from_args,
    output_from_args,
)

if TYPE_CHECKING:
    from boxpromptiml.data.sources import Dataset


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_dataset_arguments(p, many=True, optional=True)
    p.add_argument(
        "--untouched",
        action="append",
        default=[],
        metavar="PHOTOS",
        help="untouched photos (folder, glob, file or .txt list; repeatable): their false "
        "alarms per level, as one more dataset named after the first",
    )
    p.add_argument(
        "--no-untouched",
        action="store_true",
        help="leave out the datasets' untouched (Au/) images: forged images only, faster",
    )
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--model", help="student checkpoint (.pt), exported ONNX model, or a shipped model's name"
    )
    who.add_argument("--teacher", help="teacher name (with --boxes): sweep the pseudo-masks")
    p.add_argument("--boxes", help="COCO box file for --teacher")
    p.add_argument("--families", default=None, help="comma list of families (default: all)")
    p.add_argument(
        "--levels",
        action="append",
        default=[],
        metavar="FAMILY=L1,L2",
        help="override the levels of one family (repeatable)",
    )
    p.add_argument("--threshold", type=float, default=0.5, help="binarisation threshold (0.5)")
    p.add_argument(
        "--max-images", type=int, default=None, help="at most this many of each kind per dataset"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:i] (default auto)")
    add_output_arguments(p, "robust")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _parse_sweep(args: argparse.Namespace) -> dict[str, list[float | int | str]]:
    from boxpromptiml.errors import ConfigError
    from boxpromptiml.robust.perturb import DEFAULT_SWEEP, parse_levels

    sweep: dict[str, list[float | int | str]] = dict(DEFAULT_SWEEP)
    if args.families:
        fams = [f.strip() for f in args.families.split(",") if f.strip()]
        unknown = [f for f in fams if f not in DEFAULT_SWEEP]
        if unknown:
            raise ConfigError(
                f"unknown family {unknown[0]!r}; choose from {', '.join(DEFAULT_SWEEP)}"
            )
        sweep = {f: DEFAULT_SWEEP[f] for f in fams}
    for item in args.levels:
        fam, levels = parse_levels(item)
        sweep[fam] = levels
    return sweep


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from boxpromptiml.data.sources import Sample
    from boxpromptiml.errors import ConfigError
    from boxpromptiml.robust.sweep import robustness_sweep

    sweep = _parse_sweep(args)
    if not args.datasets and not args.untouched:
        raise ConfigError("give a DATASET, untouched photos (--untouched PHOTOS), or both")
    if args.untouched and args.no_untouched:
        raise ConfigError("--untouched and --no-untouched contradict each other")
    datasets = dataset_from_args(args) + ([_untouched(args.untouched)] if args.untouched else [])
    image_reduce = "max"
    if args.model:
        from boxpromptiml.predict import Localizer
        from boxpromptiml.predict.shipped import resolve_model

        localizer = Localizer.from_checkpoint(resolve_model(args.model), device=args.device)
        image_reduce = localizer.image_score

        def predict(images: list[np.ndarray], sample: Sample) -> list[np.ndarray]:
            return localizer.predict_maps(images)

        what = f"model {args.model}"
    else:
        if not args.boxes:
            raise ConfigError("--teacher needs --boxes (a COCO box file)")
        from boxpromptiml.data.boxes import read_coco
        from boxpromptiml.teachers import build_teacher

        teacher = build_teacher(args.teacher)
        boxes = read_coco(args.boxes).by_stem()

        def predict(images: list[np.ndarray], sample: Sample) -> list[np.ndarray]:
            entry = boxes.get(sample.name)
            b = entry.boxes if entry is not None else np.zeros((0, 4))
            return [teacher.predict(im, b).combined() for im in images]

        what = f"teacher {args.teacher} with boxes {args.boxes}"
    result = robustness_sweep(
        predict,
        datasets,
        sweep,
        threshold=args.threshold,
        seed=args.seed,
        on_size_mismatch=args.on_size_mismatch,
        invert_masks=args.invert_masks,
        max_images=args.max_images,
        untouched=not args.no_untouched,
        image_reduce=image_reduce,
        progress=not args.no_progress,
    )
    result.settings["tested"] = what
    out = output_from_args(args, "robust")
    paths = result.save(out)
    console = Console(width=None if sys.stdout.isatty() else 140)
    table = Table(title=f"robustness of {what}")
    quiet = any(r["n_authentic"] for r in result.rows)
    cols = ["dataset", "condition", "n", "F1", "AUC", "IoU", "F1 rel."]
    cols += ["untouched", "> 1 % flagged", "image AUC"] if quiet else []
    for col in cols:
        table.add_column(col, justify="left" if col in ("dataset", "condition") else "right")
    for r in result.relative_drop("f1"):
        cells = [r["dataset"], r["condition"], str(r["n"])]
        cells += [_fmt(r[k]) for k in ("f1", "auc", "iou", "f1_relative")]
        if quiet:
            cells += [str(r["n_authentic"]), _fmt(r["authentic_over_1pct"]), _fmt(r["image_auc"])]
        table.add_row(*cells)
    console.print(table)
    for msg in result.problems:
        console.print(f"[yellow]skipped[/yellow]: {msg}", highlight=False, soft_wrap=True)
    console.print(f"results saved to [bold]{out}[/bold] ({len(paths)} files)", highlight=False)
    return 0


def _fmt(x: float) -> str:
    """A figure with three decimals, or a dash where it does not apply (NaN)."""
    return "—" if x != x else f"{x:.3f}"


def _untouched(sources: list[str]) -> Dataset:
    """The photos of ``--untouched`` as one dataset of untouched (label 0) samples."""
    from pathlib import Path

    from boxpromptiml.data.sources import Dataset, Sample, images_dataset

    samples = [Sample(s.name, s.image, None, 0) for s in images_dataset(sources)]
    first = Path(sources[0])  # a folder or a .txt list names the set; a glob or files do not
    named = first.is_dir() or first.suffix.lower() == ".txt"
    return Dataset((first.stem if first.suffix else first.name) if named else "untouched", samples)
