"""Robustness sweeps: score a localizer on perturbed copies of datasets.

For each image the clean version and every (family, level) perturbation of
:mod:`boxpromptiml.robust.perturb` are predicted together (one batch per image), then
scored against the unchanged ground-truth mask with :class:`~boxpromptiml.metrics.MetricAccumulator`.
Images are never written back: the dataset on disk is untouched.

The thing being tested is any callable ``predict(images, sample) -> maps`` taking a list of
``(H, W, 3)`` uint8 RGB images (all of one sample) and returning ``(H, W)`` float maps in
``[0, 1]``; the sample lets a box-prompted teacher look up its boxes.

Untouched images (label 0: a dataset's ``Au/`` folder, or photos given as such) are
perturbed and predicted the same way and give the false alarms per condition: the mean
share of their pixels at or above the threshold, the share of them with more than 1 %
flagged, and, where a dataset has both kinds, the image-level AUC. A localizer that stays
quiet on camera originals but flags the same photos once recompressed or resized shows
here.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from boxpromptiml.data.images import load_image, resize_map
from boxpromptiml.data.sources import (
    Dataset,
    Sample,
    SizeMismatch,
    SizeMismatchError,
    mask_or_skip,
)
from boxpromptiml.errors import DataError
from boxpromptiml.fileio import atomic_write, atomic_write_json, atomic_write_text
from boxpromptiml.metrics import MetricAccumulator
from boxpromptiml.robust.perturb import DEFAULT_SWEEP, make_perturbation
from boxpromptiml.tables import jsonable, rows_to_csv

PredictFn = Callable[[list[np.ndarray], Sample], list[np.ndarray]]
PathLike = str | os.PathLike[str]
#: Metrics reported per condition.
REPORTED = ("f1", "auc", "iou", "precision", "recall")
#: False-alarm and image-level figures reported per condition (NaN without untouched images).
UNTOUCHED = ("authentic_flagged", "authentic_over_1pct", "image_auc")


@dataclass(frozen=True)
class Condition:
    """One perturbation setting; ``family == "none"`` is the clean baseline."""

    family: str
    level: float | int | str

    @property
    def label(self) -> str:
        return "clean" if self.family == "none" else f"{self.family}={self.level}"


def conditions(sweep: Mapping[str, Sequence[float | int | str]]) -> list[Condition]:
    """The clean baseline followed by every (family, level) of ``sweep``, in order."""
    out = [Condition("none", 0)]
    for family, levels in sweep.items():
        for level in levels:
            make_perturbation(family, level)  # validate early
            out.append(Condition(family, level))
    return out


@dataclass
class RobustResult:
    """Per dataset and condition: summary metrics; plus skipped items."""

    rows: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def relative_drop(self, metric: str = "f1") -> list[dict[str, Any]]:
        """Each row's ``metric`` relative to its dataset's clean value (1.0 = no drop)."""
        clean = {r["dataset"]: r[metric] for r in self.rows if r["family"] == "none"}
        out = []
        for r in self.rows:
            base = clean.get(r["dataset"], math.nan)
            rel = r[metric] / base if base and not math.isnan(base) else math.nan
            out.append({**r, f"{metric}_relative": rel})
        return out

    def save(self, out_dir: PathLike, plots: bool = True) -> dict[str, Path]:
        """Write ``robustness.json``, ``robustness.csv`` and one PNG plot per family."""
        out = Path(out_dir)
        rows = self.relative_drop("f1")
        paths = {
            "json": atomic_write_json(
                out / "robustness.json",
                jsonable({"settings": self.settings, "rows": rows, "problems": self.problems}),
            ),
            "csv": atomic_write_text(out / "robustness.csv", rows_to_csv(rows)),
        }
        if plots:
            for family in dict.fromkeys(r["family"] for r in self.rows if r["family"] != "none"):
                paths[f"plot_{family}"] = self.plot(family, out / f"robustness_{family}.png")
        return paths

    def plot(self, family: str, path: PathLike) -> Path:
        """Pixel F1 and AUC against the level of ``family``, one line per dataset, and,
        when untouched images were scored, the share of them with more than 1 % of their
        pixels flagged; the clean value is drawn as a dashed line of the same colour."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        panels = [
            (metric, label)
            for metric, label in (
                ("f1", "pixel F1"),
                ("auc", "pixel AUC"),
                ("authentic_over_1pct", "untouched with > 1 % flagged"),
            )
            if any(not math.isnan(r.get(metric, math.nan)) for r in self.rows)
        ]
        fig, axes = plt.subplots(
            1, len(panels), figsize=(4.5 * len(panels), 3.4), constrained_layout=True,
            squeeze=False,
        )  # fmt: skip
        datasets = list(dict.fromkeys(r["dataset"] for r in self.rows))
        for ax, (metric, label) in zip(axes[0], panels, strict=True):
            for j, name in enumerate(datasets):
                color = f"C{j}"
                rows = [r for r in self.rows if r["dataset"] == name and r["family"] == family]
                clean = [r for r in self.rows if r["dataset"] == name and r["family"] == "none"]
                if all(math.isnan(r.get(metric, math.nan)) for r in rows + clean):
                    continue
                xs = [str(r["level"]) for r in rows]
                ax.plot(xs, [r[metric] for r in rows], "o-", color=color, label=name)
                if clean:
                    ax.axhline(clean[0][metric], color=color, ls="--", lw=1)
            ax.set_xlabel(f"{family} level")
            ax.set_ylabel(label)
            ax.set_ylim(0, 1)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(f"robustness to {family} (dashed: clean)")

        def _write(tmp: Path) -> None:
            fig.savefig(tmp, dpi=110, format="png")

        try:
            return atomic_write(path, _write)
        finally:
            plt.close(fig)


def sample_rng(seed: int, name: str, condition_index: int) -> np.random.Generator:
    """The generator of one (image, condition): independent of processing order."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8")), condition_index])


def robustness_sweep(
    predict: PredictFn,
    datasets: Sequence[Dataset],
    sweep: Mapping[str, Sequence[float | int | str]] | None = None,
    *,
    threshold: float = 0.5,
    seed: int = 0,
    on_size_mismatch: SizeMismatch = "skip",
    invert_masks: bool = False,
    max_images: int | None = None,
    untouched: bool = True,
    image_reduce: str = "max",
    progress: bool = True,
) -> RobustResult:
    """Score ``predict`` on every dataset under every condition of ``sweep``.

    Manipulated images give the pixel metrics (:data:`REPORTED`, ``n`` of them); untouched
    images (label 0; ``untouched=False`` leaves them out) give the false alarms
    (:data:`UNTOUCHED`, ``n_authentic`` of them), with ``image_reduce`` (``max``, ``mean``,
    ``top1pct``, ...) turning a map into the image score of ``image_auc``. ``max_images``
    caps the images of each kind per dataset (the first ones, in dataset order).
    Unreadable samples are skipped and listed.
    """
    from tqdm.auto import tqdm

    conds = conditions(DEFAULT_SWEEP if sweep is None else sweep)
    perturbs = [make_perturbation(c.family, c.level) for c in conds]
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for ds in datasets:
        samples = [s for s in ds if s.label != 0][: max_images or None]
        if untouched:
            samples += [s for s in ds if s.label == 0][: max_images or None]
        accs = [MetricAccumulator(threshold=threshold, image_reduce=image_reduce) for _ in conds]
        for s in tqdm(samples, desc=f"robust {ds.name}", unit="img", disable=not progress):
            try:
                image = load_image(s.image)
                mask = (
                    mask_or_skip(
                        s, image.shape[:2], on_size_mismatch, problems, invert=invert_masks
                    )
                    if s.label != 0
                    else np.zeros(image.shape[:2], bool)
                )
            except DataError as exc:
                if on_size_mismatch == "error" and isinstance(exc, SizeMismatchError):
                    raise
                problems.append(f"{exc} [skipped]")
                continue
            if mask is None or (s.label != 0 and not mask.any()):
                continue
            variants = [f(image, sample_rng(seed, s.name, i)) for i, f in enumerate(perturbs)]
            maps = predict(variants, s)
            if len(maps) != len(variants):
                raise RuntimeError(
                    f"predictor returned {len(maps)} maps for {len(variants)} images"
                )
            label = 0 if s.label == 0 else 1
            for acc, m in zip(accs, maps, strict=True):
                prob = resize_map(np.asarray(m, np.float32), mask.shape)
                acc.update(s.name, prob, mask if label else None, label)
        if not accs[0].rows:
            problems.append(f"{ds.name}: no image could be scored")
            continue
        for c, acc in zip(conds, accs, strict=True):
            summ = acc.summary()
            rows.append(
                {
                    "dataset": ds.name,
                    "family": c.family,
                    "level": c.level,
                    "condition": c.label,
                    "n": int(summ["n_manipulated"]),
                    **{k: float(summ[k]) for k in REPORTED},
                    "n_authentic": int(summ["n_authentic"]),
                    **{k: float(summ[k]) for k in UNTOUCHED},
                }
            )
    settings = {
        "threshold": threshold,
        "seed": seed,
        "sweep": {k: list(v) for k, v in (DEFAULT_SWEEP if sweep is None else sweep).items()},
        "max_images": max_images,
        "untouched": untouched,
        "image_reduce": image_reduce,
    }
    return RobustResult(rows, problems, settings)
