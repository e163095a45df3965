"""The one-command demo runs end to end on embedded photos (tiny settings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from boxpromptiml.cli import main

pytest.importorskip("torch")


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--n-train", "6", "--n-test", "3", "--epochs", "1",
            "--imgsz", "64", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "held-out pixel F1" in text and "report:" in text
    summary = json.loads((out / "demo.json").read_text())
    assert 0.0 <= summary["test_f1"] <= 1.0 and 0.0 < summary["pseudo_iou"] <= 1.0
    # every stage left its output: pseudo-masks for all training images, a checkpoint,
    # one map per test image (3 forged + authentic), an evaluation and a report
    assert len(list((out / "pseudo").glob("*.png"))) == 6
    assert (out / "train" / "last.pt").is_file()
    assert len(list((out / "predict" / "maps").glob("*.png"))) >= 3
    results = json.loads((out / "eval" / "results.json").read_text())
    assert results["datasets"][0]["summary"]["n_manipulated"] == 3
    html = (out / "eval" / "report.html").read_text()
    assert "Pseudo-label quality" in html and "Training" in html
    # the train and test forgeries come from disjoint photos
    train_m = json.loads((out / "data" / "train" / "manifest.json").read_text())
    test_m = json.loads((out / "data" / "test" / "manifest.json").read_text())
    train_photos = {p["name"] for p in train_m["photos"]}
    test_photos = {p["name"] for p in test_m["photos"]}
    assert train_photos and test_photos and train_photos.isdisjoint(test_photos)
