"""``evaluate`` and the ``boxprompt`` CLI around it, end to end on files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from boxpromptiml.cli import main
from boxpromptiml.data.images import load_mask
from boxpromptiml.data.sources import load_dataset
from boxpromptiml.errors import DataError
from boxpromptiml.evaluate import evaluate, evaluate_dataset
from boxpromptiml.metrics import pixel_scores


def _write_preds(ds_root: Path, out: Path, fn) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for m in sorted((ds_root / "Gt").iterdir()):
        fn(out, m.stem, load_mask(m))
    return out


def test_perfect_and_inverted_predictions(small_dataset: Path, tmp_path: Path) -> None:
    ds = load_dataset(small_dataset)
    perfect = _write_preds(
        small_dataset,
        tmp_path / "p1",
        lambda o, s, m: np.save(o / f"{s}.npy", m.astype(np.float32)),
    )
    res = evaluate_dataset(ds, perfect, progress=False)
    assert res.summary["f1"] == pytest.approx(1.0) and res.summary["iou"] == pytest.approx(1.0)
    inv = _write_preds(
        small_dataset,
        tmp_path / "p2",
        lambda o, s, m: Image.fromarray((~m).astype(np.uint8) * 255).save(o / f"{s}.png"),
    )
    res = evaluate_dataset(ds, inv, progress=False)
    assert res.summary["f1"] == pytest.approx(0.0)
    assert res.summary["permuted_f1"] == pytest.approx(1.0)
    assert res.summary["auc"] == pytest.approx(0.0)


def test_matches_per_image_metric_after_resize(small_dataset: Path, tmp_path: Path) -> None:
    """Maps at another resolution are resized bilinearly to the mask, then scored."""
    ds = load_dataset(small_dataset)
    rng = np.random.default_rng(0)
    maps = {}

    def write(o: Path, s: str, m: np.ndarray) -> None:
        maps[s] = rng.random((20, 25)).astype(np.float32)
        np.save(o / f"{s}.npy", maps[s])

    pred = _write_preds(small_dataset, tmp_path / "p", write)
    res = evaluate_dataset(ds, pred, progress=False)
    import cv2

    f1s = []
    for s in ds:
        m = load_mask(s.mask)  # type: ignore[arg-type]
        up = np.clip(cv2.resize(maps[s.name], (50, 40), interpolation=cv2.INTER_LINEAR), 0, 1)
        f1s.append(pixel_scores(up, m)["f1"])
    assert res.summary["f1"] == pytest.approx(float(np.mean(f1s)), abs=1e-9)


def test_missing_predictions(small_dataset: Path, tmp_path: Path) -> None:
    ds = load_dataset(small_dataset)
    pred = tmp_path / "p"
    pred.mkdir()
    np.save(pred / "img0.npy", np.ones((40, 50), np.float32))
    with pytest.raises(DataError, match=r"no prediction for 2 of 3.*img1, img2"):
        evaluate_dataset(ds, pred, progress=False)
    assert (
        evaluate_dataset(ds, pred, on_missing_pred="skip", progress=False).summary["n_manipulated"]
        == 1
    )
    zero = evaluate_dataset(ds, pred, on_missing_pred="zero", progress=False)
    assert zero.summary["n_manipulated"] == 3


def test_authentic_kept_out_of_pixel_metrics(small_dataset: Path, tmp_path: Path) -> None:
    (small_dataset / "Au").mkdir()
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(small_dataset / "Au" / "real.png")
    ds = load_dataset(small_dataset)
    pred = _write_preds(
        small_dataset, tmp_path / "p", lambda o, s, m: np.save(o / f"{s}.npy", m.astype(np.float32))
    )
    np.save(pred / "real.npy", np.full((40, 50), 0.9, np.float32))  # a false alarm
    res = evaluate_dataset(ds, pred, progress=False)
    assert res.summary["f1"] == pytest.approx(1.0)  # pixel metrics untouched by "real"
    assert res.summary["n_authentic"] == 1
    # image scores: three manipulated at 1.0, authentic at 0.9 -> AUC 1, balanced acc 0.5
    assert res.summary["image_auc"] == pytest.approx(1.0)
    assert res.summary["image_balanced_acc"] == pytest.approx(0.5)


def test_cli_evaluate_outputs(
    small_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pred = _write_preds(
        small_dataset, tmp_path / "p", lambda o, s, m: np.save(o / f"{s}.npy", m.astype(np.float32))
    )
    out = tmp_path / "run"
    rc = main(
        [
            "evaluate",
            f"mine={small_dataset}",
            f"again={small_dataset}",
            "--pred",
            str(pred),
            str(pred),
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "mine" in text and "again" in text and "average" in text
    res = json.loads((out / "results.json").read_text())
    assert [d["name"] for d in res["datasets"]] == ["mine", "again"]
    assert res["average"]["f1"] == pytest.approx(1.0)
    assert len(res["datasets"][0]["images"]) == 3
    per_image = (out / "per_image.csv").read_text().splitlines()
    assert len(per_image) == 1 + 6 and per_image[0].startswith("dataset,name")
    assert (out / "summary.csv").read_text().splitlines()[-1].startswith("average")


def test_cli_errors_are_one_line(
    small_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["evaluate", str(small_dataset), "--pred", str(empty)], "no predicted maps found"),
        (["evaluate", str(tmp_path / "nope"), "--pred", str(empty)], "dataset not found"),
        (["evaluate", str(small_dataset)], "1 dataset(s) but 0 prediction folder(s)"),
    ]
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{oops")
    cases.append((["evaluate", str(bad_json), "--pred", str(empty)], "bad.json: malformed JSON"))
    corrupt = small_dataset / "Gt" / "img0.png"
    for argv, expected in cases:
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc == 2, argv
        assert expected in err, (argv, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    # a corrupt mask is skipped and named, the others still evaluated
    pred = _write_preds(
        small_dataset, tmp_path / "p", lambda o, s, m: np.save(o / f"{s}.npy", m.astype(np.float32))
    )
    corrupt.write_bytes(b"not a png")
    rc = main(
        [
            "evaluate",
            str(small_dataset),
            "--pred",
            str(pred),
            "--out",
            str(tmp_path / "o"),
            "--no-progress",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "img0.png" in out and "skipped" in out


def test_cli_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--example", "--out", str(tmp_path / "ex"), "--no-progress"]) == 0
    summary = json.loads((tmp_path / "ex" / "results.json").read_text())["datasets"][0]["summary"]
    assert summary["n_manipulated"] == 5 and summary["n_authentic"] == 1
    assert 0.5 < summary["f1"] < 1.0


def test_cli_boxes(small_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "b.json"
    assert main(["boxes", str(small_dataset), "-o", str(out), "--margin", "0"]) == 0
    data = json.loads(out.read_text())
    assert len(data["images"]) == 3 and len(data["annotations"]) == 3
    assert data["annotations"][0]["bbox"] == [10.0, 5.0, 20.0, 15.0]
    # an existing box file (perhaps hand-made) is never replaced without --force
    out.write_text("{}")
    assert main(["boxes", str(small_dataset), "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_text() == "{}"
    assert main(["boxes", str(small_dataset), "-o", str(out), "--force"]) == 0
    assert json.loads(out.read_text())["annotations"]
    assert main(["boxes", str(small_dataset), "-o", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_coverage_gt_as_prediction(
    coverage_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["evaluate", str(coverage_root), "--pred", str(coverage_root / "Gt")])
    err = capsys.readouterr().err
    assert rc == 2 and "9 image/mask pair(s) differ in size" in err
    split = json.loads((coverage_root / "split.json").read_text())
    assert all(s in err for s in split["size_mismatch"])
    ds = load_dataset(coverage_root)
    res = evaluate([ds], [coverage_root / "Gt"], on_size_mismatch="skip", progress=False)
    s = res.datasets[0].summary
    assert s["n_manipulated"] == 91 and s["n_skipped"] == 9
    assert s["f1"] == pytest.approx(1.0) and s["iou"] == pytest.approx(1.0)
