"""The report in a real headless Chromium: every embedded picture decodes, the page renders.

Skipped when no Chromium is installed (Debian: ``apt-get install -y chromium``); set
``BOXPROMPT_CHROMIUM`` to use another binary. The browser runs with networking features
off and a throw-away profile; the page itself must need no network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from boxpromptiml.report import ReportOptions, build_report, history_html
from tests.test_report import make_run


def chromium() -> str:
    for name in (os.environ.get("BOXPROMPT_CHROMIUM", ""), "chromium", "chromium-browser"):
        path = shutil.which(name) if name else None
        if path:
            return path
    pytest.skip("chromium is not installed (apt-get install -y chromium)")


def run_chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",  # CI containers run as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture
def report(tmp_path: Path) -> tuple[Path, int]:
    chromium()  # skip before building anything when there is no browser
    paths = make_run(tmp_path / "run")
    out = build_report(
        paths["eval"],
        tmp_path / "report.html",
        pseudo_dirs={"toy": paths["pseudo"]},
        robust_dir=paths["robust"],
        extra={"Training": history_html(paths["log"])},
        options=ReportOptions(top_k=2),
    )
    n_img = out.read_text(encoding="utf-8").count("<img ")
    return out, n_img


def test_renders_in_chromium(report: tuple[Path, int], tmp_path: Path) -> None:
    page, n_img = report
    assert n_img > 20
    res = run_chromium(["--dump-dom", page.as_uri()], tmp_path / "profile1")
    assert res.returncode == 0, res.stderr[-2000:]
    body = re.search(r"<body[^>]*>", res.stdout)
    assert body, res.stdout[:500]
    # set by the page's own script once every <img> has naturalWidth > 0
    assert f'data-images-decoded="{n_img}/{n_img}"' in body.group(0)
    assert 'data-render="ok"' in body.group(0)


def test_screenshot(report: tuple[Path, int], tmp_path: Path) -> None:
    page, _ = report
    shot = tmp_path / "shot.png"
    res = run_chromium(
        [f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri()], tmp_path / "profile2"
    )
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    with Image.open(shot) as im:
        assert im.size == (1280, 2000)
        grey = im.convert("L")
        lo, hi = grey.getextrema()
        assert hi - lo > 100  # not a blank page
        # the dark header band is drawn at the top
        assert grey.getpixel((640, 10)) < 80
