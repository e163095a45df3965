"""Training speed of the student: images per second and peak memory, as a markdown table.

Two measurements per device:

* ``step``: forward + BCE + backward + AdamW step on in-memory random batches (the model's
  own cost, what a fast data pipeline would reach);
* ``fit`` (``--fit``): the whole :func:`boxpromptiml.train.fit` loop on synthetic image
  files (reading, augmentation, model, checkpoint), images/s over the training steps.

Peak memory: the process's peak resident set size on CPU, ``torch.cuda.max_memory_allocated``
on GPU. Run from the repository root::

    PYTHONPATH=src python benchmarks/train_speed.py                 # CPU (and GPU if present)
    PYTHONPATH=src python benchmarks/train_speed.py --batch 32 --steps 20 --fit
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from boxpromptiml.student import build_student, resolve_student_args
from boxpromptiml.train import DistillLoss


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20  # KiB on Linux


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = f", load {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads{load}"


def _precision(device: str, requested: str) -> str:
    if requested != "auto":
        return requested
    if device == "cuda":
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def bench_step(
    model_name: str, device: str, batch: int, size: int, steps: int, warmup: int, precision: str
) -> tuple[float, float]:
    """Images/s and peak memory (MiB) of training steps on random in-memory batches."""
    torch.manual_seed(0)
    model = build_student(model_name).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
    loss_fn = DistillLoss()
    x = torch.rand(batch, 3, size, size, device=device)
    y = (torch.rand(batch, 1, size, size, device=device) > 0.8).float()
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(device, enabled=precision == "16-mixed")
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step() -> None:
        with torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None):
            logits = model(x)
        loss, _ = loss_fn(logits, y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    for _ in range(warmup):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else _peak_rss_mib()
    return batch * steps / elapsed, peak


def bench_fit(
    model_name: str, device: str, batch: int, size: int, steps: int, workers: int
) -> float:
    """Images/s of the full ``fit`` loop (files, augmentation, model) over one epoch."""
    from boxpromptiml.train import StepInfo, TrainConfig, fit
    from boxpromptiml.train.synthetic import write_shapes_dataset

    times: list[float] = []

    def on_step(_: StepInfo) -> None:
        times.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        train, _ = write_shapes_dataset(tmp, n_train=batch * (steps + 2), n_val=0, size=size)
        cfg = TrainConfig(
            train=train,
            out_dir=Path(tmp) / "run",
            model=resolve_student_args(model_name),
            epochs=1,
            batch_size=batch,
            input_size=size,
            workers=workers,
            progress=False,
            accelerator=device,
        )
        fit(cfg, on_step=on_step)
    # skip the first two steps (start-up), time the rest
    return batch * (len(times) - 2) / (times[-1] - times[1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--model", default="tinyvit5m")
    p.add_argument("--imgsz", type=int, default=224)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=10, help="timed steps (default 10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument(
        "--precision", default="auto", choices=("auto", "32-true", "bf16-mixed", "16-mixed")
    )
    p.add_argument("--fit", action="store_true", help="also time the full fit() loop")
    p.add_argument("--workers", type=int, default=2, help="data workers for --fit (default 2)")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.device == "auto":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = [args.device]
    rows = []
    for device in devices:
        precision = _precision(device, args.precision)
        ips, peak = bench_step(
            args.model, device, args.batch, args.imgsz, args.steps, args.warmup, precision
        )
        name = torch.cuda.get_device_name() if device == "cuda" else _machine()
        mem_kind = "peak allocated" if device == "cuda" else "peak RSS"
        rows.append((name, device, "step", precision, f"{ips:.1f}", f"{peak:.0f} MiB ({mem_kind})"))
        if args.fit:
            fit_ips = bench_fit(
                args.model, device, args.batch, args.imgsz, args.steps, args.workers
            )
            rows.append((name, device, "fit", precision, f"{fit_ips:.1f}", "-"))

    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"\nTraining speed of `{args.model}` at {args.imgsz}x{args.imgsz}, batch {args.batch}, "
        f"{args.steps} timed steps; {date}; torch {torch.__version__}, "
        f"Python {platform.python_version()}\n"
    )
    print("| machine | device | loop | precision | images/s | memory |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
