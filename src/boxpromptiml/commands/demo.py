"""Run the whole loop on photos that ship with the install: no data download needed.

synthetic forgeries (train and test from disjoint photos) -> simulated boxes ->
pseudo-masks from the default offline teacher -> student trained on the pseudo-masks only
-> prediction on held-out test images -> evaluation -> HTML report. About 10 minutes on 2
CPU cores with the defaults; rerunning with the same --out resumes finished stages.

examples:
  boxprompt demo
  boxprompt demo --epochs 4 --n-train 32            # quicker
  boxprompt demo --photos ~/photos --model tinyvit5m
"""

from __future__ import annotations

import argparse
from pathlib import Path

from boxpromptiml.commands._common import add_output_arguments, output_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    from boxpromptiml.demo import DemoConfig

    d = DemoConfig(out_dir=Path("runs/demo"))
    add_output_arguments(p, "demo", "run folder")
    p.add_argument(
        "--photos", default=None, help="folder/glob of authentic photos (default: embedded)"
    )
    p.add_argument(
        "--n-train", type=int, default=d.n_train, help=f"training forgeries ({d.n_train})"
    )
    p.add_argument("--n-test", type=int, default=d.n_test, help=f"test forgeries ({d.n_test})")
    p.add_argument("--teacher", default=d.teacher, help=f"teacher for pseudo-masks ({d.teacher})")
    p.add_argument("--model", default=d.model, help=f"student ({d.model})")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"training epochs ({d.epochs})")
    p.add_argument("--imgsz", type=int, default=d.input_size, help=f"input size ({d.input_size})")
    p.add_argument(
        "--pos-weight",
        type=float,
        default=d.pos_weight,
        help=f"BCE weight of manipulated pixels ({d.pos_weight:g})",
    )
    p.add_argument("--seed", type=int, default=d.seed, help=f"random seed ({d.seed})")
    p.add_argument("--workers", type=int, default=d.workers, help=f"CPU processes ({d.workers})")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from boxpromptiml.demo import DemoConfig, main_summary, run_demo

    out = output_from_args(args, "demo")
    config = DemoConfig(
        out_dir=out,
        photos=args.photos,
        n_train=args.n_train,
        n_test=args.n_test,
        teacher=args.teacher,
        model=args.model,
        epochs=args.epochs,
        input_size=args.imgsz,
        pos_weight=args.pos_weight,
        seed=args.seed,
        workers=args.workers,
        progress=not args.no_progress,
    )
    print(main_summary(run_demo(config)))
    return 0
