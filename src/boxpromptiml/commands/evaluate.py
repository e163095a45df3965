"""Score predicted maps against ground-truth masks, for any localization method.

Give one or more DATASETs and, with --pred, one folder of predicted maps per dataset in
the same order. Maps are PNG (0-255) or .npy (float in [0, 1]) named by the image's file
stem, resized bilinearly to the mask size. Prints a per-dataset table with an average row
and writes results.json, summary.csv and per_image.csv to the run folder.

Pixel metrics (F1, IoU, precision, recall at --threshold; pixel AUC; permuted and
best-threshold F1) are computed per image and averaged over the manipulated images of a
dataset; micro F1 pools the pixels of a dataset. When authentic images are present,
image-level AUC and balanced accuracy use the max of each map as the image score.

examples:
  boxprompt evaluate --example
  boxprompt evaluate data/coverage --pred preds/coverage --on-size-mismatch skip
  boxprompt evaluate casia=lists/casia.json cov=data/coverage --pred p/casia p/cov
"""

from __future__ import annotations

import argparse
import sys

from boxpromptiml.commands._common import (
    add_dataset_arguments,
    add_output_arguments,
    add_split_argument,
    dataset_from_args,
    output_from_args,
)
from boxpromptiml.metrics import IMAGE_REDUCTIONS


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_dataset_arguments(p, many=True, optional=True)  # optional: --example needs none
    p.add_argument(
        "--pred",
        nargs="+",
        default=[],
        metavar="DIR",
        help="predicted-map folder(s), one per dataset",
    )
    p.add_argument(
        "--example", action="store_true", help="evaluate the tiny example shipped with the package"
    )
    p.add_argument(
        "--threshold", type=float, default=0.5, help="binarisation threshold of maps (default 0.5)"
    )
    p.add_argument(
        "--image-score",
        choices=IMAGE_REDUCTIONS,
        default="max",
        help="how a map becomes an image-level score (default max)",
    )
    p.add_argument("--pred-suffix", default="", help="suffix of predicted-map stems, e.g. _pred")
    p.add_argument(
        "--on-missing-pred",
        choices=("error", "skip", "zero"),
        default="error",
        help="images without a predicted map: stop, leave out, or score as all-zero (default error)",
    )
    add_split_argument(p, what=" of every DATASET")
    add_output_arguments(p, "evaluate")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from boxpromptiml.errors import ConfigError
    from boxpromptiml.evaluate import evaluate

    if args.example:
        from boxpromptiml.data.sources import load_dataset
        from boxpromptiml.example import example_paths

        root, pred = example_paths()
        datasets = [load_dataset(root, name="example")]
        pred_dirs = [str(pred)]
    else:
        if not args.datasets:
            raise ConfigError("give at least one DATASET (or --example)")
        datasets = dataset_from_args(args)
        pred_dirs = args.pred
    result = evaluate(
        datasets,
        pred_dirs,
        threshold=args.threshold,
        image_reduce=args.image_score,
        pred_suffix=args.pred_suffix,
        on_size_mismatch=args.on_size_mismatch,
        on_missing_pred=args.on_missing_pred,
        invert_masks=args.invert_masks,
        progress=not args.no_progress,
    )
    out = output_from_args(args, "evaluate")
    paths = result.save(out)
    # a pipe or log file gets a wide table instead of truncated cells
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(result.rich_table())
    for d in result.datasets:
        for msg in d.problems:
            what = "note" if msg.endswith("[scored]") else "skipped"
            console.print(
                f"[yellow]{what}[/yellow] ({d.name}): {msg}", highlight=False, soft_wrap=True
            )
    console.print(
        f"results saved to [bold]{out}[/bold] ({', '.join(p.name for p in paths.values())})",
        highlight=False,
    )
    return 0
