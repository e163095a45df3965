"""Score any method's predicted maps against ground-truth masks.

Predictions are matched to dataset samples by file stem: ``<pred_dir>/<stem>.png`` (0–255,
8- or 16-bit) or ``<stem>.npy`` (float in ``[0, 1]``), optionally with a suffix such as
``_pred``. Each map is resized bilinearly to its mask's size. Pixel metrics use manipulated
images only; authentic images (label 0) enter the image-level metrics only. See
:mod:`boxpromptiml.metrics` for the definitions.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from boxpromptiml.data.images import MAP_EXTENSIONS, image_size, load_map, resize_map
from boxpromptiml.data.sources import (
    Dataset,
    SizeMismatch,
    SizeMismatchError,
    check_sizes,
    mask_or_skip,
)
from boxpromptiml.errors import ConfigError, DataError
from boxpromptiml.fileio import atomic_write_json, atomic_write_text
from boxpromptiml.metrics import MetricAccumulator, MetricInputError
from boxpromptiml.tables import jsonable, rows_to_csv

PathLike = str | os.PathLike[str]
MissingPolicy = Literal["error", "skip", "zero"]

#: Summary keys shown in tables, in order, with their column titles.
TABLE_COLUMNS: dict[str, str] = {
    "f1": "F1",
    "iou": "IoU",
    "precision": "P",
    "recall": "R",
    "auc": "AUC",
    "permuted_f1": "pF1",
    "best_f1": "bestF1",
    "micro_f1": "microF1",
    "image_auc": "imgAUC",
    "image_balanced_acc": "imgBAcc",
}


@dataclass
class DatasetResult:
    """Evaluation of one dataset: summary metrics, one row per image, skipped items."""

    name: str
    summary: dict[str, float]
    rows: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)


@dataclass
class EvaluationResult:
    """Results over several datasets, with the unweighted mean of their summaries."""

    datasets: list[DatasetResult]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def average(self) -> dict[str, float]:
        """Mean over datasets of each summary metric (NaN entries ignored)."""
        keys = [k for k in TABLE_COLUMNS if any(k in d.summary for d in self.datasets)]
        out: dict[str, float] = {}
        for k in keys:
            vals = [d.summary.get(k, math.nan) for d in self.datasets]
            finite = [v for v in vals if v is not None and not math.isnan(v)]
            out[k] = float(np.mean(finite)) if finite else math.nan
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "datasets": [
                {"name": d.name, "summary": d.summary, "problems": d.problems, "images": d.rows}
                for d in self.datasets
            ],
            "average": self.average,
        }

    def save(self, out_dir: PathLike) -> dict[str, Path]:
        """Write ``results.json`` (everything), ``summary.csv`` and ``per_image.csv``."""
        out = Path(out_dir)
        paths = {
            "json": atomic_write_json(out / "results.json", jsonable(self.to_dict())),
            "summary_csv": atomic_write_text(out / "summary.csv", self.summary_csv()),
            "per_image_csv": atomic_write_text(out / "per_image.csv", self.per_image_csv()),
        }
        return paths

    def summary_csv(self) -> str:
        rows = [{"dataset": d.name, **d.summary} for d in self.datasets]
        if len(self.datasets) > 1:
            rows.append({"dataset": "average", **self.average})
        return rows_to_csv(rows)

    def per_image_csv(self) -> str:
        return rows_to_csv([{"dataset": d.name, **r} for d in self.datasets for r in d.rows])

    def table(self) -> str:
        """A plain-text table of the summaries (what the CLI prints, without colour)."""
        from rich.console import Console

        buf = io.StringIO()
        Console(file=buf, width=160, color_system=None).print(self.rich_table())
        return buf.getvalue()

    def rich_table(self) -> Any:
        from rich.table import Table

        keys = [k for k in TABLE_COLUMNS if any(k in d.summary for d in self.datasets)]
        t = Table(title=f"pixel metrics at threshold {self.settings.get('threshold', 0.5)}")
        t.add_column("dataset")
        t.add_column("n", justify="right")
        for k in keys:
            t.add_column(TABLE_COLUMNS[k], justify="right")
        for d in self.datasets:
            n = f"{int(d.summary.get('n_manipulated', 0))}+{int(d.summary.get('n_authentic', 0))}"
            t.add_row(d.name, n, *(_fmt(d.summary.get(k)) for k in keys))
        if len(self.datasets) > 1:
            avg = self.average
            t.add_row("average", "", *(_fmt(avg.get(k)) for k in keys), style="bold")
        return t


def _fmt(v: float | None) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def index_predictions(pred_dir: PathLike, suffix: str = "") -> dict[str, Path]:
    """Map from sample stem to predicted-map file in ``pred_dir``.

    A file ``<stem><suffix>.<ext>`` with ``ext`` in :data:`MAP_EXTENSIONS` pairs with stem
    ``<stem>``. Two files for one stem (``a.png`` and ``a.npy``) raise :class:`DataError`.
    """
    d = Path(pred_dir)
    if not d.is_dir():
        raise DataError(f"{d}: prediction folder not found")
    out: dict[str, Path] = {}
    for p in sorted(d.iterdir()):
        if not p.is_file() or p.suffix.lower() not in MAP_EXTENSIONS or p.name.startswith("."):
            continue
        stem = p.stem
        if suffix:
            if not stem.endswith(suffix):
                continue
            stem = stem[: -len(suffix)]
        if stem in out:
            raise DataError(f"{d}: two predicted maps for '{stem}': {out[stem].name}, {p.name}")
        out[stem] = p
    if not out:
        raise DataError(
            f"{d}: no predicted maps found ({', '.join(MAP_EXTENSIONS)}"
            + (f", names ending in '{suffix}'" if suffix else "")
            + ")"
        )
    return out


def evaluate_dataset(
    dataset: Dataset,
    pred_dir: PathLike,
    *,
    threshold: float = 0.5,
    image_reduce: str = "max",
    pred_suffix: str = "",
    on_size_mismatch: SizeMismatch = "error",
    on_missing_pred: MissingPolicy = "error",
    invert_masks: bool = False,
    progress: bool = True,
    ci: bool = False,
) -> DatasetResult:
    """Evaluate one dataset's predicted maps.

    ``on_missing_pred``: ``"error"`` lists the samples without a prediction and stops;
    ``"skip"`` leaves them out (reported); ``"zero"`` scores them as an all-zero map.
    Unreadable masks or maps are skipped and reported in ``DatasetResult.problems``.
    ``ci``: add 95 % bootstrap intervals (``f1_ci_lo``/``f1_ci_hi`` …) to the summary.
    """
    from tqdm.auto import tqdm

    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold must lie in [0, 1], got {threshold}")
    preds = index_predictions(pred_dir, pred_suffix)
    missing = [s.name for s in dataset if s.name not in preds]
    problems: list[str] = list(dataset.problems)
    if missing and on_missing_pred == "error":
        raise DataError(
            f"{pred_dir}: no prediction for {len(missing)} of {len(dataset)} images of "
            f"{dataset.name}: {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''} "
            "(see --on-missing-pred skip|zero)"
        )
    check_sizes(dataset, on_size_mismatch)
    acc = MetricAccumulator(threshold=threshold, image_reduce=image_reduce)
    extra: dict[str, dict[str, Any]] = {}
    for s in tqdm(
        dataset.samples, desc=f"evaluate {dataset.name}", unit="img", disable=not progress
    ):
        if s.name not in preds and on_missing_pred == "skip":
            problems.append(f"{s.image}: no predicted map [skipped]")
            continue
        try:
            hw = image_size(s.image)
            mask = mask_or_skip(s, hw, on_size_mismatch, problems, invert=invert_masks)
            if mask is None:
                continue
            if s.name in preds:
                raw = load_map(preds[s.name])
                if raw.shape != mask.shape:
                    (mh, mw), (ph, pw) = mask.shape, raw.shape
                    if abs(pw / ph - mw / mh) > 0.02 * (mw / mh):
                        problems.append(
                            f"{preds[s.name]}: map is {pw}x{ph} but the mask is {mw}x{mh} "
                            "(another aspect ratio: not this image's map?) [skipped]"
                        )
                        continue
                    problems.append(
                        f"{preds[s.name]}: map is {pw}x{ph}, resized to the mask's {mw}x{mh} "
                        "[scored]"
                    )
                prob = resize_map(raw, mask.shape)
                src = str(preds[s.name].resolve())
            else:
                prob, src = np.zeros(mask.shape, dtype=np.float32), "missing (scored as zero)"
        except SizeMismatchError:
            raise
        except DataError as exc:
            problems.append(f"{exc} [skipped]")
            continue
        label = 0 if s.label == 0 else 1
        try:
            acc.update(s.name, prob, mask, label)
        except MetricInputError as exc:  # e.g. an "authentic" image whose mask is not empty
            problems.append(f"{s.image}: {exc} [skipped]")
            continue
        extra[s.name] = {
            "image": str(s.image.resolve()),
            "mask": str(s.mask.resolve()) if s.mask is not None else "",
            "prediction": src,
        }
    if not acc.rows:
        raise DataError(f"{dataset.name}: no image could be evaluated; problems: {problems[:5]}")
    rows = [{**r, **extra.get(str(r.get("name")), {})} for r in acc.rows]
    summary: dict[str, float] = dict(acc.summary(ci=ci))
    new = problems[len(dataset.problems) :]
    summary["n_skipped"] = sum(1 for m in new if not m.endswith("[scored]"))
    return DatasetResult(dataset.name, summary, rows, problems)


def evaluate(
    datasets: Sequence[Dataset],
    pred_dirs: Sequence[PathLike],
    *,
    threshold: float = 0.5,
    image_reduce: str = "max",
    pred_suffix: str = "",
    on_size_mismatch: SizeMismatch = "error",
    on_missing_pred: MissingPolicy = "error",
    invert_masks: bool = False,
    progress: bool = True,
    ci: bool = False,
) -> EvaluationResult:
    """Evaluate several datasets, ``pred_dirs[i]`` holding the maps of ``datasets[i]``.

    Each summary holds the means of :meth:`MetricAccumulator.summary` (with ``ci``, their
    95 % bootstrap intervals), the trivial floor ``floor_f1`` and, with authentic images,
    the false-alarm shares ``authentic_flagged`` and ``authentic_over_1pct``.
    """
    if len(datasets) != len(pred_dirs):
        raise ConfigError(
            f"got {len(datasets)} dataset(s) but {len(pred_dirs)} prediction folder(s); "
            "give one --pred folder per dataset, in the same order"
        )
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise ConfigError(f"dataset names must be unique, got {names}; use NAME=PATH")
    results = [
        evaluate_dataset(
            d,
            p,
            threshold=threshold,
            image_reduce=image_reduce,
            pred_suffix=pred_suffix,
            on_size_mismatch=on_size_mismatch,
            on_missing_pred=on_missing_pred,
            invert_masks=invert_masks,
            progress=progress,
            ci=ci,
        )
        for d, p in zip(datasets, pred_dirs, strict=True)
    ]
    settings = {
        "threshold": threshold,
        "image_reduce": image_reduce,
        "on_size_mismatch": on_size_mismatch,
        "on_missing_pred": on_missing_pred,
        "invert_masks": invert_masks,
        "pred_suffix": pred_suffix,
        "pred_dirs": [str(Path(p).resolve()) for p in pred_dirs],
        "datasets": [{"name": d.name, **d.spec} for d in datasets],
    }
    return EvaluationResult(results, settings)
