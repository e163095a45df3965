"""ONNX export: parity with PyTorch, dynamic batch, torch-free inference, int8, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from boxpromptiml.cli import main  # noqa: E402
from boxpromptiml.errors import CheckpointError, ConfigError  # noqa: E402
from boxpromptiml.export import (  # noqa: E402
    export_onnx,
    quantization_cost,
    quantize_onnx,
    read_onnx_metadata,
)
from boxpromptiml.predict import Localizer, OnnxBackend, images_to_batch  # noqa: E402
from tests.test_predict import SIZE, make_checkpoint, write_images  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(checkpoint, fp32 .onnx) of a random-init student at 64×64."""
    root = tmp_path_factory.mktemp("export")
    ckpt = make_checkpoint(root / "best.pt")
    report = export_onnx(ckpt)
    return ckpt, report.onnx


@pytest.fixture(scope="module")
def calib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("calib")
    write_images(folder, [(80, 96)] * 6, seed=7)
    return folder


@pytest.fixture(scope="module")
def dynamic_int8(exported: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    _, onnx_path = exported
    return quantize_onnx(onnx_path, tmp_path_factory.mktemp("dyn") / "m.dyn.onnx", method="dynamic")


def test_export_parity_and_dynamic_batch(exported: tuple[Path, Path]) -> None:
    ckpt, onnx_path = exported
    assert onnx_path == ckpt.with_suffix(".onnx") and onnx_path.is_file()
    meta = read_onnx_metadata(onnx_path)
    assert meta["format"] == "boxpromptiml.student.onnx" and meta["precision"] == "fp32"
    assert int(meta["input_size"]) == SIZE
    assert json.loads(meta["model_args"])["backbone"] == "tiny_vit_5m_224"

    from boxpromptiml.student.checkpoint import load_student

    model, _ = load_student(ckpt)
    backend = OnnxBackend(onnx_path, device="cpu")
    rng = np.random.default_rng(0)
    for batch in (1, 2, 5):  # exported with batch 1: the batch axis must be dynamic
        imgs = [rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(batch)]
        x = images_to_batch(imgs)
        with torch.inference_mode():
            ref = torch.sigmoid(model(torch.from_numpy(x)))[:, 0].numpy()
        got = backend(x)
        assert got.shape == (batch, SIZE, SIZE)
        assert np.abs(got - ref).max() <= 1e-4


def test_onnx_and_torch_localizers_agree(exported: tuple[Path, Path]) -> None:
    ckpt, onnx_path = exported
    img = np.random.default_rng(1).integers(0, 256, (100, 130, 3), dtype=np.uint8)
    [a] = Localizer.from_checkpoint(ckpt, device="cpu").predict(img)
    [b] = Localizer.from_checkpoint(onnx_path, device="cpu").predict(img)
    assert b.info["runtime"] == "onnxruntime" and a.info["runtime"] == "torch"
    assert np.abs(a.prob - b.prob).max() <= 1e-4
    assert abs(a.score - b.score) <= 1e-4


def test_onnx_predictor_runs_without_torch(exported: tuple[Path, Path], tmp_path: Path) -> None:
    """A slim install: torch cannot be imported, the ONNX path still predicts."""
    _, onnx_path = exported
    [img_path] = write_images(tmp_path / "imgs", [(70, 90)], seed=3)
    code = textwrap.dedent(
        f"""
        import json, sys
        sys.modules["torch"] = None  # any "import torch" now raises ImportError
        from boxpromptiml.predict import Localizer
        loc = Localizer.from_checkpoint({str(onnx_path)!r}, device="cpu")
        [r] = loc.predict({str(img_path)!r})
        r.save({str(tmp_path / "out")!r})
        from boxpromptiml.cli import main
        code = main(["predict", {str(img_path)!r}, "-m", {str(onnx_path)!r},
                     "--out", {str(tmp_path / "cli")!r}, "--no-progress"])
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "timm"))
        print(json.dumps({{"shape": list(r.prob.shape), "score": r.score, "cli": code,
                          "loaded": [m for m in loaded if sys.modules[m] is not None]}}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["shape"] == [70, 90] and res["cli"] == 0 and res["loaded"] == []
    [ref] = Localizer.from_checkpoint(onnx_path, device="cpu").predict(img_path)
    assert res["score"] == pytest.approx(ref.score, abs=1e-6)
    assert (tmp_path / "out" / "maps" / "img0.png").is_file()
    assert (tmp_path / "cli" / "maps" / "img0.png").is_file()


def test_int8_static_and_dynamic(
    exported: tuple[Path, Path], dynamic_int8: Path, calib: Path, tmp_path: Path
) -> None:
    _, onnx_path = exported
    qdq = quantize_onnx(onnx_path, tmp_path / "m.qdq.onnx", calibration=calib, calib_count=4)
    dyn = dynamic_int8
    img = np.random.default_rng(2).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    [ref] = Localizer.from_checkpoint(onnx_path, device="cpu").predict(img)
    for path, method in ((qdq, "static"), (dyn, "dynamic")):
        meta = read_onnx_metadata(path)
        assert meta["precision"] == "int8"
        assert json.loads(meta["quantization"])["method"] == method
        assert path.stat().st_size < onnx_path.stat().st_size / 2  # int8 weights
        [r] = Localizer.from_checkpoint(path, device="cpu").predict(img)
        assert r.info["precision"] == "int8" and r.prob.shape == (SIZE, SIZE)
        assert np.abs(r.prob - ref.prob).max() < 0.1  # close to fp32, not equal

    # the stem's first convolution stays fp32; the other convolutions are quantized
    import onnx

    graph = onnx.load(str(qdq)).graph
    producer = {o: n.op_type for n in graph.node for o in n.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    fed_by_dq = [producer.get(n.input[1]) == "DequantizeLinear" for n in convs]
    assert not fed_by_dq[0] and all(fed_by_dq[1:])

    with pytest.raises(ConfigError, match="calibration"):
        quantize_onnx(onnx_path, tmp_path / "x.onnx")
    with pytest.raises(ConfigError, match="already quantized"):
        quantize_onnx(qdq, tmp_path / "y.onnx", method="dynamic")


def test_quantization_cost(
    exported: tuple[Path, Path], small_dataset: Path, tmp_path: Path
) -> None:
    _, onnx_path = exported
    dyn = quantize_onnx(onnx_path, tmp_path / "m.dyn.onnx", method="dynamic")
    cost = quantization_cost(onnx_path, dyn, str(small_dataset))
    assert cost["n_images"] == 3
    for k in ("f1_fp32", "f1_int8", "mask_disagreement"):
        assert 0.0 <= cost[k] <= 1.0
    assert cost["f1_delta"] == pytest.approx(cost["f1_int8"] - cost["f1_fp32"])
    # a model against itself costs nothing
    same = quantization_cost(onnx_path, onnx_path, str(small_dataset))
    assert same["f1_delta"] == 0.0 and same["max_abs_diff"] == 0.0


def test_cli_export_int8_with_eval(
    exported: tuple[Path, Path],
    calib: Path,
    small_dataset: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ckpt, _ = exported
    out = tmp_path / "deploy" / "student.onnx"
    argv = ["export", "-m", str(ckpt), "--out", str(out), "--int8", "--quant", "dynamic"]
    assert main([*argv, "--calib", str(calib), "--eval", str(small_dataset)]) == 0
    text = capsys.readouterr().out
    assert "max |ONNX - PyTorch|" in text and "int8 cost" in text and "pixel F1" in text
    assert out.is_file() and (tmp_path / "deploy" / "student.int8.onnx").is_file()


def test_export_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    foreign = tmp_path / "foreign.pt"
    torch.save({"w": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not a boxpromptiml student checkpoint"):
        export_onnx(foreign)
    assert main(["export", "-m", str(tmp_path / "missing.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert "checkpoint not found" in err and len(err.splitlines()) == 1
    with pytest.raises(CheckpointError, match="ONNX model not found"):
        quantize_onnx(tmp_path / "missing.onnx", calibration=None, method="dynamic")


def test_a_rejected_export_leaves_the_previous_file(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    ckpt, _ = exported
    dest = tmp_path / "m.onnx"
    dest.write_bytes(b"the user's earlier export")
    with pytest.raises(CheckpointError, match="not faithful"):
        export_onnx(ckpt, dest, atol=-1.0)  # no difference can pass: always rejected
    assert dest.read_bytes() == b"the user's earlier export"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary left behind


def test_tf_same_padding_is_folded_into_the_convs(tmp_path: Path) -> None:
    """EfficientNet-Lite0's TensorFlow-style padding traces as run-time Pad nodes; export
    folds them into the convs (asymmetric pads), and the result is exactly the same."""
    import onnx
    import onnxruntime as ort
    import torch

    from boxpromptiml.export import export_student, fold_static_pads
    from boxpromptiml.student import build_student

    torch.manual_seed(0)
    model = build_student("efficientnet-lite0", dim=8, memory_size=4).eval()
    plain = export_student(model, tmp_path / "plain.onnx", input_size=64, fold_pads=False)
    folded = export_student(model, tmp_path / "folded.onnx", input_size=64)
    assert folded.max_abs_diff is not None and folded.max_abs_diff <= 1e-4

    def pads(path: Path) -> int:
        return sum(n.op_type == "Pad" for n in onnx.load(str(path)).graph.node)

    assert pads(plain.onnx) == 5 and pads(folded.onnx) == 0
    x = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)
    outs = []
    for path in (plain.onnx, folded.onnx):
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        outs.append(sess.run(None, {sess.get_inputs()[0].name: x})[0])
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-6)
    # a graph without such pads is left as it is
    assert fold_static_pads(folded.onnx) == 0


def test_int8_of_a_trained_student_keeps_its_masks(tmp_path: Path) -> None:
    """A briefly trained student (maps across [0, 1], masks that are not empty), not a
    random one whose maps all sit near 0.4: int8 must keep its F1 and its masks."""
    from PIL import Image

    from boxpromptiml.data.sources import load_dataset
    from boxpromptiml.train import TrainConfig, fit
    from boxpromptiml.train.synthetic import make_shapes

    rng = np.random.default_rng(0)
    root = tmp_path / "shapes"
    for sub in ("Tp", "Gt"):
        (root / sub).mkdir(parents=True)
    for i in range(12):
        image, mask = make_shapes(rng, 32)
        Image.fromarray(image).save(root / "Tp" / f"s{i}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(root / "Gt" / f"s{i}.png")
    ds = load_dataset(root)
    cfg = TrainConfig(
        train=ds.samples, out_dir=tmp_path / "run", supervision="gt",
        model={"backbone": "test_efficientnet", "dim": 16, "memory_size": 4}, pretrained=None,
        epochs=8, batch_size=4, input_size=32, lr=1e-2, workers=0, accelerator="cpu",
        progress=False, tensorboard=False,
    )  # fmt: skip
    ckpt = fit(cfg).last
    onnx_path = export_onnx(ckpt, tmp_path / "m.onnx").onnx
    [r] = Localizer.from_checkpoint(onnx_path, device="cpu").predict(
        np.asarray(Image.open(root / "Tp" / "s0.png").convert("RGB"))
    )
    assert r.prob.max() - r.prob.min() > 0.5  # a map that commits, unlike a random init
    dyn = quantize_onnx(onnx_path, tmp_path / "m.int8.onnx", method="dynamic")
    cost = quantization_cost(onnx_path, dyn, str(root))
    assert cost["f1_fp32"] > 0.3  # the student localises: the comparison means something
    assert abs(cost["f1_delta"]) < 0.1
    assert cost["mask_disagreement"] < 0.1
