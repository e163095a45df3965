"""Speed of architecture options of a student before training them (random weights).

    python benchmarks/arch_speed.py --model src/boxpromptiml/assets/models/general-v2.pt \\
        --variant base --variant dim=24 --variant dim=16,noise=16 --variant noise=0

Each ``--variant`` is the checkpoint's architecture (its ``model_args``) with the named
fields changed (``base``: none), built with random weights and timed like
``boxprompt bench --runtimes onnx-fp32 --device cpu`` (ONNX Runtime fp32, batch-1 latency
and batch-32 throughput at the checkpoint's input size). Speed does not depend on the
values of the weights, so this tells what a retrain with those settings would buy before
spending the training; it says nothing of accuracy. The variants run in turn, ``--rounds``
times (the median over rounds is reported). Writes
``benchmarks/results/arch-speed-<date>-<host>.json``; time on an idle machine only.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def parse_variant(text: str) -> dict[str, Any]:
    """``base`` → ``{}``; ``k=v,k2=v2`` → student fields (:mod:`boxpromptiml.overrides`)."""
    from boxpromptiml.errors import ConfigError
    from boxpromptiml.overrides import parse_overrides, split_items
    from boxpromptiml.student import StudentArgs

    if text == "base":
        return {}
    try:
        return parse_overrides(split_items(text), "--variant", dataclasses.asdict(StudentArgs()))
    except ConfigError as exc:
        raise SystemExit(f"{exc} (or base)") from exc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", required=True, help="a student checkpoint (.pt)")
    p.add_argument("--variant", action="append", required=True, metavar="base|KEY=VALUE,...")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=100)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out-dir", type=Path, default=RESULTS)
    args = p.parse_args(argv)

    import torch

    from boxpromptiml.bench import benchmark, machine_info
    from boxpromptiml.fileio import atomic_write_json
    from boxpromptiml.student import build_student
    from boxpromptiml.student.checkpoint import read_checkpoint, save_checkpoint

    ckpt = read_checkpoint(args.model)
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="arch-speed-") as tmp:
        files: dict[str, Path] = {}
        for text in args.variant:
            model_args = {**ckpt["model_args"], **parse_variant(text)}
            torch.manual_seed(0)
            student = build_student(model_args)
            files[text] = save_checkpoint(
                Path(tmp) / f"v{len(files)}.pt",
                {**ckpt, "model_args": model_args, "state_dict": student.state_dict()},
            )
            rows[text] = {"model_args": model_args, "latency_ms": [], "throughput": []}
        for _ in range(args.rounds):
            for text, path in files.items():
                rep = benchmark(
                    model=str(path),
                    runtimes=("onnx-fp32",),
                    devices=("cpu",),
                    threads=args.threads,
                    iters=args.iters,
                    workdir=Path(tmp) / f"w-{path.stem}",
                )
                res = rep["results"][0]
                if res.get("status") != "ok":
                    raise SystemExit(f"{text}: {res.get('error')}")
                rows[text]["params"] = rep["model"]["params"]
                rows[text]["macs"] = rep["model"].get("macs")
                rows[text]["latency_ms"].append(res["latency_ms"]["median"])
                rows[text]["throughput"].append(res["throughput_ips"])
    machine = machine_info()
    print(f"{args.model}; {machine['cpu']}; threads {args.threads}\n")
    print("| variant | params (M) | GMACs | batch-1 ms | batch-32 img/s |\n|---|---|---|---|---|")
    for text, r in rows.items():
        r["latency_ms_median"] = statistics.median(r["latency_ms"])
        r["throughput_median"] = statistics.median(r["throughput"])
        gmacs = f"{r['macs'] / 1e9:.3f}" if r.get("macs") else "–"
        print(
            f"| {text} | {r['params'] / 1e6:.3f} | {gmacs} | {r['latency_ms_median']:.2f} "
            f"| {r['throughput_median']:.1f} |"
        )
    stamp = datetime.now(timezone.utc)
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", machine.get("host") or "host")
    path = atomic_write_json(
        args.out_dir / f"arch-speed-{stamp:%Y%m%d-%H%M%S}-{host}.json",
        {
            "model": str(args.model),
            "variants": rows,
            "threads": args.threads,
            "iters": args.iters,
            "rounds": args.rounds,
            "machine": machine,
            "date": stamp.isoformat(timespec="seconds"),
            "command": "python benchmarks/arch_speed.py " + " ".join(argv or sys.argv[1:]),
        },
    )
    print(f"\nJSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
