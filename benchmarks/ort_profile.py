"""Where ONNX Runtime spends its time in a student: share of kernel time per op type.

    python benchmarks/ort_profile.py --model runs/train/exp/best.pt
    python benchmarks/ort_profile.py --model student.onnx --batch 32 --runs 10

Exports a checkpoint to ONNX first (verified, as ``boxprompt export``); runs ``--runs``
batches of random images through ONNX Runtime with profiling on (after one warm-up batch)
and prints the share of kernel time of each op type, of each module of the student
(``student/backbone``, ``student/corr``, ``student/noise``, ``student/fusion``, ...) and
of the slowest nodes. The shares hold roughly under load; absolute times do not.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", required=True, help="student checkpoint (.pt) or .onnx file")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--top", type=int, default=12)
    args = p.parse_args()

    import onnxruntime as ort

    tmp = Path(tempfile.mkdtemp(prefix="ort-profile-"))
    onnx_path = Path(args.model)
    if onnx_path.suffix != ".onnx":
        from boxpromptiml.export import export_onnx

        onnx_path = export_onnx(args.model, tmp / "student.onnx").onnx
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = args.threads
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    size = int(inp.shape[-1]) if isinstance(inp.shape[-1], int) else 224
    x = np.random.default_rng(0).random((args.batch, 3, size, size), dtype=np.float32)
    sess.run(None, {inp.name: x})  # warm-up, not profiled
    so.enable_profiling = True
    so.profile_file_prefix = str(tmp / "profile")
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    for _ in range(args.runs):
        sess.run(None, {inp.name: x})
    events = json.loads(Path(sess.end_profiling()).read_text())
    by_op: collections.Counter[str] = collections.Counter()
    by_node: collections.Counter[str] = collections.Counter()
    by_module: collections.Counter[str] = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            node = e["name"][: -len("_kernel_time")]
            by_op[e["args"]["op_name"]] += e["dur"]
            by_node[node] += e["dur"]
            # "/student/backbone/blocks.1/..." -> "student/backbone"; ORT's own nodes: "other"
            parts = [q for q in node.split("/") if q]
            by_module[
                "/".join(parts[:2]) if node.startswith("/") and len(parts) > 2 else "other"
            ] += e["dur"]
    total = sum(by_op.values()) or 1
    print(f"{onnx_path}: batch {args.batch}, {args.runs} runs, {args.threads} threads")
    print("| op type | share of kernel time |\n|---|---|")
    for name, t in by_op.most_common(args.top):
        print(f"| {name} | {100 * t / total:.1f} % |")
    print("\n| module | share of kernel time |\n|---|---|")
    for name, t in by_module.most_common():
        print(f"| {name} | {100 * t / total:.1f} % |")
    print("\n| node | share |\n|---|---|")
    for name, t in by_node.most_common(args.top):
        print(f"| {name} | {100 * t / total:.1f} % |")


if __name__ == "__main__":
    main()
