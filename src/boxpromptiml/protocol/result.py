"""The protocol's result: per-dataset pixel F1, ID and OOD averages, next to the paper's row.

The paper's figures are data, not code: ``boxpromptiml/configs/paper.json``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from boxpromptiml.fileio import atomic_write_json, atomic_write_text
from boxpromptiml.tables import jsonable, rows_to_csv

PathLike = str | os.PathLike[str]

__all__ = ["PAPER_AVERAGES", "PAPER_F1", "ProtocolResult"]


def _paper() -> dict[str, Any]:
    text = resources.files("boxpromptiml").joinpath("configs/paper.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


_PAPER = _paper()
#: The paper's BoxPromptIML pixel F1 at 0.5 on its in-distribution test sets (PAPER.md §4).
PAPER_F1: dict[str, float] = dict(_PAPER["boxpromptiml_f1"])
#: The paper's BoxPromptIML ID and OOD averages (the OOD sets are not named in what we read).
PAPER_AVERAGES: dict[str, float] = dict(_PAPER["boxpromptiml_averages"])


def _mean(values: Sequence[Any]) -> float:
    finite = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return sum(finite) / len(finite) if finite else math.nan


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _paper_f1(name: str) -> float | None:
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    for k, v in PAPER_F1.items():
        if re.sub(r"[^a-z0-9]", "", k.lower()) == key:
            return v
    return None


@dataclass
class ProtocolResult:
    """What :func:`run_protocol` did.

    ``rows``: one dict per test set (``group`` "ID"/"OOD", ``dataset``, ``images``
    manipulated images scored, ``f1``, ``iou``, ``auc``, ``paper_f1``, ``skipped``);
    ``averages``: ``{"id": {"f1", "iou", "auc"}, "ood": {...}}``, unweighted means of the
    per-dataset values (NaN for an empty group); ``training``: one dict per training set
    (images, boxes source, pseudo-masks, pseudo-mask quality); ``stages``: per stage id,
    "ran (… s)" or "skipped (done)"; ``stopped_after``: the last stage run when stopped
    early (then ``rows`` is empty and no summary is written).
    """

    out_dir: Path
    name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    averages: dict[str, dict[str, float]] = field(default_factory=dict)
    training: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stages: dict[str, str] = field(default_factory=dict)
    stopped_after: str | None = None
    threshold: float = 0.5
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def id_average(self) -> float:
        """ID average pixel F1 (mean of the ID sets' F1s)."""
        return self.averages.get("id", {}).get("f1", math.nan)

    @property
    def ood_average(self) -> float:
        """OOD average pixel F1 (mean of the OOD sets' F1s)."""
        return self.averages.get("ood", {}).get("f1", math.nan)

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "name": self.name,
                "out_dir": str(self.out_dir),
                "metric": f"pixel F1 at {self.threshold:g} per image, averaged over each "
                "dataset's manipulated images; group averages are unweighted means over datasets",
                "threshold": self.threshold,
                "datasets": self.rows,
                "averages": self.averages,
                "paper": {"method": "BoxPromptIML", "f1": PAPER_F1, "averages": PAPER_AVERAGES},
                "training": self.training,
                "notes": self.notes,
                "stages": self.stages,
                "stopped_after": self.stopped_after,
            }
        )

    def csv(self) -> str:
        """One row per test set, then one ``average`` row per group."""
        rows = [dict(r) for r in self.rows]
        for group, avg in self.averages.items():
            rows.append(
                {
                    "group": group.upper(),
                    "dataset": "average",
                    **avg,
                    "paper_f1": PAPER_AVERAGES.get(group),
                }
            )
        return rows_to_csv(jsonable(rows))

    def markdown(self) -> str:
        """The comparison with the paper's row, the per-dataset table, training and notes."""
        if self.stopped_after is not None:
            return f"Protocol '{self.name}' stopped after the {self.stopped_after} stage.\n"
        id_rows = [r for r in self.rows if r["group"] == "ID"]
        cols = [r["dataset"] for r in id_rows] + ["ID avg", "OOD avg"]
        paper = [_fmt(r["paper_f1"]) for r in id_rows] + [
            _fmt(PAPER_AVERAGES["id"]),
            _fmt(PAPER_AVERAGES["ood"]),
        ]
        ours = [_fmt(r["f1"]) for r in id_rows] + [_fmt(self.id_average), _fmt(self.ood_average)]
        lines = [
            f"## Protocol '{self.name}': pixel F1 @{self.threshold:g}",
            "",
            "| Method | " + " | ".join(cols) + " |",
            "|---" * (len(cols) + 1) + "|",
            "| BoxPromptIML (paper) | " + " | ".join(paper) + " |",
            "| **this run** | " + " | ".join(f"**{v}**" for v in ours) + " |",
            "",
            f"F1 at threshold {self.threshold:g} per image, averaged over each dataset's "
            "manipulated images (the paper's figures are at 0.5); "
            "ID and OOD averages are unweighted means of the per-dataset F1s, as in the paper "
            "(its OOD sets are not named in what we could read).",
            "",
            "| group | dataset | images | F1 | IoU | AUC | paper F1 | skipped |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for group in ("ID", "OOD"):
            rows = [r for r in self.rows if r["group"] == group]
            for r in rows:
                lines.append(
                    f"| {group} | {r['dataset']} | {r['images']} | {_fmt(r['f1'])} | "
                    f"{_fmt(r['iou'])} | {_fmt(r['auc'])} | {_fmt(r['paper_f1'])} | {r['skipped']} |"
                )
            if rows:
                avg = self.averages.get(group.lower(), {})
                lines.append(
                    f"| {group} | **average** | | **{_fmt(avg.get('f1'))}** | {_fmt(avg.get('iou'))} "
                    f"| {_fmt(avg.get('auc'))} | {_fmt(PAPER_AVERAGES[group.lower()])} | |"
                )
        lines += [
            "",
            "Training sets:",
            "",
            "| set | boxed images | boxes | pseudo-masks | pseudo-mask IoU vs GT |",
            "|---|---|---|---|---|",
        ]
        for t in self.training:
            lines.append(
                f"| {t['dataset']} | {t['images']} | {t['boxes']} | {t['pseudo_masks']} "
                f"({t['pseudo_failed']} failed) | {_fmt(t.get('pseudo_iou'))} |"
            )
        if self.notes:
            lines += ["", "Notes:", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def save(self) -> dict[str, Path]:
        """Write ``summary.json``, ``summary.csv`` and ``summary.md`` atomically."""
        self.files = {
            "json": atomic_write_json(self.out_dir / "summary.json", self.to_dict()),
            "csv": atomic_write_text(self.out_dir / "summary.csv", self.csv()),
            "markdown": atomic_write_text(self.out_dir / "summary.md", self.markdown()),
        }
        return self.files
