"""The robustness section: a robustness run folder (``robustness.json`` and the
``robustness_<family>.png`` plots written by :meth:`boxpromptiml.robust.sweep.RobustResult.save`)
turned into tables of F1/AUC per condition with the drop relative to the clean images, and
the false alarms on untouched images where the run scored some."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from boxpromptiml.errors import DataError
from boxpromptiml.report.page import details, esc, img_tag, is_missing, kv_table, note, table_html

PathLike = str | os.PathLike[str]

#: Columns of the per-dataset robustness table, key -> title.
ROBUST_COLUMNS = {
    "condition": "condition",
    "n": "n",
    "f1": "F1",
    "f1_change": "F1 vs clean",
    "auc": "AUC",
    "auc_change": "AUC vs clean",
    "iou": "IoU",
    "precision": "P",
    "recall": "R",
}

#: Columns added for a dataset with untouched images (false alarms per condition).
UNTOUCHED_COLUMNS = {
    "n_authentic": "untouched",
    "authentic_over_1pct": "untouched > 1 % flagged",
    "authentic_flagged": "untouched px flagged",
    "image_auc": "image AUC",
}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def load_robustness(robust_dir: PathLike) -> dict[str, Any]:
    """Read ``robustness.json`` of a robustness run folder (or the file itself)."""
    p = Path(robust_dir)
    path = p if p.suffix == ".json" else p / "robustness.json"
    if not path.is_file():
        raise DataError(f"{path}: robustness results not found (is it a robustness run folder?)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: malformed JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise DataError(f"{path}: expected an object with a 'rows' list")
    for i, r in enumerate(data["rows"]):
        if not isinstance(r, dict) or not {"dataset", "family", "condition"} <= set(r):
            raise DataError(f"{path}: row {i} lacks dataset/family/condition: {r!r}")
    return data


def _change(value: Any, base: Any) -> str:
    """``+1.2 %`` style relative change of ``value`` against ``base``; ``–`` if undefined."""
    if is_missing(value) or is_missing(base) or not base:
        return "–"
    return f"{(float(value) / float(base) - 1.0) * 100:+.1f} %"


def robustness_html(robust_dir: PathLike) -> str:
    """The body of the robustness section (trusted HTML)."""
    folder = Path(robust_dir)
    folder = folder.parent if folder.suffix == ".json" else folder
    data = load_robustness(robust_dir)
    rows: list[dict[str, Any]] = data["rows"]
    parts = [
        note(
            "Each condition perturbs the manipulated images (the clean row is the unperturbed "
            "baseline) and scores the maps against the unchanged masks; 'vs clean' is the "
            "relative change of the dataset's clean score. Untouched images, where a "
            "dataset has them, are perturbed alike: '> 1 % flagged' is the share of them "
            "with more than 1 % of their pixels at or above the threshold."
        )
    ]
    settings = data.get("settings") or {}
    if settings:
        parts.append(details("settings of the robustness run", kv_table(settings)))
    datasets = list(dict.fromkeys(str(r["dataset"]) for r in rows))
    for name in datasets:
        ds_rows = [r for r in rows if str(r["dataset"]) == name]
        clean = next((r for r in ds_rows if r["family"] == "none"), None)
        shown = []
        for r in ds_rows:
            base_f1 = clean.get("f1") if clean else None
            base_auc = clean.get("auc") if clean else None
            rel = r.get("f1_relative")
            f1_change = (
                f"{(float(rel) - 1.0) * 100:+.1f} %"
                if isinstance(rel, int | float) and not math.isnan(float(rel))
                else _change(r.get("f1"), base_f1)
            )
            shown.append(
                {
                    **r,
                    "f1_change": f1_change,
                    "auc_change": _change(r.get("auc"), base_auc),
                }
            )
        columns = dict(ROBUST_COLUMNS)
        if any(r.get("n_authentic") for r in ds_rows):
            columns.update(UNTOUCHED_COLUMNS)
        parts.append(f"<h3>{esc(name)}</h3>")
        parts.append(table_html(shown, columns, sortable=True))
    families = list(dict.fromkeys(str(r["family"]) for r in rows if r["family"] != "none"))
    plots = [folder / f"robustness_{f}.png" for f in families]
    plots += sorted(p for p in folder.glob("robustness_*.png") if p not in plots)
    missing = [p.name for p in plots if not p.is_file()]
    for p in plots:
        if not p.is_file():
            continue
        data_bytes = p.read_bytes()
        if not data_bytes.startswith(PNG_SIGNATURE):
            missing.append(f"{p.name} (not a PNG)")
            continue
        parts.append(img_tag(data_bytes, "image/png", f"robustness plot {p.stem}", cls="plot"))
    if missing:
        parts.append(note("plots not found: " + ", ".join(missing)))
    problems = data.get("problems") or []
    if problems:
        parts.append(
            details(
                f"{len(problems)} item(s) skipped by the robustness run",
                "<ul>" + "".join(f"<li>{esc(p)}</li>" for p in problems) + "</ul>",
            )
        )
    return "\n".join(parts)
