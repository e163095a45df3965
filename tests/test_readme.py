"""The README's Quick start runs as pasted, and its Python example runs."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def _block(title: str, lang: str) -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(f"## {title}") :]
    m = re.search(rf"```{lang}\n(.*?)```", section, re.S)
    assert m, f"no {lang} block under '## {title}'"
    return m.group(1)


def _shipped() -> bool:
    from boxpromptiml.errors import CheckpointError
    from boxpromptiml.predict.shipped import shipped_model

    try:
        shipped_model()
    except CheckpointError:
        return False
    return True


def test_readme_stays_short() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 250
    assert "session" not in README.read_text(encoding="utf-8").lower()


def test_quick_start_runs_as_pasted(tmp_path: Path) -> None:
    if not _shipped():
        pytest.skip("this checkout ships no model (the first line needs it)")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)).save(
        tmp_path / "photo.jpg"
    )
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    lines = [ln for ln in _block("Quick start", "bash").splitlines() if ln.strip()]
    assert lines[0].startswith(". .venv/bin/activate")
    for line in lines[1:]:
        args = shlex.split(line)
        args += ["--no-progress"] if args[1] in ("synth", "pseudo", "train", "predict",
                                                  "evaluate", "report") else []  # fmt: skip
        proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)  # fmt: skip
        assert proc.returncode == 0, f"{line}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    assert (tmp_path / "runs/predict/shipped/maps/photo.png").is_file()
    assert (tmp_path / "runs/train/mine/last.pt").is_file()
    assert (tmp_path / "runs/evaluate/mine/results.json").is_file()
    (html,) = (tmp_path / "runs/evaluate/mine").glob("*.html")
    assert "maps made by last.pt (torch" in html.read_text(encoding="utf-8")


def test_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not _shipped():
        pytest.skip("this checkout ships no model")
    Image.fromarray(np.full((200, 260, 3), 120, np.uint8)).save(tmp_path / "photo.jpg")
    monkeypatch.chdir(tmp_path)
    exec(compile(_block("Quick start", "python"), "README.md", "exec"), {})
    assert (tmp_path / "runs/predict/py/json/photo.json").is_file()
