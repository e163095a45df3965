"""Inference backends: a student run by PyTorch, or an exported model run by ONNX Runtime.

Both take the same input and give the same output, so that everything around them
(pre-processing, tiling, post-processing, saving) is shared:

* input: ``(B, 3, S, S)`` ``float32`` RGB in ``[0, 1]`` (``S`` = :attr:`Backend.input_size`);
* output: ``(B, S, S)`` ``float32`` probabilities in ``[0, 1]``.

This module imports neither torch nor onnxruntime at module level: :class:`OnnxBackend`
needs only onnxruntime (a slim install), :class:`TorchBackend` needs torch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from boxpromptiml.errors import CheckpointError, ConfigError

__all__ = [
    "ONNX_FORMAT",
    "ONNX_INPUT",
    "ONNX_OUTPUT",
    "ONNX_VERSION",
    "Backend",
    "OnnxBackend",
    "TorchBackend",
    "load_backend",
]

#: Metadata tag written into every exported ONNX model (``metadata_props``).
ONNX_FORMAT = "boxpromptiml.student.onnx"
ONNX_VERSION = 1
#: Input and output names of exported models.
ONNX_INPUT = "images"
ONNX_OUTPUT = "probs"

PathLike = str | os.PathLike[str]


class Backend(Protocol):
    """What :class:`~boxpromptiml.predict.Localizer` needs from a runtime."""

    #: ``"torch"`` or ``"onnxruntime"``.
    name: str
    #: Where it runs, e.g. ``"cpu"``, ``"cuda"``, ``"cuda:0"``.
    device: str
    #: Square input side ``S`` the model was trained at.
    input_size: int
    #: Description of the model (architecture, source file, precision) for JSON outputs.
    info: dict[str, Any]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """``(B, 3, S, S)`` ``float32`` in ``[0, 1]`` → ``(B, S, S)`` ``float32`` probabilities."""
        ...


# --------------------------------------------------------------------------- PyTorch


def resolve_torch_device(device: str) -> str:
    """``"auto"`` → ``"cuda"`` when available, else ``"cpu"``; other values pass through."""
    import re

    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not re.fullmatch(r"cpu|cuda(:\d+)?|mps", device):
        raise ConfigError(f"unknown device {device!r}: give auto, cpu, mps or cuda[:index]")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available")
    return device


def check_threads(threads: int | None) -> None:
    """Raise :class:`ConfigError` unless ``threads`` is ``None`` or a positive integer."""
    if threads is not None and (isinstance(threads, bool) or int(threads) < 1):
        raise ConfigError(f"threads must be a positive integer (or unset), got {threads!r}")


class TorchBackend:
    """A :class:`~boxpromptiml.student.Student` in eval mode, run under ``inference_mode``.

    Args:
        model: the student; moved to ``device`` and set to eval mode.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        input_size: the training input side ``S`` (default ``model.input_size``).
        info: description saved with predictions.
    """

    name = "torch"

    def __init__(
        self,
        model: Any,
        device: str = "auto",
        input_size: int | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.device = resolve_torch_device(device)
        self.model = model.to(self.device).eval()
        size: Any = input_size or getattr(model, "input_size", 224)
        self.input_size = int(size)
        self.info = {"runtime": "torch", "device": self.device, **(info or {})}
        #: inference settings the model was packaged with (tile, max_side, image_score)
        self.inference: dict[str, Any] = {}

    @classmethod
    def from_checkpoint(cls, path: PathLike, device: str = "auto") -> TorchBackend:
        """Load a student checkpoint written by ``boxprompt train`` (``best.pt``/``last.pt``)."""
        from boxpromptiml.student.checkpoint import load_student

        dev = resolve_torch_device(device)
        model, meta = load_student(path, device=dev)
        info = {
            "model": str(path),
            "model_args": meta["model_args"],
            "precision": "fp32",
            "epoch": meta.get("epoch"),
        }
        backend = cls(model, dev, int(meta["input_size"]), info)
        backend.inference = dict(meta.get("inference") or {})
        return backend

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
            probs = torch.sigmoid(self.model(x).float())
            return probs[:, 0].cpu().numpy()


# --------------------------------------------------------------------------- ONNX Runtime


def onnx_providers(device: str) -> list[str]:
    """ONNX Runtime execution providers for ``device`` (``auto``, ``cpu``, ``cuda[:i]``)."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device.startswith("cuda") or device == "auto":
        if "CUDAExecutionProvider" in available:
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if device != "auto":
            raise ConfigError(
                f"device {device!r} requested but this onnxruntime has no CUDA provider "
                f"(available: {', '.join(available)}); install onnxruntime-gpu"
            )
        return ["CPUExecutionProvider"]
    raise ConfigError(f"unknown device {device!r}: give auto, cpu or cuda[:index]")


def onnx_session_options(threads: int | None = None) -> Any:
    """Session options used everywhere: all graph optimisations, ``threads`` intra-op
    threads (default: every core), sequential execution."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = int(threads) if threads else (os.cpu_count() or 1)
    so.inter_op_num_threads = 1
    so.log_severity_level = 3  # errors only
    return so


class OnnxBackend:
    """An exported student (``boxprompt export``) run by ONNX Runtime; never imports torch.

    Args:
        path: the ``.onnx`` file.
        device: ``"auto"`` (CUDA provider when installed, else CPU), ``"cpu"`` or ``"cuda"``.
        threads: intra-op threads on the CPU (default: every core).

    Raises :class:`CheckpointError` for a missing or unreadable file, or an ONNX model
    not written by ``boxprompt export``.
    """

    name = "onnxruntime"

    def __init__(self, path: PathLike, device: str = "auto", threads: int | None = None) -> None:
        import onnxruntime as ort

        p = Path(path)
        if not p.is_file():
            raise CheckpointError(f"{p}: ONNX model not found")
        providers = onnx_providers(device)
        try:
            self.session = ort.InferenceSession(
                str(p), onnx_session_options(threads), providers=providers
            )
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(f"{p}: not a readable ONNX model ({first})") from exc
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        if meta.get("format") != ONNX_FORMAT:
            raise CheckpointError(
                f"{p}: not a boxpromptiml ONNX model (no format tag {ONNX_FORMAT!r}); "
                "export one with 'boxprompt export'"
            )
        version = int(meta.get("version", "0") or 0)
        if version > ONNX_VERSION:
            raise CheckpointError(
                f"{p}: ONNX model format version {version} is newer than this boxpromptiml "
                f"understands ({ONNX_VERSION}); upgrade boxpromptiml"
            )
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or inputs[0].name != ONNX_INPUT:
            raise CheckpointError(f"{p}: expected one input named {ONNX_INPUT!r}")
        self.input_size = int(meta.get("input_size") or inputs[0].shape[-1])
        used = self.session.get_providers()
        self.device = "cuda" if used and used[0] == "CUDAExecutionProvider" else "cpu"
        self.path = p
        self.info: dict[str, Any] = {
            "runtime": "onnxruntime",
            "device": self.device,
            "model": str(p),
            "model_args": json.loads(meta.get("model_args", "null")),
            "precision": meta.get("precision", "fp32"),
        }
        #: inference settings the model was packaged with (tile, max_side, image_score)
        self.inference: dict[str, Any] = json.loads(meta.get("inference", "{}") or "{}")

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        (probs,) = self.session.run([ONNX_OUTPUT], {ONNX_INPUT: x})
        return np.asarray(probs, dtype=np.float32)[:, 0]


def load_backend(path: PathLike, device: str = "auto", threads: int | None = None) -> Backend:
    """A backend for a checkpoint (``.pt``/``.pth``/``.ckpt``, PyTorch) or an ``.onnx`` file
    (ONNX Runtime, no torch needed)."""
    p = Path(path)
    check_threads(threads)
    if p.suffix.lower() == ".onnx":
        return OnnxBackend(p, device=device, threads=threads)
    if not p.exists():
        raise CheckpointError(f"{p}: checkpoint not found")
    try:
        import torch
    except ImportError as exc:
        raise CheckpointError(
            f"{p}: a PyTorch checkpoint needs torch (pip install 'boxpromptiml[torch]'); "
            "a slim install runs exported models: boxprompt export --format onnx"
        ) from exc
    if threads:
        torch.set_num_threads(int(threads))
    return TorchBackend.from_checkpoint(p, device=device)
