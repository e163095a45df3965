"""One CLI grammar: -o/--out, --name, --exist-ok and --split mean the same everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from boxpromptiml.cli import COMMANDS, build_parser, main
from boxpromptiml.data.sources import read_split
from boxpromptiml.errors import DataError

#: commands whose output is a run folder under runs/<task>/<name>
RUN_FOLDER = ("bench", "demo", "evaluate", "predict", "pseudo", "robust", "synth", "train")


def _options(command: str) -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return {o for a in sub.choices[command]._actions for o in a.option_strings}  # type: ignore[attr-defined]


def test_output_options_are_the_same_in_every_command() -> None:
    for command in COMMANDS:
        opts = _options(command)
        if "--out" in opts:
            assert "-o" in opts, f"{command}: --out without -o"
    for command in RUN_FOLDER:
        assert {"-o", "--out", "--name", "--exist-ok"} <= _options(command), command
    for command in ("train", "predict", "evaluate"):
        assert "--split" in _options(command), command
    assert "--batch" in _options("pseudo") and "--batch" in _options("predict")


def test_read_split_errors_name_the_file_and_the_keys(tmp_path: Path) -> None:
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["a", "b"], "test": ["c"]}), encoding="utf-8")
    assert read_split(f"{split}:test") == ("test", ["c"])
    with pytest.raises(DataError, match=r"no split 'val'; it has: train, test"):
        read_split(f"{split}:val")
    with pytest.raises(DataError, match="split file not found"):
        read_split(f"{tmp_path / 'gone.json'}:test")
    with pytest.raises(DataError, match="give FILE:KEY"):
        read_split(str(split))
    split.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(DataError, match="JSON object"):
        read_split(f"{split}:test")


def _dataset(root: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    for sub in ("Tp", "Gt", "pred"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        mask = np.zeros((24, 24), np.uint8)
        mask[4:12, 4:12] = 255
        Image.fromarray(rng.integers(0, 255, (24, 24, 3), np.uint8)).save(root / "Tp" / f"i{i}.png")
        Image.fromarray(mask).save(root / "Gt" / f"i{i}.png")
        Image.fromarray(mask).save(root / "pred" / f"i{i}.png")
    return root


def test_evaluate_split_and_exist_ok(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _dataset(tmp_path / "data", 3)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"test": ["i0", "i2"]}), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    argv = ["evaluate", str(data), "--pred", str(data / "pred"), "--split", f"{split}:test"]
    assert main([*argv, "--no-progress"]) == 0
    res = json.loads((tmp_path / "runs/evaluate/exp/results.json").read_text())
    assert [r["name"] for r in res["datasets"][0]["images"]] == ["i0", "i2"]
    # a rerun makes exp2, unless --exist-ok reuses exp
    assert main([*argv, "--no-progress"]) == 0
    assert (tmp_path / "runs/evaluate/exp2/results.json").is_file()
    assert main([*argv, "--no-progress", "--exist-ok"]) == 0
    assert not (tmp_path / "runs/evaluate/exp3").exists()
    # a split naming images the dataset lacks is one clear line, exit 2
    split.write_text(json.dumps({"test": ["i9"]}), encoding="utf-8")
    capsys.readouterr()
    assert main([*argv, "--no-progress"]) == 2
    assert "not in the dataset: i9" in capsys.readouterr().err


def test_config_file_fills_options_and_the_command_line_wins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from boxpromptiml.cli import _with_config

    cfg = tmp_path / "train.json"
    cfg.write_text(json.dumps({"epochs": 3, "batch": 4, "lr": 0.002, "no-progress": True}))
    argv = ["train", "a,b", "--config", str(cfg), "--lr", "0.1"]
    parser = build_parser()
    args = _with_config(parser, parser.parse_args(argv), argv)
    assert (args.epochs, args.batch, args.lr, args.no_progress) == (3, 4, 0.1, True)
    # the defaults are restored for the next parse
    assert build_parser().parse_args(["train", "a,b"]).epochs == 30
    cfg.write_text(json.dumps({"epoch": 3}))
    assert main(["train", "a,b", "--config", str(cfg)]) == 2
    assert "did you mean 'epochs'" in capsys.readouterr().err
    assert main(["predict", "x.png", "--config", str(tmp_path / "gone.json")]) == 2
    assert "--config file not found" in capsys.readouterr().err


def test_a_folder_of_folders_gives_the_images_of_its_subfolders(tmp_path: Path) -> None:
    from boxpromptiml.data.sources import resolve_images

    for sub in ("kodak", "cbsd"):
        (tmp_path / "photos" / sub).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "photos" / sub / "a.png")
    (tmp_path / "photos" / ".cache").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "photos" / ".cache" / "x.png")
    found = resolve_images(tmp_path / "photos")
    assert [p.relative_to(tmp_path / "photos").as_posix() for p in found] == [
        "cbsd/a.png",
        "kodak/a.png",
    ]
