"""The training loop: distil pseudo-masks into the student, validate, checkpoint, resume.

Reads top to bottom: set up the engine → build or restore the run → for each epoch,
train on this process's batches, validate, save ``last.pt`` (and ``best.pt``), log.

Engine: Lightning Fabric. One CPU process is the default. Several GPUs or nodes run
through Fabric's DDP: either ``devices=N`` (Fabric starts the processes) or an external
``torchrun`` (Fabric joins its world; ``devices="auto"`` reads it). Mixed precision on GPU.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import logging
import math
import platform
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from boxpromptiml import __version__
from boxpromptiml.errors import CheckpointError, ConfigError
from boxpromptiml.fileio import atomic_write_json, atomic_write_text
from boxpromptiml.student.build import build_student
from boxpromptiml.student.checkpoint import (
    capture_rng,
    load_state,
    read_checkpoint,
    restore_rng,
    save_checkpoint,
)
from boxpromptiml.student.model import Student
from boxpromptiml.train.config import TrainConfig
from boxpromptiml.train.data import (
    TrainDataset,
    ValDataset,
    epoch_batches,
    val_collate,
    worker_init,
)
from boxpromptiml.train.losses import DistillLoss

__all__ = ["StepInfo", "TrainResult", "WarmupCosine", "fit"]

log = logging.getLogger(__name__)

CSV_COLUMNS = (
    "epoch", "step", "lr", "train_loss", "train_bce", "train_dice", "train_focal",
    "train_image", "val_f1", "val_iou", "val_auc", "val_images", "epoch_time_s",
)  # fmt: skip


class WarmupCosine:
    """LR factor per optimizer step: linear warmup to 1, then cosine decay to ``min_ratio``.

    A plain callable object (not a lambda) so that ``LambdaLR.state_dict`` saves it.
    """

    def __init__(self, warmup_steps: int, total_steps: int, min_ratio: float) -> None:
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.min_ratio = float(min_ratio)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass
class StepInfo:
    """What ``fit(on_step=...)`` receives after every optimizer step (on every process)."""

    step: int
    epoch: int
    epoch_step: int
    loss: float
    lr: float
    names: list[str]
    rank: int
    model: Student


@dataclass
class TrainResult:
    """The outcome of :func:`fit`.

    ``model`` holds the last weights (eval mode, on the training device); ``best`` is
    ``None`` without validation data; ``history`` has one dict per epoch (the CSV rows).
    """

    out_dir: Path
    last: Path
    best: Path | None
    best_f1: float | None
    best_epoch: int | None
    epochs: int
    steps: int
    history: list[dict[str, float]] = field(default_factory=list)
    model: Student | None = None
    #: reasons of the training samples that could not be read (replaced by others)
    skipped: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- engine


def _make_fabric(cfg: TrainConfig) -> Any:
    """Lightning Fabric for this config: one process by default, DDP for several."""
    import os

    from lightning.fabric import Fabric

    accelerator = cfg.accelerator
    if accelerator == "auto":
        accelerator = "cuda" if torch.cuda.is_available() else "cpu"
    elif accelerator == "gpu":
        accelerator = "cuda"
    if accelerator == "cuda" and not torch.cuda.is_available():
        raise ConfigError("accelerator 'cuda' requested but no CUDA device is available")
    devices: int
    num_nodes = cfg.num_nodes
    if cfg.devices == "auto":
        # under torchrun, join its world; otherwise a single process
        local = os.environ.get("LOCAL_WORLD_SIZE")
        devices = int(local) if local else 1
        if local and num_nodes == 1:
            num_nodes = max(1, int(os.environ.get("WORLD_SIZE", local)) // int(local))
    else:
        devices = int(cfg.devices)
    precision = cfg.precision
    if precision == "auto":
        if accelerator == "cuda":
            precision = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
        else:
            precision = "32-true"
    strategy = "ddp" if devices * num_nodes > 1 else "auto"
    return Fabric(
        accelerator=accelerator,
        devices=devices,
        num_nodes=num_nodes,
        strategy=strategy,
        precision=precision,  # type: ignore[arg-type]
    )


def _all_gather_objects(fabric: Any, obj: Any) -> list[Any]:
    """Every process's ``obj`` (a list of length ``world_size``), on every process."""
    if fabric.world_size == 1:
        return [obj]
    out: list[Any] = [None] * fabric.world_size
    torch.distributed.all_gather_object(out, obj)
    return out


def _load_init(model: torch.nn.Module, args: Any, path: Path) -> None:
    """Start ``model`` from the weights of the student checkpoint at ``path``.

    Raises :class:`CheckpointError` when the file is not a student checkpoint or holds
    another architecture than ``args``.
    """
    ckpt = read_checkpoint(path)
    theirs = ckpt.get("model_args")
    if theirs != args.to_dict():
        other = (theirs or {}).get("backbone", "unknown") if isinstance(theirs, dict) else "?"
        raise CheckpointError(
            f"{path}: init_from checkpoint holds a {other} student whose architecture differs "
            f"from this run's ({args.backbone}); use the same model settings"
        )
    load_state(model, ckpt["state_dict"], str(path))


def _make_ema(model: Student, decay: float, device: torch.device) -> Any:
    """An exponential moving average of ``model``'s weights and buffers, or ``None``
    (``decay`` 0). torch's ``AveragedModel``: the first update copies, later ones blend."""
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    # a deep copy: it keeps the student's attributes (input_size) too
    return AveragedModel(
        model, device=device, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True
    )


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices and kernels only; none on biases, norms and scalars."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _versions() -> dict[str, str]:
    import timm

    return {
        "boxpromptiml": __version__,
        "torch": str(torch.__version__),  # a TorchVersion object would not be weights_only-safe
        "timm": str(timm.__version__),
        "python": platform.python_version(),
    }


# ---------------------------------------------------------------------------- validation


@torch.no_grad()
def validate(
    model: Student,
    loader: DataLoader[Any],
    threshold: float,
    fabric: Any,
) -> dict[str, float]:
    """Per-image pixel scores of ``model`` on this process's share of the validation set,
    merged over processes. Returns the :meth:`MetricAccumulator.summary` dict."""
    from boxpromptiml.metrics import MetricAccumulator

    was_training = model.training
    model.eval()
    acc = MetricAccumulator(threshold)
    for batch in loader:
        x = batch["image"].to(fabric.device)
        with fabric.autocast():
            logits = model(x)
        probs = torch.sigmoid(logits.float())
        for p, mask, label, name in zip(
            probs, batch["mask"], batch["label"], batch["name"], strict=True
        ):
            full = torch.nn.functional.interpolate(
                p[None], size=mask.shape, mode="bilinear", align_corners=False
            )
            prob = full[0, 0].clamp_(0.0, 1.0).cpu().numpy()
            acc.update(name, prob, mask if label == 1 else None, label)
    model.train(was_training)
    merged = MetricAccumulator(threshold)
    for part in _all_gather_objects(fabric, acc):
        merged.merge(part, skip_duplicates=True)
    return merged.summary()


# ---------------------------------------------------------------------------- logging


def _write_csv(path: Path, history: list[dict[str, float]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_COLUMNS})
    atomic_write_text(path, buf.getvalue())


def _tensorboard(cfg: TrainConfig) -> Any:
    """A TensorBoard ``SummaryWriter`` if asked for and installed, else ``None``."""
    if not cfg.tensorboard or importlib.util.find_spec("tensorboard") is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(cfg.out_dir / "tensorboard"))


# ---------------------------------------------------------------------------- fit


def fit(config: TrainConfig, on_step: Callable[[StepInfo], None] | None = None) -> TrainResult:
    """Train a student; see :class:`TrainConfig` for every option.

    The data-loading workers are forked processes; OpenCV's thread pool does not survive a
    fork (a worker blocks in its first OpenCV call when this process had used the pool
    before, e.g. to predict between two runs), so OpenCV runs on one thread in this
    process while training and gets its thread count back afterwards.
    """
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return _fit(config, on_step)
    finally:
        cv2.setNumThreads(threads)


def _fit(config: TrainConfig, on_step: Callable[[StepInfo], None] | None = None) -> TrainResult:
    """:func:`fit` itself.

    Writes to ``config.out_dir``: ``config.json``, ``last.pt`` (full state, every epoch
    and every ``save_every`` steps), ``best.pt`` (best validation F1), ``log.csv`` (one row
    per epoch) and, when installed, TensorBoard events. With ``config.resume`` the run
    continues from ``last.pt`` at the same step, optimizer, schedule and random state.

    ``on_step`` (optional) is called after every optimizer step with a :class:`StepInfo`;
    an exception it raises stops training (the last saved checkpoint stays valid).
    """
    from tqdm.auto import tqdm

    cfg = config.validated()
    fabric = _make_fabric(cfg)
    fabric.launch()
    rank, world = fabric.global_rank, fabric.world_size
    is_main = fabric.is_global_zero
    out_dir = cfg.out_dir
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"

    # ---- a new run or the continuation of a saved one
    ckpt: dict[str, Any] | None = None
    if cfg.resume:
        ckpt = read_checkpoint(last_path)
        saved = TrainConfig.from_dict(ckpt["config"])
        diff = cfg.run_differences(saved)
        if diff:
            raise ConfigError(
                f"{last_path}: cannot resume with different settings ({', '.join(diff)}); "
                "resume with the saved configuration (boxpromptiml.train.load_train_config)"
            )
        if ckpt.get("world_size") != world:
            raise ConfigError(
                f"{last_path}: run was trained with {ckpt.get('world_size')} process(es), "
                f"resume it with the same number (got {world})"
            )
        if ckpt.get("kind") != "last":
            raise ConfigError(f"{last_path}: not a full training state (kind {ckpt.get('kind')!r})")
    elif last_path.exists() or best_path.exists():
        raise ConfigError(
            f"{out_dir}: already holds a run (last.pt/best.pt); resume it or choose another folder"
        )
    fabric.barrier()

    # ---- model and optimisation. Same init on every process (DDP also broadcasts rank 0's)
    torch.manual_seed(cfg.seed)
    init_from = cfg.init_from if ckpt is None else None
    model = build_student(cfg.model, pretrained=None if ckpt or init_from else cfg.pretrained)
    if init_from is not None:
        _load_init(model, cfg.model, init_from)
    model.input_size = cfg.input_size
    # separate random streams per process for anything random during training
    random.seed(cfg.seed + rank)
    np.random.seed(cfg.seed + rank)
    torch.manual_seed(cfg.seed + rank)

    train_ds = TrainDataset(
        cfg.train, cfg.input_size, cfg.supervision, cfg.augment, cfg.crop, cfg.photometric
    )
    steps_per_epoch = len(epoch_batches(len(train_ds), cfg.batch_size, 0, cfg.seed, rank, world))
    total_steps = steps_per_epoch * cfg.epochs
    warmup_steps = min(total_steps, round(cfg.warmup_epochs * steps_per_epoch))
    optimizer = torch.optim.AdamW(
        _param_groups(model, cfg.weight_decay), lr=cfg.lr, weight_decay=cfg.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, WarmupCosine(warmup_steps, total_steps, cfg.min_lr_ratio)
    )
    loss_fn = DistillLoss(
        cfg.bce_weight,
        cfg.dice_weight,
        cfg.focal_weight,
        cfg.focal_gamma,
        cfg.pos_weight,
        cfg.image_weight,
        cfg.image_topk,
    )

    if rank == 0:
        n_auth = sum(1 for x in cfg.train if x.label == 0)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        log.info(
            "training %s (%.2f M parameters) on %s, %s precision: %d images (%d untouched), "
            "%d steps/epoch x %d epochs, batch %d x %d process(es) -> %s",
            cfg.model.backbone, params, fabric.device, cfg.precision, len(cfg.train), n_auth,
            steps_per_epoch, cfg.epochs, cfg.batch_size, world, out_dir,
        )  # fmt: skip
    step, start_epoch, skip_batches = 0, 0, 0
    best_f1: float | None = None
    best_epoch: int | None = None
    history: list[dict[str, float]] = []
    if ckpt is not None:
        # with EMA, "state_dict" holds the averaged weights and "train_state_dict" these
        load_state(model, ckpt.get("train_state_dict", ckpt["state_dict"]), str(last_path))
        step, start_epoch, skip_batches = ckpt["step"], ckpt["epoch"], ckpt["epoch_step"]
        best_f1, best_epoch = ckpt.get("best_f1"), ckpt.get("best_epoch")
        history = list(ckpt.get("history") or [])
    fmodel, foptimizer = fabric.setup(model, optimizer)
    ema = _make_ema(model, cfg.ema, fabric.device)
    if ckpt is not None:
        if ema is not None:
            ema.load_state_dict(ckpt["ema"])
        # after setup, so that the optimizer state lands on the parameters' device
        foptimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("precision"):
            fabric.strategy.precision.load_state_dict(ckpt["precision"])
        restore_rng(ckpt["rng"][rank])
        if start_epoch >= cfg.epochs:
            log.info(
                "%s: the run is already complete (%d epochs, %d steps)", last_path, cfg.epochs, step
            )
        else:
            log.info("resumed %s at epoch %d, step %d", last_path, start_epoch + 1, step)

    val_loader: DataLoader[Any] | None = None
    if cfg.val:
        val_loader = DataLoader(
            ValDataset(cfg.val[rank::world], cfg.input_size),
            batch_size=cfg.val_batch_size,
            num_workers=cfg.num_workers,
            collate_fn=val_collate,
            worker_init_fn=worker_init,
        )

    if is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out_dir / "config.json", cfg.to_dict())
    writer = _tensorboard(cfg) if is_main else None
    device_is_cuda = fabric.device.type == "cuda"

    def inference_model() -> Student:
        """The weights to validate, save as the result and return: averaged with EMA."""
        return model if ema is None else ema.module

    def save_last(epoch: int, epoch_step: int, metrics: dict[str, float] | None) -> None:
        rng = _all_gather_objects(fabric, capture_rng())  # collective: every process calls
        if not is_main:
            return
        save_checkpoint(
            last_path,
            {
                "kind": "last",
                "model_args": cfg.model.to_dict(),
                "config": cfg.to_dict(),
                "state_dict": inference_model().state_dict(),
                **(
                    {"train_state_dict": model.state_dict(), "ema": ema.state_dict()}
                    if ema is not None
                    else {}
                ),
                "optimizer": foptimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "precision": fabric.strategy.precision.state_dict(),
                "rng": rng,
                "world_size": world,
                "step": step,
                "epoch": epoch,
                "epoch_step": epoch_step,
                "best_f1": best_f1,
                "best_epoch": best_epoch,
                "metrics": metrics,
                "history": history,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "versions": _versions(),
            },
        )

    # ---- the epochs
    skipped: set[str] = set()
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        batches = epoch_batches(len(train_ds), cfg.batch_size, epoch, cfg.seed, rank, world)
        epoch_step = skip_batches if epoch == start_epoch else 0
        loader = DataLoader(
            train_ds,
            batch_sampler=batches[epoch_step:],
            num_workers=cfg.num_workers,
            pin_memory=device_is_cuda,
            worker_init_fn=worker_init,
            # a private generator: creating a loader must not consume the global RNG
            generator=torch.Generator().manual_seed(cfg.seed),
        )
        fmodel.train()
        sums: dict[str, float] = {}
        seen = 0
        bar = tqdm(
            total=steps_per_epoch,
            initial=epoch_step,
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            disable=not (cfg.progress and is_main),
            leave=False,
            dynamic_ncols=True,
        )
        for batch in loader:
            for reasons in batch.get("skipped", []):
                for reason in filter(None, str(reasons).split("\n")):
                    if reason not in skipped:
                        skipped.add(reason)
                        log.warning("skipped a training sample: %s", reason)
            x = batch["image"].to(fabric.device, non_blocking=True)
            y = batch["target"].to(fabric.device, non_blocking=True)
            logits = fmodel(x)  # autocast to the chosen precision happens inside Fabric
            loss, terms = loss_fn(logits, y)
            foptimizer.zero_grad(set_to_none=True)
            fabric.backward(loss)
            if cfg.grad_clip:
                fabric.clip_gradients(fmodel, foptimizer, max_norm=cfg.grad_clip)
            foptimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update_parameters(model)
            step += 1
            epoch_step += 1
            loss_value = float(loss.detach())
            for k, v in {"loss": loss_value, **terms}.items():
                sums[k] = sums.get(k, 0.0) + v
            seen += 1
            lr = optimizer.param_groups[0]["lr"]
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}")
            if writer is not None:
                writer.add_scalar("train/loss", loss_value, step)
                writer.add_scalar("train/lr", lr, step)
            if cfg.save_every and step % cfg.save_every == 0 and epoch_step < steps_per_epoch:
                save_last(epoch, epoch_step, None)
            if on_step is not None:
                on_step(
                    StepInfo(
                        step, epoch, epoch_step, loss_value, lr, list(batch["name"]), rank, model
                    )
                )
        bar.close()

        # ---- end of epoch: average the loss over processes, validate, save, log
        means = {k: v / max(1, seen) for k, v in sums.items()}
        if world > 1:
            keys = sorted(means)
            t = fabric.all_reduce(torch.tensor([means[k] for k in keys], device=fabric.device))
            means = dict(zip(keys, (float(v) for v in t), strict=True))
        metrics = (
            validate(inference_model(), val_loader, cfg.val_threshold, fabric)
            if val_loader
            else None
        )
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": step,
            "lr": optimizer.param_groups[0]["lr"],
            "train_loss": means.get("loss"),
            "train_bce": means.get("bce"),
            "train_dice": means.get("dice"),
            "train_focal": means.get("focal"),
            "train_image": means.get("image"),
            "val_f1": metrics["f1"] if metrics else None,
            "val_iou": metrics["iou"] if metrics else None,
            "val_auc": metrics["auc"] if metrics else None,
            "val_images": metrics["n_manipulated"] if metrics else None,
            "epoch_time_s": round(time.perf_counter() - t0, 3),
        }
        history.append(row)
        improved = (
            metrics is not None
            and not math.isnan(metrics["f1"])
            and (best_f1 is None or metrics["f1"] > best_f1)
        )
        if improved:
            assert metrics is not None
            best_f1, best_epoch = float(metrics["f1"]), epoch + 1
        save_last(epoch + 1, 0, metrics)
        if is_main:
            if improved:
                save_checkpoint(
                    best_path,
                    {
                        "kind": "best",
                        "model_args": cfg.model.to_dict(),
                        "config": cfg.to_dict(),
                        "state_dict": inference_model().state_dict(),
                        "step": step,
                        "epoch": epoch + 1,
                        "metrics": metrics,
                        "best_f1": best_f1,
                        "best_epoch": best_epoch,
                        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        "versions": _versions(),
                    },
                )
            _write_csv(out_dir / "log.csv", history)
            if writer is not None and metrics is not None:
                writer.add_scalar("val/f1", metrics["f1"], step)
                writer.add_scalar("val/iou", metrics["iou"], step)
            val_text = (
                f", val F1 {metrics['f1']:.4f} (best {best_f1:.4f} @ epoch {best_epoch})"
                if metrics and best_f1 is not None
                else ""
            )
            log.info(
                "epoch %d/%d: loss %.4f%s, %.1fs",
                epoch + 1,
                cfg.epochs,
                row["train_loss"] or float("nan"),
                val_text,
                row["epoch_time_s"],
            )

    if writer is not None:
        writer.close()
    if skipped and is_main:
        atomic_write_text(out_dir / "skipped.txt", "".join(f"{r}\n" for r in sorted(skipped)))
        log.warning(
            "%d training sample(s) could not be read and were replaced by others; listed in %s",
            len(skipped), out_dir / "skipped.txt",
        )  # fmt: skip
    fabric.barrier()
    final = inference_model()
    final.eval()
    return TrainResult(
        out_dir=out_dir,
        last=last_path,
        best=best_path if best_path.exists() else None,
        best_f1=best_f1,
        best_epoch=best_epoch,
        epochs=cfg.epochs,
        steps=step,
        history=history,
        model=final,
        skipped=sorted(skipped),
    )


def load_train_config(run_dir: str | Path) -> TrainConfig:
    """The configuration saved in ``run_dir/last.pt`` (to resume a run from its folder)."""
    ckpt = read_checkpoint(Path(run_dir) / "last.pt")
    cfg = TrainConfig.from_dict(ckpt["config"])
    cfg.out_dir = Path(run_dir)
    return cfg
