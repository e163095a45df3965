"""Distillation training of the student (pseudo-masks → checkpoints), Python API first.

Files::

    config.py      TrainConfig: every option, its default, validation, (de)serialisation
    data.py        reading, augmentation, the seeded and resumable order of batches
    losses.py      BCE against soft targets, optional soft Dice and focal terms
    checkpoint.py  re-exports boxpromptiml.student.checkpoint (the checkpoint format)
    loop.py        fit(): the loop (Lightning Fabric), validation, logging, resume
    soup.py        average_checkpoints(): one student averaging several fine-tuned ones
    synthetic.py   a toy dataset (bright shapes on noise) to check the pipeline

Typical use::

    from boxpromptiml.train import TrainConfig, fit, paired_samples
    from boxpromptiml.data.sources import load_dataset

    cfg = TrainConfig(
        train=paired_samples("data/casia2/Tp", "pseudo/casia2"),
        val=load_dataset("data/coverage").samples,
        out_dir="runs/train/exp",
    )
    result = fit(cfg)            # result.best -> runs/train/exp/best.pt
    model, meta = load_student(result.best)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from boxpromptiml.student.checkpoint import FORMAT, VERSION, load_student, read_checkpoint
    from boxpromptiml.train.config import (
        RUNTIME_FIELDS,
        TrainConfig,
        extra_samples,
        paired_samples,
    )
    from boxpromptiml.train.loop import (
        StepInfo,
        TrainResult,
        WarmupCosine,
        fit,
        load_train_config,
    )
    from boxpromptiml.train.losses import DistillLoss
    from boxpromptiml.train.soup import average_checkpoints

# Names are imported on first use, so that ``boxprompt --help`` does not import torch.
_EXPORTS: dict[str, str] = {
    "FORMAT": "checkpoint",
    "VERSION": "checkpoint",
    "load_student": "checkpoint",
    "read_checkpoint": "checkpoint",
    "RUNTIME_FIELDS": "config",
    "TrainConfig": "config",
    "paired_samples": "config",
    "PAPER_SETTINGS": "config",
    "DEFAULT_MODEL": "config",
    "extra_samples": "config",
    "StepInfo": "loop",
    "TrainResult": "loop",
    "WarmupCosine": "loop",
    "fit": "loop",
    "load_train_config": "loop",
    "DistillLoss": "losses",
    "average_checkpoints": "soup",
}

__all__ = [
    "FORMAT",
    "PAPER_SETTINGS",
    "RUNTIME_FIELDS",
    "VERSION",
    "DistillLoss",
    "StepInfo",
    "TrainConfig",
    "TrainResult",
    "WarmupCosine",
    "average_checkpoints",
    "extra_samples",
    "fit",
    "load_student",
    "load_train_config",
    "paired_samples",
    "read_checkpoint",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"boxpromptiml.train.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'boxpromptiml.train' has no attribute {name!r}")
