"""The recorded results stay indexed, and every result file the docs cite exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_results_index_is_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "index_results.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_cited_result_file_exists() -> None:
    missing = []
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for name in re.findall(r"benchmarks/results/([A-Za-z0-9._+-]+\.(?:json|md|png))", text):
            if not (REPO / "benchmarks" / "results" / name).is_file():
                missing.append(f"{doc.name}: {name}")
    assert missing == []
