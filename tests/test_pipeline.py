"""The pipeline engine: stage records keyed by inputs and settings, skip, redo, refuse."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from boxpromptiml.data.sources import load_dataset
from boxpromptiml.errors import ConfigError
from boxpromptiml.metrics import MetricAccumulator, floor_f1, pixel_scores
from boxpromptiml.pipeline import Pipeline, StageCache, digest, fingerprint
from boxpromptiml.train import TrainConfig
from boxpromptiml.train.synthetic import make_shapes

TINY = {"backbone": "test_efficientnet", "dim": 16, "memory_size": 4}


def _shapes(root: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for sub in ("Tp", "Gt"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        image, mask = make_shapes(rng, 32)
        Image.fromarray(image).save(root / "Tp" / f"s{seed}_{i}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(root / "Gt" / f"s{seed}_{i}.png")
    return root


def test_stage_cache_skips_redoes_and_refuses(tmp_path: Path) -> None:
    cache = StageCache(tmp_path)
    assert cache.done("train", {"epochs": 3}, strict=True) is None
    cache.finish("train", {"epochs": 3, "lr": 0.1}, {"last": "x"}, 1.0)
    assert cache.log["train"].startswith("ran")
    assert cache.done("train", {"epochs": 3, "lr": 0.1}, strict=True) == {"last": "x"}
    assert cache.log["train"] == "skipped (done)"
    # cheap stages run again; costly ones name what changed and what to delete
    assert cache.done("train", {"epochs": 4, "lr": 0.1}, strict=False) is None
    with pytest.raises(ConfigError, match=r"changed: epochs\); to redo it delete runs/x"):
        cache.done("train", {"epochs": 4, "lr": 0.1}, strict=True, redo="runs/x")
    # an unreadable record (a cut write elsewhere) means: run the stage again
    cache.path("train").write_text("{not json", encoding="utf-8")
    assert cache.done("train", {"epochs": 3, "lr": 0.1}, strict=True) is None
    # a read-only cache (other ranks) never writes
    ro = StageCache(tmp_path / "ro", write=False)
    ro.finish("boxes/a", {}, {}, 0.0)
    assert not (tmp_path / "ro").exists()


def test_digests_follow_content() -> None:
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    assert digest({"a": 1}) != digest({"a": 2})
    assert fingerprint([Path("x.png")]) != fingerprint([Path("y.png")])


def test_pipeline_runs_every_stage_then_skips_redoes_and_refuses(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    train_ds = load_dataset(_shapes(tmp_path / "train", 6, seed=1))
    test_ds = load_dataset(_shapes(tmp_path / "test", 3, seed=2))
    lines: list[str] = []
    pipe = Pipeline(tmp_path / "run", progress=False, echo=lines.append, tag="t")

    def stages(p: Pipeline) -> dict[str, float]:
        boxes = p.boxes("train", train_ds)
        pseudo = p.pseudo("train", train_ds, boxes, teacher="box")
        cfg = TrainConfig(
            train=pseudo.samples(train_ds), out_dir=tmp_path / "run" / "train", model=TINY,
            epochs=2, batch_size=3, input_size=32, lr=1e-2, workers=0, accelerator="cpu",
            tensorboard=False,
        )  # fmt: skip
        trained = p.train(cfg)
        refined = p.refine("train-r2", train_ds, pseudo, trained, settings={"device": "cpu"})
        assert len(list(refined.folder.glob("*.png"))) == 6
        assert 0.0 <= refined.summary["pseudo_iou"] <= 1.0
        predicted = p.predict("test", list(test_ds), trained, settings={"device": "cpu"})
        return p.evaluate("test", test_ds, predicted, ci=True).summary

    first = stages(pipe)
    assert set(pipe.log) == {
        "boxes/train",
        "pseudo/train",
        "train",
        "refine/train-r2",
        "predict/test",
        "evaluate/test",
    }
    assert all(v.startswith("ran") for v in pipe.log.values())
    assert any(line.startswith("[t] pseudo train") for line in lines)
    assert len(list((tmp_path / "run" / "predict" / "test" / "maps").glob("*.png"))) == 3
    assert first["f1_ci_lo"] <= first["f1"] <= first["f1_ci_hi"]
    record = json.loads((tmp_path / "run" / "stages" / "pseudo-train.json").read_text())
    assert record["key"]["teacher"] == "box" and record["result"]["pseudo_masks"] == 6

    # a second run skips everything and gives the same figures
    mtime = (tmp_path / "run" / "train" / "last.pt").stat().st_mtime_ns
    again = Pipeline(tmp_path / "run", progress=False, echo=lambda s: None)
    assert stages(again) == pytest.approx(first, nan_ok=True)
    assert set(again.log.values()) == {"skipped (done)"}
    assert (tmp_path / "run" / "train" / "last.pt").stat().st_mtime_ns == mtime

    # costly stages refuse other settings: the old pseudo-masks are not silently reused
    refusing = Pipeline(tmp_path / "run", progress=False, echo=lambda s: None)
    boxes = refusing.boxes("train", train_ds)
    with pytest.raises(ConfigError, match=r"stage 'pseudo/train' .*changed: teacher"):
        refusing.pseudo("train", train_ds, boxes, teacher="ensemble")


def test_floor_and_false_alarm_figures() -> None:
    mask = np.zeros((10, 10), bool)
    mask[:5] = True
    assert floor_f1(mask) == pytest.approx(pixel_scores(np.ones((10, 10)), mask)["f1"])
    acc = MetricAccumulator()
    acc.update("f", np.where(mask, 0.9, 0.1), mask, 1)
    quiet, noisy = np.zeros((10, 10)), np.zeros((10, 10))
    noisy[0, :5] = 0.8  # 5 % of the pixels flagged
    acc.update("a", quiet, None, 0)
    acc.update("b", noisy, None, 0)
    s = acc.summary()
    assert s["floor_f1"] == pytest.approx(2 * 50 / 150)
    assert s["authentic_flagged"] == pytest.approx(0.025)
    assert s["authentic_over_1pct"] == pytest.approx(0.5)


def test_docs_example_runs_then_skips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    text = (Path(__file__).resolve().parents[1] / "docs" / "pipeline.md").read_text("utf-8")
    m = re.search(r"```python\n(.*?)```", text, re.S)
    assert m
    torch.set_num_threads(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(m.group(1), "docs/pipeline.md", "exec"), namespace)
    first = dict(namespace["pipe"].log)  # type: ignore[attr-defined]
    assert len(first) == 7 and all(v.startswith("ran") for v in first.values())
    again: dict[str, object] = {}
    exec(compile(m.group(1), "docs/pipeline.md", "exec"), again)
    assert set(again["pipe"].log.values()) == {"skipped (done)"}  # type: ignore[attr-defined]
