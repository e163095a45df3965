"""Write a COCO box file for a mask dataset, drawn by the simulated annotator.

One box per connected manipulated region (regions under --min-area pixels dropped, regions
within --merge-distance pixels merged), grown outward by --margin of the box size on each
side, moved by up to --jitter of the box size at random (seeded). Authentic images get no
box. The file imports into CVAT or Label Studio as COCO detection annotations.
"""

from __future__ import annotations

import argparse

from boxpromptiml.commands._common import add_dataset_arguments, dataset_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_dataset_arguments(p, many=False)
    p.add_argument(
        "-o",
        "--out",
        default=None,
        help="COCO JSON file to write (default runs/boxes/<name>/boxes.json)",
    )
    p.add_argument("--name", default="exp", help="run name under runs/boxes (default exp)")
    p.add_argument("--exist-ok", action="store_true", help="reuse runs/boxes/<name> if it exists")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace --out when it exists (it may hold hand-drawn boxes: refused by default)",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=0.10,
        help="outward margin, 0-1 of the box size (default 0.1)",
    )
    p.add_argument(
        "--jitter",
        type=float,
        default=0.0,
        help="random side shift, 0-0.5 of the box size (default 0)",
    )
    p.add_argument(
        "--min-area",
        type=int,
        default=16,
        help="smallest region in pixels that gets a box (default 16)",
    )
    p.add_argument(
        "--merge-distance",
        type=int,
        default=0,
        help="merge regions closer than this many pixels (default 0)",
    )
    p.add_argument(
        "--miss",
        type=float,
        default=0.0,
        help="probability of leaving a region unboxed (default 0)",
    )
    p.add_argument(
        "--extra",
        type=float,
        default=0.0,
        help="probability of one false box on an untouched area per image (default 0)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed for the jitter (default 0)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from boxpromptiml.commands._common import output_from_args
    from boxpromptiml.data.annotator import AnnotatorConfig, annotate_dataset
    from boxpromptiml.data.boxes import write_coco
    from boxpromptiml.errors import ConfigError

    # --out names the file; without it the file goes into the run folder
    out = Path(args.out) if args.out else output_from_args(args, "boxes") / "boxes.json"
    if out.is_dir():
        raise ConfigError(f"{out}: --out is a folder; give the COCO JSON file to write")
    if out.exists() and not args.force:
        raise ConfigError(
            f"{out}: already exists (it may hold hand-drawn boxes); pass --force to replace "
            "it, or write beside it"
        )

    config = AnnotatorConfig(
        margin=args.margin,
        jitter=args.jitter,
        min_area=args.min_area,
        merge_distance=args.merge_distance,
        seed=args.seed,
        miss=args.miss,
        extra=args.extra,
    )
    ds = dataset_from_args(args)[0]
    box_file = annotate_dataset(
        ds, config, on_size_mismatch=args.on_size_mismatch, invert_masks=args.invert_masks
    )
    path = write_coco(out, box_file)
    n_boxes = sum(len(im.boxes) for im in box_file)
    n_auth = sum(im.authentic for im in box_file)
    print(f"{path}: {n_boxes} boxes on {len(box_file)} images ({n_auth} authentic)")
    for msg in box_file.problems:
        print(f"  skipped: {msg}")
    return 0
