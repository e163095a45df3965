"""Benchmark report: keys, units and the markdown table, on a tiny configuration."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")
pytest.importorskip("fvcore")
pytest.importorskip("onnxruntime")

from boxpromptiml.bench import BenchConfig, benchmark, count_macs, markdown_table  # noqa: E402
from boxpromptiml.cli import main  # noqa: E402
from boxpromptiml.errors import ConfigError  # noqa: E402
from tests.test_predict import make_checkpoint  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("bench") / "best.pt", size=64)


def test_benchmark_report_keys(ckpt: Path) -> None:
    cfg = BenchConfig(
        model=str(ckpt),
        runtimes=("torch", "onnx-fp32", "onnx-int8-qdq"),
        devices=("cpu",),
        batch=2,
        warmup=1,
        iters=2,
        threads=1,
    )
    lines: list[str] = []
    report = benchmark(cfg, progress=lines.append)
    json.dumps(report)  # JSON-ready
    assert set(report) == {"machine", "model", "settings", "results", "fastest"}
    m = report["machine"]
    for key in ("date", "cpu", "cores", "load_avg", "load_avg_after", "torch", "onnxruntime"):
        assert key in m
    mod = report["model"]
    assert mod["input_size"] == 64 and mod["checkpoint"] == str(ckpt)
    assert mod["params"] == sum(
        p.numel()
        for p in __import__("boxpromptiml.student", fromlist=["x"]).build_student().parameters()
    )
    assert mod["macs"] > 0 and mod["macs_g"] == pytest.approx(mod["macs"] / 1e9, abs=1e-3)
    assert [r["runtime"] for r in report["results"]] == ["torch", "onnx-fp32", "onnx-int8-qdq"]
    for r in report["results"]:
        assert r["status"] == "ok", r.get("error")
        assert r["device"] == "cpu" and r["batch"] == 2
        assert r["latency_ms"]["median"] > 0 and r["latency_ms"]["n"] == 2
        assert r["throughput_ips"] > 0
    assert report["results"][2]["precision"] == "int8"
    assert set(report["fastest"]["cpu"]) == {"latency", "throughput"}
    assert any("quantizing" in line for line in lines)
    table = markdown_table(report)
    assert table.count("\n| ") == 4  # header + 3 runtimes
    assert "onnx-int8-qdq" in table and m["cpu"] in table


def test_student_macs_match_the_paper() -> None:
    """The default student at 224² costs about 1.4 G MACs (PAPER.md: 5.5 M / 1.4 G)."""
    from boxpromptiml.student import build_student

    macs = count_macs(build_student("tinyvit5m"), 224)
    assert 1.2e9 < macs < 1.6e9


def test_benchmark_rejects_unknown_runtime() -> None:
    with pytest.raises(ConfigError, match="unknown runtime"):
        benchmark(BenchConfig(runtimes=("tensorrt",)))


def test_cli_bench_writes_json(
    ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "b"
    argv = ["bench", "-m", str(ckpt), "--runtimes", "torch", "--device", "cpu", "--batch", "2"]
    assert main([*argv, "--iters", "2", "--warmup", "1", "--no-macs", "--out", str(out)]) == 0
    report = json.loads((out / "bench.json").read_text())
    assert report["model"]["macs"] is None and report["results"][0]["status"] == "ok"
    assert "| torch | cpu | fp32 |" in capsys.readouterr().out
