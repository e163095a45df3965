"""The paper's protocol as a recipe: one config, every stage, ID/OOD averages, resume, early errors."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from boxpromptiml.cli import main
from boxpromptiml.data.images import load_map
from boxpromptiml.errors import ConfigError, DataError
from boxpromptiml.protocol import (
    PAPER_AVERAGES,
    ProtocolResult,
    load_protocol_config,
    run_protocol,
)
from boxpromptiml.train.synthetic import make_shapes

REPO = Path(__file__).resolve().parents[1]

# the tiny timm backbone of tests/test_train.py (88 k parameters)
TINY = {"backbone": "test_efficientnet", "dim": 16, "memory_size": 4}


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: small models run faster on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _shapes_set(root: Path, n: int, seed: int, mismatched: int = 0, size: int = 32) -> Path:
    """``root/Tp`` + ``root/Gt``: ``n`` toy images (bright shapes on noise) with their masks;
    the last ``mismatched`` masks are 2 px smaller than their images."""
    rng = np.random.default_rng(seed)
    (root / "Tp").mkdir(parents=True)
    (root / "Gt").mkdir(parents=True)
    for i in range(n):
        image, mask = make_shapes(rng, size)
        Image.fromarray(image).save(root / "Tp" / f"s{seed}_{i}.png")
        m = mask if i < n - mismatched else mask[:-2, :-2]
        Image.fromarray(m.astype(np.uint8) * 255).save(root / "Gt" / f"s{seed}_{i}.png")
    return root


def _config(**changes: Any) -> dict[str, Any]:
    """A protocol config for the tiny data written by :func:`_write_data` (relative paths)."""
    cfg: dict[str, Any] = {
        "_comment": "comment keys are ignored at every level",
        "name": "tiny",
        "data_root": "data",
        "train_sets": [{"name": "toy-train", "path": "train", "_comment": "no boxes file"}],
        "test_sets": {
            "id": [{"name": "idA", "path": "idA"}, {"name": "idB", "path": "idB"}],
            "ood": [{"name": "oodC", "path": "oodC", "expected_images": 4}],
        },
        "teacher": {"name": "box"},
        "train": {
            "model": TINY,
            # 6 short epochs (< 1 s): with fewer, no pixel crosses 0.5 yet and every F1 is 0
            "epochs": 6,
            "batch_size": 4,
            "input_size": 32,
            "lr": 1e-2,
            "dice_weight": 1.0,
            "workers": 0,
            "accelerator": "cpu",
            "tensorboard": False,
        },
        "predict": {"device": "cpu", "batch_size": 4},
    }
    cfg.update(changes)
    return cfg


def _write_data(folder: Path) -> Path:
    data = folder / "data"
    _shapes_set(data / "train", 8, seed=1, mismatched=1)
    _shapes_set(data / "idA", 3, seed=2)
    _shapes_set(data / "idB", 3, seed=3)
    _shapes_set(data / "oodC", 4, seed=4, mismatched=1)
    return folder


def _write_config(folder: Path, cfg: dict[str, Any], name: str = "tiny.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return path


def _reference_f1(maps: Path, data: Path) -> float:
    """Mean per-image pixel F1 at 0.5 over the pairs whose sizes match, from the files."""
    scores = []
    for image in sorted((data / "Tp").iterdir()):
        mask = np.asarray(Image.open(data / "Gt" / image.name)) > 127
        prob = load_map(maps / f"{image.stem}.png")
        if prob.shape != mask.shape:
            continue  # skipped by the default on_size_mismatch policy
        pred = prob > 0.5
        tp = float(np.sum(pred & mask))
        scores.append(2 * tp / (pred.sum() + mask.sum()))
    return float(np.mean(scores))


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, ProtocolResult]:
    """One complete tiny run: ``(config file, run folder, result)``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    folder = _write_data(tmp_path_factory.mktemp("protocol"))
    config = _write_config(folder, _config())
    result = run_protocol(config, folder / "run", progress=False)
    torch.set_num_threads(before)
    return config, folder / "run", result


# ---------------------------------------------------------------------------- a full run


def test_summary_has_per_dataset_scores_and_both_averages(
    finished: tuple[Path, Path, ProtocolResult],
) -> None:
    config, out, res = finished
    data = config.parent / "data"
    assert [(r["group"], r["dataset"]) for r in res.rows] == [
        ("ID", "idA"),
        ("ID", "idB"),
        ("OOD", "oodC"),
    ]
    by_name = {r["dataset"]: r for r in res.rows}
    # each dataset's F1 agrees with a reference computed from the written maps and masks
    for name in ("idA", "idB", "oodC"):
        ref = _reference_f1(out / "predict" / name / "maps", data / name)
        assert by_name[name]["f1"] == pytest.approx(ref, abs=1e-6)
    # the size-mismatched OOD pair is skipped (default policy) and reported
    assert by_name["oodC"]["images"] == 3 and by_name["oodC"]["skipped"] == 1
    assert any("oodC: 3 manipulated images scored, the paper used 4" in n for n in res.notes)
    # averages are unweighted means of the per-dataset values (distinct, non-zero F1s:
    # the student learned the shapes from box pseudo-masks)
    f1 = {n: by_name[n]["f1"] for n in by_name}
    assert min(f1.values()) > 0.2 and len(set(f1.values())) == 3
    assert res.id_average == pytest.approx((f1["idA"] + f1["idB"]) / 2)
    assert res.ood_average == pytest.approx(f1["oodC"])
    assert res.averages["id"]["iou"] == pytest.approx(
        (by_name["idA"]["iou"] + by_name["idB"]["iou"]) / 2
    )
    assert not math.isnan(res.averages["id"]["auc"])

    # the saved summary says the same, next to the paper's row
    saved = json.loads((out / "summary.json").read_text())
    assert saved["averages"]["id"]["f1"] == pytest.approx(res.id_average)
    assert saved["averages"]["ood"]["f1"] == pytest.approx(res.ood_average)
    assert [d["f1"] for d in saved["datasets"]] == pytest.approx([f1[n] for n in f1])
    csv_lines = (out / "summary.csv").read_text().splitlines()
    assert csv_lines[0].startswith("group,dataset,images,f1,iou,auc")
    assert csv_lines[-2].startswith("ID,average,") and csv_lines[-1].startswith("OOD,average,")
    md = (out / "summary.md").read_text()
    assert "| BoxPromptIML (paper) | – | – | 0.619 | 0.285 |" in md
    assert f"**{res.id_average:.3f}**" in md and f"**{res.ood_average:.3f}**" in md
    assert PAPER_AVERAGES == {"id": 0.619, "ood": 0.285}

    # boxes were simulated from the masks, and the summary says so
    [train] = res.training
    assert train["boxes"].startswith("simulated boxes (margin 0.1, seed 0)")
    assert train["pseudo_masks"] == 7  # 8 images, 1 size-mismatched pair skipped
    assert any("simulated boxes" in n for n in res.notes)
    boxes = json.loads((out / "boxes" / "toy-train.json").read_text())
    assert boxes["info"]["annotator"]["margin"] == 0.1 and boxes["info"]["annotator"]["seed"] == 0
    assert (out / "train" / "last.pt").is_file() and (out / "pseudo" / "toy-train").is_dir()
    assert all(v.startswith("ran") for v in res.stages.values()) and len(res.stages) == 9
    resolved = json.loads((out / "protocol.json").read_text())
    assert resolved["train_sets"][0]["path"] == str(config.parent / "data" / "train")


def test_rerun_skips_finished_stages(
    finished: tuple[Path, Path, ProtocolResult], capsys: pytest.CaptureFixture[str]
) -> None:
    config, out, first = finished
    watched = [
        out / "train" / "last.pt",
        out / "boxes" / "toy-train.json",
        out / "pseudo" / "toy-train" / "manifest.json",
        out / "predict" / "idA" / "maps" / "s2_0.png",
        out / "eval" / "oodC" / "results.json",
    ]
    mtimes = [p.stat().st_mtime_ns for p in watched]
    # through the command line: everything is done, so this only prints the table
    assert main(["protocol", str(config), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "train: done" in printed and "BoxPromptIML (paper)" in printed
    assert [p.stat().st_mtime_ns for p in watched] == mtimes

    again = run_protocol(config, out, progress=False)
    assert set(again.stages.values()) == {"skipped (done)"}
    assert again.id_average == pytest.approx(first.id_average)
    assert [p.stat().st_mtime_ns for p in watched] == mtimes

    # without its stage record, the train stage hands the run to fit(resume=True), which
    # finds it complete: no new epoch, the same checkpoint, so predictions are kept
    (out / "stages" / "train.json").unlink()
    resumed = run_protocol(config, out, progress=False)
    assert resumed.stages["train"].startswith("ran")
    assert resumed.stages["predict/idA"] == "skipped (done)"
    assert [p.stat().st_mtime_ns for p in watched] == mtimes

    # a changed prediction setting redoes predict + evaluate only
    cfg = json.loads(config.read_text())
    cfg["predict"]["batch_size"] = 2
    changed = _write_config(config.parent, cfg, "tiny-predict.json")
    res = run_protocol(changed, out, progress=False)
    assert (
        res.stages["train"] == "skipped (done)"
        and res.stages["pseudo/toy-train"] == "skipped (done)"
    )
    assert res.stages["predict/idA"].startswith("ran") and res.stages["evaluate/idA"].startswith(
        "ran"
    )
    assert (out / "train" / "last.pt").stat().st_mtime_ns == mtimes[0]
    assert res.id_average == pytest.approx(first.id_average, abs=1e-6)

    # a changed training setting is refused: the old run is not silently reused
    cfg["train"]["epochs"] = 7
    with pytest.raises(
        ConfigError, match=r"stage 'train' was finished with other settings \(changed: epochs\)"
    ):
        run_protocol(_write_config(config.parent, cfg, "tiny-epochs.json"), out, progress=False)


# ---------------------------------------------------------------------------- early errors


def test_bad_configs_fail_before_any_work(tmp_path: Path) -> None:
    _write_data(tmp_path)
    out = tmp_path / "run"

    def fails(cfg: dict[str, Any], exc: type[Exception], pattern: str) -> None:
        path = _write_config(tmp_path, cfg, "bad.json")
        with pytest.raises(exc, match=pattern):
            run_protocol(path, out, progress=False)
        assert not out.exists()  # nothing started

    tests = _config()["test_sets"]
    missing_ood = {**tests, "ood": [{"name": "gone", "path": "no-such-set"}]}
    fails(_config(test_sets=missing_ood), DataError, r"data/no-such-set \(test set gone\)")
    missing_train = [{"path": "no-train"}, {"name": "x", "path": "lists/x.json"}]
    with pytest.raises(DataError, match=r"2 path\(s\) not found: .*no-train.*lists/x.json"):
        load_protocol_config(_config(train_sets=missing_train), data_root=tmp_path / "data")

    fails(
        {**_config(), "train_set": []},
        ConfigError,
        r"unknown key 'train_set'; did you mean 'train_sets'",
    )
    fails(_config(teacher={"name": "box", "optoins": {}}), ConfigError, "did you mean 'options'")
    fails(
        _config(teacher={"name": "grabcut", "options": {"iteratons": 2}}),
        ConfigError,
        "did you mean 'iterations'",
    )
    fails(
        _config(teacher={"name": "sma"}), ConfigError, "unknown teacher 'sma'.*did you mean 'sam'"
    )
    fails(_config(train={"epoch": 1}), ConfigError, "unknown key 'epoch'; did you mean 'epochs'")
    fails(_config(train={"lr": -1.0}), ConfigError, "lr must be")
    fails(_config(train={"model": "tinyvit5"}), ConfigError, "did you mean 'tinyvit5m'")
    fails(_config(train={"devices": 4}), ConfigError, "torchrun")
    fails(
        _config(test_sets={"id": [{"path": "idA", "invert_mask": True}]}),
        ConfigError,
        "did you mean 'invert_masks'",
    )
    fails(
        _config(test_sets={"id": ["idA", {"path": "idB", "name": "idA"}]}),
        ConfigError,
        "idA repeats",
    )

    sam = {"name": "sam", "checkpoint": "checkpoints/sam_vit_h_4b8939.pth", "variant": "vit_h"}
    fails(
        _config(teacher=sam),
        DataError,
        r"checkpoints/sam_vit_h_4b8939\.pth \(teacher sam checkpoint\)",
    )
    fails(_config(teacher={"name": "sam"}), ConfigError, "sam teacher needs a checkpoint")
    fails(_config(teacher={"name": "mobile_sam"}), ConfigError, r"mobile_sam\.pt")
    msam = {"name": "mobile_sam", "checkpoint": "checkpoints/mobile_sam.pt"}
    fails(_config(teacher=msam), DataError, r"mobile_sam\.pt \(teacher mobile_sam checkpoint\)")
    fails(
        _config(teacher={"name": "mobile_sam", "checkpoint": "m.pt", "variant": "vit_h"}),
        ConfigError,
        "takes no 'variant'",
    )

    # a listed image that is not on disk is found before the run, not at prediction time
    (tmp_path / "data" / "list.json").write_text(
        json.dumps([["idA/Tp/s2_0.png", "idA/Gt/s2_0.png"], ["idA/Tp/gone.png", "idA/Gt/gone.png"]])
    )
    fails(
        _config(test_sets={"ood": ["list.json"]}),
        DataError,
        r"2 file\(s\) listed by test set list not found: .*gone\.png",
    )

    # the command line prints one line and exits with status 2
    path = _write_config(tmp_path, _config(test_sets=missing_ood), "bad.json")
    assert main(["protocol", str(path), "--out", str(out)]) == 2
    assert not out.exists()


def test_torchrun_runs_only_the_train_stage_after_pseudo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_data(tmp_path)
    path = _write_config(tmp_path, _config())
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ConfigError, match="finish the boxes and pseudo stages first"):
        run_protocol(path, tmp_path / "run", progress=False)


def test_stop_after_pseudo(tmp_path: Path) -> None:
    _write_data(tmp_path)
    res = run_protocol(
        _write_config(tmp_path, _config()), tmp_path / "run", progress=False, stop_after="pseudo"
    )
    assert res.stopped_after == "pseudo" and not res.rows
    assert set(res.stages) == {"boxes/toy-train", "pseudo/toy-train"}
    assert not (tmp_path / "run" / "train").exists()
    assert len(list((tmp_path / "run" / "pseudo" / "toy-train").glob("*.png"))) == 7


# ---------------------------------------------------------------------------- the paper's config


def test_paper_config_parses_and_follows_the_paper(tmp_path: Path) -> None:
    path = REPO / "configs" / "paper-protocol.json"
    cfg = load_protocol_config(path, check_paths=False)
    assert cfg.data_root == REPO / "data"
    train = {s.name: s for s in cfg.train_sets}
    assert {n: s.expected_images for n, s in train.items()} == {
        "CASIAv2": 5123,
        "COVERAGE": 70,
        "Columbia": 130,
        "NIST16": 414,
    }
    assert sum(s.expected_images or 0 for s in cfg.train_sets) == 5737
    assert all(s.boxes is None and not s.authentic for s in cfg.train_sets)
    assert train["NIST16"].invert_masks
    assert {s.name: s.expected_images for s in cfg.test_id} == {
        "NIST16": 150,
        "CASIAv1": 920,
        "Columbia": 50,
        "COVERAGE": 30,
    }
    assert [s.name for s in cfg.test_ood] == ["CocoGlide", "In-the-Wild", "Korus", "IMD2020"]
    assert all(s.path.is_relative_to(REPO / "data") for _, s in cfg.test_sets)
    assert cfg.teacher.name == "sam" and cfg.teacher.options["variant"] == "vit_h"
    assert cfg.teacher.options["checkpoint"] == str(REPO / "checkpoints" / "sam_vit_h_4b8939.pth")
    assert (cfg.annotator.margin, cfg.annotator.seed) == (0.1, 0)
    t = cfg.train
    assert t["model"].backbone == "tiny_vit_5m_224"
    assert (t["epochs"], t["input_size"], t["lr"], t["weight_decay"]) == (20, 224, 1e-4, 1e-4)
    assert cfg.threshold == 0.5
    assert "unknown" in json.loads(path.read_text())["test_sets"]["_comment"]

    # path checks are separate: with another data root, every missing file is named
    moved = load_protocol_config(path, data_root=tmp_path, check_paths=False)
    assert moved.train_sets[0].path == tmp_path / "CASIAv2"
    with pytest.raises(
        DataError,
        match=r"13 path\(s\) not found: .*CASIAv2 \(train set CASIAv2\).*sam_vit_h_4b8939\.pth",
    ):
        moved.check_paths()
    assert main(["protocol", str(path), "--data-root", str(tmp_path), "--check"]) == 2


def test_check_flag_validates_without_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_data(tmp_path)
    path = _write_config(tmp_path, _config())
    assert main(["protocol", str(path), "--check"]) == 0
    assert "valid; 1 training set(s), 3 test set(s), teacher box" in capsys.readouterr().out
    # --data-root overrides the config's data_root
    other = tmp_path / "elsewhere"
    os.rename(tmp_path / "data", other)
    assert main(["protocol", str(path), "--check"]) == 2
    assert main(["protocol", str(path), "--check", "--data-root", str(other)]) == 0
