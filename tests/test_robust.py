"""Robustness sweeps: clean baseline, degradation, determinism and outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from boxpromptiml.data.images import load_mask
from boxpromptiml.data.sources import Sample, load_dataset
from boxpromptiml.robust.sweep import conditions, robustness_sweep


@pytest.fixture
def bright_squares(tmp_path: Path) -> Path:
    """Manipulated region = a bright square on a dark, slightly noisy background."""
    rng = np.random.default_rng(0)
    for sub in ("Tp", "Gt"):
        (tmp_path / sub).mkdir()
    for i in range(4):
        img = rng.normal(40, 5, (48, 64, 3))
        m = np.zeros((48, 64), bool)
        m[8 + i : 24 + i, 10 + 2 * i : 30 + 2 * i] = True
        img[m] = 220
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(tmp_path / "Tp" / f"s{i}.png")
        Image.fromarray(m.astype(np.uint8) * 255).save(tmp_path / "Gt" / f"s{i}.png")
    return tmp_path


def brightness_predictor(images: list[np.ndarray], sample: Sample) -> list[np.ndarray]:
    """A stand-in localizer: the map is the normalised brightness."""
    return [np.clip((im.mean(axis=2) - 40) / 180, 0, 1).astype(np.float32) for im in images]


def test_size_mismatch_policy(bright_squares: Path) -> None:
    from boxpromptiml.data.sources import SizeMismatchError

    Image.fromarray(np.zeros((10, 10), np.uint8)).save(bright_squares / "Gt" / "s0.png")
    ds = load_dataset(bright_squares)
    with pytest.raises(SizeMismatchError, match="s0"):
        robustness_sweep(brightness_predictor, [ds], {"jpeg": [95]}, on_size_mismatch="error",
                         progress=False)  # fmt: skip
    res = robustness_sweep(brightness_predictor, [ds], {"jpeg": [95]}, on_size_mismatch="skip",
                           progress=False)  # fmt: skip
    assert res.rows[0]["n"] == 3 and any("s0" in p for p in res.problems)


def test_sweep_degrades_and_is_deterministic(bright_squares: Path, tmp_path: Path) -> None:
    ds = load_dataset(bright_squares)
    sweep = {"blur": [3, 15], "noise": [3, 60], "jpeg": [95]}
    res = robustness_sweep(brightness_predictor, [ds], sweep, progress=False)
    by = {r["condition"]: r for r in res.rows}
    assert [r["condition"] for r in res.rows] == [c.label for c in conditions(sweep)]
    assert by["clean"]["f1"] > 0.95 and by["clean"]["n"] == 4
    assert by["blur=15"]["f1"] < by["blur=3"]["f1"] <= by["clean"]["f1"] + 1e-9
    assert by["noise=60"]["f1"] < by["noise=3"]["f1"]
    again = robustness_sweep(brightness_predictor, [ds], sweep, progress=False)
    assert again.rows == res.rows  # seeded noise: identical results
    paths = res.save(tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert data["rows"][0]["f1_relative"] == pytest.approx(1.0)
    assert {"plot_blur", "plot_noise", "plot_jpeg"} <= set(paths)
    assert paths["plot_blur"].stat().st_size > 1000
    assert (tmp_path / "out" / "robustness.csv").read_text().startswith("dataset,family,level")


def test_predictor_gets_the_sample(bright_squares: Path) -> None:
    """A box-prompted teacher needs the sample: an oracle reading the mask stays perfect."""
    ds = load_dataset(bright_squares)

    def oracle(images: list[np.ndarray], sample: Sample) -> list[np.ndarray]:
        assert sample.mask is not None
        m = load_mask(sample.mask).astype(np.float32)
        return [m for _ in images]

    res = robustness_sweep(oracle, [ds], {"noise": [23]}, progress=False)
    assert all(r["f1"] == pytest.approx(1.0) for r in res.rows)


def test_bad_images_skipped(bright_squares: Path) -> None:
    (bright_squares / "Tp" / "s0.png").write_bytes(b"broken")
    res = robustness_sweep(
        brightness_predictor, [load_dataset(bright_squares)], {"blur": [3]}, progress=False
    )
    assert res.rows[0]["n"] == 3 and any("s0.png" in p for p in res.problems)


def test_cli_robust_model_and_teacher(bright_squares: Path, tmp_path: Path) -> None:
    """``boxprompt robust`` runs a student checkpoint and a teacher through a short sweep."""
    pytest.importorskip("torch")
    from boxpromptiml.cli import main
    from tests.test_predict import make_checkpoint

    ckpt = make_checkpoint(tmp_path / "ckpt" / "best.pt", size=64)
    out = tmp_path / "rob"
    argv = ["robust", str(bright_squares), "--model", str(ckpt), "--families", "blur",
            "--levels", "blur=3,15", "--out", str(out), "--no-progress", "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    rows = json.loads((out / "robustness.json").read_text())["rows"]
    assert [r["condition"] for r in rows] == ["clean", "blur=3", "blur=15"]
    assert all(r["n"] == 4 and 0.0 <= r["f1"] <= 1.0 for r in rows)
    assert (out / "robustness_blur.png").is_file()

    boxes = tmp_path / "boxes.json"
    assert main(["boxes", str(bright_squares), "-o", str(boxes), "--margin", "0"]) == 0
    out2 = tmp_path / "rob_teacher"
    argv = ["robust", str(bright_squares), "--teacher", "box", "--boxes", str(boxes),
            "--levels", "noise=7", "--families", "noise", "--out", str(out2), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    rows = json.loads((out2 / "robustness.json").read_text())["rows"]
    # tight boxes around the squares: the box teacher is exact, and noise cannot change it
    assert all(r["f1"] == pytest.approx(1.0) for r in rows)


def test_cli_robust_bad_options(bright_squares: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from boxpromptiml.cli import main

    assert main(["robust", str(bright_squares), "--teacher", "box"]) == 2
    assert "--teacher needs --boxes" in capsys.readouterr().err
    assert main(["robust", str(bright_squares), "--teacher", "box", "--boxes", "x.json",
                 "--families", "sepia"]) == 2  # fmt: skip
    assert "unknown family 'sepia'" in capsys.readouterr().err


def _dark_photos(folder: Path, n: int = 3) -> Path:
    """Untouched photos: dark noisy images without any bright region."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.clip(rng.normal(40, 5, (48, 64, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"au{i}.png")
    return folder


def test_untouched_images_give_false_alarms_per_condition(bright_squares: Path) -> None:
    """Au/ images are perturbed like the forged ones: a predictor that lights up on noise
    stays quiet on clean untouched images and flags them all under strong noise."""
    _dark_photos(bright_squares / "Au")
    ds = load_dataset(bright_squares)
    sweep = {"noise": [60]}

    def jumpy(images: list[np.ndarray], sample: Sample) -> list[np.ndarray]:
        """Flags any pixel 30 grey levels above the background: noise too."""
        return [np.clip((im.mean(axis=2) - 40) / 60, 0, 1).astype(np.float32) for im in images]

    res = robustness_sweep(jumpy, [ds], sweep, progress=False)
    clean, noisy = res.rows
    assert clean["n"] == 4 and clean["n_authentic"] == 3
    assert clean["authentic_over_1pct"] == 0.0 and clean["authentic_flagged"] == 0.0
    assert noisy["authentic_over_1pct"] == 1.0 and noisy["authentic_flagged"] > 0.01
    assert clean["image_auc"] == pytest.approx(1.0)  # bright square vs none: separable
    assert noisy["image_auc"] < clean["image_auc"]
    forged_only = robustness_sweep(jumpy, [ds], sweep, untouched=False, progress=False)
    assert forged_only.rows[0]["n_authentic"] == 0
    assert np.isnan(forged_only.rows[0]["authentic_over_1pct"])
    # pixel metrics of the forged images do not change with the untouched ones present
    assert forged_only.rows[0]["f1"] == clean["f1"] and forged_only.rows[1]["f1"] == noisy["f1"]


def test_cli_robust_untouched_photos(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--untouched PHOTOS`` alone sweeps false alarms: rows, plot panel and table."""
    pytest.importorskip("torch")
    from boxpromptiml.cli import main
    from tests.test_predict import make_checkpoint

    photos = _dark_photos(tmp_path / "photos")
    ckpt = make_checkpoint(tmp_path / "ckpt" / "best.pt", size=64)
    out = tmp_path / "rob"
    argv = ["robust", "--untouched", str(photos), "--model", str(ckpt), "--families", "jpeg",
            "--levels", "jpeg=50", "--out", str(out), "--no-progress", "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    rows = json.loads((out / "robustness.json").read_text())["rows"]
    assert [(r["dataset"], r["condition"], r["n"], r["n_authentic"]) for r in rows] == [
        ("photos", "clean", 0, 3),
        ("photos", "jpeg=50", 0, 3),
    ]
    assert all(0.0 <= r["authentic_over_1pct"] <= 1.0 for r in rows)
    assert (out / "robustness_jpeg.png").stat().st_size > 1000
    assert "> 1 % flagged" in capsys.readouterr().out
    # a shipped model by name, with its packaged settings (image score the map's mean)
    argv[argv.index("--model") + 1] = "general-v4"
    assert main(argv) == 0
    assert json.loads((out / "robustness.json").read_text())["settings"]["image_reduce"] == "mean"
    assert main(["robust", "--model", str(ckpt)]) == 2
    assert "give a DATASET, untouched photos" in capsys.readouterr().err
    assert main(["robust", "--untouched", str(tmp_path / "nowhere"), "--model", str(ckpt)]) == 2
    assert "nowhere" in capsys.readouterr().err
