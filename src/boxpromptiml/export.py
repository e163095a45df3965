"""Export a trained student to ONNX, verify it, and quantize it to int8.

The exported graph takes ``images`` ``(B, 3, S, S)`` ``float32`` RGB in ``[0, 1]`` (any
batch ``B``, ``S`` the training input size) and returns ``probs`` ``(B, 1, S, S)``: the
sigmoid is part of the graph, normalisation too (it lives inside the student). Metadata
(``format``, ``version``, ``input_size``, ``model_args``, ``precision``) is stored in the
model's ``metadata_props`` and checked by :class:`~boxpromptiml.predict.OnnxBackend`.

Steps, each usable alone:

* :func:`export_onnx`: checkpoint → fp32 ONNX, verified against PyTorch on a batch of
  images (max abs difference of probabilities ≤ ``atol``, 1e-4 by default).
* :func:`quantize_onnx`: fp32 ONNX → int8 ONNX, static (calibrated on images; QDQ or
  QOperator format, per-channel weights) or dynamic. Only the compute-heavy operators
  (``Conv``, ``MatMul`` with a weight, ``Gemm``) are quantized by default; softmax, layer
  norms, GELU, the activation-by-activation attention products and the MGFM blend stay fp32.
* :func:`quantization_cost`: pixel F1 of the fp32 and the int8 model on an evaluation set
  with masks (per-image F1 at 0.5, averaged, as :mod:`boxpromptiml.metrics`) and their
  difference: the accuracy price of int8.

Export needs torch and onnx (the ``torch`` extra); the quantizer needs onnx and
onnxruntime.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np

from boxpromptiml.errors import CheckpointError, ConfigError, DataError
from boxpromptiml.predict.backends import ONNX_FORMAT, ONNX_INPUT, ONNX_OUTPUT, ONNX_VERSION
from boxpromptiml.predict.preprocess import as_image, images_to_batch, resize_image

__all__ = [
    "DEFAULT_DYNAMIC_QUANT_OPS",
    "DEFAULT_QUANT_OPS",
    "ExportReport",
    "export_onnx",
    "export_student",
    "quantization_cost",
    "quantize_onnx",
    "read_onnx_metadata",
]

PathLike = str | os.PathLike[str]
QuantMethod = Literal["static", "dynamic"]
QuantFormatName = Literal["qdq", "qoperator"]

#: Operator types quantized by default: static quantization, and dynamic quantization
#: (where ``ConvInteger`` is far slower than fp32 convolutions on the CPU, so convolutions
#: stay fp32).
DEFAULT_QUANT_OPS: tuple[str, ...] = ("Conv", "MatMul", "Gemm")
DEFAULT_DYNAMIC_QUANT_OPS: tuple[str, ...] = ("MatMul", "Gemm")


@dataclass
class ExportReport:
    """What :func:`export_onnx` (and optionally :func:`quantize_onnx`) produced."""

    onnx: Path
    input_size: int
    opset: int
    max_abs_diff: float | None = None
    verify_batch: int = 0
    int8: Path | None = None
    int8_max_abs_diff: float | None = None
    cost: dict[str, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (paths as strings)."""
        return {
            "onnx": str(self.onnx),
            "input_size": self.input_size,
            "opset": self.opset,
            "max_abs_diff": self.max_abs_diff,
            "verify_batch": self.verify_batch,
            "int8": str(self.int8) if self.int8 else None,
            "int8_max_abs_diff": self.int8_max_abs_diff,
            "cost": self.cost,
            **self.extra,
        }


# --------------------------------------------------------------------------- helpers


def _one_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _sample_images(source: Any, size: int, count: int, seed: int = 0) -> list[np.ndarray]:
    """Up to ``count`` images resized to ``size × size``: from ``source`` (anything
    :meth:`~boxpromptiml.predict.Localizer.predict` takes; unreadable files are skipped)
    or, when ``source`` is ``None``, smooth random images (seeded)."""
    if source is None:
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(count):
            small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            noise = rng.integers(-20, 21, (size, size, 3))
            big = resize_image(small, size).astype(np.int64) + noise
            out.append(np.clip(big, 0, 255).astype(np.uint8))
        return out
    from boxpromptiml.predict.localizer import expand_sources

    images: list[np.ndarray] = []
    for src in expand_sources(source):
        if len(images) >= count:
            break
        try:
            image, _ = as_image(src)
        except DataError:
            continue
        images.append(resize_image(image, size))
    if not images:
        raise DataError(f"{source}: no readable image for calibration/verification")
    return images


def read_onnx_metadata(path: PathLike) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict (needs the ``onnx`` package)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def _write_metadata(path: Path, meta: dict[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    from boxpromptiml.fileio import atomic_write

    atomic_write(path, lambda tmp: onnx.save(model, str(tmp)))


def _default_mode(path: Path) -> None:
    """Give a file made through a private temporary file the usual ``0o666 & ~umask`` mode."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def _register_logaddexp() -> None:
    """Teach the TorchScript ONNX exporter ``aten::logaddexp`` (used by MGFM):
    ``logaddexp(a, b) = max(a, b) + softplus(-|a - b|)``, exact and stable."""
    from torch.onnx import register_custom_op_symbolic

    def logaddexp(g: Any, a: Any, b: Any) -> Any:
        diff = g.op("Abs", g.op("Sub", a, b))
        return g.op("Add", g.op("Max", a, b), g.op("Softplus", g.op("Neg", diff)))

    register_custom_op_symbolic("aten::logaddexp", logaddexp, 9)


def _ort_probs(path: PathLike, batch: np.ndarray, threads: int | None = None) -> np.ndarray:
    from boxpromptiml.predict.backends import OnnxBackend

    return OnnxBackend(path, device="cpu", threads=threads)(batch)


# --------------------------------------------------------------------------- fp32 export


def export_onnx(
    checkpoint: PathLike,
    out: PathLike | None = None,
    *,
    opset: int = 17,
    verify: bool = True,
    verify_images: Any = None,
    verify_batch: int = 3,
    atol: float = 1e-4,
) -> ExportReport:
    """Export a student checkpoint to ONNX with a dynamic batch axis and verify it.

    Args:
        checkpoint: a student checkpoint (``best.pt`` / ``last.pt``).
        out: the ``.onnx`` file (default: next to the checkpoint, same stem).
        opset: ONNX opset (17 has ``LayerNormalization``).
        verify: compare ONNX Runtime (CPU) with PyTorch on ``verify_batch`` images.
        verify_images: images for the check (anything ``Localizer.predict`` takes);
            default: seeded random smooth images.
        atol: the largest accepted absolute difference of probabilities.

    Raises :class:`CheckpointError` for a bad checkpoint, a failed export, or a
    verification above ``atol``.
    """
    from boxpromptiml.student.checkpoint import load_student

    ckpt = Path(checkpoint)
    model, meta = load_student(ckpt, device="cpu")
    return export_student(
        model,
        Path(out) if out is not None else ckpt.with_suffix(".onnx"),
        input_size=int(meta["input_size"]),
        model_args=meta["model_args"],
        source=ckpt.name,
        epoch=meta.get("epoch"),
        inference=meta.get("inference") or None,
        opset=opset,
        verify=verify,
        verify_images=verify_images,
        verify_batch=verify_batch,
        atol=atol,
    )


def fold_static_pads(path: PathLike) -> int:
    """Fold zero ``Pad`` nodes into the ``Conv`` they feed, in place; return how many.

    timm's TensorFlow-style "same" padding (``tf_efficientnet_*``) traces as a ``Pad``
    whose amounts are computed from the input's shape at run time, so ONNX Runtime can
    neither fold it nor keep the conv in its blocked layout, and reorders tensors around
    each one. The graph's spatial size is fixed at export, so the amounts are constants:
    they are read by running the graph once (batch 1 and 2, which must agree), and each
    constant-mode, zero-value Pad on the spatial axes that feeds only a ``Conv`` becomes
    that conv's (possibly asymmetric) ``pads``. The caller verifies the result.
    """
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    g = model.graph
    consumers: dict[str, list[Any]] = {}
    for n in g.node:
        for name in n.input:
            consumers.setdefault(name, []).append(n)
    graph_outputs = {o.name for o in g.output}
    candidates = []
    for n in g.node:
        if n.op_type != "Pad" or n.output[0] in graph_outputs:
            continue
        mode = next((a.s.decode() for a in n.attribute if a.name == "mode"), "constant")
        users = consumers.get(n.output[0], [])
        if mode == "constant" and len(users) == 1 and users[0].op_type == "Conv":
            candidates.append((n, users[0]))
    if not candidates:
        return 0
    # read the pad amounts (and fill values) by asking the graph for them
    wanted = sorted({i for pad, _ in candidates for i in pad.input[1:3] if i})
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    have = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.ValueInfoProto(name=w) for w in wanted if w not in have)
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    size = [int(d) if isinstance(d, int) else 1 for d in inp.shape[1:]]
    values = []
    for b in (1, 2):
        out = sess.run(wanted, {inp.name: np.zeros([b, *size], np.float32)})
        values.append(dict(zip(wanted, out, strict=True)))
    folded = 0
    for pad, conv in candidates:
        amounts = values[0][pad.input[1]]
        if not np.array_equal(amounts, values[1][pad.input[1]]):
            continue  # depends on the batch: not a spatial-only padding
        fill = values[0][pad.input[2]] if len(pad.input) > 2 and pad.input[2] else 0.0
        amounts = [int(v) for v in np.asarray(amounts).ravel()]
        if len(amounts) != 8 or any(amounts[i] for i in (0, 1, 4, 5)) or np.any(fill != 0):
            continue
        if min(amounts) < 0:
            continue
        old = next((list(a.ints) for a in conv.attribute if a.name == "pads"), [0, 0, 0, 0])
        auto = next((a.s.decode() for a in conv.attribute if a.name == "auto_pad"), "NOTSET")
        if auto != "NOTSET":
            continue
        new = [old[0] + amounts[2], old[1] + amounts[3], old[2] + amounts[6], old[3] + amounts[7]]
        keep = [a for a in conv.attribute if a.name != "pads"]
        del conv.attribute[:]
        conv.attribute.extend([*keep, onnx.helper.make_attribute("pads", new)])
        conv.input[0] = pad.input[0]
        g.node.remove(pad)
        folded += 1
    if folded:
        _prune_dead_nodes(model)
        onnx.save(model, str(path))
    return folded


def _prune_dead_nodes(model: Any) -> None:
    """Remove nodes whose outputs nothing uses (the shape arithmetic of folded pads)."""
    g = model.graph
    while True:
        used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        dead = [n for n in g.node if not any(o in used for o in n.output)]
        if not dead:
            return
        for n in dead:
            g.node.remove(n)


def export_student(
    model: Any,
    out: PathLike,
    *,
    input_size: int,
    model_args: dict[str, Any] | None = None,
    source: str = "",
    epoch: int | None = None,
    inference: dict[str, Any] | None = None,
    opset: int = 17,
    verify: bool = True,
    verify_images: Any = None,
    verify_batch: int = 3,
    atol: float = 1e-4,
    fold_pads: bool = True,
) -> ExportReport:
    """Export an in-memory :class:`~boxpromptiml.student.Student` (see :func:`export_onnx`).

    ``input_size`` is the square side ``S`` the graph is traced at (the batch stays
    dynamic; the spatial size is fixed because the backbone's window padding is traced).
    ``inference``: the packaged inference settings (tiling, image score) carried into
    the metadata, so that the ONNX model predicts as the checkpoint does.
    ``fold_pads`` folds TensorFlow-style "same" padding into the convs
    (:func:`fold_static_pads`); the verification below covers the folded graph.
    """
    import torch

    dest = Path(out)
    size = int(input_size)
    if dest.suffix.lower() != ".onnx":
        raise ConfigError(f"{dest}: the exported file must end in .onnx")
    dest.parent.mkdir(parents=True, exist_ok=True)
    model = model.to("cpu").eval()

    class _Probabilities(torch.nn.Module):
        """``sigmoid(student(x))``: the exported graph returns probabilities."""

        def __init__(self, student: torch.nn.Module) -> None:
            super().__init__()
            self.student = student

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.student(x))

    wrapped = _Probabilities(model).eval()
    _register_logaddexp()
    dummy = torch.rand(1, 3, size, size)
    tmp_fd, tmp_name = tempfile.mkstemp(suffix=".onnx", dir=dest.parent, prefix=f".{dest.stem}.")
    os.close(tmp_fd)
    tmp = Path(tmp_name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapped,
                (dummy,),
                str(tmp),
                dynamo=False,
                input_names=[ONNX_INPUT],
                output_names=[ONNX_OUTPUT],
                dynamic_axes={ONNX_INPUT: {0: "batch"}, ONNX_OUTPUT: {0: "batch"}},
                opset_version=opset,
                do_constant_folding=True,
            )
        from boxpromptiml import __version__

        _write_metadata(
            tmp,
            {
                "format": ONNX_FORMAT,
                "version": str(ONNX_VERSION),
                "input_size": str(size),
                "model_args": json.dumps(model_args),
                "precision": "fp32",
                "source": source,
                "epoch": str(epoch),
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "boxpromptiml": __version__,
                "torch": torch.__version__,
                **({"inference": json.dumps(inference)} if inference else {}),
            },
        )
        if fold_pads:
            fold_static_pads(tmp)
        report = ExportReport(onnx=dest, input_size=size, opset=opset)
        if verify:  # on the new file, before it replaces anything at dest
            images = _sample_images(verify_images, size, verify_batch)
            batch = images_to_batch(images)
            with torch.inference_mode():
                ref = torch.sigmoid(model(torch.from_numpy(batch)))[:, 0].numpy()
            got = _ort_probs(tmp, batch)
            diff = float(np.max(np.abs(got - ref)))
            report.max_abs_diff, report.verify_batch = diff, len(images)
            if not diff <= atol:
                raise CheckpointError(
                    f"{dest}: ONNX output differs from PyTorch by {diff:.3g} (> {atol:g}) on "
                    f"{len(images)} images; the export is not faithful (nothing was written)"
                )
        os.replace(tmp, dest)
        _default_mode(dest)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, CheckpointError | ConfigError | DataError):
            raise
        raise CheckpointError(f"{source or dest}: ONNX export failed: {_one_line(exc)}") from exc
    return report


# --------------------------------------------------------------------------- int8


def _activation_matmuls(model: Any) -> list[str]:
    """Names of ``MatMul`` nodes whose two inputs are both activations (no initializer)."""
    inits = {t.name for t in model.graph.initializer}
    consts = {
        n.output[0] for n in model.graph.node if n.op_type == "Constant" and len(n.output) == 1
    }
    return [
        n.name
        for n in model.graph.node
        if n.op_type == "MatMul" and not any(i in inits or i in consts for i in n.input)
    ]


def _optimize_for_quantization(src: Path, dst: Path) -> None:
    """Shape inference and ONNX Runtime's basic graph optimisations (constant folding,
    redundant-node removal) before quantization, as ONNX Runtime recommends."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
    except Exception:  # pre-processing is an optimisation: quantize the model as it is
        import shutil

        shutil.copyfile(src, dst)


def _fuse_gelu(path: Path) -> None:
    """Fuse the exported erf-GELU pattern into ONNX Runtime's ``Gelu`` node before
    quantization (ONNX Runtime's own ``FusionGelu``). ONNX Runtime would fuse it at load
    time anyway, but in a QDQ graph it duplicates the DequantizeLinear feeding the pattern
    and the fusion no longer matches: fusing first keeps GELU one kernel (about 7 % of the
    int8 latency). Output names are kept, so shape information stays valid."""
    import onnx

    try:
        from onnxruntime.transformers.fusion_gelu import FusionGelu
        from onnxruntime.transformers.onnx_model import OnnxModel
    except ImportError:  # pragma: no cover - older onnxruntime: quantize unfused
        return
    import logging

    log = logging.getLogger("onnxruntime.transformers")
    level = log.level
    log.setLevel(logging.WARNING)  # it logs "Fused Gelu: N" at INFO
    try:
        model = onnx.load(str(path))
        wrapped = OnnxModel(model)
        FusionGelu(wrapped).apply()
        wrapped.prune_graph()
        onnx.save(wrapped.model, str(path))
    finally:
        log.setLevel(level)


def _first_conv(model: Any) -> list[str]:
    """Name of the first ``Conv`` of the graph (the stem, reading normalised pixels)."""
    for n in model.graph.node:  # ONNX graphs are stored in topological order
        if n.op_type == "Conv":
            return [n.name]
    return []


def quantize_onnx(
    fp32: PathLike,
    out: PathLike | None = None,
    *,
    calibration: Any = None,
    calib_count: int = 64,
    method: QuantMethod = "static",
    quant_format: QuantFormatName = "qdq",
    per_channel: bool = True,
    reduce_range: bool = True,
    op_types: Sequence[str] | None = None,
    exclude_nodes: Sequence[str] = (),
    quantize_attention: bool = False,
    keep_first_conv: bool = True,
) -> Path:
    """Quantize an exported fp32 model to int8 with ``onnxruntime.quantization``.

    Args:
        fp32: the ``.onnx`` file written by :func:`export_onnx`.
        out: the int8 file (default ``<stem>.int8.onnx`` next to ``fp32``).
        calibration: images for static quantization (a folder, glob, list, arrays...);
            required for ``method="static"``. At most ``calib_count`` are used, resized
            like at inference.
        method: ``"static"`` (activations calibrated once; fastest) or ``"dynamic"``
            (activation ranges computed per batch; weights only need no calibration).
        quant_format: ``"qdq"`` (QuantizeLinear/DequantizeLinear pairs, fused by ONNX
            Runtime) or ``"qoperator"`` (QLinearConv/QLinearMatMul nodes); static only.
        per_channel: per-output-channel weight scales (more accurate).
        reduce_range: 7-bit weights (default), which avoids the saturation of ``u8×s8``
            products of AVX2's ``vpmaddubsw`` on CPUs without VNNI; costs no speed.
        op_types: operator types to quantize (default :data:`DEFAULT_QUANT_OPS` for
            static, :data:`DEFAULT_DYNAMIC_QUANT_OPS` for dynamic quantization).
        exclude_nodes: node names kept in fp32 (sensitive layers).
        quantize_attention: also quantize the activation × activation ``MatMul`` of
            attention (excluded by default: little compute, much error).
        keep_first_conv: keep the stem's first convolution in fp32 (default): it reads
            the normalised pixels, 27 taps with large weights, and on a trained student
            it caused nearly all the int8 error (pixel F1 −0.010 → −0.0003) for <1 % of
            the MACs.

    Returns the written path. Raises :class:`CheckpointError` when ``fp32`` is not a
    boxpromptiml ONNX model, :class:`ConfigError` for bad options.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    src = Path(fp32)
    if not src.is_file():
        raise CheckpointError(f"{src}: ONNX model not found")
    meta = read_onnx_metadata(src)
    if meta.get("format") != ONNX_FORMAT:
        raise CheckpointError(f"{src}: not a boxpromptiml ONNX model (export it first)")
    if meta.get("precision", "fp32") != "fp32":
        raise ConfigError(
            f"{src}: already quantized ({meta.get('precision')}); give the fp32 model"
        )
    if method not in ("static", "dynamic"):
        raise ConfigError(f"quantization method must be static or dynamic, got {method!r}")
    if quant_format not in ("qdq", "qoperator"):
        raise ConfigError(f"quantization format must be qdq or qoperator, got {quant_format!r}")
    if method == "static" and calibration is None:
        raise ConfigError("static int8 quantization needs calibration images (--calib SOURCE)")
    size = int(meta["input_size"])
    dest = Path(out) if out is not None else src.with_name(f"{src.stem}.int8.onnx")
    if op_types is None:
        op_types = DEFAULT_QUANT_OPS if method == "static" else DEFAULT_DYNAMIC_QUANT_OPS

    with tempfile.TemporaryDirectory(prefix="boxprompt-quant-") as tmpdir:
        pre = Path(tmpdir) / "pre.onnx"
        _optimize_for_quantization(src, pre)
        if method == "dynamic" or quant_format == "qdq":  # QOperator cannot take fused GELU
            _fuse_gelu(pre)
        graph = onnx.load(str(pre))
        excluded = list(exclude_nodes)
        if not quantize_attention:
            excluded += _activation_matmuls(graph)
        if keep_first_conv:
            excluded += _first_conv(graph)
        del graph
        tmp_out = Path(tmpdir) / "int8.onnx"
        common: dict[str, Any] = {
            "op_types_to_quantize": list(op_types),
            "per_channel": per_channel,
            "reduce_range": reduce_range,
            "nodes_to_exclude": excluded,
        }
        if method == "dynamic":
            quantize_dynamic(str(pre), str(tmp_out), weight_type=QuantType.QInt8, **common)
        else:
            images = _sample_images(calibration, size, calib_count)

            class _Reader(CalibrationDataReader):
                def __init__(self) -> None:
                    self._it: Iterator[np.ndarray] = iter(images)

                def get_next(self) -> dict[str, np.ndarray] | None:
                    im = next(self._it, None)
                    return None if im is None else {ONNX_INPUT: images_to_batch([im])}

            quantize_static(
                str(pre),
                str(tmp_out),
                _Reader(),
                quant_format=QuantFormat.QDQ if quant_format == "qdq" else QuantFormat.QOperator,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
                **common,
            )
        settings = {
            "method": method,
            "format": quant_format if method == "static" else "qoperator",
            "per_channel": per_channel,
            "reduce_range": reduce_range,
            "op_types": list(op_types),
            "excluded_nodes": len(excluded),
            "keep_first_conv": keep_first_conv,
            "calibration_images": 0 if method == "dynamic" else min(calib_count, len(images)),
        }
        _write_metadata(
            tmp_out, {**meta, "precision": "int8", "quantization": json.dumps(settings)}
        )
        dest.parent.mkdir(parents=True, exist_ok=True)
        import shutil

        shutil.move(str(tmp_out), dest)
    _default_mode(dest)
    return dest


# --------------------------------------------------------------------------- accuracy cost


def quantization_cost(
    fp32: PathLike,
    int8: PathLike,
    dataset: Any,
    *,
    threshold: float = 0.5,
    limit: int | None = None,
    threads: int | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """Accuracy price of int8: pixel F1 of both models on ``dataset`` and the difference.

    Args:
        fp32, int8: exported models (``.onnx``).
        dataset: a :class:`~boxpromptiml.data.sources.Dataset` with masks (its manipulated
            images are scored) or a DATASET specification string as ``boxprompt evaluate``
            takes (``ROOT``, ``LIST.json``, ``IMAGES,MASKS``).
        threshold: pixel threshold (``prob > threshold``).
        limit: score at most this many images.

    Returns ``n_images``, ``f1_fp32``, ``f1_int8``, ``f1_delta`` (int8 − fp32; the paper's
    per-image pixel F1, averaged over manipulated images), ``mask_disagreement`` (fraction
    of pixels whose mask differs), ``mean_abs_diff`` and ``max_abs_diff`` of probabilities.
    Needs no torch.
    """
    from tqdm.auto import tqdm

    from boxpromptiml.data.sources import (
        DEFAULT_MASK_SUFFIXES,
        Dataset,
        load_sample,
        parse_dataset_spec,
    )
    from boxpromptiml.metrics import MetricAccumulator
    from boxpromptiml.predict.localizer import Localizer

    ds: Dataset = (
        dataset
        if isinstance(dataset, Dataset)
        else parse_dataset_spec(str(dataset), DEFAULT_MASK_SUFFIXES)
    )
    samples = [s for s in ds.samples if s.label != 0 and s.mask is not None]
    if limit is not None:
        samples = samples[: max(0, int(limit))]
    if not samples:
        raise DataError(f"{ds.name}: no manipulated image with a mask to measure the int8 cost on")
    loc32 = Localizer.from_checkpoint(fp32, device="cpu", threads=threads, threshold=threshold)
    loc8 = Localizer.from_checkpoint(int8, device="cpu", threads=threads, threshold=threshold)
    acc32 = MetricAccumulator(threshold=threshold)
    acc8 = MetricAccumulator(threshold=threshold)
    disagree = 0
    pixels = 0
    abs_sum = 0.0
    abs_max = 0.0
    for s in tqdm(samples, desc="int8 cost", unit="img", disable=not progress):
        try:
            image, mask = load_sample(s, resize_mask_to_image=True)
        except DataError:
            continue
        (p32,) = loc32.predict_maps([image])
        (p8,) = loc8.predict_maps([image])
        acc32.update(s.name, p32, mask, 1)
        acc8.update(s.name, p8, mask, 1)
        d = np.abs(p32.astype(np.float64) - p8)
        abs_sum += float(d.sum())
        abs_max = max(abs_max, float(d.max()))
        disagree += int(np.count_nonzero((p32 > threshold) != (p8 > threshold)))
        pixels += d.size
    if len(acc32) == 0:
        raise DataError(f"{ds.name}: no readable image to measure the int8 cost on")
    f32 = float(acc32.summary()["f1"])
    f8 = float(acc8.summary()["f1"])
    return {
        "n_images": len(acc32),
        "f1_fp32": f32,
        "f1_int8": f8,
        "f1_delta": f8 - f32,
        "mask_disagreement": disagree / max(1, pixels),
        "mean_abs_diff": abs_sum / max(1, pixels),
        "max_abs_diff": abs_max,
    }
