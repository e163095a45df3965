"""Turn coarse boxes into pseudo-masks with a frozen, box-prompted teacher.

IMAGES is an image folder, glob or .txt list, or a dataset (ROOT with Tp/ Gt/ [Au/], or a
JSON list), whose images are used. Each image is paired with its entry in the COCO box
file by file stem; OUT receives <stem>.png (probability 0-255, or 0/255 with --binary) and
manifest.json (teacher, checkpoint hash, per-box confidences and fallbacks). Rerunning
skips finished images. With --gt, the pseudo-masks are scored against ground truth
(quality.json).

teachers: box, grabcut, u2netp, sam, mobile_sam, ensemble (default; U2-Netp + GrabCut +
colour model + box prior), and NAME+grabcut / NAME+colour for a refined teacher. sam and
mobile_sam need your checkpoint (--checkpoint; nothing is downloaded). u2netp and ensemble need
the model file once: python -m boxpromptiml.weights fetch

examples:
  boxprompt pseudo data/coverage/Tp --boxes boxes.json --out pseudo/ensemble
  boxprompt pseudo data/coverage --boxes boxes.json --out pseudo/u2 --teacher u2netp+grabcut --gt data/coverage
  boxprompt pseudo imgs/ --boxes b.json --out pseudo/sam --teacher sam --checkpoint sam_vit_h_4b8939.pth --batch-size 4
  boxprompt pseudo imgs/ --boxes b.json --out pseudo/msam --teacher mobile_sam --checkpoint mobile_sam.pt
  boxprompt pseudo imgs/ --boxes b.json --out pseudo/e -O u2netp.input_size=320 -O box_prior=0
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from boxpromptiml.commands._common import add_output_arguments, output_from_args
from boxpromptiml.errors import ConfigError
from boxpromptiml.overrides import parse_overrides


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "images",
        metavar="IMAGES",
        help="image folder, glob, .txt list, or dataset (ROOT / LIST.json)",
    )
    p.add_argument(
        "--boxes", "-b", required=True, help="COCO box file (e.g. from 'boxprompt boxes')"
    )
    add_output_arguments(p, "pseudo", "output folder for <stem>.png and manifest.json")
    p.add_argument("--teacher", "-t", default="ensemble", help="teacher name (default: ensemble)")
    p.add_argument(
        "--checkpoint", help="SAM or MobileSAM checkpoint, for --teacher sam / mobile_sam"
    )
    p.add_argument("--variant", help="SAM variant: vit_h (default), vit_l, vit_b")
    p.add_argument(
        "--device", choices=("cpu", "cuda", "auto"), help="device for sam / mobile_sam / u2netp"
    )
    p.add_argument(
        "--option",
        "-O",
        action="append",
        metavar="KEY=VALUE",
        help="teacher option (repeatable), e.g. -O input_size=224, -O u2netp.input_size=224 for an ensemble member",
    )
    p.add_argument(
        "--binary", action="store_true", help="write 0/255 masks instead of probabilities"
    )
    p.add_argument("--workers", "-j", type=int, default=1, help="CPU processes (default 1)")
    p.add_argument(
        "--batch",
        "--batch-size",
        dest="batch_size",
        type=int,
        default=1,
        help="images per teacher call, for GPU teachers (default 1)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="start again in a folder made with another teacher"
    )
    p.add_argument(
        "--gt", metavar="DATASET", help="score the pseudo-masks against this dataset's masks"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _teacher_options(args: argparse.Namespace) -> dict[str, Any]:
    opts = parse_overrides(args.option, "--option")
    base = args.teacher.partition("+")[0]
    direct = {"checkpoint": args.checkpoint, "variant": args.variant, "device": args.device}
    for key, value in direct.items():
        if value is None:
            continue
        if base == "ensemble" and key != "device":
            # an ensemble's SAM-family member (-O members=...,mobile_sam names the small one)
            members = opts.get("members", "")
            names = members.split(",") if isinstance(members, str) else list(members)
            member = "mobile_sam" if "mobile_sam" in names else "sam"
            opts[f"{member}.{key}"] = value
        elif base == "ensemble":
            opts["u2netp.device"] = value
        elif key == "device" and base not in ("sam", "mobile_sam", "u2netp"):
            raise ConfigError(f"--device does not apply to teacher '{base}'")
        elif key == "checkpoint" and base not in ("sam", "mobile_sam"):
            raise ConfigError("--checkpoint only applies to the sam and mobile_sam teachers")
        elif key == "variant" and base != "sam":
            raise ConfigError("--variant only applies to the sam teacher")
        else:
            opts[key] = value
    return opts


def _images_source(spec: str) -> Any:
    """A dataset (ROOT with Tp/, or a .json list) or plain images."""
    from boxpromptiml.commands._common import parse_dataset_spec
    from boxpromptiml.data.sources import DEFAULT_MASK_SUFFIXES

    path = Path(spec)
    if path.suffix.lower() == ".json" or (path / "Tp").is_dir():
        return parse_dataset_spec(spec, DEFAULT_MASK_SUFFIXES)
    return spec


def run(args: argparse.Namespace) -> int:
    from boxpromptiml.data.sources import DEFAULT_MASK_SUFFIXES, parse_dataset_spec
    from boxpromptiml.teachers.pseudo import pseudo_label

    gt = parse_dataset_spec(args.gt, DEFAULT_MASK_SUFFIXES) if args.gt else None
    result = pseudo_label(
        _images_source(args.images),
        args.boxes,
        output_from_args(args, "pseudo"),
        args.teacher,
        teacher_options=_teacher_options(args),
        binary=args.binary,
        workers=args.workers,
        batch_size=args.batch_size,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        gt=gt,
    )
    print(result.summary())
    for stem, reason in sorted(result.failed.items()):
        print(f"  failed: {stem}: {reason}")
    for stem in result.missing[:20]:
        print(f"  missing: {stem} is in the box file but not among the images")
    if len(result.missing) > 20:
        print(f"  missing: ... and {len(result.missing) - 20} more (see manifest.json)")
    if result.unboxed:
        shown = ", ".join(result.unboxed[:10]) + (" ..." if len(result.unboxed) > 10 else "")
        print(f"  not in the box file (not labelled): {shown}")
    if result.quality is not None:
        q = result.quality
        print(q.summary())
        for msg in q.problems:
            print(f"  quality: {msg}")
    print(f"manifest: {result.manifest}")
    return 0
