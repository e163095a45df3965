"""Reproduce the paper's run from one JSON configuration, with ID and OOD averages.

boxes (given, or simulated from masks) -> pseudo-masks (frozen teacher) -> student ->
maps of every test set -> pixel F1 per dataset, ID and OOD averages, next to the paper's
BoxPromptIML row. Every path is checked first; rerunning the same command resumes:
finished stages are skipped. Relative dataset paths resolve against --data-root, else the
config's "data_root" key (relative to the config file), else the config file's folder.
See docs/paper-protocol.md.

outputs (OUT = --out, default runs/protocol/<config name>):
  OUT/summary.md, summary.csv, summary.json   the table
  OUT/pseudo/<set>/, OUT/train/, OUT/predict/<set>/, OUT/eval/<set>/, OUT/stages/

examples:
  boxprompt protocol configs/paper-protocol.json --data-root /data/iml
  boxprompt protocol configs/paper-protocol.json --data-root /data/iml --stop-after pseudo
  torchrun --nproc_per_node 4 -m boxpromptiml protocol configs/paper-protocol.json \\
      --data-root /data/iml --no-progress                   # train stage on 4 GPUs
"""

from __future__ import annotations

import argparse

STAGE_NAMES = ("boxes", "pseudo", "train", "predict", "evaluate")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "config", metavar="CONFIG", help="protocol JSON (e.g. configs/paper-protocol.json)"
    )
    p.add_argument(
        "-o",
        "--out",
        default=None,
        metavar="DIR",
        help="run folder (default runs/protocol/<config name>; the same folder resumes)",
    )
    p.add_argument(
        "--data-root",
        default=None,
        metavar="DIR",
        help="folder that relative dataset paths resolve against (default: the config's "
        "data_root, else the config file's folder)",
    )
    p.add_argument(
        "--stop-after",
        choices=STAGE_NAMES,
        default=None,
        help="stop after this stage (e.g. pseudo, before training under torchrun)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="only check the configuration and every path, then exit",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from boxpromptiml.protocol import load_protocol_config, run_protocol

    if args.check:
        cfg = load_protocol_config(args.config, data_root=args.data_root, check_paths=True)
        n_tests = len(cfg.test_id) + len(cfg.test_ood)
        print(
            f"{args.config}: valid; {len(cfg.train_sets)} training set(s), {n_tests} test "
            f"set(s), teacher {cfg.teacher.name}, data root {cfg.data_root}"
        )
        return 0
    run_protocol(
        args.config,
        args.out,
        progress=not args.no_progress,
        data_root=args.data_root,
        stop_after=args.stop_after,
    )
    return 0
