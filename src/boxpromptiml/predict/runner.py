"""Predict a whole source into a run folder, streaming: read a batch, predict, write, drop.

Layout of ``OUT`` (``runs/predict/<name>`` from the CLI)::

    OUT/maps/<stem>.png        probability maps 0-255 (boxprompt evaluate DATASET --pred OUT/maps)
    OUT/masks/<stem>.png       binary masks
    OUT/overlays/<stem>.jpg    heatmap overlays
    OUT/json/<stem>.json       per-image record
    OUT/summary.csv            one row per predicted image
    OUT/skipped.txt            unreadable inputs, one "source<TAB>reason" a line (if any)
    OUT/run.json               settings, model, counts, total time

Memory stays bounded by two batches of images whatever the number of files.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from boxpromptiml.fileio import atomic_write_json, atomic_write_text, output_dir
from boxpromptiml.predict.localizer import Localizer, Skipped, _unique_names
from boxpromptiml.predict.result import Prediction

__all__ = ["SUMMARY_COLUMNS", "PredictRun", "predict_to_folder"]

PathLike = str | os.PathLike[str]

#: Columns of ``summary.csv``.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "name",
    "source",
    "width",
    "height",
    "score",
    "untouched_share",
    "mask_fraction",
    "threshold",
    "load_ms",
    "preprocess_ms",
    "inference_ms",
    "postprocess_ms",
    "map",
)


@dataclass
class PredictRun:
    """What :func:`predict_to_folder` did: counts, skipped inputs, files, wall time."""

    out_dir: Path
    n_images: int
    n_predicted: int
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    files: dict[str, Path] = field(default_factory=dict)
    #: the ``summary.csv`` rows (strings and numbers, :data:`SUMMARY_COLUMNS`), in input order
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def images_per_second(self) -> float:
        """End-to-end throughput (reading, inference, writing)."""
        return self.n_predicted / self.seconds if self.seconds > 0 else 0.0


def _row(pred: Prediction, paths: dict[str, Path], out_dir: Path) -> dict[str, Any]:
    h, w = pred.shape
    t = pred.timings
    return {
        "name": pred.name,
        "source": str(pred.path) if pred.path is not None else "",
        "width": w,
        "height": h,
        "score": f"{pred.score:.6f}",
        "untouched_share": "" if pred.untouched_share is None else f"{pred.untouched_share:.4f}",
        "mask_fraction": f"{pred.mask_fraction:.6f}",
        "threshold": pred.threshold,
        "load_ms": f"{t.get('load', 0.0):.3f}",
        "preprocess_ms": f"{t.get('preprocess', 0.0):.3f}",
        "inference_ms": f"{t.get('inference', 0.0):.3f}",
        "postprocess_ms": f"{t.get('postprocess', 0.0):.3f}",
        "map": str(paths["map"].relative_to(out_dir)) if "map" in paths else "",
    }


def predict_to_folder(
    localizer: Localizer,
    source: PathLike | Sequence[PathLike],
    out_dir: PathLike,
    *,
    save_map: bool = True,
    save_mask: bool = True,
    save_overlay: bool = True,
    save_json: bool = True,
    save_npy: bool = False,
    progress: bool = True,
) -> PredictRun:
    """Predict every image of ``source`` and write the outputs under ``out_dir``.

    Args:
        localizer: the model and its settings.
        source: a file, a folder, a glob, a ``.txt`` list of paths, or a list of those
            (:func:`boxpromptiml.data.sources.resolve_images`).
        out_dir: output folder (created).
        save_*: which per-image files to write (``summary.csv`` and ``run.json`` always).
        progress: show a progress bar.

    Unreadable inputs are skipped, listed in ``skipped.txt`` and in the result; the run
    goes on. Raises :class:`~boxpromptiml.errors.DataError` when ``source`` resolves to no
    image at all.
    """
    from tqdm.auto import tqdm

    from boxpromptiml.data.sources import resolve_images

    out = output_dir(out_dir, "prediction folder")
    paths = resolve_images(source)
    names = _unique_names(paths)
    bs = localizer.batch_size
    chunks = [
        list(zip(names[i : i + bs], paths[i : i + bs], strict=True))
        for i in range(0, len(paths), bs)
    ]
    rows: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    t0 = time.perf_counter()
    bar = tqdm(
        total=len(paths), desc="predict", unit="img", disable=not progress, dynamic_ncols=True
    )
    try:
        for item in localizer._stream_chunks(chunks, keep_image=save_overlay, prefetch=True):
            if isinstance(item, Skipped):
                skipped.append(item)
                bar.set_postfix(skipped=len(skipped))
            else:
                written = item.save(
                    out,
                    map=save_map,
                    mask=save_mask,
                    overlay=save_overlay,
                    json=save_json,
                    npy=save_npy,
                )
                rows.append(_row(item, written, out))
            bar.update(1)
    finally:
        bar.close()
    seconds = time.perf_counter() - t0

    files: dict[str, Path] = {}
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(SUMMARY_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    files["summary"] = atomic_write_text(out / "summary.csv", buf.getvalue())
    if skipped:
        text = "".join(f"{s.source}\t{s.reason}\n" for s in skipped)
        files["skipped"] = atomic_write_text(out / "skipped.txt", text)
    run = PredictRun(out, len(paths), len(rows), skipped, seconds, files, rows)
    files["run"] = atomic_write_json(
        out / "run.json",
        {
            "source": [str(s) for s in source] if isinstance(source, list | tuple) else str(source),
            "model": localizer.info,
            "threshold": localizer.threshold,
            "image_score": localizer.image_score,
            "batch_size": localizer.batch_size,
            "n_images": run.n_images,
            "n_predicted": run.n_predicted,
            "n_skipped": len(skipped),
            "skipped": [{"source": s.source, "reason": s.reason} for s in skipped],
            "seconds": round(seconds, 3),
            "images_per_second": round(run.images_per_second, 3),
        },
    )
    return run
