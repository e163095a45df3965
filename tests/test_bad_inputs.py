"""A corpus of bad inputs, made at test time, through every command.

Each case must end in a clear one-line error naming the file (exit 2), or in
skip-and-list with the rest done (exit 0); never in a traceback. ``CASES`` is counted in
the README's reliability section.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from boxpromptiml.cli import main

Case = tuple[str, Callable[[Path], list[str]], int, str]


def _png(path: Path, size: int = 32, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), np.uint8)).save(path)
    return path


def _mask(path: Path, size: int = 32) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    m = np.zeros((size, size), np.uint8)
    m[8:20, 8:20] = 255
    Image.fromarray(m).save(path)
    return path


def _bomb(path: Path) -> Path:
    """A valid PNG header claiming 60000 × 60000 pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def _junk(path: Path, data: bytes = b"this is not an image") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _dataset(root: Path, n: int = 3) -> Path:
    for i in range(n):
        _png(root / "Tp" / f"i{i}.png", seed=i)
        _mask(root / "Gt" / f"i{i}.png")
    return root


def _mixed_folder(root: Path) -> Path:
    """One good image and every kind of bad file."""
    _png(root / "good.png")
    _junk(root / "text.png")
    _junk(root / "empty.jpg", b"")
    _junk(root / "truncated.png", (root / "good.png").read_bytes()[:60])
    _bomb(root / "bomb.png")
    return root


def _coco(path: Path, dataset: Path, **changes: object) -> Path:
    images = sorted((dataset / "Tp").glob("*.png"))
    data: dict[str, object] = {
        "images": [
            {"id": k, "file_name": p.name, "width": 32, "height": 32} for k, p in enumerate(images)
        ],
        "annotations": [
            {"id": k, "image_id": k, "category_id": 1, "bbox": [6, 6, 16, 16]}
            for k in range(len(images))
        ],
        "categories": [{"id": 1, "name": "manipulated"}],
    }
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _checkpoint_like(path: Path) -> Path:
    torch.save({"weights": torch.zeros(3)}, path)
    return path


# ---------------------------------------------------------------------------- the cases
# (id, argv builder, expected exit status, text the output must hold)
CASES: list[Case] = [
    # predict: bad files are skipped and listed, the good one is done
    ("predict-mixed-folder", lambda t: ["predict", str(_mixed_folder(t / "in")), "-o", str(t / "o")], 0, "skipped"),
    ("predict-only-bad", lambda t: ["predict", str(_junk(t / "x.png")), "-o", str(t / "o")], 1, "skipped"),
    ("predict-missing", lambda t: ["predict", str(t / "gone.png")], 2, "gone.png"),
    ("predict-list-not-utf8", lambda t: ["predict", str(_junk(t / "l.txt", b"\xff\xfe\x00bad"))], 2, "l.txt"),
    ("predict-model-junk", lambda t: ["predict", str(_png(t / "a.png")), "--model", str(_junk(t / "m.pt"))], 2, "m.pt"),
    ("predict-model-not-student", lambda t: ["predict", str(_png(t / "a.png")), "--model", str(_checkpoint_like(t / "m.pt"))], 2, "m.pt"),
    ("predict-threads", lambda t: ["predict", str(_png(t / "a.png")), "--threads", "-1"], 2, "threads"),
    ("predict-out-is-file", lambda t: ["predict", str(_png(t / "a.png")), "-o", str(_junk(t / "f"))], 2, "f"),
    ("predict-split-missing", lambda t: ["predict", str(_png(t / "a.png")), "--split", f"{t}/s.json:test"], 2, "s.json"),
    # evaluate
    ("evaluate-corrupt-map", lambda t: ["evaluate", str(_dataset(t / "d")), "--pred", str(_corrupt_maps(t)), "-o", str(t / "o")], 0, "skipped"),
    ("evaluate-missing-dataset", lambda t: ["evaluate", str(t / "nope"), "--pred", str(t)], 2, "nope"),
    ("evaluate-bomb-mask", lambda t: ["evaluate", str(_bomb_mask(t / "d")), "--pred", str(t / "d" / "Gt"), "-o", str(t / "o"), "--on-missing-pred", "skip"], 0, "skipped"),
    # boxes
    ("boxes-corrupt-mask", lambda t: ["boxes", str(_corrupt_mask(t / "d")), "-o", str(t / "b.json")], 0, ""),
    ("boxes-out-is-folder", lambda t: ["boxes", str(_dataset(t / "d")), "-o", str(t)], 2, "folder"),
    # pseudo: bad box files are one line; bad boxes are listed
    ("pseudo-coco-not-json", lambda t: ["pseudo", str(_dataset(t / "d") / "Tp"), "--boxes", str(_junk(t / "b.json")), "-t", "box", "-o", str(t / "p")], 2, "b.json"),
    ("pseudo-categories-string", lambda t: ["pseudo", str(_dataset(t / "d") / "Tp"), "--boxes", str(_coco(t / "b.json", t / "d", categories="manipulated")), "-t", "box", "-o", str(t / "p")], 2, "b.json"),
    ("pseudo-bbox-string", lambda t: ["pseudo", str(_dataset(t / "d") / "Tp"), "--boxes", str(_coco(t / "b.json", t / "d", annotations=[{"id": 0, "image_id": 0, "category_id": 1, "bbox": "5555"}])), "-t", "box", "-o", str(t / "p")], 2, "b.json"),
    ("pseudo-nan-zero-outside-boxes", lambda t: ["pseudo", str(_dataset(t / "d") / "Tp"), "--boxes", str(_coco(t / "b.json", t / "d", annotations=[{"id": 0, "image_id": 0, "category_id": 1, "bbox": [float("nan"), 1, 5, 5]}, {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 0, 0]}, {"id": 2, "image_id": 2, "category_id": 1, "bbox": [500, 500, 9, 9]}])), "-t", "box", "-o", str(t / "p")], 0, "box-file problem"),
    ("pseudo-todo-entry", lambda t: ["pseudo", str(_dataset(t / "d") / "Tp"), "--boxes", str(_coco(t / "b.json", t / "d", images=[{"id": 0, "file_name": "i0.png", "width": 32, "height": 32, "status": "todo"}], annotations=[])), "-t", "box", "-o", str(t / "p")], 0, "box-file problem"),
    ("pseudo-corrupt-image", lambda t: ["pseudo", str(_corrupt_image(t / "d") / "Tp"), "--boxes", str(_coco(t / "b.json", t / "d")), "-t", "box", "-o", str(t / "p")], 0, ""),
    ("pseudo-mobile-sam-no-checkpoint", lambda t: ["pseudo", str(_dataset(t / "d") / "Tp"), "--boxes", str(_coco(t / "b.json", t / "d")), "-t", "mobile_sam", "-o", str(t / "p")], 2, "mobile_sam.pt"),
    ("pseudo-mobile-sam-junk-checkpoint", lambda t: ["pseudo", str(_dataset(t / "d") / "Tp"), "--boxes", str(_coco(t / "b.json", t / "d")), "-t", "mobile_sam", "--checkpoint", str(_checkpoint_like(t / "m.pt")), "-o", str(t / "p")], 2, "m.pt"),
    ("pseudo-out-holds-inputs", lambda t: ["pseudo", str(_dataset(t / "d") / "Tp"), "--boxes", str(_coco(t / "b.json", t / "d")), "-t", "box", "-o", str(t / "d" / "Tp")], 2, "Tp"),
    # train: a bad image is skipped and listed, the run goes on
    ("train-corrupt-image", lambda t: ["train", str(_corrupt_image(t / "d")), "--gt", "--model", "test_efficientnet", "--pretrained", "none", "--epochs", "1", "--batch", "2", "--imgsz", "32", "--workers", "0", "-o", str(t / "r"), "--no-progress"], 0, "skipped"),
    ("train-resume-new-flags", lambda t: ["train", "--resume", str(t), "--epochs", "5"], 2, "--epochs"),
    ("evaluate-tiny-map", lambda t: ["evaluate", str(_dataset(t / "d")), "--pred", str(_tiny_maps(t)), "-o", str(t / "o")], 0, "resized"),
    ("evaluate-other-aspect-map", lambda t: ["evaluate", str(_dataset(t / "d")), "--pred", str(_tiny_maps(t, (8, 16))), "-o", str(t / "o")], 2, "aspect"),
    ("train-resume-empty", lambda t: ["train", "--resume", str(t)], 2, "last.pt"),
    # synth
    ("synth-only-bad-photos", lambda t: ["synth", str(_junk(t / "ph" / "a.png")), "--n", "2", "-o", str(t / "s")], 2, "photo"),
    # checkpoints given to the other commands
    ("export-junk", lambda t: ["export", "--model", str(_junk(t / "m.pt")), "-o", str(t / "m.onnx")], 2, "m.pt"),
    ("soup-junk", lambda t: ["soup", str(_junk(t / "a.pt")), str(_junk(t / "b.pt")), "-o", str(t / "s.pt")], 2, "a.pt"),
    ("bench-junk", lambda t: ["bench", "--model", str(_junk(t / "m.pt")), "-o", str(t / "b")], 2, "m.pt"),
    ("robust-junk", lambda t: ["robust", str(_dataset(t / "d")), "--model", str(_junk(t / "m.pt")), "-o", str(t / "r")], 2, "m.pt"),
    # annotate and demo: refused before a server starts or any work is done
    ("annotate-box-file-not-json", lambda t: ["annotate", str(_png(t / "im" / "a.png").parent), "-o", str(_junk(t / "b.json"))], 2, "b.json"),
    ("annotate-empty-folder", lambda t: ["annotate", str(_empty(t / "im")), "-o", str(t / "b.json")], 2, "im"),
    ("annotate-empty-token", lambda t: ["annotate", str(_png(t / "im" / "a.png").parent), "-o", str(t / "b.json"), "--host", "0.0.0.0", "--token", ""], 2, "token"),
    ("demo-missing-photos", lambda t: ["demo", "--photos", str(t / "gone"), "-o", str(t / "d")], 2, "gone"),
    # configs and run folders
    ("report-not-a-run", lambda t: ["report", str(t)], 2, "w"),
    ("protocol-not-json", lambda t: ["protocol", str(_junk(t / "c.json"))], 2, "c.json"),
    ("recipe-unknown-setting", lambda t: ["recipe", "general-tiny", "--set", "epoch=2", "-o", str(t / "r")], 2, "epoch"),
    ("recipe-config-not-json", lambda t: ["recipe", "general-tiny", "--config", str(_junk(t / "c.json")), "-o", str(t / "r")], 2, "c.json"),
]  # fmt: skip


def _empty(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _corrupt_maps(t: Path) -> Path:
    maps = t / "maps"
    _mask(maps / "i0.png")
    _mask(maps / "i1.png")
    _junk(maps / "i2.png")
    return maps


def _tiny_maps(t: Path, hw: tuple[int, int] = (8, 8)) -> Path:
    """Maps far smaller than their masks (one of another aspect ratio when ``hw`` says so)."""
    maps = t / "maps"
    maps.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        Image.fromarray(np.full(hw, 200, np.uint8)).save(maps / f"i{i}.png")
    return maps


def _bomb_mask(root: Path) -> Path:
    _dataset(root)
    _bomb(root / "Gt" / "i1.png")
    return root


def _corrupt_mask(root: Path) -> Path:
    _dataset(root)
    _junk(root / "Gt" / "i1.png")
    return root


def _corrupt_image(root: Path) -> Path:
    _dataset(root, 4)
    _junk(root / "Tp" / "i1.png")
    return root


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_never_crashes(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, build, status, text = case
    torch.set_num_threads(1)
    monkeypatch.chdir(tmp_path)
    work = tmp_path / "w"
    work.mkdir()
    argv = build(work)
    rc = main(argv)  # an uncaught exception fails the test with its traceback
    out = capsys.readouterr()
    both = out.out + out.err
    assert "Traceback" not in both
    assert rc == status, both[-2000:]
    if rc == 2:
        errors = [line for line in out.err.splitlines() if line.startswith("boxprompt")]
        assert len(errors) == 1, out.err
        assert text in errors[0], errors[0]
    elif text:
        assert text in both.lower(), both[-2000:]


def test_readme_counts_the_corpus() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    commands = {c[0].split("-")[0] for c in CASES}
    assert f"corpus of {len(CASES)} bad inputs" in readme
    assert f"through {len(commands)} commands" in readme
