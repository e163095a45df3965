"""Write a self-contained HTML report of an evaluation run (one file, opens offline).

RUN is a folder written by 'boxprompt evaluate' (it holds results.json). The page shows
the summary and per-dataset tables, the settings, F1 histograms and pooled
precision-recall / ROC curves, the best and worst images by F1 with thumbnails of image,
ground truth, pseudo-mask (--pseudo), predicted map and error overlay (green: detected,
red: false alarm, blue: missed), and a sortable per-image table. --robust adds the
tables and plots of a robustness run. Every picture is embedded; nothing is fetched.

Images are found from the paths recorded in results.json; if the files moved, give the
datasets again with --dataset (same DATASET syntax as evaluate, named as in the run) and
the prediction folders with --pred.

examples:
  boxprompt report runs/evaluate/exp
  boxprompt report runs/evaluate/exp --pseudo runs/pseudo/coverage --robust runs/robust/exp
  boxprompt report runs/evaluate/exp2 --dataset cov=data/COVERAGE --pred maps/cov --top-k 10
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="evaluation run folder (with results.json)")
    p.add_argument("--out", "-o", default=None, help="output HTML file (default RUN/report.html)")
    p.add_argument(
        "--pseudo",
        nargs="+",
        default=[],
        metavar="[NAME=]DIR",
        help="pseudo-mask folder(s) (PNG/.npy named by image stem): one per dataset in order, "
        "or NAME=DIR",
    )
    p.add_argument("--robust", default=None, metavar="DIR", help="robustness run folder to add")
    p.add_argument(
        "--boxes",
        default=None,
        metavar="COCO",
        help="box file of boxprompt annotate: adds its annotation effort (time and boxes per image)",
    )
    p.add_argument(
        "--dataset",
        action="append",
        default=[],
        metavar="NAME=DATASET",
        help="re-resolve a dataset of the run from ROOT, LIST.json or IMAGES_DIR,MASKS_DIR "
        "(repeatable; NAME as in the run)",
    )
    p.add_argument(
        "--pred",
        nargs="+",
        default=[],
        metavar="[NAME=]DIR",
        help="predicted-map folder(s) replacing the recorded ones: one per dataset, or NAME=DIR",
    )
    p.add_argument(
        "--pred-suffix",
        default=None,
        metavar="SUFFIX",
        help="suffix of predicted-map stems, e.g. _pred (default: as recorded in the run, else none)",
    )
    p.add_argument(
        "--mask-suffix",
        action="append",
        default=None,
        metavar="SUFFIX",
        help="mask file-stem suffix for --dataset pairing (repeatable; default: '', _gt, _mask)",
    )
    p.add_argument(
        "--invert-masks",
        action="store_true",
        default=None,
        help="masks mark manipulated pixels black (default: as recorded in the run, else no)",
    )
    p.add_argument(
        "--top-k",
        type=int,
        default=6,
        metavar="K",
        help="best and worst images shown per dataset (default 6)",
    )
    p.add_argument(
        "--max-images",
        type=int,
        metavar="N",
        default=200,
        help="rows of the per-image table per dataset (default 200)",
    )
    p.add_argument(
        "--thumb-size",
        type=int,
        metavar="PX",
        default=256,
        help="longest side of case thumbnails in px (default 256)",
    )
    p.add_argument(
        "--curve-pixels",
        type=int,
        metavar="N",
        default=2_000_000,
        help="pixels sampled per dataset for the PR/ROC curves; 0 = no curves (default 2000000)",
    )
    p.add_argument("--no-roc", action="store_true", help="leave out the ROC curves")
    p.add_argument(
        "--image-format",
        choices=("jpeg", "png"),
        default="jpeg",
        help="format of photo thumbnails (masks and maps are PNG; default jpeg)",
    )
    p.add_argument("--title", default=None, help="page title")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def split_named(values: list[str], what: str) -> dict[str, str] | list[str] | None:
    """``NAME=DIR`` entries as a mapping, plain ``DIR`` entries as a list, empty as ``None``.

    Mixing both forms is refused. As for DATASET specs, a value starting with ``/`` or
    ``.`` is a path even if it contains ``=``.
    """
    from boxpromptiml.errors import ConfigError

    if not values:
        return None
    named = ["=" in v and not v.startswith(("/", ".")) for v in values]
    if all(named):
        out: dict[str, str] = {}
        for v in values:
            k, d = v.split("=", 1)
            if k in out:
                raise ConfigError(f"{what}: dataset '{k}' given twice")
            out[k] = d
        return out
    if any(named):
        raise ConfigError(f"{what}: give either NAME=DIR for every folder or none")
    return list(values)


def run(args: argparse.Namespace) -> int:
    from boxpromptiml.data.sources import DEFAULT_MASK_SUFFIXES, parse_dataset_spec
    from boxpromptiml.report import ReportOptions, build_report

    suffixes = tuple(args.mask_suffix) if args.mask_suffix else DEFAULT_MASK_SUFFIXES
    datasets = [parse_dataset_spec(s, suffixes) for s in args.dataset]
    options = ReportOptions(
        top_k=args.top_k,
        max_images=args.max_images,
        thumb_size=args.thumb_size,
        max_curve_pixels=args.curve_pixels,
        roc=not args.no_roc,
        image_format=args.image_format,
    )
    extra = None
    if args.boxes:
        from boxpromptiml.annotate.stats import annotation_stats

        st = annotation_stats(args.boxes)
        t, b = st["seconds_per_image"], st["boxes_per_image"]
        extra = {
            "Annotation effort": [
                {
                    "box file": st["file"],
                    "images": st["images"],
                    **{f"status {k}": v for k, v in sorted(st["status"].items())},
                    "boxes per image (mean)": round(b["mean"], 2),
                    "timed images": t["n"],
                    "seconds per image (median)": round(t["median"], 1) if t["n"] else None,
                    "seconds per image (mean)": round(t["mean"], 1) if t["n"] else None,
                    "seconds per box": round(st["seconds_per_box"], 1) if t["n"] else None,
                    "paper: seconds per image": st["paper_seconds_per_image"],
                }
            ]
        }
    path = build_report(
        args.run,
        args.out,
        datasets=datasets or None,
        pred_dirs=split_named(args.pred, "--pred"),
        pseudo_dirs=split_named(args.pseudo, "--pseudo"),
        robust_dir=args.robust,
        options=options,
        invert_masks=args.invert_masks,
        pred_suffix=args.pred_suffix,
        title=args.title,
        progress=not args.no_progress,
        extra=extra,
    )
    size = path.stat().st_size
    print(f"report written to {path} ({size / 1e6:.1f} MB)")
    return 0
