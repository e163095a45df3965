"""Speed of the student: parameters, MACs, batch-1 latency and batch-N throughput per runtime.

Runtimes (each on the CPU, and on the GPU when one is present):

* ``torch``: PyTorch eager, fp32, ``inference_mode``.
* ``torch-compile``: ``torch.compile`` (inductor) of the same model; compiling takes a
  while and needs a C++ compiler on the CPU. Reported only where it runs.
* ``onnx-fp32``: the exported graph in ONNX Runtime with all graph optimisations.
* ``onnx-int8-qdq`` / ``onnx-int8-qop``: statically quantized int8 (per-channel weights)
  in the QDQ and QOperator formats; ``onnx-int8-dyn``: dynamic int8 of the ``MatMul``
  layers (:func:`boxpromptiml.export.quantize_onnx`, default settings).
* ``torch-fp16`` (GPU only): eager under ``autocast(float16)``.

Latency is the median wall time of one forward pass of a ``(1, 3, S, S)`` batch, model
only (no decoding, resizing or writing); throughput is ``batch / median time`` of a
``(batch, 3, S, S)`` forward pass. Inputs are random (speed does not depend on content);
int8 calibration uses random smooth images unless images are given, which changes the
accuracy of the int8 model, not its speed.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from boxpromptiml.errors import ConfigError

__all__ = ["RUNTIMES", "BenchConfig", "benchmark", "count_macs", "machine_info", "markdown_table"]

PathLike = str | os.PathLike[str]

#: Every runtime :func:`benchmark` knows, in table order.
RUNTIMES: tuple[str, ...] = (
    "torch",
    "torch-compile",
    "torch-fp16",
    "onnx-fp32",
    "onnx-int8-qdq",
    "onnx-int8-qop",
    "onnx-int8-dyn",
)


@dataclass
class BenchConfig:
    """Settings of one benchmark.

    Attributes:
        model: a checkpoint (``.pt``) or a student preset / timm name (random init).
        input_size: square input side ``S`` (default: the checkpoint's, else 224).
        runtimes: subset of :data:`RUNTIMES`.
        devices: ``"cpu"`` and/or ``"cuda"`` (``cuda`` skipped without a GPU).
        batch: batch size of the throughput measurement.
        warmup: untimed runs before each measurement.
        iters: timed batch-1 runs (latency); throughput uses ``max(3, iters // 4)`` runs.
        threads: CPU threads for PyTorch and ONNX Runtime (default: every core).
        calibration: images for int8 calibration (default: random smooth images).
        workdir: where exported models are kept (default: a temporary folder).
        macs: count MACs with fvcore.
    """

    model: str = "tinyvit5m"
    input_size: int | None = None
    runtimes: Sequence[str] = (
        "torch",
        "torch-compile",
        "onnx-fp32",
        "onnx-int8-qdq",
        "onnx-int8-qop",
        "onnx-int8-dyn",
    )
    devices: Sequence[str] = ("cpu", "cuda")
    batch: int = 32
    warmup: int = 5
    iters: int = 50
    threads: int | None = None
    calibration: Any = None
    workdir: PathLike | None = None
    macs: bool = True


# --------------------------------------------------------------------------- machine


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    keep = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "fma")
                    return [f for f in flags if f in keep]
    except OSError:
        pass
    return []


def machine_info() -> dict[str, Any]:
    """CPU, cores, load, GPU and library versions, with the date (UTC)."""
    info: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_name(),
        "cpu_flags": _cpu_flags(),
        "cores": os.cpu_count(),
        "load_avg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "gpu": None,
    }
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        info["torch"] = None
    try:
        import onnxruntime as ort

        info["onnxruntime"] = ort.__version__
        info["onnxruntime_providers"] = ort.get_available_providers()
    except ImportError:
        info["onnxruntime"] = None
    return info


# --------------------------------------------------------------------------- measuring


def _timed(
    fn: Callable[[], object], warmup: int, iters: int, sync: Callable[[], None]
) -> list[float]:
    """Wall times in ms of ``iters`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(max(0, warmup)):
        fn()
    sync()
    out = []
    for _ in range(max(1, iters)):
        t0 = time.perf_counter()
        fn()
        sync()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def _stats(ms: list[float]) -> dict[str, float]:
    s = sorted(ms)
    return {
        "median": round(statistics.median(s), 3),
        "mean": round(statistics.fmean(s), 3),
        "p10": round(s[int(0.1 * (len(s) - 1))], 3),
        "p90": round(s[round(0.9 * (len(s) - 1))], 3),
        "min": round(s[0], 3),
        "n": len(s),
    }


def count_macs(model: Any, input_size: int) -> int:
    """Multiply-accumulates of one ``(1, 3, S, S)`` forward pass, counted by fvcore (which
    reports one "flop" per MAC for convolutions, linear layers and matmuls)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fvcore's import and tracing warn about torch.jit
        from fvcore.nn import FlopCountAnalysis

        fca = FlopCountAnalysis(model.eval(), torch.rand(1, 3, input_size, input_size))
        fca.unsupported_ops_warnings(False)
        fca.uncalled_modules_warnings(False)
        return int(fca.total())


def _measure(
    fn1: Callable[[], object],
    fnb: Callable[[], object],
    cfg: BenchConfig,
    sync: Callable[[], None],
) -> dict[str, Any]:
    lat = _timed(fn1, cfg.warmup, cfg.iters, sync)
    n_tp = max(3, cfg.iters // 4)
    tp = _timed(fnb, max(1, cfg.warmup // 2), n_tp, sync)
    med = statistics.median(tp)
    return {
        "latency_ms": _stats(lat),
        "batch_ms": _stats(tp),
        "throughput_ips": round(cfg.batch / (med / 1000.0), 2),
    }


def _no_sync() -> None:
    return None


# --------------------------------------------------------------------------- runtimes


def _bench_torch(model: Any, cfg: BenchConfig, s: int, device: str, kind: str) -> dict[str, Any]:
    import torch

    m = model.to(device).eval()
    x1 = torch.rand(1, 3, s, s, device=device)
    xb = torch.rand(cfg.batch, 3, s, s, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else _no_sync
    if kind == "torch-compile":
        t0 = time.perf_counter()
        m = torch.compile(m, dynamic=False)  # one specialised graph per batch size
        with torch.inference_mode():
            m(x1)
            m(xb)
        compile_s = time.perf_counter() - t0
    else:
        compile_s = None

    def run(x: Any) -> Callable[[], object]:
        def call() -> object:
            with torch.inference_mode():
                if kind == "torch-fp16":
                    with torch.autocast("cuda", dtype=torch.float16):
                        return m(x)
                return m(x)

        return call

    out = _measure(run(x1), run(xb), cfg, sync)
    if compile_s is not None:
        out["compile_s"] = round(compile_s, 1)
    return out


def _bench_onnx(path: Path, cfg: BenchConfig, s: int, device: str) -> dict[str, Any]:
    from boxpromptiml.predict.backends import OnnxBackend

    backend = OnnxBackend(path, device=device, threads=cfg.threads)
    if device == "cuda" and backend.device != "cuda":
        raise ConfigError("onnxruntime has no CUDA provider")
    rng = np.random.default_rng(0)
    x1 = rng.random((1, 3, s, s), dtype=np.float32)
    xb = rng.random((cfg.batch, 3, s, s), dtype=np.float32)
    return _measure(lambda: backend(x1), lambda: backend(xb), cfg, _no_sync)


def _load_model(cfg: BenchConfig) -> tuple[Any, int, dict[str, Any]]:
    """The student (random init for a preset), its input size and a description."""
    p = Path(cfg.model)
    if p.suffix.lower() in (".pt", ".pth", ".ckpt") or p.is_file():
        from boxpromptiml.student.checkpoint import load_student

        model, meta = load_student(p, device="cpu")
        size = int(cfg.input_size or meta["input_size"])
        return model, size, {"checkpoint": str(p), "model_args": meta["model_args"]}
    from boxpromptiml.student import build_student, resolve_student_args

    model = build_student(cfg.model).eval()
    size = int(cfg.input_size or 224)
    return (
        model,
        size,
        {"checkpoint": None, "model_args": resolve_student_args(cfg.model).to_dict()},
    )


def benchmark(
    cfg: BenchConfig | None = None,
    progress: Callable[[str], None] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Measure every requested runtime on every available device.

    ``overrides`` replace fields of ``cfg`` (e.g. ``benchmark(model="x.pt", batch=8)``).
    ``progress`` receives one line per step. A runtime that fails (e.g. no compiler
    for ``torch.compile``) is reported with ``status: "error"`` and the reason; the
    others still run.

    Returns a JSON-ready dict: ``machine`` (:func:`machine_info`, ``load_avg`` before and
    ``load_avg_after``), ``model`` (``params``, ``macs``, ``input_size``, ...),
    ``settings`` and ``results``: one entry per runtime and device with ``runtime``,
    ``device``, ``precision``, ``status``, ``latency_ms`` (``median``, ``mean``, ``p10``,
    ``p90``, ``min``, ``n``), ``batch``, ``batch_ms``, ``throughput_ips``; plus
    ``fastest`` (runtime with the lowest median latency and the highest throughput, per
    device).
    """
    import dataclasses

    import torch

    cfg = dataclasses.replace(cfg or BenchConfig(), **overrides)
    unknown = [r for r in cfg.runtimes if r not in RUNTIMES]
    if unknown:
        raise ConfigError(
            f"unknown runtime(s) {', '.join(unknown)}; choose from {', '.join(RUNTIMES)}"
        )
    if cfg.batch < 1 or cfg.iters < 1:
        raise ConfigError("batch and iters must be >= 1")
    say = progress or (lambda msg: None)
    machine = machine_info()
    old_threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    try:
        model, size, desc = _load_model(cfg)
        params = sum(p.numel() for p in model.parameters())
        macs = count_macs(model, size) if cfg.macs else None
        devices = [
            d for d in cfg.devices if d == "cpu" or (d == "cuda" and torch.cuda.is_available())
        ]
        results: list[dict[str, Any]] = []
        with tempfile.TemporaryDirectory(prefix="boxprompt-bench-") as tmpdir:
            work = Path(cfg.workdir) if cfg.workdir else Path(tmpdir)
            onnx_paths = _prepare_onnx(model, size, desc, cfg, work, say)
            for device in devices:
                for rt in cfg.runtimes:
                    entry: dict[str, Any] = {
                        "runtime": rt,
                        "device": device,
                        "precision": "int8"
                        if "int8" in rt
                        else ("fp16" if "fp16" in rt else "fp32"),
                        "batch": cfg.batch,
                    }
                    if rt == "torch-fp16" and device != "cuda":
                        continue
                    if device == "cuda" and "int8" in rt:
                        continue  # ONNX Runtime's int8 kernels are CPU kernels
                    say(f"{rt} on {device} ...")
                    try:
                        if rt.startswith("torch"):
                            entry.update(_bench_torch(model, cfg, size, device, rt))
                        else:
                            path = onnx_paths.get(rt)
                            if isinstance(path, str):
                                raise RuntimeError(path)
                            assert path is not None
                            entry.update(_bench_onnx(path, cfg, size, device))
                        entry["status"] = "ok"
                    except Exception as exc:
                        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                        entry["status"] = "error"
                        entry["error"] = f"{type(exc).__name__}: {msg}"[:300]
                    results.append(entry)
                    model.to("cpu")
    finally:
        torch.set_num_threads(old_threads)
    machine["load_avg_after"] = (
        [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    )
    return {
        "machine": machine,
        "model": {
            **desc,
            "input_size": size,
            "params": params,
            "params_m": round(params / 1e6, 3),
            "macs": macs,
            "macs_g": round(macs / 1e9, 3) if macs is not None else None,
        },
        "settings": {
            "batch": cfg.batch,
            "warmup": cfg.warmup,
            "iters": cfg.iters,
            "threads": cfg.threads or os.cpu_count(),
            "runtimes": list(cfg.runtimes),
            "calibration": "given images" if cfg.calibration is not None else "random images",
        },
        "results": results,
        "fastest": _fastest(results),
    }


def _prepare_onnx(
    model: Any,
    size: int,
    desc: dict[str, Any],
    cfg: BenchConfig,
    work: Path,
    say: Callable[[str], None],
) -> dict[str, Path | str]:
    """Export (and quantize) the models the requested ONNX runtimes need; a failure is
    recorded as a string in place of the path."""
    from boxpromptiml.export import export_student, quantize_onnx

    wanted = [r for r in cfg.runtimes if r.startswith("onnx")]
    if not wanted:
        return {}
    out: dict[str, Path | str] = {}
    fp32 = work / "student.onnx"
    try:
        say("exporting to ONNX ...")
        export_student(model, fp32, input_size=size, model_args=desc["model_args"], verify=False)
    except Exception as exc:
        return dict.fromkeys(wanted, f"export failed: {exc}")
    out["onnx-fp32"] = fp32
    variants: dict[str, dict[str, Any]] = {
        "onnx-int8-qdq": {"quant_format": "qdq"},
        "onnx-int8-qop": {"quant_format": "qoperator"},
        "onnx-int8-dyn": {"method": "dynamic"},
    }
    for rt, options in variants.items():
        if rt not in wanted:
            continue
        try:
            say(f"quantizing ({rt}) ...")
            if options.get("method") != "dynamic":
                calib = cfg.calibration
                if calib is None:
                    from boxpromptiml.export import _sample_images

                    calib = _sample_images(None, size, 16)
                options = {**options, "calibration": calib}
            out[rt] = quantize_onnx(fp32, work / f"student.{rt}.onnx", **options)
        except Exception as exc:
            out[rt] = f"quantization failed: {exc}"
    return out


def _fastest(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ok = [r for r in results if r.get("status") == "ok"]
    for device in sorted({r["device"] for r in ok}):
        rs = [r for r in ok if r["device"] == device]
        lat = min(rs, key=lambda r: r["latency_ms"]["median"])
        tp = max(rs, key=lambda r: r["throughput_ips"])
        out[device] = {
            "latency": {"runtime": lat["runtime"], "ms": lat["latency_ms"]["median"]},
            "throughput": {"runtime": tp["runtime"], "ips": tp["throughput_ips"]},
        }
    return out


def markdown_table(report: dict[str, Any]) -> str:
    """The results of :func:`benchmark` as a markdown table, with a header line naming the
    machine, the date, the load, the model size and the settings."""
    m, mod, st = report["machine"], report["model"], report["settings"]
    head = (
        f"{mod.get('model_args', {}).get('backbone', '?')} student, "
        f"{mod['params_m']} M params"
        + (f", {mod['macs_g']} GMACs" if mod.get("macs_g") is not None else "")
        + f" at {mod['input_size']}x{mod['input_size']}; "
        f"{m['cpu']} ({m['cores']} cores, threads {st['threads']})"
        + (f", GPU {m['gpu']}" if m.get("gpu") else "")
        + f"; {m['date']}; load avg {m.get('load_avg')} -> {m.get('load_avg_after')}; "
        f"torch {m.get('torch')}, onnxruntime {m.get('onnxruntime')}"
    )
    lines = [
        head,
        "",
        f"| runtime | device | precision | batch-1 latency ms (median / p90) | batch-{st['batch']} throughput img/s |",
        "|---|---|---|---|---|",
    ]
    for r in report["results"]:
        if r.get("status") != "ok":
            lines.append(
                f"| {r['runtime']} | {r['device']} | {r['precision']} | {r.get('error', 'error')} | – |"
            )
            continue
        lat = r["latency_ms"]
        lines.append(
            f"| {r['runtime']} | {r['device']} | {r['precision']} | "
            f"{lat['median']:.1f} / {lat['p90']:.1f} | {r['throughput_ips']:.1f} |"
        )
    return "\n".join(lines)
