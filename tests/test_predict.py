"""Predict API, result files, CLI predict, tiled inference and user-facing errors.

A random-init TinyViT-5M student at 64×64 input stands in for a trained one: the tests
check plumbing (shapes, sizes, files, agreement between paths), not accuracy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from boxpromptiml.cli import main  # noqa: E402
from boxpromptiml.data.images import load_map, load_mask  # noqa: E402
from boxpromptiml.errors import CheckpointError, ConfigError, DataError  # noqa: E402
from boxpromptiml.metrics import image_score  # noqa: E402
from boxpromptiml.predict import (  # noqa: E402
    Localizer,
    Prediction,
    Skipped,
    images_to_batch,
    predict_tiled,
    resize_image,
)
from boxpromptiml.predict.tiling import blend_weights, tile_starts  # noqa: E402

SIZE = 64


def make_checkpoint(path: Path, size: int = SIZE, seed: int = 0, **overrides: object) -> Path:
    """A random-init student saved exactly as ``fit()`` saves ``best.pt``."""
    from boxpromptiml.data.sources import Sample
    from boxpromptiml.student import build_student, resolve_student_args
    from boxpromptiml.student.checkpoint import save_checkpoint
    from boxpromptiml.train.config import TrainConfig

    torch.manual_seed(seed)
    args = resolve_student_args("tinyvit5m", **overrides)
    model = build_student(args)
    # BatchNorm running stats away from (0, 1), so that maps vary with the image
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    cfg = TrainConfig(
        train=[Sample("a", Path("a.png"), Path("a.png"), 1)],
        out_dir=path.parent,
        model=args,
        input_size=size,
    )
    from boxpromptiml.student.checkpoint import save_checkpoint as _save

    assert _save is save_checkpoint
    save_checkpoint(
        path,
        {
            "kind": "best",
            "model_args": args.to_dict(),
            "config": cfg.to_dict(),
            "state_dict": model.state_dict(),
            "step": 0,
            "epoch": 1,
            "metrics": None,
            "best_f1": None,
            "best_epoch": 1,
            "created": "2026-01-01T00:00:00+00:00",
            "versions": {},
        },
    )
    return path


def write_images(folder: Path, sizes: list[tuple[int, int]], seed: int = 0) -> list[Path]:
    """Random smooth RGB PNGs of the given ``(H, W)`` sizes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i, (h, w) in enumerate(sizes):
        small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(small).resize((w, h), Image.BILINEAR))
        p = folder / f"img{i}.png"
        Image.fromarray(img).save(p)
        out.append(p)
    return out


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """One intra-op thread: faster than two on a busy shared machine, and deterministic."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "best.pt")


@pytest.fixture(scope="module")
def loc(ckpt: Path) -> Localizer:
    return Localizer.from_checkpoint(ckpt, device="cpu", batch_size=4)


# --------------------------------------------------------------------------- preprocessing


def test_preprocess_matches_student_helpers() -> None:
    """The torch-free resize and batching are bit-identical to the student's own."""
    from boxpromptiml.student import image_to_tensor
    from boxpromptiml.student import resize_image as student_resize

    rng = np.random.default_rng(1)
    for h, w in [(100, 150), (64, 64), (40, 30), (50, 200)]:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        assert np.array_equal(resize_image(img, SIZE), student_resize(img, SIZE))
    imgs = [rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(2)]
    ref = torch.stack([image_to_tensor(im) for im in imgs]).numpy()
    assert np.array_equal(images_to_batch(imgs), ref)


# --------------------------------------------------------------------------- API


def test_predict_accepts_path_array_pil_and_list(loc: Localizer, tmp_path: Path) -> None:
    [p0, p1] = write_images(tmp_path, [(100, 150), (48, 40)])
    arr = np.asarray(Image.open(p0).convert("RGB"))
    pil = Image.open(p1)

    [from_path] = loc.predict(p0)
    [from_str] = loc.predict(str(p0))
    [from_array] = loc.predict(arr)
    [from_float] = loc.predict(arr.astype(np.float32) / 255.0)
    [from_pil] = loc.predict(pil)
    many = loc.predict([p0, arr, pil, p1])

    assert from_path.name == "img0" and from_path.path == p0
    assert from_array.name == "image0" and from_array.path is None
    assert [r.name for r in many] == ["img0", "image1", "image2", "img1"]
    for r, hw in [(from_path, (100, 150)), (from_pil, (48, 40)), (many[3], (48, 40))]:
        assert isinstance(r, Prediction)
        assert r.prob.shape == hw and r.prob.dtype == np.float32
        assert r.mask.shape == hw and r.mask.dtype == bool
        assert 0.0 <= r.prob.min() <= r.prob.max() <= 1.0
        assert np.array_equal(r.mask, r.prob > 0.5)
        assert r.score == pytest.approx(image_score(r.prob, "max"))
        assert {"load", "preprocess", "inference", "postprocess"} <= set(r.timings)
    # the same pixels give the same map whatever the container (up to batch-size rounding)
    for r in (from_str, from_array, from_float, many[0], many[1]):
        np.testing.assert_allclose(r.prob, from_path.prob, atol=1e-6)
    np.testing.assert_allclose(from_pil.prob, many[3].prob, atol=1e-6)
    # the map depends on the image (the random model is not constant)
    assert from_path.prob.std() > 0


def test_predict_folder_and_glob(loc: Localizer, tmp_path: Path) -> None:
    write_images(tmp_path / "a", [(30, 40), (50, 50), (70, 20)])
    assert len(loc.predict(tmp_path / "a")) == 3
    assert len(loc.predict(str(tmp_path / "a" / "img[01].png"))) == 2


def test_localizer_matches_student_predict_maps(ckpt: Path, loc: Localizer) -> None:
    """Reference: the student's own ``predict_maps`` (torch resize, torch interpolation)."""
    from boxpromptiml.student.checkpoint import load_student

    model, _ = load_student(ckpt)
    rng = np.random.default_rng(2)
    imgs = [
        rng.integers(0, 256, (*hw, 3), dtype=np.uint8) for hw in [(64, 64), (96, 80), (128, 200)]
    ]
    ref = model.predict_maps(imgs)
    got = loc.predict_maps(imgs)
    for r, g in zip(ref, got, strict=True):
        assert r.shape == g.shape
        np.testing.assert_allclose(g, r, atol=1e-5)


def test_score_reduction_and_threshold(ckpt: Path) -> None:
    img = np.random.default_rng(3).integers(0, 256, (80, 80, 3), dtype=np.uint8)
    mean_loc = Localizer.from_checkpoint(ckpt, device="cpu", image_score="mean", threshold=0.0)
    [r] = mean_loc.predict(img)
    assert r.score == pytest.approx(float(r.prob.mean()), abs=1e-6)
    assert r.mask.all()  # every probability is > 0
    with pytest.raises(ConfigError, match="image_score"):
        Localizer.from_checkpoint(ckpt, device="cpu", image_score="median")
    with pytest.raises(ConfigError, match="threshold"):
        Localizer.from_checkpoint(ckpt, device="cpu", threshold=1.5)


def test_stream_skips_bad_inputs_in_order(loc: Localizer, tmp_path: Path) -> None:
    [good] = write_images(tmp_path, [(40, 40)])
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    items = list(loc.stream([good, bad, tmp_path / "missing.png", good]))
    kinds = [type(x).__name__ for x in items]
    assert kinds == ["Prediction", "Skipped", "Skipped", "Prediction"]
    assert isinstance(items[1], Skipped) and "bad.jpg" in items[1].reason
    assert [x.name for x in items] == ["img0", "bad", "missing", "img0__1"]
    with pytest.raises(DataError, match=r"bad\.jpg"):
        loc.predict([good, bad])


# --------------------------------------------------------------------------- result files


def test_result_save_and_plot(loc: Localizer, tmp_path: Path) -> None:
    [p] = write_images(tmp_path / "in", [(90, 120)])
    [r] = loc.predict(p)
    r.threshold = float(np.median(r.prob))  # a mask with both classes
    paths = r.save(tmp_path / "out", npy=True)
    assert set(paths) == {"map", "mask", "overlay", "json", "npy"}
    for q in paths.values():
        assert q.is_file() and q.stat().st_size > 0
    assert paths["map"] == tmp_path / "out" / "maps" / "img0.png"
    np.testing.assert_allclose(load_map(paths["map"]), r.prob, atol=0.5 / 255 + 1e-6)
    assert np.array_equal(load_mask(paths["mask"]), r.mask)
    np.testing.assert_array_equal(np.load(paths["npy"]), r.prob)
    record = json.loads(paths["json"].read_text())
    assert record["name"] == "img0" and (record["width"], record["height"]) == (120, 90)
    assert record["score"] == pytest.approx(r.score, abs=1e-6)
    assert record["files"]["map"] == "maps/img0.png"
    assert record["runtime"] == "torch" and record["input_size"] == SIZE
    with Image.open(paths["overlay"]) as im:
        assert im.size == (120, 90)

    overlay = r.plot(tmp_path / "plot.png")
    assert overlay.shape == (90, 120, 3) and overlay.dtype == np.uint8
    assert (tmp_path / "plot.png").is_file()
    assert not np.array_equal(overlay, r.image)  # the heatmap changed the pixels

    # only some outputs
    only = r.save(tmp_path / "few", mask=False, overlay=False, json=False)
    assert set(only) == {"map"}
    assert not (tmp_path / "few" / "masks").exists()


# --------------------------------------------------------------------------- CLI


def test_cli_predict_folder_with_corrupt_file(
    ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "photos"
    write_images(src, [(50, 70), (64, 64), (120, 90)])
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    monkeypatch.chdir(tmp_path)
    args = [
        "predict",
        "photos",
        "--model",
        str(ckpt),
        "--batch",
        "2",
        "--no-progress",
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    out, err = capsys.readouterr()
    run = tmp_path / "runs" / "predict" / "exp"
    assert "3 of 4 image(s) predicted" in out and str(Path("runs/predict/exp")) in out
    assert "broken.png" in err
    for stem, hw in [("img0", (50, 70)), ("img1", (64, 64)), ("img2", (120, 90))]:
        assert load_map(run / "maps" / f"{stem}.png").shape == hw
        assert (run / "masks" / f"{stem}.png").is_file()
        assert (run / "overlays" / f"{stem}.jpg").is_file()
        assert (run / "json" / f"{stem}.json").is_file()
    assert not (run / "maps" / "broken.png").exists()
    assert "broken.png" in (run / "skipped.txt").read_text()
    rows = (run / "summary.csv").read_text().strip().splitlines()
    assert rows[0].startswith("name,source,width,height,score")
    assert len(rows) == 4
    meta = json.loads((run / "run.json").read_text())
    assert meta["n_predicted"] == 3 and meta["n_skipped"] == 1

    # a second run goes to exp2; --tile writes maps at the original size too
    assert main([*args, "--tile", "--no-overlay", "--no-json"]) == 0
    run2 = tmp_path / "runs" / "predict" / "exp2"
    assert load_map(run2 / "maps" / "img2.png").shape == (120, 90)
    assert not (run2 / "overlays").exists()


def test_cli_predict_then_evaluate(
    ckpt: Path, tmp_path: Path, small_dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``evaluate --pred OUT/maps`` reads what ``predict`` wrote."""
    out = tmp_path / "pred"
    assert (
        main(
            [
                "predict",
                str(small_dataset / "Tp"),
                "-m",
                str(ckpt),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "evaluate",
                str(small_dataset),
                "--pred",
                str(out / "maps"),
                "--out",
                str(tmp_path / "ev"),
                "--no-progress",
            ]
        )
        == 0
    )
    res = json.loads((tmp_path / "ev" / "results.json").read_text())
    [ds] = res["datasets"]
    assert ds["summary"]["n_manipulated"] == 3 and not ds["problems"]
    assert sorted(Path(r["prediction"]).name for r in ds["images"]) == [
        "img0.png",
        "img1.png",
        "img2.png",
    ]


# --------------------------------------------------------------------------- tiling


def test_tile_starts_cover_and_overlap() -> None:
    assert tile_starts(50, 64, 0.25) == [0]
    assert tile_starts(64, 64, 0.25) == [0]
    for length in (65, 100, 200, 333):
        starts = tile_starts(length, 64, 0.25)
        assert starts[0] == 0 and starts[-1] == length - 64
        gaps = np.diff(starts)
        assert (gaps > 0).all() and (gaps <= 48).all()  # overlap >= 25 %
    with pytest.raises(ConfigError):
        tile_starts(100, 64, 1.0)
    w = blend_weights(64, 0.25)
    assert w.shape == (64, 64) and w.min() > 0 and w.max() == 1.0


def test_tiled_reproduces_a_pointwise_model() -> None:
    """With a model that acts per pixel, blending must give back its exact output."""

    def pointwise(windows: list[np.ndarray]) -> np.ndarray:
        return np.stack([w.astype(np.float32).mean(axis=2) / 255.0 for w in windows])

    rng = np.random.default_rng(4)
    for h, w in [(150, 100), (40, 130), (64, 64), (30, 20)]:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        prob, n = predict_tiled(img, pointwise, tile=64, overlap=0.3, batch_size=3)
        assert prob.shape == (h, w)
        np.testing.assert_allclose(prob, img.mean(axis=2) / 255.0, atol=1e-5)
        assert n == len(tile_starts(max(h, 64), 64, 0.3)) * len(tile_starts(max(w, 64), 64, 0.3))


def test_tiled_clip_cuts_windows_to_the_image() -> None:
    """With ``clip``, a side shorter than the tile gets a shorter window (no padding), and a
    per-pixel model is still reproduced exactly."""
    seen: list[tuple[int, int]] = []

    def pointwise(windows: list[np.ndarray]) -> np.ndarray:
        seen.extend(w.shape[:2] for w in windows)
        return np.stack([w.astype(np.float32).mean(axis=2) / 255.0 for w in windows])

    rng = np.random.default_rng(6)
    for h, w in [(150, 100), (40, 130), (30, 20)]:
        seen.clear()
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        prob, n = predict_tiled(img, pointwise, tile=64, overlap=0.3, batch_size=3, clip=True)
        np.testing.assert_allclose(prob, img.mean(axis=2) / 255.0, atol=1e-5)
        assert set(seen) == {(min(h, 64), min(w, 64))}
        assert n == len(tile_starts(h, min(h, 64), 0.3)) * len(tile_starts(w, min(w, 64), 0.3))
    assert np.array_equal(blend_weights(64, 0.25, (64, 64)), blend_weights(64, 0.25))
    assert blend_weights(64, 0.25, (30, 64)).shape == (30, 64)


def test_tiled_localizer_shape_and_agreement(ckpt: Path, loc: Localizer) -> None:
    tiled = Localizer.from_checkpoint(ckpt, device="cpu", tile=True, overlap=0.25, batch_size=4)
    rng = np.random.default_rng(5)
    # an image of the input size, or smaller: a single window, identical to plain inference
    for hw in [(SIZE, SIZE), (40, 50)]:
        img = rng.integers(0, 256, (*hw, 3), dtype=np.uint8)
        [a], [b] = tiled.predict(img), loc.predict(img)
        np.testing.assert_allclose(a.prob, b.prob, atol=1e-6)
    # a larger image: full-resolution map from several windows
    big = np.asarray(
        Image.fromarray(rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)).resize((150, 100))
    )
    [r] = tiled.predict(big)
    assert r.prob.shape == (100, 150) and r.info["tiled"] and r.info["windows"] == 2 * 3
    assert 0.0 <= r.prob.min() <= r.prob.max() <= 1.0
    # each window's own region agrees with running that window alone where it is the only one
    [corner] = loc.predict(np.ascontiguousarray(big[:SIZE, :SIZE]))
    np.testing.assert_allclose(r.prob[:8, :8], corner.prob[:8, :8], atol=1e-5)


# --------------------------------------------------------------------------- errors


def test_checkpoint_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found") as e1:
        Localizer.from_checkpoint(tmp_path / "nope.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weight": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not a boxpromptiml student checkpoint") as e2:
        Localizer.from_checkpoint(foreign)
    newer = tmp_path / "newer.pt"
    torch.save(
        {"format": "boxpromptiml.student", "version": 99, "model_args": {}, "state_dict": {}}, newer
    )
    with pytest.raises(CheckpointError, match="newer") as e3:
        Localizer.from_checkpoint(newer)
    with pytest.raises(CheckpointError, match="ONNX model not found") as e4:
        Localizer.from_checkpoint(tmp_path / "nope.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a readable ONNX model") as e5:
        Localizer.from_checkpoint(junk)
    for e in (e1, e2, e3, e4, e5):
        assert "\n" not in str(e.value)


def test_foreign_onnx_model_is_refused(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    node = helper.make_node("Identity", ["images"], ["probs"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    path = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(CheckpointError, match="not a boxpromptiml ONNX model"):
        Localizer.from_checkpoint(path)


def test_bad_image_inputs(loc: Localizer, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="shape"):
        loc.predict(np.zeros((10, 10, 5), dtype=np.uint8))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        loc.predict(np.full((10, 10, 3), 2.0, dtype=np.float32))
    with pytest.raises(DataError, match="cannot read an image"):
        loc.predict(12345)
    with pytest.raises(DataError, match="glob matches no images"):
        loc.predict(str(tmp_path / "*.png"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["predict", "{tmp}/*.jpg", "--model", "{ckpt}"], "glob matches no images"),
        (["predict", "{tmp}/nothing_here", "--model", "{ckpt}"], "no such file or folder"),
        (["predict", "{img}", "--model", "{tmp}/missing.pt"], "checkpoint not found"),
        (
            ["predict", "{img}", "--model", "{tmp}/foreign.pt"],
            "not a boxpromptiml student checkpoint",
        ),
        (["predict", "{img}", "--model", "{ckpt}", "--threshold", "2"], "threshold"),
        (["predict", "{img}", "--model", "{ckpt}", "--threads", "-1"], "threads must be"),
        (["predict", "{img}", "--model", "{ckpt}", "--device", "foo"], "unknown device 'foo'"),
        (["predict", "{img}", "--model", "{ckpt}", "--tile", "--max-side", "4"], "max_side"),
        (["predict", "{img}", "--out", "{img}", "--model", "{ckpt}"], "is a file"),
    ],
)
def test_cli_errors_are_one_line(
    argv: list[str], message: str, ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [img] = write_images(tmp_path / "imgs", [(20, 20)])
    torch.save({"weight": torch.zeros(3)}, tmp_path / "foreign.pt")
    filled = [a.format(tmp=tmp_path, ckpt=ckpt, img=img) for a in argv]
    assert main(filled) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("boxprompt: error:") and message in err
    assert len(err.splitlines()) == 1


class _FlakyBackend:
    """A backend that fails on white images: stands in for an out-of-memory error."""

    name = "fake"
    device = "cpu"
    input_size = 16
    info: dict[str, object] = {"runtime": "fake", "device": "cpu"}  # noqa: RUF012

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if (batch.reshape(len(batch), -1).min(axis=1) > 0.99).any():
            raise MemoryError("cannot allocate")
        return batch.mean(axis=1)


def test_a_failing_image_does_not_stop_the_batch() -> None:
    loc = Localizer(_FlakyBackend(), batch_size=4)
    grey = np.full((20, 30, 3), 100, dtype=np.uint8)
    white = np.full((20, 30, 3), 255, dtype=np.uint8)
    items = list(loc.stream([grey, white, grey]))
    assert [type(x).__name__ for x in items] == ["Prediction", "Skipped", "Prediction"]
    assert isinstance(items[1], Skipped) and "MemoryError" in items[1].reason
    assert isinstance(items[0], Prediction)
    np.testing.assert_allclose(items[0].prob, 100 / 255, atol=1e-6)


class _RampBackend:
    """Ignores the image's content except its red channel: probability = 0.8 x / S + red / 10
    (below 1, so never clipped), so that a map mirrored the wrong way, or not mirrored
    back, shows."""

    name = "fake"
    device = "cpu"
    input_size = 16
    info: dict[str, object] = {"runtime": "fake", "device": "cpu"}  # noqa: RUF012

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.calls += 1
        s = batch.shape[-1]
        ramp = np.broadcast_to(0.8 * np.arange(s, dtype=np.float32) / s, batch.shape[-2:])
        return (ramp[None] + batch[:, 0] / 10).astype(np.float32)


def test_tta_averages_mirrored_passes_mapped_back() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    red = image[..., 0].astype(np.float32) / 255 / 10
    ramp = 0.8 * np.arange(16, dtype=np.float32) / 16
    plain_backend, h_backend, hv_backend = _RampBackend(), _RampBackend(), _RampBackend()
    plain = Localizer(plain_backend).predict_maps([image])[0]
    np.testing.assert_allclose(plain, ramp[None] + red, atol=1e-6)
    # the content-driven part (red) is flip-equivariant and survives; the ramp, which
    # ignores the content, is averaged with its mirror image
    h = Localizer(h_backend, tta="h").predict_maps([image])[0]
    np.testing.assert_allclose(h, (ramp + ramp[::-1])[None] / 2 + red, atol=1e-6)
    hv = Localizer(hv_backend, tta="hv").predict_maps([image])[0]
    np.testing.assert_allclose(hv, (2 * ramp + ramp[::-1])[None] / 3 + red, atol=1e-6)
    assert (plain_backend.calls, h_backend.calls, hv_backend.calls) == (1, 2, 3)
    assert Localizer(h_backend, tta="h").info["tta"] == "h"
    with pytest.raises(ConfigError, match="tta"):
        Localizer(h_backend, tta="rot")


def test_calibration_moves_the_half_point_and_keeps_the_order(ckpt: Path) -> None:
    from boxpromptiml.errors import ConfigError
    from boxpromptiml.predict.localizer import calibrate

    p = np.linspace(0, 1, 101, dtype=np.float32)
    q = calibrate(p, 0.3)
    assert q[0] == 0 and q[-1] == pytest.approx(1) and q[30] == pytest.approx(0.5)
    assert np.all(np.diff(q) > 0)  # strictly monotone: rankings and AUC unchanged
    assert np.array_equal(p > 0.3, q > 0.5)
    img = np.random.default_rng(3).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    raw = Localizer.from_checkpoint(ckpt, device="cpu").predict_maps([img])[0]
    cal = Localizer.from_checkpoint(ckpt, device="cpu", calibration=0.39)
    np.testing.assert_allclose(cal.predict_maps([img])[0], calibrate(raw, 0.39), atol=1e-6)
    assert cal.info["calibration"] == 0.39
    with pytest.raises(ConfigError, match="calibration must lie in"):
        Localizer.from_checkpoint(ckpt, device="cpu", calibration=1.5)


def test_gate_quiets_low_score_images_and_keeps_their_ranking(ckpt: Path) -> None:
    from boxpromptiml.errors import ConfigError
    from boxpromptiml.predict.localizer import gate_map

    p = np.zeros((20, 20), np.float32)
    p[:5, :5] = 0.9  # a clear region: top 1 % mean 0.9
    assert gate_map(p, 0.5) is p
    q = gate_map(p * 0.6, 0.8)  # score 0.54 < 0.8: no pixel reaches 0.5
    assert q.max() < 0.5 and np.array_equal(
        np.argsort(q, axis=None), np.argsort(p * 0.6, axis=None)
    )
    img = np.random.default_rng(5).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    raw = Localizer.from_checkpoint(ckpt, device="cpu", image_score="top1pct")
    high = Localizer.from_checkpoint(ckpt, device="cpu", image_score="top1pct", gate=1.0)
    r = raw.predict_maps([img])[0]
    g = high.predict_maps([img])[0]
    assert g.max() < 0.5 and (r.max() < 0.5 or not np.allclose(g, r))
    np.testing.assert_allclose(
        Localizer.from_checkpoint(ckpt, device="cpu", gate=0.0).predict_maps([img])[0], r
    )
    with pytest.raises(ConfigError, match="gate must lie"):
        Localizer.from_checkpoint(ckpt, device="cpu", gate=2.0)


def test_reference_turns_a_score_into_the_share_of_untouched_photos(ckpt: Path) -> None:
    """A model's untouched reference scores give each prediction the share of those photos
    that score at least as high, only under the settings the reference was made with."""
    img = np.random.default_rng(7).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    base = Localizer.from_checkpoint(ckpt, device="cpu", image_score="mean")
    score = base.predict([img])[0].score
    assert 0.05 < score < 0.95
    scores = [score - 0.01] * 7 + [score + 0.005, score + 0.01, score + 0.02]
    ref = {"name": "ten test photos", "scores": scores, "settings": base.score_settings}
    loc = Localizer.from_checkpoint(ckpt, device="cpu", image_score="mean", reference=ref)
    pred = loc.predict([img])[0]
    assert loc.reference_applies and pred.untouched_share == pytest.approx(0.3)
    assert pred.to_dict()["untouched_share"] == pytest.approx(0.3)
    assert loc.info["reference"] == "ten test photos" and loc.info["reference_photos"] == 10
    # other settings change every score: no share is claimed
    for other in ({"tta": "h"}, {"image_score": "max"}, {"tile": True}):
        o = Localizer.from_checkpoint(ckpt, device="cpu", **{"image_score": "mean", **other},
                                      reference=ref)  # fmt: skip
        p = o.predict([img])[0]
        assert not o.reference_applies and p.untouched_share is None
        assert "untouched_share" not in p.to_dict() and "reference" not in o.info
    bad = [
        ({**ref, "scores": scores[:5]}, "at least 10"),
        ({**ref, "scores": [*scores[:9], 1.5]}, r"lie in \[0, 1\]"),
        ({**ref, "scores": [*scores[:9], float("nan")]}, r"lie in \[0, 1\]"),
        ({"name": "x", "scores": scores}, "lacks settings"),
        ({**ref, "settings": {"tta": "h"}}, "names its image_score"),
        ({**ref, "settings": {**ref["settings"], "tiles": True}}, "unknown tiles"),
        ([0.1] * 10, "must be a mapping"),
    ]
    for value, msg in bad:
        with pytest.raises(ConfigError, match=msg):
            Localizer.from_checkpoint(ckpt, device="cpu", reference=value)
