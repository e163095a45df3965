"""Localize manipulations in images with a trained student (.pt) or an exported model (.onnx).

SOURCE is an image file, a folder, a glob (quote it) or a .txt list of paths. For each
image, writes under runs/predict/<name> (auto-incremented, printed at the end):

  maps/<stem>.png       probability map, 0-255, at the image's size
  masks/<stem>.png      binary mask (map > --threshold)
  overlays/<stem>.jpg   heatmap overlay with the mask outlined
  json/<stem>.json      image score, sizes, timings, model; with the shipped students
                        also the share of their untouched reference photos that score
                        as high (printed for up to 10 images)
plus summary.csv (one row per image), run.json and skipped.txt (unreadable files, which
are skipped: one bad file never stops a run). Images are read, predicted and written one
batch at a time, so memory stays bounded on large folders.

Large images are resized to the model input by default; --tile runs overlapping windows
at full resolution and blends them. An .onnx model runs with onnxruntime alone (no torch).

examples:
  boxprompt predict photo.jpg                  # the shipped general-purpose student
  boxprompt predict photos/ --model runs/train/exp/best.pt
  boxprompt predict "data/casia/Tp/*.jpg" --model student.int8.onnx --batch 16 --no-overlay
  boxprompt predict big.tif --model best.pt --tile --overlap 0.25
  boxprompt evaluate data/casia --pred runs/predict/exp/maps
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from boxpromptiml.commands._common import (
    add_output_arguments,
    add_split_argument,
    output_from_args,
)
from boxpromptiml.metrics import IMAGE_REDUCTIONS

if TYPE_CHECKING:
    from boxpromptiml.predict import Localizer

#: ``--tta`` choices: :data:`boxpromptiml.predict.localizer.TTA_MODES`, spelt out so that
#: building the parser does not import the predictor (a test keeps the two equal)
TTA_CHOICES = ("none", "h", "hv")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source", nargs="+", metavar="SOURCE", help="image file, folder, glob or .txt list"
    )
    p.add_argument(
        "--model",
        "-m",
        default=None,
        metavar="MODEL",
        help="a shipped student by name (general-v4, general-v3, general-v3-fast, "
        "general-v2, general-v1), a checkpoint (.pt) or an exported .onnx (default: general-v4, "
        "shipped with boxpromptiml; docs/model-card.md)",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA when available), cpu, cuda, cuda:1 (default auto)",
    )
    p.add_argument(
        "--batch", type=int, default=8, help="images (or tiles) per forward pass (default 8)"
    )
    p.add_argument(
        "--threads", type=int, default=None, help="CPU threads for inference (default: all)"
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="mask threshold, map > t (default: the model's packaged setting, else 0.5)",
    )
    p.add_argument(
        "--image-score",
        choices=IMAGE_REDUCTIONS,
        default=None,
        help="how a map becomes an image-level score (default: the model's packaged "
        "setting, else max)",
    )
    p.add_argument(
        "--tile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="sliding-window inference at full resolution for large images (default: the "
        "model's packaged setting, else off)",
    )
    p.add_argument(
        "--max-side",
        type=int,
        default=None,
        metavar="PX",
        help="with --tile, downscale images whose longer side exceeds PX first (default: "
        "the model's packaged setting, else never)",
    )
    p.add_argument(
        "--gate",
        type=float,
        default=None,
        metavar="SCORE",
        help="no mask on images whose image score is under SCORE (quiets untouched photos; "
        "e.g. --model general-v1 --gate 0.78, docs/model-card.md)",
    )
    p.add_argument(
        "--overlap",
        type=float,
        default=None,
        help="tile overlap as a fraction of the tile (default: the model's packaged "
        "setting, else 0.25)",
    )
    p.add_argument(
        "--tta",
        choices=TTA_CHOICES,
        default=None,
        help="test-time augmentation: average with the horizontally (h) or also vertically "
        "(hv) mirrored input; 2 or 3 passes (default: the model's own setting, else none)",
    )
    p.add_argument("--no-mask", action="store_true", help="do not write masks/")
    p.add_argument("--no-overlay", action="store_true", help="do not write overlays/ (faster)")
    p.add_argument("--no-json", action="store_true", help="do not write json/")
    p.add_argument(
        "--save-npy", action="store_true", help="also write float maps to maps_npy/<stem>.npy"
    )
    add_split_argument(p)
    add_output_arguments(p, "predict")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


#: up to this many images, ``boxprompt predict`` prints one line per image
SHOW_ROWS = 10


def image_lines(rows: list[dict[str, Any]], localizer: Localizer) -> str:
    """One line per predicted image: its score, the share of pixels marked and, when the
    model carries an untouched reference for these settings, how many of those photos
    score as high (:mod:`boxpromptiml.predict.reference`)."""
    ref = localizer.reference if localizer.reference_applies else None
    lines = []
    for r in rows:
        line = (
            f"  {r['name']}: image score {float(r['score']):.3f} ({localizer.image_score}), "
            f"{100 * float(r['mask_fraction']):.1f} % of pixels marked"
        )
        if ref is not None and r.get("untouched_share") != "":
            share = float(r["untouched_share"])
            line += (
                f"; {100 * share:.0f} % of {len(ref['scores'])} untouched reference photos "
                "score as high"
            )
        lines.append(line)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import sys

    from boxpromptiml.data.sources import resolve_images
    from boxpromptiml.predict import Localizer, predict_to_folder

    sources = args.source if len(args.source) > 1 else args.source[0]
    images = resolve_images(sources)  # a glob matching nothing fails here, before the model loads
    if args.split:
        from boxpromptiml.data.sources import read_split
        from boxpromptiml.errors import DataError

        key, stems = read_split(args.split)
        wanted = set(stems)
        sources = [p for p in images if p.stem in wanted]
        if not sources:
            raise DataError(f"--split {args.split}: none of the {len(images)} images is in {key!r}")
    from boxpromptiml.predict.shipped import resolve_model

    given = {
        "threshold": args.threshold,
        "overlap": args.overlap,
        "image_score": args.image_score,
        "tile": args.tile,
        "max_side": args.max_side,
        "gate": args.gate,
        "tta": args.tta,
    }
    localizer = Localizer.from_checkpoint(
        resolve_model(args.model),
        device=args.device,
        threads=args.threads,
        batch_size=args.batch,
        **{k: v for k, v in given.items() if v is not None},
    )
    out = output_from_args(args, "predict")
    result = predict_to_folder(
        localizer,
        sources,
        out,
        save_mask=not args.no_mask,
        save_overlay=not args.no_overlay,
        save_json=not args.no_json,
        save_npy=args.save_npy,
        progress=not args.no_progress,
    )
    for s in result.skipped:
        print(f"skipped: {s.reason}", file=sys.stderr)
    info = localizer.info
    print(
        f"{result.n_predicted} of {result.n_images} image(s) predicted in {result.seconds:.1f}s "
        f"({result.images_per_second:.1f} img/s, {info['runtime']} on {info['device']}, "
        f"{info.get('precision', 'fp32')})"
        + (
            f", {len(result.skipped)} skipped (listed in {out / 'skipped.txt'})"
            if result.skipped
            else ""
        )
    )
    if 0 < len(result.rows) <= SHOW_ROWS:
        print(image_lines(result.rows, localizer))
    print(f"results saved to {out} (maps for 'boxprompt evaluate DATASET --pred {out / 'maps'}')")
    return 0 if result.n_predicted else 1
