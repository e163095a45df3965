"""Student checkpoints: one format, written atomically, read with ``weights_only=True``.

A checkpoint is a dict of plain types and tensors::

    format        "boxpromptiml.student"
    version       1
    kind          "last" (full training state) or "best" (weights and metrics only)
    model_args    StudentArgs.to_dict(): the architecture is rebuilt from it
    config        TrainConfig.to_dict(): the resolved training configuration
    state_dict    the student's weights
    step, epoch, epoch_step, best_f1, best_epoch, metrics, history
    optimizer, scheduler, precision, rng, world_size          ("last" only)
    created, versions                                           (provenance)

Anything else (another model's weights, a truncated file, a random file) raises a
:class:`~boxpromptiml.errors.CheckpointError` with one line naming the file and the problem.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from boxpromptiml.errors import CheckpointError, ConfigError
from boxpromptiml.fileio import atomic_write
from boxpromptiml.student.build import StudentArgs, build_student, resolve_student_args
from boxpromptiml.student.model import Student
from boxpromptiml.student.weights import describe_load_error

__all__ = [
    "FORMAT",
    "VERSION",
    "capture_rng",
    "load_student",
    "read_checkpoint",
    "restore_rng",
    "save_checkpoint",
]

FORMAT = "boxpromptiml.student"
VERSION = 1

PathLike = str | os.PathLike[str]


def save_checkpoint(path: PathLike, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` (with ``format``/``version`` added) to ``path`` atomically."""
    data = {"format": FORMAT, "version": VERSION, **payload}
    return atomic_write(path, lambda tmp: torch.save(data, tmp))


def read_checkpoint(path: PathLike) -> dict[str, Any]:
    """Read and check a student checkpoint (on the CPU, ``weights_only=True``).

    Raises :class:`CheckpointError` for a missing, truncated or foreign file, or a
    checkpoint written by a newer version.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint not found")
    if p.stat().st_size == 0:
        raise CheckpointError(f"{p}: checkpoint file is empty")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{p}: not a readable PyTorch checkpoint (truncated, corrupt or unsafe file): "
            f"{describe_load_error(exc)}"
        ) from exc
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        what = (
            "a state dict or another tool's file" if isinstance(obj, dict) else type(obj).__name__
        )
        raise CheckpointError(
            f"{p}: not a boxpromptiml student checkpoint ({what}, no format tag {FORMAT!r})"
        )
    version = obj.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            f"{p}: checkpoint format version {version!r} is newer than this boxpromptiml "
            f"understands ({VERSION}); upgrade boxpromptiml"
        )
    for key in ("model_args", "state_dict"):
        if not isinstance(obj.get(key), dict):
            raise CheckpointError(f"{p}: checkpoint lacks its {key!r} entry")
    return obj


def _model_args(p: Path, ckpt: Mapping[str, Any]) -> StudentArgs:
    try:
        return StudentArgs.from_dict(ckpt["model_args"])
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"{p}: invalid model_args in checkpoint: {exc}") from exc


def load_state(model: torch.nn.Module, state_dict: Mapping[str, Any], where: str) -> None:
    """``model.load_state_dict(state_dict)`` with one-line errors naming ``where``."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    if missing or unexpected:
        first = (missing or unexpected)[0]
        raise CheckpointError(
            f"{where}: weights do not fit the architecture in model_args "
            f"({len(missing)} missing, {len(unexpected)} unexpected tensors; first: {first!r})"
        )
    for k, v in state_dict.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise CheckpointError(
                f"{where}: tensor {k!r} has shape {tuple(v.shape)}, the architecture in "
                f"model_args expects {tuple(own[k].shape)}"
            )
    model.load_state_dict(state_dict, strict=True)


def load_student(
    path: PathLike,
    device: str | torch.device = "cpu",
    expect: str | StudentArgs | Mapping[str, Any] | None = None,
) -> tuple[Student, dict[str, Any]]:
    """Rebuild a trained student from a checkpoint (``best.pt`` or ``last.pt``).

    Args:
        path: checkpoint file.
        device: where to put the model.
        expect: optional architecture the caller requires (preset, timm name, dict or
            :class:`StudentArgs`); a checkpoint of another architecture raises
            :class:`CheckpointError`.

    Returns ``(model, meta)``: the model in eval mode with ``model.input_size`` set to the
    training input size, and ``meta`` with ``model_args``, ``config``, ``input_size``,
    ``step``, ``epoch``, ``metrics``, ``best_f1``, ``kind``, ``created``, ``versions``.
    """
    p = Path(path)
    ckpt = read_checkpoint(p)
    args = _model_args(p, ckpt)
    if expect is not None:
        wanted = resolve_student_args(expect)
        if wanted != args:
            diff = [k for k, v in args.to_dict().items() if wanted.to_dict()[k] != v]
            raise CheckpointError(
                f"{p}: checkpoint is a {args.backbone} student, not the requested "
                f"{wanted.backbone} one (differs in: {', '.join(diff)})"
            )
    model = build_student(args)
    load_state(model, ckpt["state_dict"], str(p))
    config = ckpt.get("config") or {}
    input_size = int(config.get("input_size", 224))
    model.input_size = input_size
    model.to(device).eval()
    meta = {
        "model_args": args.to_dict(),
        "config": config,
        "input_size": input_size,
        "kind": ckpt.get("kind"),
        "step": ckpt.get("step"),
        "epoch": ckpt.get("epoch"),
        "metrics": ckpt.get("metrics"),
        "best_f1": ckpt.get("best_f1"),
        "created": ckpt.get("created"),
        "versions": ckpt.get("versions"),
        "inference": ckpt.get("inference") or {},
        "recipe": ckpt.get("recipe"),
        "manifest_sha256": ckpt.get("manifest_sha256"),
    }
    return model, meta


# ---------------------------------------------------------------------------- RNG state


def capture_rng() -> dict[str, Any]:
    """This process's random states (Python, NumPy, torch CPU and CUDA), as plain types and
    tensors so that ``weights_only=True`` can read them back."""
    np_state: Any = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "key": str(np_state[0]),
            "state": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        (
            n["key"],
            n["state"].numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = list(state["cuda"])
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
