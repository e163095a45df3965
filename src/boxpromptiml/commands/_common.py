"""Arguments shared by several subcommands: dataset specifications and their options.

A DATASET argument is one of::

    ROOT                      a folder with Tp/ and Gt/ (and optionally Au/)
    LIST.json                 an IMDL-BenCo JSON list of [image, mask or "Negative"]
    IMAGES_DIR,MASKS_DIR      an image folder and a mask folder paired by file stem
    NAME=<any of the above>   the same, with the name used in tables
"""

from __future__ import annotations

import argparse

from boxpromptiml.data.sources import DEFAULT_MASK_SUFFIXES, Dataset, load_dataset


def add_dataset_arguments(
    p: argparse.ArgumentParser, many: bool = True, optional: bool = False
) -> None:
    """Positional dataset specification(s) plus the mask-reading options."""
    p.add_argument(
        "datasets" if many else "dataset",
        nargs=("*" if optional else "+") if many else None,
        metavar="DATASET",
        help="ROOT (with Tp/ Gt/ [Au/]), LIST.json, or IMAGES_DIR,MASKS_DIR; prefix NAME= to name it",
    )
    p.add_argument(
        "--mask-suffix",
        action="append",
        default=None,
        metavar="SUFFIX",
        help="mask file-stem suffix to strip when pairing (repeatable; default: '', _gt, _mask)",
    )
    p.add_argument(
        "--invert-masks",
        action="store_true",
        help="masks mark manipulated pixels black (NIST16 convention)",
    )
    p.add_argument(
        "--on-size-mismatch",
        choices=("error", "skip", "resize"),
        default="error",
        help="what to do when an image and its mask differ in size (default: error)",
    )


def parse_dataset_spec(spec: str, mask_suffixes: tuple[str, ...]) -> Dataset:
    """Resolve one DATASET string (see the module docstring)."""
    name = None
    if "=" in spec.split(",")[0] and not spec.startswith(("/", ".")):
        name, spec = spec.split("=", 1)
    if "," in spec:
        images, masks = spec.split(",", 1)
        return load_dataset(images, masks, mask_suffixes=mask_suffixes, name=name)
    return load_dataset(spec, mask_suffixes=mask_suffixes, name=name)


def dataset_from_args(args: argparse.Namespace) -> list[Dataset]:
    specs = args.datasets if hasattr(args, "datasets") else [args.dataset]
    suffixes = tuple(args.mask_suffix) if args.mask_suffix else DEFAULT_MASK_SUFFIXES
    return [parse_dataset_spec(s, suffixes) for s in specs]
