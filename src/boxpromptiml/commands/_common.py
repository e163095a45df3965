"""Arguments shared by several subcommands: dataset specifications and their options.

A DATASET argument is one of::

    ROOT                      a folder with Tp/ and Gt/ (and optionally Au/)
    LIST.json                 an IMDL-BenCo JSON list of [image, mask or "Negative"]
    IMAGES_DIR,MASKS_DIR      an image folder and a mask folder paired by file stem
    NAME=<any of the above>   the same, with the name used in tables
"""

from __future__ import annotations

import argparse
from pathlib import Path

from boxpromptiml.data.sources import DEFAULT_MASK_SUFFIXES, Dataset, parse_dataset_spec


def add_output_arguments(
    p: argparse.ArgumentParser | argparse._ArgumentGroup, task: str, what: str = "output folder"
) -> None:
    """``-o/--out``, ``--name`` and ``--exist-ok``, the same in every command: the output
    goes to ``--out`` when given, else to ``runs/<task>/<name>`` (``<name>2``, ``<name>3``
    … when it exists, unless ``--exist-ok``)."""
    p.add_argument("-o", "--out", default=None, help=f"{what} (default runs/{task}/<name>)")
    p.add_argument("--name", default="exp", help=f"run name under runs/{task} (default exp)")
    p.add_argument(
        "--exist-ok",
        action="store_true",
        help=f"reuse runs/{task}/<name> if it exists (default: a new <name>2, <name>3, ...)",
    )


def output_from_args(args: argparse.Namespace, task: str, exist_ok: bool = False) -> Path:
    """The output folder chosen by :func:`add_output_arguments`' options (created)."""
    from boxpromptiml.runs import next_run_dir

    if args.out:
        return Path(args.out)
    return next_run_dir(task, args.name, exist_ok=exist_ok or bool(args.exist_ok))


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


def dataset_from_args(args: argparse.Namespace) -> list[Dataset]:
    specs = args.datasets if hasattr(args, "datasets") else [args.dataset]
    suffixes = tuple(args.mask_suffix) if args.mask_suffix else DEFAULT_MASK_SUFFIXES
    datasets = [parse_dataset_spec(s, suffixes) for s in specs]
    return [apply_split(d, getattr(args, "split", None)) for d in datasets]


def add_split_argument(
    p: argparse.ArgumentParser | argparse._ArgumentGroup, flag: str = "--split", what: str = ""
) -> None:
    """``--split FILE:KEY``: keep only the images a JSON split file lists under KEY."""
    p.add_argument(
        flag,
        metavar="FILE:KEY",
        default=None,
        help=f"keep only the images{what} listed under KEY in the JSON split FILE "
        "(e.g. coverage/split.json:test)",
    )


def apply_split(dataset: Dataset, spec: str | None) -> Dataset:
    """``dataset`` restricted to the stems of the split ``spec`` (``FILE:KEY``), if given."""
    if not spec:
        return dataset
    from boxpromptiml.data.sources import read_split

    key, stems = read_split(spec)
    return dataset.subset(stems, name=f"{dataset.name}-{key}")
