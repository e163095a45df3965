"""Speed table of the student: prints markdown, writes JSON under benchmarks/results/.

Runs :func:`boxpromptiml.bench.benchmark` (parameters, fvcore MACs, batch-1 latency and
batch-32 throughput for PyTorch eager, torch.compile, ONNX Runtime fp32 and int8, on the
CPU and on the GPU when there is one) and prints the result as a markdown table headed by
the machine, the date and the load average before and after.

    python benchmarks/speed.py                          # random-init TinyViT-5M student, 224²
    python benchmarks/speed.py --model runs/train/exp/best.pt --threads 2
    python benchmarks/speed.py --runtimes onnx-fp32 onnx-int8-qdq --iters 200

Timings on a shared machine mean little: check ``uptime`` first (the load is recorded).
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

from boxpromptiml.bench import benchmark, markdown_table
from boxpromptiml.commands.bench import add_measure_arguments, config_from_args
from boxpromptiml.fileio import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_measure_arguments(p)
    p.add_argument(
        "--out-dir", type=Path, default=RESULTS, help="JSON folder (default benchmarks/results)"
    )
    args = p.parse_args(argv)

    report = benchmark(
        config_from_args(args), progress=lambda msg: print(msg, file=sys.stderr, flush=True)
    )
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", report["machine"]["host"] or "host")
    path = atomic_write_json(args.out_dir / f"speed-{stamp}-{host}.json", report)
    print(markdown_table(report))
    print(f"\nJSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
