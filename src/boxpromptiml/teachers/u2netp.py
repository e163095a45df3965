"""U²-Netp salient-object detection on the box crop, run with ONNX Runtime.

Model: ``u2netp.onnx`` (Qin et al., "U²-Net: Going deeper with nested U-structure for
salient object detection", Pattern Recognition 2020; Apache-2.0 weights), fetched once
with ``python -m boxpromptiml.weights fetch`` (see :mod:`boxpromptiml.weights`).

Conventions of the model file (checked on the file itself):

* input ``input.1``: ``(1, 3, 320, 320)`` float32, RGB. The crop is resized to
  ``input_size`` squared (aspect not kept, as in U²-Net's training), divided by its
  maximum value, then normalised with the ImageNet mean ``(0.485, 0.456, 0.406)`` and
  standard deviation ``(0.229, 0.224, 0.225)``.
* output 0 (``1959``, the fused side output ``d0``): ``(1, 1, 320, 320)`` saliency,
  already passed through a sigmoid; like U²-Net's own test script it is min-max normalised
  per crop before use. Six further side outputs are ignored.

The file fixes the input at 320 × 320 with batch 1. The network is fully convolutional, so
when the model is loaded the batch, height and width of its input and outputs are made
symbolic (an in-memory edit of the ONNX protobuf; the cached file is not changed). That
lets ``input_size`` trade accuracy for speed and lets a GPU run every box of an image in
one batch.

Each box is segmented in its window, the box grown by ``context`` of its size (a little
surrounding helps saliency). The map is thresholded per box (``threshold="otsu"``: Otsu's
threshold on the map inside the box, or a fixed number) and re-centred so that the
threshold becomes 0.5.

Confidence: the stability of the map (IoU of the masks at 0.35 and 0.65), as SAM scores
its own masks: a crisp map is a sure one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from boxpromptiml.errors import CheckpointError, ConfigError
from boxpromptiml.teachers import maps as M
from boxpromptiml.teachers.base import BoxMap, Teacher

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


# --------------------------------------------------------------------------- ONNX edit
# Just enough of the protobuf wire format to rename fixed dimensions of the graph's
# inputs and outputs (ModelProto.graph = 7; GraphProto.input = 11, output = 12;
# ValueInfoProto.type = 2; TypeProto.tensor_type = 1; Tensor.shape = 2;
# TensorShapeProto.dim = 1; Dimension.dim_value = 1, dim_param = 2).


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated protobuf varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _edit(buf: bytes, edits: dict[int, Any]) -> bytes:
    """Copy a protobuf message, passing the payload of each length-delimited field listed
    in ``edits`` (field number -> function(payload, occurrence) -> new payload)."""
    out = bytearray()
    seen: dict[int, int] = {}
    i = 0
    while i < len(buf):
        start = i
        key, i = _read_varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, i = _read_varint(buf, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n, j = _read_varint(buf, i)
            payload, i = buf[j : j + n], j + n
            if field in edits:
                k = seen.get(field, 0)
                seen[field] = k + 1
                new = edits[field](payload, k)
                out += _varint(key) + _varint(len(new)) + new
                continue
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out += buf[start:i]
    return bytes(out)


def _count(buf: bytes, field: int) -> int:
    """How many times the length-delimited ``field`` occurs in a protobuf message."""
    seen: list[int] = []

    def note(payload: bytes, k: int) -> bytes:
        seen.append(k)
        return payload

    _edit(buf, {field: note})
    return len(seen)


def free_image_dims(model: bytes, axes: tuple[int, ...] = (0, 2, 3)) -> bytes:
    """An ONNX model (bytes) whose first input and every output have symbolic sizes on ``axes``.

    Only rank-4 tensors are touched; everything else (weights, nodes) is copied verbatim.
    """

    names = {0: b"batch", 1: b"channels", 2: b"height", 3: b"width"}

    def dim(payload: bytes, k: int) -> bytes:
        if k not in axes:
            return payload
        return _varint((2 << 3) | 2) + _varint(len(names[k])) + names[k]  # dim_param

    def shape(payload: bytes, _k: int) -> bytes:
        return _edit(payload, {1: dim}) if _count(payload, 1) == 4 else payload

    def tensor(payload: bytes, _k: int) -> bytes:
        return _edit(payload, {2: shape})

    def type_(payload: bytes, _k: int) -> bytes:
        return _edit(payload, {1: tensor})

    def value_info(payload: bytes, _k: int) -> bytes:
        return _edit(payload, {2: type_})

    def first_input(payload: bytes, k: int) -> bytes:
        return value_info(payload, k) if k == 0 else payload

    def graph(payload: bytes, _k: int) -> bytes:
        return _edit(payload, {11: first_input, 12: value_info})

    return _edit(model, {7: graph})


# --------------------------------------------------------------------------- teacher


def _providers(device: str) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise ConfigError("device 'cuda' asked for u2netp but onnxruntime has no CUDA provider")
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class U2NetpTeacher(Teacher):
    """U²-Netp on each box's crop (see the module docstring).

    Args:
        model_path: an ONNX file; default: the cached, verified ``u2netp.onnx``.
        input_size: side of the square network input (the model was trained at 320).
        context: the crop is the box grown by this fraction of its size on each side.
        threshold: ``"otsu"`` (per box) or a number in ``(0, 1)``.
        threads: ONNX Runtime intra-op threads (``None``: ``$BOXPROMPT_THREADS`` if set, else
            ONNX Runtime's default, all cores).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when onnxruntime has it).
        **common: see :class:`~boxpromptiml.teachers.base.Teacher`.
    """

    name = "u2netp"
    version = "1"

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str] | None = None,
        input_size: int = 320,
        context: float = 0.1,
        threshold: str | float = "otsu",
        threads: int | None = None,
        device: str = "cpu",
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if int(input_size) < 32 or int(input_size) % 32:
            raise ConfigError(f"input_size must be a multiple of 32, at least 32; got {input_size}")
        if not 0.0 <= context <= 1.0:
            raise ConfigError(f"context must lie in [0, 1], got {context}")
        if threshold != "otsu" and not (isinstance(threshold, int | float) and 0 < threshold < 1):
            raise ConfigError(f"threshold must be 'otsu' or a number in (0, 1), got {threshold!r}")
        if device not in ("cpu", "cuda", "auto"):
            raise ConfigError(f"device must be cpu, cuda or auto, got {device!r}")
        self.input_size = int(input_size)
        self.context = float(context)
        self.threshold: str | float = threshold if threshold == "otsu" else float(threshold)
        self.threads = threads
        self.device = device
        self._load(model_path)

    def _load(self, model_path: str | os.PathLike[str] | None) -> None:
        import onnxruntime as ort

        from boxpromptiml.weights import require, sha256_file

        if model_path is None:
            path = require("u2netp")
            from boxpromptiml.weights import WEIGHTS

            self._sha256 = WEIGHTS["u2netp"].sha256
        else:
            path = Path(model_path)
            if not path.is_file():
                raise CheckpointError(f"{path}: u2netp model file not found")
            self._sha256 = sha256_file(path)
        try:
            model = free_image_dims(path.read_bytes())
            opts = ort.SessionOptions()
            threads = self.threads or int(os.environ.get("BOXPROMPT_THREADS", "0") or 0)
            if threads:
                opts.intra_op_num_threads = int(threads)
                opts.inter_op_num_threads = 1
            self._session = ort.InferenceSession(model, opts, providers=_providers(self.device))
        except Exception as exc:  # onnxruntime raises its own exception types
            raise CheckpointError(f"{path}: not a usable U²-Netp ONNX model ({exc})") from exc
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name

    def checkpoint_id(self) -> str:
        return self._sha256

    def options(self) -> dict[str, Any]:
        return {
            "input_size": self.input_size,
            "context": self.context,
            "threshold": self.threshold,
            **super().options(),
        }

    def saliency(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        """Min-max normalised saliency of each ``(h, w, 3)`` uint8 RGB crop, ``(h, w)`` float32."""
        s = self.input_size
        batch = np.empty((len(crops), 3, s, s), dtype=np.float32)
        for k, c in enumerate(crops):
            interp = cv2.INTER_AREA if min(c.shape[:2]) > s else cv2.INTER_LINEAR
            x = cv2.resize(c, (s, s), interpolation=interp).astype(np.float32)
            x /= max(float(x.max()), 1e-6)
            batch[k] = ((x - MEAN) / STD).transpose(2, 0, 1)
        if "CUDAExecutionProvider" in self._session.get_providers():
            outs = self._session.run([self._output], {self._input: batch})[0][:, 0]
        else:  # on CPU one crop at a time is as fast and needs less memory
            outs = [
                self._session.run([self._output], {self._input: b[None]})[0][0, 0] for b in batch
            ]
        maps = []
        for c, y in zip(crops, outs, strict=True):
            lo, hi = float(y.min()), float(y.max())
            y = (y - lo) / (hi - lo) if hi - lo > 1e-8 else np.zeros_like(y)
            y = cv2.resize(
                y.astype(np.float32), (c.shape[1], c.shape[0]), interpolation=cv2.INTER_LINEAR
            )
            maps.append(np.clip(y, 0.0, 1.0))
        return maps

    def _predict(self, image: np.ndarray, boxes: np.ndarray) -> list[BoxMap]:
        h, w = image.shape[:2]
        wins = [M.grow_box(b, max(self.context, self.clip_margin), h, w) for b in boxes]
        sal = self.saliency([M.crop(image, win) for win in wins])
        out = []
        for box, win, p in zip(boxes, wins, sal, strict=True):
            inside = M.box_mask(box, win)
            t = M.otsu_threshold(p[inside]) if self.threshold == "otsu" else float(self.threshold)
            prob = M.recentre(p, t)
            out.append(BoxMap(box, win, prob, M.stability(prob, inside), self.name))
        return out
