"""Build the HTML report of an evaluation run (the folder holding ``results.json``).

The images, masks and maps shown are found from the per-image rows of ``results.json``
(``image``, ``mask``, ``prediction`` paths written by :mod:`boxpromptiml.evaluate`). When
the files have moved, or the run was made from another working directory, pass the
datasets again (``datasets=``, the CLI's ``--dataset NAME=PATH``) and the prediction
folders (``pred_dirs=``): samples are then looked up by name in those. Without them,
a dataset whose recorded image paths are gone is re-resolved from
``settings["datasets"]`` when the run recorded it (``[{"name", "source", "masks",
"mask_suffixes"}]``), and maps are looked up in ``settings["pred_dirs"]``.

Every image is read once. For each dataset the report loads the mask and map of each
manipulated image (pooled precision-recall and ROC curves, on a deterministic pixel
subsample) and, for the images shown (best/worst cases and the first ``max_images`` rows
of the per-image table), the image itself, to draw bounded thumbnails.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from boxpromptiml.data.images import image_size, load_image, load_map, resize_map
from boxpromptiml.data.sources import Dataset, Sample, load_sample_mask
from boxpromptiml.errors import ConfigError, DataError
from boxpromptiml.fileio import atomic_write_text
from boxpromptiml.report import page as H
from boxpromptiml.report.curves import PixelPool, pr_curve, roc_curve
from boxpromptiml.report.extra import Extra, render_extra
from boxpromptiml.report.plots import dataset_figure
from boxpromptiml.report.robustness import robustness_html
from boxpromptiml.report.thumbs import (
    FN_COLOR,
    FP_COLOR,
    TP_COLOR,
    encode,
    overlay,
    shrink,
    to_uint8,
)

PathLike = str | os.PathLike[str]

#: Summary metrics in the order and with the titles of the tables; other keys follow.
SUMMARY_TITLES: dict[str, str] = {
    "n_manipulated": "n tampered",
    "n_authentic": "n authentic",
    "f1": "F1",
    "iou": "IoU",
    "precision": "P",
    "recall": "R",
    "auc": "AUC",
    "permuted_f1": "pF1",
    "best_f1": "bestF1",
    "micro_f1": "microF1",
    "micro_iou": "microIoU",
    "micro_precision": "microP",
    "micro_recall": "microR",
    "image_auc": "imgAUC",
    "image_balanced_acc": "imgBAcc",
    "auc_skipped": "AUC skipped",
    "n_skipped": "skipped",
}

#: Per-image columns of the full table (when present in the rows), key -> title.
IMAGE_COLUMNS: dict[str, str] = {
    "name": "name",
    "label": "label",
    "f1": "F1",
    "iou": "IoU",
    "precision": "P",
    "recall": "R",
    "auc": "AUC",
    "best_f1": "bestF1",
    "permuted_f1": "pF1",
    "image_score": "score",
    "pseudo_f1": "pseudo F1",
    "pseudo_iou": "pseudo IoU",
    "tp": "TP",
    "fp": "FP",
    "fn": "FN",
}


@dataclass
class ReportOptions:
    """How much the report shows; the defaults keep a page of a few MB at most.

    ``top_k``: best and worst cases (by per-image F1) shown per dataset. ``max_images``:
    rows of the per-image table per dataset (the first ones, in run order). ``thumb_size``
    / ``row_thumb_size``: longest side in px of the case thumbnails and of the table's
    overlay thumbnails. ``max_curve_pixels``: pixels sampled per dataset for the curves
    (0 turns the curves off). ``image_format``: ``"jpeg"`` or ``"png"`` for photos,
    overlays and predicted maps (masks are always PNG).
    """

    top_k: int = 6
    max_images: int = 200
    thumb_size: int = 256
    row_thumb_size: int = 96
    max_curve_pixels: int = 2_000_000
    roc: bool = True
    image_format: str = "jpeg"
    seed: int = 0

    def validate(self) -> None:
        for name in ("top_k", "max_images", "max_curve_pixels"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("thumb_size", "row_thumb_size"):
            if getattr(self, name) < 16:
                raise ConfigError(f"{name} must be at least 16 px, got {getattr(self, name)}")
        if self.image_format not in ("jpeg", "png"):
            raise ConfigError(f"image_format must be jpeg or png, got {self.image_format!r}")


# --------------------------------------------------------------------------- loading


def load_results(eval_dir: PathLike) -> tuple[Path, dict[str, Any]]:
    """``(results.json path, its content)`` of an evaluation run folder (or the file)."""
    p = Path(eval_dir)
    path = p if p.suffix == ".json" else p / "results.json"
    if not path.is_file():
        raise DataError(f"{path}: evaluation results not found (is it an evaluate run folder?)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: malformed JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("datasets"), list):
        raise DataError(f"{path}: expected an object with a 'datasets' list")
    for i, d in enumerate(data["datasets"]):
        if not isinstance(d, dict) or "name" not in d or not isinstance(d.get("summary"), dict):
            raise DataError(f"{path}: datasets[{i}] lacks a name or a summary")
    return path, data


def _per_dataset(
    value: Mapping[str, PathLike | None] | Sequence[PathLike | None] | None,
    names: list[str],
    what: str,
) -> dict[str, Path]:
    """``{dataset name: folder}`` from a mapping by name or a sequence in dataset order."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ConfigError(
                f"{what}: unknown dataset name(s) {unknown}; the run has {', '.join(names)}"
            )
        return {k: Path(v) for k, v in value.items() if v is not None}
    items = list(value)
    if len(items) != len(names):
        raise ConfigError(
            f"got {len(items)} {what} folder(s) for {len(names)} dataset(s) "
            f"({', '.join(names)}); give one per dataset in order, or NAME=DIR"
        )
    return {n: Path(v) for n, v in zip(names, items, strict=True) if v is not None}


def _recorded_paths_missing(entry: Mapping[str, Any]) -> bool:
    """True when some image path recorded in a dataset's rows is not a file (moved data,
    or relative paths from another working directory)."""
    return any(
        not r.get("image") or not Path(str(r["image"])).is_file() for r in entry.get("images") or []
    )


def _dataset_from_settings(settings: Mapping[str, Any], name: str) -> Dataset | None:
    """Re-resolve dataset ``name`` from ``settings["datasets"]`` when the run recorded it:
    entries ``{"name", "source", "masks" (or null), "mask_suffixes"}`` as accepted by
    :func:`~boxpromptiml.data.sources.load_dataset`. ``None`` when not recorded."""
    from boxpromptiml.data.sources import DEFAULT_MASK_SUFFIXES, load_dataset

    for spec in settings.get("datasets") or []:
        if not isinstance(spec, Mapping) or spec.get("name") != name or not spec.get("source"):
            continue
        suffixes = spec.get("mask_suffixes") or DEFAULT_MASK_SUFFIXES
        return load_dataset(
            spec["source"], spec.get("masks") or None, mask_suffixes=tuple(suffixes), name=name
        )
    return None


def _index_maps(folder: Path, suffix: str, what: str) -> dict[str, Path]:
    from boxpromptiml.evaluate import index_predictions

    if not folder.is_dir():
        raise DataError(f"{folder}: {what} folder not found")
    return index_predictions(folder, suffix)


@dataclass
class _Files:
    """Finds the image, mask, predicted map and pseudo-mask of each row of one dataset."""

    dataset: Dataset | None
    preds: dict[str, Path] | None  # an explicit prediction folder, indexed by stem
    recorded_pred_dir: Path | None
    pred_suffix: str
    pseudo: dict[str, Path] | None
    pseudo_label: str = ""  # the pseudo-mask folder, for messages
    _recorded_index: dict[str, Path] | None = None
    _by_name: dict[str, Sample] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.dataset is not None:
            self._by_name = {s.name: s for s in self.dataset}

    def sample(self, row: Mapping[str, Any]) -> Sample:
        name = str(row["name"])
        label = 0 if row.get("label") == 0 else 1
        if name in self._by_name:
            s = self._by_name[name]
            return Sample(name, s.image, s.mask if label else None, label)
        image = row.get("image")
        if not image:
            raise DataError(
                f"{name}: results.json gives no image path; pass the dataset (--dataset NAME=PATH)"
            )
        mask = row.get("mask") or None
        if label and mask is None:
            raise DataError(f"{name}: results.json gives no mask path for a manipulated image")
        return Sample(name, Path(image), Path(mask) if mask else None, label)

    def prediction(self, row: Mapping[str, Any]) -> Path | None:
        """The map file, or ``None`` for a map that evaluate scored as all-zero."""
        name = str(row["name"])
        if self.preds is not None:
            if name not in self.preds:
                raise DataError(f"{name}: no predicted map in the given prediction folder")
            return self.preds[name]
        rec = str(row.get("prediction") or "")
        if rec.startswith("missing"):
            return None
        if rec and Path(rec).is_file():
            return Path(rec)
        if self.recorded_pred_dir is not None and self.recorded_pred_dir.is_dir():
            if self._recorded_index is None:
                self._recorded_index = _index_maps(
                    self.recorded_pred_dir, self.pred_suffix, "prediction"
                )
            if name in self._recorded_index:
                return self._recorded_index[name]
        raise DataError(f"{name}: predicted map not found ({rec or 'no path recorded'})")


@dataclass
class _Loaded:
    """One image's arrays, all at the image size ``(H, W)``."""

    mask: np.ndarray  # bool
    prob: np.ndarray  # float32 in [0, 1]
    image: np.ndarray | None = None  # uint8 RGB, only when thumbnails are drawn
    pseudo: np.ndarray | None = None  # float32 in [0, 1]
    pseudo_missing: bool = False


def _load(
    files: _Files,
    row: Mapping[str, Any],
    *,
    need_image: bool,
    invert: bool,
    resize_masks: bool,
) -> _Loaded:
    sample = files.sample(row)
    image = load_image(sample.image) if need_image else None
    hw = image.shape[:2] if image is not None else image_size(sample.image)
    mask = load_sample_mask(sample, hw, resize=resize_masks, invert=invert)
    pred = files.prediction(row)
    prob = np.zeros(mask.shape, np.float32) if pred is None else resize_map(load_map(pred), hw)
    out = _Loaded(mask, prob, image)
    if files.pseudo is not None:
        p = files.pseudo.get(sample.name)
        if p is None:
            out.pseudo_missing = True
        else:
            out.pseudo = resize_map(load_map(p), hw)
    return out


# --------------------------------------------------------------------------- pictures


def _panel(caption: str, arr: np.ndarray, fmt: str, size: int, cls: str = "") -> str:
    small = shrink(arr, size)
    data, mime = encode(small, fmt)
    img = H.img_tag(data, mime, caption, width=small.shape[1], height=small.shape[0], cls=cls or "")
    return f'<figure class="panel">{img}<figcaption>{H.esc(caption)}</figcaption></figure>'


def _missing_panel(caption: str, why: str) -> str:
    return (
        f'<figure class="panel"><div class="missing">{H.esc(why)}</div>'
        f"<figcaption>{H.esc(caption)}</figcaption></figure>"
    )


def _case_panels(loaded: _Loaded, threshold: float, opts: ReportOptions, show_pseudo: bool) -> str:
    if loaded.image is None:
        raise RuntimeError("case panels need the image (load with need_image=True)")
    fmt = opts.image_format
    size = opts.thumb_size
    panels = [
        _panel("image", loaded.image, fmt, size),
        _panel("ground truth", to_uint8(loaded.mask), "png", size, "mask"),
    ]
    if show_pseudo:
        if loaded.pseudo is not None:
            panels.append(_panel("pseudo-mask", to_uint8(loaded.pseudo), "png", size, "mask"))
        else:
            panels.append(_missing_panel("pseudo-mask", "no pseudo-mask"))
    panels.append(_panel("prediction (map)", to_uint8(loaded.prob), fmt, size))
    ov = overlay(loaded.image, loaded.mask, loaded.prob > threshold)
    panels.append(_panel(f"overlay at {threshold:g}", ov, fmt, size))
    return "".join(panels)


def _case_html(row: Mapping[str, Any], panels: str, rank: str) -> str:
    f1 = row.get("f1")
    lines = []
    for key, title in (
        ("iou", "IoU"),
        ("precision", "P"),
        ("recall", "R"),
        ("auc", "AUC"),
        ("pseudo_iou", "pseudo IoU"),
    ):
        if key in row:
            lines.append(f"<tr><td>{title}</td><td>{H.esc(H.fmt_value(row.get(key)))}</td></tr>")
    return (
        f'<div class="case"><div class="info"><div class="note">{H.esc(rank)}</div>'
        f'<div class="name">{H.esc(row["name"])}</div>'
        f'<div class="big">F1 {H.esc(H.fmt_value(f1))}</div>'
        f"<table>{''.join(lines)}</table></div>"
        f'<div class="panels">{panels}</div></div>'
    )


def _pseudo_scores(loaded: _Loaded) -> dict[str, float]:
    """F1 and IoU of the pseudo-mask (``> 0.5``) against the ground truth."""
    from boxpromptiml.metrics import binary_counts

    if loaded.pseudo is None:
        return {}
    c = binary_counts(loaded.pseudo > 0.5, loaded.mask)
    return {"pseudo_f1": c.f1, "pseudo_iou": c.iou}


# --------------------------------------------------------------------------- sections


def _finite(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and not math.isnan(float(v))


def _summary_columns(summaries: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    keys = [k for k in SUMMARY_TITLES if any(k in s for s in summaries)]
    for s in summaries:
        keys.extend(k for k in s if k not in keys)
    return {k: SUMMARY_TITLES.get(k, k) for k in keys}


def _summary_section(results: Mapping[str, Any], nav: list[tuple[str, str]]) -> str:
    from boxpromptiml.evaluate import TABLE_COLUMNS

    datasets = results["datasets"]
    cols = {"dataset": "dataset", "n": "n"}
    cols.update(
        {k: t for k, t in TABLE_COLUMNS.items() if any(k in d["summary"] for d in datasets)}
    )
    rows: list[dict[str, Any]] = []
    for i, d in enumerate(datasets):
        s = d["summary"]
        n = f"{H.fmt_value(s.get('n_manipulated'))}+{H.fmt_value(s.get('n_authentic'))}"
        rows.append({**s, "dataset": f'<a href="#ds-{i}">{H.esc(d["name"])}</a>', "n": n})
    classes = [""] * len(rows)
    if len(datasets) > 1 and isinstance(results.get("average"), dict):
        rows.append({**results["average"], "dataset": "average", "n": ""})
        classes.append("avg")
    t = results.get("settings", {}).get("threshold", 0.5)
    body = [
        H.table_html(rows, cols, raw_columns=("dataset",), row_classes=classes),
        H.note(
            f"n = manipulated + authentic images. F1, IoU, P, R at threshold {t}, pixel AUC, "
            "pF1 (the better of the map and its inverse) and bestF1 (best threshold per "
            "image) are per-image pixel scores averaged over the manipulated images; microF1 "
            "pools the pixels of a dataset; imgAUC and imgBAcc score image-level detection "
            "(only with authentic images). – means undefined."
        ),
        '<p class="legend">overlay colours:'
        f'<span style="background:rgb{TP_COLOR}"></span>detected (true positive)'
        f'<span style="background:rgb{FP_COLOR}"></span>false alarm (false positive)'
        f'<span style="background:rgb{FN_COLOR}"></span>missed (false negative)</p>',
    ]
    nav.append(("summary", "Summary"))
    return H.section("summary", "Summary", "\n".join(body))


def _select_cases(
    rows: Sequence[Mapping[str, Any]], k: int
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """``(best, worst)`` manipulated rows by F1 (ties broken by name); no overlap."""
    scored = [r for r in rows if r.get("label") != 0 and _finite(r.get("f1"))]
    ranked = sorted(scored, key=lambda r: (-float(r["f1"]), str(r["name"])))
    if k <= 0:
        return [], []
    best = ranked[:k]
    rest = ranked[len(best) :]
    worst = list(reversed(rest))[:k]
    return best, worst


def _dataset_section(
    index: int,
    entry: Mapping[str, Any],
    files: _Files,
    settings: Mapping[str, Any],
    opts: ReportOptions,
    invert: bool,
    progress: bool,
    notes: Sequence[str] = (),
) -> str:
    from tqdm.auto import tqdm

    name = str(entry["name"])
    summary: dict[str, Any] = entry["summary"]
    rows: list[dict[str, Any]] = [dict(r) for r in entry.get("images") or []]
    threshold = float(settings.get("threshold", 0.5))
    resize_masks = settings.get("on_size_mismatch") == "resize"
    show_pseudo = files.pseudo is not None

    best, worst = _select_cases(rows, opts.top_k)
    case_names = {str(r["name"]) for r in best + worst}
    table_rows = rows[: opts.max_images]
    table_names = {str(r["name"]) for r in table_rows}
    manip = [r for r in rows if r.get("label") != 0]

    # the pixel sampling rate that brings the manipulated pixels down to the budget
    curve = opts.max_curve_pixels > 0 and bool(manip)
    rate = 1.0
    if curve:
        total = 0
        for r in manip:
            counts = [r.get(k) for k in ("tp", "fp", "fn", "tn")]
            if all(_finite(c) for c in counts):
                total += sum(int(c) for c in counts if isinstance(c, int | float))
            else:
                try:
                    h, w = image_size(files.sample(r).image)
                    total += h * w
                except DataError:
                    pass
        rate = min(1.0, opts.max_curve_pixels / max(total, 1))
    pool = PixelPool(rate=rate, seed=opts.seed)

    panels: dict[str, str] = {}
    thumbs: dict[str, str] = {}
    problems: list[str] = []
    pseudo_rows: list[dict[str, float]] = []
    n_pseudo_missing = 0
    for r in tqdm(rows, desc=f"report {name}", unit="img", disable=not progress):
        rname = str(r["name"])
        visual = rname in case_names or rname in table_names
        in_curve = curve and r.get("label") != 0
        if not (visual or in_curve or (show_pseudo and r.get("label") != 0)):
            continue
        try:
            loaded = _load(files, r, need_image=visual, invert=invert, resize_masks=resize_masks)
        except DataError as exc:
            problems.append(f"{exc}")
            continue
        if in_curve:
            pool.add(rname, loaded.prob, loaded.mask)
        if show_pseudo and r.get("label") != 0:
            if loaded.pseudo_missing:
                n_pseudo_missing += 1
            else:
                pseudo_scores = _pseudo_scores(loaded)
                r.update(pseudo_scores)
                pseudo_rows.append(pseudo_scores)
        if not visual or loaded.image is None:
            continue
        if rname in case_names:
            panels[rname] = _case_panels(loaded, threshold, opts, show_pseudo)
        if rname in table_names:
            ov = overlay(loaded.image, loaded.mask, loaded.prob > threshold)
            small = shrink(ov, opts.row_thumb_size)
            data, mime = encode(small, opts.image_format)
            thumbs[rname] = H.img_tag(
                data, mime, f"overlay {rname}", width=small.shape[1], height=small.shape[0]
            )

    parts: list[str] = [f'<p class="warn">{H.esc(n)}</p>' for n in notes]
    parts.append(H.table_html([summary], _summary_columns([summary])))
    if show_pseudo:
        if pseudo_rows:
            mf1 = float(np.mean([p["pseudo_f1"] for p in pseudo_rows]))
            miou = float(np.mean([p["pseudo_iou"] for p in pseudo_rows]))
            msg = (
                f"pseudo-masks ({files.pseudo_label}): mean F1 {mf1:.3f}, mean IoU "
                f"{miou:.3f} against the ground truth over {len(pseudo_rows)} manipulated "
                "images (binarised at 0.5)"
            )
        else:
            msg = f"pseudo-masks ({files.pseudo_label}): none matched this dataset"
        if n_pseudo_missing:
            msg += f"; {n_pseudo_missing} manipulated image(s) have no pseudo-mask"
        parts.append(H.note(msg))

    # plots
    f1_vals = [float(r["f1"]) for r in manip if _finite(r.get("f1"))]
    scores, labels = pool.arrays()
    pr = pr_curve(scores, labels) if scores.size else None
    roc = roc_curve(scores, labels) if scores.size and opts.roc else None
    op_r, op_p = summary.get("micro_recall"), summary.get("micro_precision")
    op_point = (
        (float(op_r), float(op_p))
        if isinstance(op_r, int | float) and isinstance(op_p, int | float)
        else None
    )
    if f1_vals or scores.size:
        png = dataset_figure(
            name,
            f1_vals,
            pr,
            roc,
            operating_point=op_point,
            threshold=threshold,
            show_roc=opts.roc,
            n_pixels=int(scores.size),
        )
        parts.append(H.img_tag(png, "image/png", f"plots of {name}", cls="plot"))
        sampled = f", a deterministic {rate:.2%} sample" if rate < 1.0 else ""
        parts.append(
            H.note(
                f"Curves pool the pixels of the manipulated images ({scores.size:,} pixels"
                f"{sampled}); the red dot is the run's micro precision/recall at threshold "
                f"{threshold:g}."
            )
        )

    # best and worst cases
    def gallery(title: str, kind: str, chosen: Sequence[Mapping[str, Any]], first_rank: int) -> str:
        html_cases = []
        for j, r in enumerate(chosen):
            rname = str(r["name"])
            rank = f"{kind} #{first_rank + j}" if kind else f"rank #{first_rank + j}"
            body = panels.get(rname, _missing_panel("image", "could not be loaded"))
            html_cases.append(_case_html(r, body, rank))
        return f'<h3>{H.esc(title)}</h3><div class="cases">{"".join(html_cases)}</div>'

    if best:
        label = f"Best {len(best)} by F1" if worst else f"All {len(best)} manipulated, by F1"
        parts.append(gallery(label, "best" if worst else "", best, 1))
    if worst:
        parts.append(gallery(f"Worst {len(worst)} by F1", "worst", worst, 1))
    if not best and not worst and opts.top_k:
        parts.append(H.note("no manipulated image with a per-image F1 to rank"))

    # full per-image table
    if rows:
        cols = {"view": "overlay", **{k: t for k, t in IMAGE_COLUMNS.items() if _has(rows, k)}}
        shown = []
        for r in table_rows:
            rname = str(r["name"])
            view = thumbs.get(rname, '<span class="note">–</span>')
            lab = r.get("label")
            kind = "authentic" if lab == 0 else "tampered" if lab == 1 else lab
            shown.append({**r, "view": view, "label": kind})
        parts.append("<h3>All images</h3>")
        if len(table_rows) < len(rows):
            parts.append(
                H.note(
                    f"showing the first {len(table_rows)} of {len(rows)} images (max_images); "
                    "per_image.csv of the run lists them all. Click a header to sort."
                )
            )
        else:
            parts.append(H.note("click a header to sort"))
        parts.append(H.table_html(shown, cols, sortable=True, raw_columns=("view",), cls="images"))

    all_problems = list(entry.get("problems") or []) + [f"report: {p}" for p in problems]
    if problems:
        parts.append(
            f'<p class="warn">{len(problems)} image(s) could not be loaded for the report '
            "(see below; pass --dataset / --pred if the files moved)</p>"
        )
    if all_problems:
        parts.append(
            H.details(f"{len(all_problems)} problem(s)", H.bullet_list(all_problems[:500]))
        )
    return H.section(f"ds-{index}", f"Dataset: {name}", "\n".join(parts))


def _has(rows: Sequence[Mapping[str, Any]], key: str) -> bool:
    return any(key in r for r in rows)


# --------------------------------------------------------------------------- entry point


def _models_of(pred_dirs: Sequence[PathLike | None]) -> list[str]:
    """The models that made the maps in ``pred_dirs``, read from the ``run.json`` that
    ``boxprompt predict`` writes beside ``maps/`` (folders without one are skipped)."""
    import json

    out: list[str] = []
    for folder in pred_dirs:
        if folder is None:
            continue
        run = Path(folder).parent / "run.json"
        try:
            info = json.loads(run.read_text(encoding="utf-8")).get("model") or {}
        except (OSError, ValueError, AttributeError):
            continue
        if not isinstance(info, dict) or not info.get("model"):
            continue
        text = f"{Path(str(info['model'])).name} ({info.get('runtime', '?')}"
        text += f", {info.get('precision', 'fp32')}" + (", tiled" if info.get("tiled") else "")
        text += ")"
        if text not in out:
            out.append(text)
    return out


def build_report(
    eval_dir: PathLike,
    out_html: PathLike | None = None,
    *,
    datasets: Sequence[Dataset] | None = None,
    pred_dirs: Mapping[str, PathLike | None] | Sequence[PathLike | None] | None = None,
    pseudo_dirs: Mapping[str, PathLike | None] | Sequence[PathLike | None] | None = None,
    robust_dir: PathLike | None = None,
    extra: Mapping[str, Extra] | None = None,
    options: ReportOptions | None = None,
    invert_masks: bool | None = None,
    pred_suffix: str | None = None,
    title: str | None = None,
    progress: bool = False,
) -> Path:
    """Write a self-contained HTML report of an evaluation run; return its path.

    ``eval_dir``: the run folder of ``boxprompt evaluate`` (or its ``results.json``).
    ``out_html``: default ``<eval_dir>/report.html``. ``datasets``: re-resolved datasets
    (matched by name) whose images and masks replace the paths recorded in the run.
    ``pred_dirs`` / ``pseudo_dirs``: prediction folders replacing the recorded ones, and
    pseudo-mask folders (PNG or ``.npy`` maps named by image stem), each a mapping from
    dataset name to folder or a sequence in the run's dataset order. ``robust_dir``: a
    robustness run folder (``robustness.json`` + plots). ``extra``: ``{title: content}``
    sections appended in order (see :mod:`boxpromptiml.report.extra` for the contents
    accepted; strings are trusted HTML). ``invert_masks``: default taken from the run's
    settings (else ``False``); ``pred_suffix`` (stem suffix of map files, e.g. ``_pred``)
    likewise, else ``""``. The page embeds every picture (base64) and needs no network.
    """
    opts = options or ReportOptions()
    opts.validate()
    results_path, results = load_results(eval_dir)
    run_dir = results_path.parent
    settings: dict[str, Any] = dict(results.get("settings") or {})
    names = [str(d["name"]) for d in results["datasets"]]
    if len(set(names)) != len(names):
        raise DataError(f"{results_path}: dataset names are not unique: {names}")
    invert = bool(settings.get("invert_masks", False)) if invert_masks is None else invert_masks
    if pred_suffix is None:
        pred_suffix = str(settings.get("pred_suffix", ""))

    given = {d.name: d for d in datasets or []}
    unknown = [n for n in given if n not in names]
    if unknown:
        raise ConfigError(
            f"dataset name(s) {unknown} are not in the run ({', '.join(names)}); "
            "name them as in the run with NAME=PATH"
        )
    pred_override = _per_dataset(pred_dirs, names, "prediction")
    pseudo = _per_dataset(pseudo_dirs, names, "pseudo-mask")
    recorded_preds = list(settings.get("pred_dirs") or [])

    nav: list[tuple[str, str]] = []
    sections = [_summary_section(results, nav)]
    report_settings: dict[str, Any] = {
        "top_k": opts.top_k,
        "max_images": opts.max_images,
        "thumb_size": opts.thumb_size,
        "max_curve_pixels": opts.max_curve_pixels,
        "invert_masks": invert,
    }
    if pseudo:
        report_settings["pseudo_dirs"] = {k: str(v) for k, v in pseudo.items()}
    settings_body = (
        '<div class="cols"><div><h3>Evaluation run</h3>'
        + H.kv_table(settings)
        + "</div><div><h3>This report</h3>"
        + H.kv_table(report_settings)
        + "</div></div>"
    )
    sections.append(H.section("settings", "Settings", settings_body))
    nav.append(("settings", "Settings"))

    for i, entry in enumerate(results["datasets"]):
        name = names[i]
        dataset, notes = given.get(name), []
        if dataset is None and _recorded_paths_missing(entry):
            try:
                dataset = _dataset_from_settings(settings, name)
            except DataError as exc:
                notes.append(f"the dataset recorded in the run could not be resolved: {exc}")
        pseudo_index = None
        if name in pseudo:
            pseudo_index = _index_maps(pseudo[name], "", "pseudo-mask")
        files = _Files(
            dataset=dataset,
            preds=(
                _index_maps(pred_override[name], pred_suffix, "prediction")
                if name in pred_override
                else None
            ),
            recorded_pred_dir=Path(recorded_preds[i]) if i < len(recorded_preds) else None,
            pred_suffix=pred_suffix,
            pseudo=pseudo_index,
            pseudo_label=str(pseudo.get(name, "")),
        )
        sections.append(_dataset_section(i, entry, files, settings, opts, invert, progress, notes))
        nav.append((f"ds-{i}", name))

    if robust_dir is not None:
        sections.append(H.section("robustness", "Robustness", robustness_html(robust_dir)))
        nav.append(("robustness", "Robustness"))
    for j, (sec_title, content) in enumerate((extra or {}).items()):
        anchor = f"extra-{j}"
        sections.append(H.section(anchor, str(sec_title), render_extra(content)))
        nav.append((anchor, str(sec_title)))

    from boxpromptiml import __version__

    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = f"run: {H.esc(run_dir.resolve())} &middot; generated {H.esc(now)}"
    folders = [pred_override.get(n) or (recorded_preds[i] if i < len(recorded_preds) else None)
               for i, n in enumerate(names)]  # fmt: skip
    models = _models_of(folders)
    if models:
        meta += " &middot; maps made by " + ", ".join(H.esc(m) for m in models)
    doc = H.page(
        title or f"Evaluation report: {run_dir.name}",
        meta,
        nav,
        "\n".join(sections),
        footer=f"boxpromptiml {H.esc(__version__)} &middot; self-contained page, no network "
        "access needed",
    )
    out = Path(out_html) if out_html is not None else run_dir / "report.html"
    return atomic_write_text(out, doc)
