"""The pseudo-labelling pipeline: outputs, manifest, resumability, bad input, quality, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from boxpromptiml.cli import main
from boxpromptiml.data.boxes import BoxFile, ImageBoxes, read_coco, write_coco
from boxpromptiml.data.images import load_map
from boxpromptiml.data.sources import load_dataset
from boxpromptiml.errors import ConfigError, DataError
from boxpromptiml.teachers import build_teacher
from boxpromptiml.teachers import pseudo as P
from boxpromptiml.teachers.pseudo import pseudo_label
from boxpromptiml.teachers.quality import pseudo_quality, score_mask


def make_dataset(root: Path, n: int = 4, authentic: int = 1) -> tuple[Path, Path]:
    """``root/Tp`` + ``root/Gt`` with ``n`` red-square forgeries (64x80) and ``authentic``
    unmasked images in ``root/Au``; returns (root, COCO box file with boxes at 4 px margin)."""
    rng = np.random.default_rng(0)
    entries = []
    for d in ("Tp", "Gt", "Au"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.clip(rng.normal(110, 10, (64, 80, 3)), 0, 255).astype(np.uint8)
        mask = np.zeros((64, 80), bool)
        y, x = 10 + 3 * i, 15 + 4 * i
        mask[y : y + 25, x : x + 30] = True
        img[mask] = (220, 30, 30)
        Image.fromarray(img).save(root / "Tp" / f"im{i}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(root / "Gt" / f"im{i}.png")
        entries.append(
            ImageBoxes(f"im{i}.png", 80, 64, np.array([[x - 4.0, y - 4.0, x + 34.0, y + 29.0]]))
        )
    for j in range(authentic):
        img = np.clip(rng.normal(110, 10, (64, 80, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / "Au" / f"au{j}.png")
        entries.append(ImageBoxes(f"au{j}.png", 80, 64, np.zeros((0, 4))))
    box_file = write_coco(root / "boxes.json", BoxFile(entries))
    return root, box_file


def images_of(root: Path) -> list[Path]:
    return [root / "Tp", root / "Au"]


def test_pseudo_label_writes_masks_and_manifest(tmp_path: Path) -> None:
    root, boxes = make_dataset(tmp_path / "ds")
    out = tmp_path / "out"
    res = pseudo_label(images_of(root), boxes, out, "grabcut", progress=False)
    assert sorted(res.labelled) == ["au0", "im0", "im1", "im2", "im3"]
    assert not res.failed and not res.missing and not res.unboxed
    for i in range(4):
        m = load_map(out / f"im{i}.png")
        assert m.shape == (64, 80)
        gt = np.asarray(Image.open(root / "Gt" / f"im{i}.png")) > 127
        assert score_mask(m, gt)["iou"] > 0.9
    assert not load_map(out / "au0.png").any()  # authentic: all zero
    man = json.loads((out / "manifest.json").read_text())
    assert man["teacher"]["name"] == "grabcut" and man["teacher"]["checkpoint"] == "none"
    assert man["encoding"] == "probability"
    rec = man["images"]["im0"]
    assert rec["file"] == "im0.png" and rec["size"] == [64, 80]
    assert len(rec["boxes"]) == len(rec["confidence"]) == len(rec["fallback"]) == 1
    assert man["images"]["au0"]["boxes"] == []
    assert man["summary"]["images"] == 5 and man["summary"]["authentic"] == 1
    assert not list(out.glob(".*"))  # no temporary files left


def test_binary_encoding(tmp_path: Path) -> None:
    root, boxes = make_dataset(tmp_path / "ds", n=1, authentic=0)
    pseudo_label(root / "Tp", boxes, tmp_path / "out", "box", binary=True, progress=False)
    values = set(np.unique(np.asarray(Image.open(tmp_path / "out" / "im0.png"))).tolist())
    assert values == {0, 255}


def test_resume_after_a_killed_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, boxes = make_dataset(tmp_path / "ds", n=4, authentic=0)
    out = tmp_path / "out"
    real = P.label_one
    calls: list[str] = []

    def dying(teacher, task, binary):  # type: ignore[no-untyped-def]
        if len(calls) == 2:
            raise KeyboardInterrupt  # the run is killed while labelling the third image
        calls.append(task.stem)
        return real(teacher, task, binary)

    monkeypatch.setattr(P, "label_one", dying)
    with pytest.raises(KeyboardInterrupt):
        pseudo_label(root / "Tp", boxes, out, "grabcut", progress=False)
    man = json.loads((out / "manifest.json").read_text())
    assert sorted(man["images"]) == sorted(calls)
    assert sorted(p.stem for p in out.glob("*.png")) == sorted(calls)
    assert not list(out.glob(".*"))

    (out / ".im3.k1ll3d.png").write_bytes(b"half a PNG")  # left by a process killed mid-write
    monkeypatch.setattr(P, "label_one", real)
    res = pseudo_label(root / "Tp", boxes, out, "grabcut", progress=False)
    assert not list(out.glob(".*"))
    assert sorted(res.resumed) == sorted(calls)
    assert sorted(res.labelled) == sorted({"im0", "im1", "im2", "im3"} - set(calls))
    # a PNG deleted by hand is made again; a manifest entry without its PNG too
    (out / "im0.png").unlink()
    res = pseudo_label(root / "Tp", boxes, out, "grabcut", progress=False)
    assert res.labelled == ["im0"] and len(res.resumed) == 3
    res = pseudo_label(root / "Tp", boxes, out, "grabcut", progress=False)
    assert res.labelled == [] and len(res.resumed) == 4
    # a box moved in the box file: that image is labelled again, the others are kept
    bf = read_coco(boxes)
    bf.images[1].boxes = bf.images[1].boxes + 2.0
    moved = write_coco(tmp_path / "moved.json", bf)
    res = pseudo_label(root / "Tp", moved, out, "grabcut", progress=False)
    assert res.labelled == [bf.images[1].file_name.split(".")[0]] and len(res.resumed) == 3


def test_other_teacher_in_the_same_folder_is_refused(tmp_path: Path) -> None:
    root, boxes = make_dataset(tmp_path / "ds", n=1, authentic=0)
    out = tmp_path / "out"
    pseudo_label(root / "Tp", boxes, out, "box", progress=False)
    with pytest.raises(DataError, match="another teacher"):
        pseudo_label(root / "Tp", boxes, out, "grabcut", progress=False)
    with pytest.raises(DataError, match="another encoding"):
        pseudo_label(root / "Tp", boxes, out, "box", binary=True, progress=False)
    res = pseudo_label(root / "Tp", boxes, out, "grabcut", overwrite=True, progress=False)
    assert res.labelled == ["im0"]


def test_output_folders_holding_inputs_are_refused(tmp_path: Path) -> None:
    from boxpromptiml.data.sources import load_dataset

    root, boxes = make_dataset(tmp_path / "ds", n=2, authentic=0)
    before = {p: p.read_bytes() for p in (root / "Gt").iterdir()}
    with pytest.raises(ConfigError, match="holds the input images"):
        pseudo_label(root / "Tp", boxes, root / "Tp", "box", progress=False)
    with pytest.raises(ConfigError, match="holds the ground-truth masks"):
        pseudo_label(root / "Tp", boxes, root / "Gt", "box", progress=False, gt=load_dataset(root))
    assert {p: p.read_bytes() for p in (root / "Gt").iterdir()} == before
    (tmp_path / "afile").write_text("x")
    with pytest.raises(DataError, match="is a file, not a folder"):
        pseudo_label(root / "Tp", boxes, tmp_path / "afile", "box", progress=False)


def test_corrupt_missing_and_unboxed_images(tmp_path: Path) -> None:
    root, _ = make_dataset(tmp_path / "ds", n=3, authentic=0)
    (root / "Tp" / "im1.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(root / "Tp" / "extra.png")
    entries = [
        ImageBoxes("im0.png", 80, 64, np.array([[10.0, 5.0, 50.0, 40.0]])),
        ImageBoxes("im1.png", 80, 64, np.array([[10.0, 5.0, 50.0, 40.0]])),
        ImageBoxes("im2.png", 100, 64, np.array([[10.0, 5.0, 50.0, 40.0]])),  # wrong size
        ImageBoxes("gone.png", 80, 64, np.array([[10.0, 5.0, 50.0, 40.0]])),
    ]
    boxes = write_coco(tmp_path / "b.json", BoxFile(entries))
    res = pseudo_label(root / "Tp", boxes, tmp_path / "out", "box", progress=False)
    assert res.labelled == ["im0"]
    assert set(res.failed) == {"im1", "im2"}
    assert "corrupt" in res.failed["im1"] or "not a readable" in res.failed["im1"]
    assert "box file records 100x64" in res.failed["im2"]
    assert res.missing == ["gone"] and res.unboxed == ["extra"]
    man = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert set(man["failed"]) == {"im1", "im2"} and man["missing"] == ["gone"]
    assert man["unboxed"] == ["extra"]


def test_batched_and_parallel_runs_match_the_plain_run(tmp_path: Path) -> None:
    root, boxes = make_dataset(tmp_path / "ds", n=3, authentic=1)
    plain = pseudo_label(images_of(root), boxes, tmp_path / "a", "grabcut", progress=False)
    batched = pseudo_label(
        images_of(root), boxes, tmp_path / "b", "grabcut", batch_size=3, progress=False
    )
    par = pseudo_label(images_of(root), boxes, tmp_path / "c", "grabcut", workers=2, progress=False)
    for res in (batched, par):
        assert sorted(res.labelled) == sorted(plain.labelled)
        for stem in plain.labelled:
            a = np.asarray(Image.open(tmp_path / "a" / f"{stem}.png"))
            b = np.asarray(Image.open(res.out_dir / f"{stem}.png"))
            np.testing.assert_array_equal(a, b)


def test_api_argument_errors(tmp_path: Path) -> None:
    root, boxes = make_dataset(tmp_path / "ds", n=1, authentic=0)
    with pytest.raises(ConfigError, match="by name"):
        pseudo_label(
            root / "Tp", boxes, tmp_path / "o", build_teacher("box"), workers=2, progress=False
        )
    with pytest.raises(ConfigError, match="not both"):
        pseudo_label(
            root / "Tp", boxes, tmp_path / "o", "box", workers=2, batch_size=2, progress=False
        )


def test_pseudo_quality_against_a_reference(tmp_path: Path) -> None:
    root, boxes = make_dataset(tmp_path / "ds", n=3, authentic=1)
    ds = load_dataset(root)
    res = pseudo_label(ds, boxes, tmp_path / "out", "box", gt=ds, progress=False)
    q = res.quality
    assert q is not None and q.n == 3 and q.teacher["name"] == "box"
    for row in q.rows:  # box 38x33 around a 30x25 square: IoU = 750 / 1254
        assert row["iou"] == pytest.approx(750 / (38 * 33), abs=1e-6)
        assert row["f1"] == pytest.approx(2 * 750 / (750 + 38 * 33), abs=1e-6)
    assert q.mean_iou == pytest.approx(750 / 1254, abs=1e-6)
    saved = json.loads((tmp_path / "out" / "quality.json").read_text())
    assert saved["n"] == 3 and saved["mean_iou"] == round(q.mean_iou, 4)
    (tmp_path / "out" / "im2.png").unlink()
    q2 = pseudo_quality(tmp_path / "out", ds)
    assert q2.missing == ["im2"] and q2.n == 2


def test_cli_pseudo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, boxes = make_dataset(tmp_path / "ds", n=2, authentic=1)
    out = tmp_path / "out"
    args = ["pseudo", str(root), "--boxes", str(boxes), "--out", str(out), "--no-progress"]
    assert main([*args, "--teacher", "grabcut", "-O", "iterations=3", "--gt", str(root)]) == 0
    text = capsys.readouterr().out
    assert "3 labelled" in text and "pseudo-mask quality (grabcut, 2 images)" in text
    assert json.loads((out / "manifest.json").read_text())["teacher"]["options"]["iterations"] == 3
    assert main([*args, "--teacher", "grabcut", "-O", "iterations=3"]) == 0
    assert "0 labelled" in capsys.readouterr().out
    assert main([*args, "--teacher", "grabcut", "-O", "iteration=3"]) == 2
    assert "did you mean 'iterations'" in capsys.readouterr().err
    assert main([*args, "--teacher", "box", "--checkpoint", "x.pth"]) == 2
    assert "only applies to the sam and mobile_sam teachers" in capsys.readouterr().err


def test_pseudo_on_coverage(coverage_root: Path, tmp_path: Path) -> None:
    from boxpromptiml.data.annotator import AnnotatorConfig, annotate_dataset

    ds = load_dataset(coverage_root).subset(["1t", "2t", "3t"])
    box_file = annotate_dataset(ds, AnnotatorConfig(margin=0.1), progress=False)
    res = pseudo_label(ds, box_file, tmp_path / "out", "grabcut", gt=ds, progress=False)
    assert len(res.labelled) == 3 and res.quality is not None
    assert res.quality.n == 3 and res.quality.mean_iou > 0.5


def test_checkpoint_flag_reaches_the_ensembles_sam_family_member() -> None:
    import argparse

    from boxpromptiml.commands.pseudo import _teacher_options, add_arguments

    p = argparse.ArgumentParser()
    add_arguments(p)
    base = ["imgs", "--boxes", "b.json", "--teacher", "ensemble", "--checkpoint", "m.pt"]
    assert _teacher_options(p.parse_args(base))["sam.checkpoint"] == "m.pt"
    small = _teacher_options(p.parse_args([*base, "-O", "members=grabcut,mobile_sam"]))
    assert small["mobile_sam.checkpoint"] == "m.pt" and "sam.checkpoint" not in small
    alone = _teacher_options(p.parse_args(["imgs", "-b", "b.json", "-t", "mobile_sam",
                                           "--checkpoint", "m.pt", "--device", "cpu"]))  # fmt: skip
    assert alone == {"checkpoint": "m.pt", "device": "cpu"}
