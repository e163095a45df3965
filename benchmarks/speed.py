"""Speed table of the student: prints markdown, writes JSON under benchmarks/results/.

Runs ``boxprompt bench`` (:func:`boxpromptiml.bench.benchmark`: parameters, fvcore MACs,
batch-1 latency and batch-32 throughput for PyTorch eager, torch.compile, ONNX Runtime fp32
and int8, on the CPU and on the GPU when there is one) with the options given here, and
keeps its report as ``benchmarks/results/speed-<date>-<host>.json``. The table is headed by
the machine, the date and the load average before and after.

    python benchmarks/speed.py                          # random-init TinyViT-5M student, 224²
    python benchmarks/speed.py --model runs/train/exp/best.pt --threads 2
    python benchmarks/speed.py --runtimes onnx-fp32 onnx-int8-qdq --iters 200

Every option but ``--out-dir`` is ``boxprompt bench``'s (``boxprompt bench --help``).
Timings on a shared machine mean little: check ``uptime`` first (the load is recorded).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from boxpromptiml.cli import main as boxprompt
from boxpromptiml.fileio import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--out-dir", type=Path, default=RESULTS, help="JSON folder (default benchmarks/results)"
    )
    args, rest = p.parse_known_args(argv)
    work = Path(tempfile.mkdtemp(prefix="speed-"))
    try:
        status = boxprompt(["bench", *rest, "-o", str(work)])
        if status != 0:
            return status
        report = json.loads((work / "bench.json").read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", report["machine"]["host"] or "host")
    path = atomic_write_json(args.out_dir / f"speed-{stamp}-{host}.json", report)
    print(f"\nJSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
