"""Measure the student's speed: parameters, MACs, batch-1 latency and batch throughput.

Runtimes: torch (eager), torch-compile, onnx-fp32, onnx-int8-qdq / -qop / -dyn, on the
CPU and, when present, the GPU (plus torch-fp16 there). Latency is the median of one
(1, 3, S, S) forward pass, model only; throughput is batch / median time of one batched
pass. Writes bench.json under runs/bench/<name> and prints a table. Close other programs
first: on a shared machine the figures mean little (the load average is recorded).

examples:
  boxprompt bench
  boxprompt bench --model runs/train/exp/best.pt --runtimes onnx-fp32 onnx-int8-qdq
  boxprompt bench --threads 2 --batch 32 --iters 100
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from boxpromptiml.bench import BenchConfig


from boxpromptiml.commands._common import add_output_arguments, output_from_args


def add_measure_arguments(p: argparse.ArgumentParser) -> None:
    """What to measure and how (shared with ``benchmarks/speed.py``)."""
    from boxpromptiml.bench import RUNTIMES

    p.add_argument(
        "--model",
        "-m",
        default="tinyvit5m",
        help="checkpoint (.pt) or student preset (default tinyvit5m, random init)",
    )
    p.add_argument(
        "--imgsz", type=int, default=None, help="input side (default: the checkpoint's, else 224)"
    )
    p.add_argument(
        "--runtimes",
        nargs="+",
        default=None,
        choices=RUNTIMES,
        metavar="RT",
        help="torch torch-compile torch-fp16 onnx-fp32 onnx-int8-qdq onnx-int8-qop onnx-int8-dyn (default: all but torch-fp16)",
    )
    p.add_argument(
        "--device", choices=("cpu", "cuda", "all"), default="all", help="default all available"
    )
    p.add_argument("--batch", type=int, default=32, help="throughput batch size (default 32)")
    p.add_argument("--iters", type=int, default=50, help="timed batch-1 runs (default 50)")
    p.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    p.add_argument("--calib", default=None, metavar="SOURCE", help="int8 calibration images")
    p.add_argument("--no-macs", action="store_true", help="skip the fvcore MAC count")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_measure_arguments(p)
    add_output_arguments(p, "bench")


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """The :class:`~boxpromptiml.bench.BenchConfig` of parsed :func:`add_measure_arguments`."""
    from boxpromptiml.bench import BenchConfig

    cfg = BenchConfig(
        model=args.model,
        input_size=args.imgsz,
        devices=("cpu", "cuda") if args.device == "all" else (args.device,),
        batch=args.batch,
        iters=args.iters,
        warmup=args.warmup,
        threads=args.threads,
        calibration=args.calib,
        macs=not args.no_macs,
    )
    if args.runtimes:
        cfg.runtimes = tuple(args.runtimes)
    return cfg


def run(args: argparse.Namespace) -> int:
    import sys

    from boxpromptiml.bench import benchmark, markdown_table
    from boxpromptiml.fileio import atomic_write_json

    report = benchmark(config_from_args(args), progress=lambda msg: print(msg, file=sys.stderr))
    out = output_from_args(args, "bench")
    path = atomic_write_json(out / "bench.json", report)
    print(markdown_table(report))
    print(f"results saved to {path}")
    return 0
