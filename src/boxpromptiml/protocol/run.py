"""Running the protocol: every stage through the pipeline engine, in order."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from boxpromptiml.data.sources import Dataset
from boxpromptiml.errors import ConfigError, DataError
from boxpromptiml.fileio import atomic_write_json
from boxpromptiml.pipeline import Pipeline
from boxpromptiml.protocol.config import ProtocolConfig, load_protocol_config
from boxpromptiml.protocol.result import ProtocolResult, _mean, _paper_f1

PathLike = str | os.PathLike[str]

__all__ = ["STAGES", "run_protocol"]

#: The stages, in order (``stop_after`` takes one of them).
STAGES: tuple[str, ...] = ("boxes", "pseudo", "train", "predict", "evaluate")


def _world() -> tuple[int, int]:
    """``(rank, world size)`` under torchrun (``RANK``, ``WORLD_SIZE``), else ``(0, 1)``."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def run_protocol(
    config: PathLike | Mapping[str, Any] | ProtocolConfig,
    out_dir: PathLike | None = None,
    progress: bool = True,
    *,
    data_root: PathLike | None = None,
    stop_after: str | None = None,
    echo: Callable[[str], None] | None = None,
) -> ProtocolResult:
    """Run the protocol (see the module docstring) and return the summary.

    Args:
        config: a JSON file, a dict, or a :class:`ProtocolConfig`.
        out_dir: run folder; default ``runs/protocol/<name>`` (the same folder on every
            call, so that a second call resumes the first).
        progress: show progress bars.
        data_root: folder for relative dataset paths (see :func:`load_protocol_config`).
        stop_after: stop after this stage (one of :data:`STAGES`), e.g. ``"pseudo"`` before
            training under torchrun.
        echo: where stage lines go (default :func:`print`, rank 0 only).

    Every path is checked before the first stage. Under torchrun (``WORLD_SIZE`` > 1) only
    the train stage runs, on every process; boxes and pseudo-masks must be finished
    first, and prediction and evaluation follow in a single process.
    """
    if stop_after is not None and stop_after not in STAGES:
        raise ConfigError(f"stop_after must be one of {', '.join(STAGES)}, got {stop_after!r}")
    cfg = (
        config
        if isinstance(config, ProtocolConfig)
        else load_protocol_config(config, data_root=data_root, check_paths=False)
    )
    rank, world = _world()
    say: Callable[[str], None] = echo or (lambda s: print(s, flush=True))
    if rank != 0:
        say = lambda s: None  # noqa: E731
    datasets = cfg.check_paths()
    out = Path(out_dir) if out_dir is not None else Path("runs") / "protocol" / cfg.name
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "protocol.json", cfg.to_dict())
    pipe = Pipeline(out, progress=progress, echo=say, tag="protocol", write=rank == 0)
    result = ProtocolResult(out.resolve(), cfg.name, threshold=cfg.threshold)
    say(f"[protocol] {cfg.name}: {len(cfg.train_sets)} training set(s), "
        f"{len(cfg.test_id)} ID and {len(cfg.test_ood)} OOD test set(s) -> {out}")  # fmt: skip

    def finish(last: str) -> ProtocolResult:
        result.stages = dict(pipe.log)
        result.stopped_after = last
        say(f"[protocol] stopped after the {last} stage")
        return result

    # ---- 1-2. boxes and pseudo-masks, per training set
    if world > 1:
        unfinished = [
            s.name for s in cfg.train_sets if not pipe.cache.path(f"pseudo/{s.name}").is_file()
        ]
        if unfinished:
            raise ConfigError(
                f"under torchrun only the train stage runs; finish the boxes and pseudo stages "
                f"first in one process (boxprompt protocol CONFIG --stop-after pseudo); "
                f"not done: {', '.join(unfinished)}"
            )
    training_samples: list[Any] = []
    t = cfg.teacher
    for spec in cfg.train_sets:
        ds = datasets[f"train/{spec.name}"]
        boxes = pipe.boxes(
            spec.name,
            ds,
            file=spec.boxes,
            annotator=cfg.annotator,
            invert_masks=spec.invert_masks,
            on_size_mismatch=spec.on_size_mismatch,
        )
        if stop_after == "boxes":
            continue
        pseudo = pipe.pseudo(
            spec.name,
            ds,
            boxes,
            teacher=t.name,
            options=t.options,
            binary=t.binary,
            workers=t.workers,
            batch_size=t.batch_size,
            invert_masks=spec.invert_masks,
            on_size_mismatch="skip" if spec.on_size_mismatch == "error" else spec.on_size_mismatch,
        )
        training_samples.extend(pseudo.samples(ds, prefix=spec.name))
        info = {k: v for k, v in pseudo.summary.items() if k != "quality_images"}
        counts = {"images": boxes.images, "boxes": boxes.label, "n_boxes": boxes.n_boxes}
        result.training.append({"dataset": spec.name, **counts, **info})
        if spec.expected_images is not None:
            n = sum(1 for s in ds if s.label == 1)
            if n != spec.expected_images:
                result.notes.append(
                    f"training set {spec.name}: {n} manipulated images, the paper used "
                    f"{spec.expected_images}"
                )
    if stop_after in ("boxes", "pseudo"):
        return finish(stop_after)

    # ---- 3. the student
    if not training_samples:
        raise DataError("no training image has a pseudo-mask; see the pseudo-mask manifests")
    settings = dict(cfg.train)
    if isinstance(settings.get("pretrained"), Path):
        settings["pretrained"] = str(settings["pretrained"])
    from boxpromptiml.train import TrainConfig

    trained = pipe.train(TrainConfig(train=training_samples, out_dir=out / "train", **settings))
    if world > 1 or stop_after == "train":
        if world > 1:
            say(
                "[protocol] predict and evaluate in one process: run the same command without torchrun"
            )
        return finish("train")

    # ---- 4-5. predict and evaluate, per test set
    for group, spec in cfg.test_sets:
        ds = datasets[f"test/{spec.name}"]
        predicted = pipe.predict(spec.name, list(ds), trained, settings=cfg.predict)
        if stop_after == "predict":
            continue
        summary: dict[str, Any] = pipe.evaluate(
            spec.name,
            ds,
            predicted,
            threshold=cfg.threshold,
            on_size_mismatch=spec.on_size_mismatch,
            invert_masks=spec.invert_masks,
        ).summary
        result.rows.append(
            {
                "group": group.upper(),
                "dataset": spec.name,
                "images": int(summary.get("n_manipulated", 0)),
                "f1": summary.get("f1", math.nan),
                "iou": summary.get("iou", math.nan),
                "auc": summary.get("auc", math.nan),
                "paper_f1": _paper_f1(spec.name) if group == "id" else None,
                "skipped": int(summary.get("n_skipped", 0)),
            }
        )
        if (
            spec.expected_images is not None
            and summary.get("n_manipulated") != spec.expected_images
        ):
            result.notes.append(
                f"test set {spec.name}: {int(summary.get('n_manipulated', 0))} manipulated "
                f"images scored, the paper used {spec.expected_images}"
            )
    if stop_after == "predict":
        return finish("predict")

    # ---- the table
    for group in ("id", "ood"):
        rows = [r for r in result.rows if r["group"] == group.upper()]
        if rows:
            result.averages[group] = {k: _mean([r[k] for r in rows]) for k in ("f1", "iou", "auc")}
    result.notes[:0] = _data_notes(cfg, datasets)
    result.stages = dict(pipe.log)
    result.save()
    say("")
    say(result.markdown())
    say(f"[protocol] summary: {result.files['markdown']}")
    return result


def _data_notes(cfg: ProtocolConfig, datasets: dict[str, Dataset]) -> list[str]:
    """Simulated boxes, and test images that are also training images."""
    notes = [
        f"training set {s.name}: simulated boxes (drawn from its ground-truth masks by the "
        f"simulated annotator, margin {cfg.annotator.margin}, jitter {cfg.annotator.jitter}, "
        f"seed {cfg.annotator.seed}), not boxes drawn by people as in the paper"
        for s in cfg.train_sets
        if s.boxes is None
    ]
    train_images = {x.image.resolve() for s in cfg.train_sets for x in datasets[f"train/{s.name}"]}
    for _group, s in cfg.test_sets:
        both = sum(1 for x in datasets[f"test/{s.name}"] if x.image.resolve() in train_images)
        if both:
            notes.append(f"test set {s.name}: {both} image(s) are also training images")
    return notes
