"""Pseudo-mask quality and speed of every available teacher: a markdown table for the README.

Boxes come from the simulated annotator (10 % margin, no jitter, seed 0) on the masks of a
dataset (default: COVERAGE at ``../shared/data/coverage``; size-mismatched pairs skipped).
Each teacher labels every image through :func:`boxpromptiml.teachers.pseudo.pseudo_label`
(the same path as ``boxprompt pseudo``, ``--workers`` processes) and its pseudo-masks are
scored against the ground truth (:func:`boxpromptiml.teachers.quality.pseudo_quality`:
per-image IoU and F1 at 0.5, averaged over images). Seconds per image are wall-clock time
of the whole run divided by the number of images, image decoding and PNG writing included.

    python benchmarks/teachers.py                                  # COVERAGE, 2 workers
    python benchmarks/teachers.py --teachers box grabcut ensemble --limit 20
    python benchmarks/teachers.py --sam-checkpoint sam_vit_h_4b8939.pth --device cuda
    python benchmarks/teachers.py --synthetic 60                   # + splices from photos/

The table is printed with the machine, the date and the load average before and after
(timings on a shared machine mean little when the load is high), and written as JSON to
``benchmarks/results/teachers-<dataset>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from boxpromptiml.data.annotator import AnnotatorConfig, annotate_dataset
from boxpromptiml.data.boxes import BoxFile, read_coco
from boxpromptiml.data.sources import Dataset, load_dataset
from boxpromptiml.errors import BoxPromptError
from boxpromptiml.fileio import atomic_write_json
from boxpromptiml.teachers import available_teachers
from boxpromptiml.teachers.pseudo import pseudo_label

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SHARED = REPO.parent / "shared" / "data"
DEFAULT_TEACHERS = ["box", "grabcut", "u2netp", "u2netp+grabcut", "ensemble", "sam"]


def machine() -> dict[str, Any]:
    """CPU model, cores, OS, Python and library versions."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    for dist in ("onnxruntime", "opencv-python-headless", "torch"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            info[dist] = importlib.metadata.version(dist)
    torch = sys.modules.get("torch")  # imported by the sam teacher only
    if torch is not None and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def run_teacher(
    name: str,
    ds: Dataset,
    boxes: BoxFile,
    work: Path,
    workers: int,
    options: dict[str, Any],
    batch_size: int,
) -> dict[str, Any]:
    """Label ``ds`` with one teacher and score it; one row of the table."""
    out = work / name.replace("+", "_")
    t0 = time.perf_counter()
    res = pseudo_label(
        ds,
        boxes,
        out,
        name,
        teacher_options=options,
        workers=workers,
        batch_size=batch_size,
        progress=False,
        gt=ds,
    )
    seconds = time.perf_counter() - t0
    q = res.quality
    assert q is not None
    n = len(res.labelled)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    cpu = [r["cpu_seconds"] for r in manifest["images"].values() if "cpu_seconds" in r]
    cpu_per_image = sum(cpu) / len(cpu) if cpu else float("nan")
    return {
        "teacher": name,
        "mean_iou": round(q.mean_iou, 4),
        "mean_f1": round(q.mean_f1, 4),
        "n": q.n,
        "seconds_per_image": round(seconds / max(n, 1), 4),
        "images_per_second": round(n / seconds, 3) if seconds > 0 else None,
        # CPU time of the labelling process per image: what a quiet machine would need
        "cpu_seconds_per_image": round(cpu_per_image, 4),
        "fallbacks": res.fallbacks,
        "failed": len(res.failed),
        "checkpoint": q.teacher.get("checkpoint"),
        "options": options,
    }


def markdown(rows: list[dict[str, Any]], header: dict[str, Any]) -> str:
    m = header["machine"]
    lines = [
        f"Pseudo-mask quality on {header['dataset']} ({header['images']} images, boxes from "
        f"the simulated annotator at {header['margin']:.0%} margin, seed {header['seed']})",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; {header['workers']} worker process(es); "
        f"{header['date']}; load average {header['load_before']} before, "
        f"{header['load_after']} after.",
        "",
        "| teacher | mean IoU | mean F1 | s / image (wall) | images / s (wall) "
        "| CPU s / image | fallbacks |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['teacher']} | {r['mean_iou']:.3f} | {r['mean_f1']:.3f} | "
            f"{r['seconds_per_image']:.3f} | {r['images_per_second']:.2f} | "
            f"{r['cpu_seconds_per_image']:.3f} | {r['fallbacks']} |"
        )
    lines += [
        "",
        "Wall: the whole run (decoding, labelling, PNG writing) over its images. CPU: the "
        "labelling process's CPU time per image; with N free cores, N / CPU s is the rate "
        "a quiet machine reaches.",
    ]
    return "\n".join(lines)


def synthetic(photos: Path, n: int, out: Path) -> tuple[Dataset, BoxFile]:
    """``n`` splices and copy-moves made from ``photos`` by :mod:`boxpromptiml.synth`."""
    from boxpromptiml.synth import make_dataset

    root = make_dataset(
        str(photos / "**" / "*.png"),
        out,
        n=n,
        kinds=["splice", "copymove"],
        seed=0,
        authentic=0,
        progress=False,
    )
    return load_dataset(root), read_coco(root / "boxes.json")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", type=Path, default=SHARED / "coverage", help="dataset ROOT (Tp/ Gt/)")
    p.add_argument("--teachers", nargs="+", default=DEFAULT_TEACHERS, metavar="NAME")
    p.add_argument("--workers", type=int, default=2, help="processes per teacher (default 2)")
    p.add_argument("--limit", type=int, default=None, help="first N images only (a quick look)")
    p.add_argument("--margin", type=float, default=0.10, help="annotator margin (default 0.1)")
    p.add_argument("--sam-checkpoint", type=Path, help="SAM checkpoint (.pth); sam skipped without")
    p.add_argument("--sam-variant", default="vit_h")
    p.add_argument("--device", default="auto", help="device for sam (cpu, cuda, auto)")
    p.add_argument("--batch-size", type=int, default=4, help="images per SAM call on a GPU")
    p.add_argument(
        "--synthetic",
        type=int,
        default=0,
        metavar="N",
        help="instead: N splices/copy-moves made from ../shared/data/photos",
    )
    p.add_argument("--out-dir", type=Path, default=RESULTS, help="JSON folder")
    args = p.parse_args(argv)

    ok = {a.name: a for a in available_teachers()}
    with tempfile.TemporaryDirectory(prefix="boxprompt-bench-") as tmp:
        work = Path(tmp)
        if args.synthetic:
            photos = SHARED / "photos"
            if not photos.is_dir():
                print(f"{photos}: not found", file=sys.stderr)
                return 2
            ds, boxes = synthetic(photos, args.synthetic, work / "synth")
            dataset_name = f"synthetic splices/copy-moves from {photos.name}/ (seed 0)"
        else:
            if not (args.data / "Tp").is_dir():
                print(f"{args.data}: dataset not found", file=sys.stderr)
                return 2
            ds = load_dataset(args.data)
            if args.limit:
                ds = ds.subset([s.name for s in ds.samples[: args.limit]])
            boxes = annotate_dataset(
                ds,
                AnnotatorConfig(margin=args.margin, seed=0),
                on_size_mismatch="skip",
                progress=False,
            )
            dataset_name = args.data.name
        header: dict[str, Any] = {
            "dataset": dataset_name,
            "images": len(boxes),
            "margin": args.margin,
            "seed": 0,
            "workers": args.workers,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
            "load_before": load(),
        }
        rows = []
        for name in args.teachers:
            base = name.partition("+")[0]
            options: dict[str, Any] = {}
            workers, batch = args.workers, 1
            if base == "sam":
                if args.sam_checkpoint is None:
                    print("sam: skipped (no --sam-checkpoint)", file=sys.stderr)
                    continue
                options = {
                    "checkpoint": str(args.sam_checkpoint),
                    "variant": args.sam_variant,
                    "device": args.device,
                }
                if args.device != "cpu":
                    workers, batch = 1, args.batch_size
            if base in ok and not ok[base].available:
                print(f"{name}: skipped ({ok[base].reason})", file=sys.stderr)
                continue
            try:
                row = run_teacher(name, ds, boxes, work, workers, options, batch)
            except BoxPromptError as exc:
                print(f"{name}: failed: {exc}", file=sys.stderr)
                continue
            rows.append(row)
            print(
                f"{name}: IoU {row['mean_iou']:.4f}  F1 {row['mean_f1']:.4f}  "
                f"{row['seconds_per_image']:.3f} s/img",
                file=sys.stderr,
            )
        header["load_after"] = load()
    table = markdown(rows, header)
    print(table)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    tag = "synthetic" if args.synthetic else args.data.name
    path = atomic_write_json(
        args.out_dir / f"teachers-{tag}.json", {**header, "rows": rows, "markdown": table}
    )
    print(f"\nwritten: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
