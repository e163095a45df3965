"""One engine for the weakly supervised loop: named, resumable stages on one run folder.

:class:`Pipeline` runs the stages every workflow of the project is made of::

    synth     photos -> synthetic forgeries with exact masks and boxes (make_dataset)
    boxes     a dataset's COCO box file: given, or simulated from its masks
    pseudo    boxes -> pseudo-masks by a frozen teacher, and their quality vs GT masks
    refine    a trained student + the teacher's pseudo-masks -> the next round's (self-training)
    train     samples -> a student (fit), resumed from last.pt
    predict   a checkpoint + images -> probability maps
    evaluate  maps vs ground-truth masks -> pixel metrics

Each call is one stage with an id (``"pseudo/<name>"``) and a key: the digests of its
inputs and its settings. Its record goes to ``OUT/stages/<id>.json``
(:class:`~boxpromptiml.pipeline.cache.StageCache`), so a second run skips what is done,
resumes what was cut, and refuses to reuse a costly stage (boxes simulated, pseudo-masks,
training) that was made with other settings. The protocol (``boxprompt protocol``), the
demo, the general recipe and the COVERAGE benchmark all run through it.

Default folders under ``OUT``: ``data/<name>``, ``boxes/<name>.json``,
``pseudo/<name>``, ``train``, ``predict/<name>`` (maps in ``maps/``), ``eval/<name>``;
every stage takes a ``folder`` to put its output elsewhere.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from boxpromptiml.data.sources import SizeMismatch
from boxpromptiml.errors import ConfigError
from boxpromptiml.pipeline.cache import StageCache, digest, file_digest, fingerprint
from boxpromptiml.workers import spawn_executor

__all__ = ["Boxes", "Evaluated", "Pipeline", "Predicted", "PseudoLabels", "Trained"]

PathLike = str | os.PathLike[str]


@dataclass
class Boxes:
    """A training set's box file: ``file`` (COCO), ``key`` (digest of what made it),
    ``images`` and ``n_boxes`` counts, ``label`` (where the boxes came from, for tables),
    ``simulated`` (drawn from masks, not by people), ``problems`` (entries dropped)."""

    file: Path
    key: str
    images: int
    n_boxes: int
    label: str
    simulated: bool
    problems: list[str] = field(default_factory=list)


@dataclass
class PseudoLabels:
    """Pseudo-masks in ``folder`` (``<stem>.png``, ``manifest.json``, ``quality.json``)
    and the stage's ``summary`` (counts, mean IoU and F1 against the GT masks)."""

    folder: Path
    key: str
    summary: dict[str, Any]

    def samples(self, dataset: Any, prefix: str = "") -> list[Any]:
        """Training samples: each image of ``dataset`` with a pseudo-mask here, paired by
        stem; names are ``<prefix>/<stem>`` when ``prefix`` is given (unique across sets)."""
        from boxpromptiml.data.sources import Sample

        manifest = json.loads((self.folder / "manifest.json").read_text(encoding="utf-8"))
        labelled = manifest.get("images", {})
        out = []
        for s in dataset:
            rec = labelled.get(s.image.stem)
            if rec is not None and (self.folder / rec["file"]).is_file():
                name = f"{prefix}/{s.image.stem}" if prefix else s.image.stem
                out.append(Sample(name, s.image, self.folder / rec["file"], 1))
        return out


@dataclass
class Trained:
    """A trained student: ``last`` (``last.pt``), ``folder`` (the run), ``key`` (digest
    of the checkpoint file) and ``summary`` (epochs, steps, last history row)."""

    last: Path
    folder: Path
    key: str
    summary: dict[str, Any]


@dataclass
class Predicted:
    """Maps in ``maps`` (``<stem>.png``, 0-255) under ``folder``; ``key`` digests the
    checkpoint, the images and the settings; ``summary`` counts predicted and skipped."""

    folder: Path
    maps: Path
    key: str
    summary: dict[str, Any]


@dataclass
class Evaluated:
    """Pixel metrics of one test set, saved in ``folder`` (``results.json``,
    ``summary.csv``, ``per_image.csv``): ``summary`` (f1, iou, auc, counts) and ``table``
    (the printed table)."""

    folder: Path
    summary: dict[str, Any]
    table: str


def _in_child(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a spawned process. OpenCV's thread pool, once used in
    this process, would deadlock the forked workers of a later training loader."""
    with spawn_executor(1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


class Pipeline:
    """The stages of one run folder ``out`` (see the module docstring).

    Args:
        out: the run folder (created on the first stage that writes).
        progress: progress bars in the stages' tools.
        echo: where stage lines go (default :func:`print`); ``tag`` prefixes them
            (``[protocol] train: done``).
        write: write records and outputs (``False`` on the non-zero ranks of a torchrun).
    """

    def __init__(
        self,
        out: PathLike,
        *,
        progress: bool = True,
        echo: Callable[[str], None] | None = None,
        tag: str = "pipeline",
        write: bool = True,
    ) -> None:
        self.out = Path(out)
        self.progress = progress
        self.tag = tag
        self.write = write
        self.cache = StageCache(self.out, write=write)
        self._echo = echo or (lambda s: print(s, flush=True))

    @property
    def log(self) -> dict[str, str]:
        """What happened to each stage met so far: ``"skipped (done)"`` or ``"ran (… s)"``."""
        return self.cache.log

    def say(self, text: str) -> None:
        """Print one stage line, prefixed with the tag."""
        self._echo(f"[{self.tag}] {text}" if text else "")

    # ------------------------------------------------------------------ synth
    def synth(
        self,
        name: str,
        photos: Sequence[Any] | None,
        config: Any,
        *,
        folder: PathLike | None = None,
        workers: int | None = None,
        isolate: bool = False,
    ) -> Path:
        """Synthetic forgeries (``Tp/``, ``Gt/``, ``Au/``, ``boxes.json``) in
        ``folder`` (default ``OUT/data/<name>``) from ``photos`` with a
        :class:`~boxpromptiml.synth.SynthConfig`; resumes a cut run, extends a smaller
        one, and refuses a folder made with other settings (:func:`make_dataset`).
        ``isolate`` runs it in a spawned process (before training in this process)."""
        from boxpromptiml.synth import make_dataset
        from boxpromptiml.synth.dataset import default_workers

        stage_id = f"synth/{name}"
        target = Path(folder) if folder is not None else self.out / "data" / name
        listed = None if photos is None else [str(getattr(p, "path", p)) for p in photos]
        key = {"config": config.to_dict(), "photos": listed}
        done = self.cache.done(stage_id, key, strict=False)
        if done is not None and (target / "manifest.json").is_file():
            self.say(f"synth {name}: done ({target})")
            return target
        t0 = time.perf_counter()
        self.say(f"synth {name}: {config.n} forged + {config.authentic} untouched -> {target}")
        kwargs = {
            "config": config,
            "workers": workers or default_workers(),
            "progress": self.progress,
        }
        if isolate:
            made = _in_child(make_dataset, photos, target, **kwargs)
        else:
            made = make_dataset(photos, target, **kwargs)
        result = {"folder": str(made), "manifest_sha256": file_digest(made / "manifest.json")}
        self.cache.finish(stage_id, key, result, time.perf_counter() - t0)
        return Path(made)

    # ------------------------------------------------------------------ boxes
    def boxes(
        self,
        name: str,
        dataset: Any,
        *,
        file: PathLike | None = None,
        annotator: Any = None,
        invert_masks: bool = False,
        on_size_mismatch: SizeMismatch = "error",
    ) -> Boxes:
        """The box file of training set ``name``: ``file`` when given (read and counted),
        else boxes simulated from ``dataset``'s masks by ``annotator``
        (:class:`~boxpromptiml.data.annotator.AnnotatorConfig`) into
        ``OUT/boxes/<name>.json``. Simulated boxes start a pseudo-mask lineage: they are
        never silently redrawn with other settings (strict)."""
        from boxpromptiml.data.annotator import AnnotatorConfig, annotate_dataset
        from boxpromptiml.data.boxes import read_coco, write_coco

        annotator = annotator or AnnotatorConfig()
        stage_id = f"boxes/{name}"
        if file is not None:
            file = Path(file)
            key: dict[str, Any] = {"source": "file", "file": str(file), "sha256": file_digest(file)}
            label = f"boxes file ({file.name})"
            target = file
        else:
            key = {
                "source": "simulated",
                # settings at their defaults are left out: older records stay valid
                "annotator": {
                    k: v
                    for k, v in dataclasses.asdict(annotator).items()
                    if not (k in ("miss", "extra") and not v)
                },
                "dataset": fingerprint(dataset),
                "invert_masks": invert_masks,
                "on_size_mismatch": on_size_mismatch,
            }
            label = f"simulated boxes (margin {annotator.margin}, seed {annotator.seed})"
            target = self.out / "boxes" / f"{name}.json"
        done = self.cache.done(stage_id, key, strict=file is None, redo=str(target))
        if done is None or not Path(done["file"]).is_file():
            t0 = time.perf_counter()
            if file is None:
                self.say(f"boxes {name}: simulating boxes from the masks ({label})")
                box_file = annotate_dataset(
                    dataset,
                    annotator,
                    on_size_mismatch=on_size_mismatch,
                    invert_masks=invert_masks,
                    progress=self.progress,
                )
                box_file.info["source"] = "simulated boxes"
                if self.write:
                    write_coco(target, box_file)
            else:
                self.say(f"boxes {name}: {file}")
                box_file = read_coco(file)
            done = {
                "file": str(target),
                "source": "simulated" if file is None else "file",
                "images": len(box_file),
                "boxes": int(sum(len(e.boxes) for e in box_file)),
                "problems": box_file.problems,
                # our annotator (and boxprompt synth) record their settings in the file's info
                "simulated": file is None or "annotator" in box_file.info,
            }
            self.cache.finish(stage_id, key, done, time.perf_counter() - t0)
        else:
            self.say(f"boxes {name}: done")
        if file is not None and done.get("simulated"):
            label += ": simulated boxes, says the file"
        return Boxes(
            Path(done["file"]),
            digest(key),
            int(done["images"]),
            int(done["boxes"]),
            label,
            bool(done.get("simulated")),
            list(done.get("problems") or []),
        )

    # ------------------------------------------------------------------ pseudo
    def pseudo(
        self,
        name: str,
        dataset: Any,
        boxes: Boxes | PathLike,
        *,
        teacher: str = "ensemble",
        options: Mapping[str, Any] | None = None,
        binary: bool = False,
        workers: int = 1,
        batch_size: int = 1,
        folder: PathLike | None = None,
        quality: bool = True,
        invert_masks: bool = False,
        on_size_mismatch: SizeMismatch = "skip",
    ) -> PseudoLabels:
        """Pseudo-masks of ``dataset`` from ``boxes`` (a :class:`Boxes` or a COCO file)
        by the frozen ``teacher`` in ``folder`` (default ``OUT/pseudo/<name>``),
        resumable per image; with ``quality``, their IoU/F1 against the dataset's masks
        (``quality.json``). Strict: other settings on a finished folder raise."""
        from boxpromptiml.teachers.pseudo import pseudo_label
        from boxpromptiml.teachers.quality import pseudo_quality

        stage_id = f"pseudo/{name}"
        target = Path(folder) if folder is not None else self.out / "pseudo" / name
        if not isinstance(boxes, Boxes):
            path = Path(boxes)
            boxes_file, boxes_key = path, file_digest(path)
        else:
            boxes_file, boxes_key = boxes.file, boxes.key
        opts = dict(options or {})
        keyed = dict(opts)
        for k, v in keyed.items():
            if k.split(".")[-1] == "checkpoint" and v is not None:
                keyed[k] = {"path": str(v), "bytes": Path(v).stat().st_size}
        key = {"boxes": boxes_key, "teacher": teacher, "options": keyed, "binary": binary}
        done = self.cache.done(stage_id, key, strict=True, redo=str(target))
        if done is None:
            t0 = time.perf_counter()
            self.say(f"pseudo {name}: '{teacher}' teacher -> {target}")
            res = pseudo_label(
                dataset,
                boxes_file,
                target,
                teacher,
                teacher_options=opts,
                binary=binary,
                workers=workers,
                batch_size=batch_size,
                progress=self.progress,
            )
            done = {
                "pseudo_masks": len(res.labelled) + len(res.resumed),
                "pseudo_failed": len(res.failed),
                "unboxed": len(res.unboxed),
                "fallbacks": res.fallbacks,
                "pseudo_iou": None,
                "pseudo_f1": None,
            }
            if quality:
                q = pseudo_quality(
                    target, dataset, on_size_mismatch=on_size_mismatch, invert_masks=invert_masks
                )
                if self.write:
                    q.save(target / "quality.json")
                done["pseudo_iou"] = q.mean_iou if q.n else None
                done["pseudo_f1"] = q.mean_f1 if q.n else None
                done["quality_images"] = q.n
            self.cache.finish(stage_id, key, done, time.perf_counter() - t0)
            iou = done["pseudo_iou"]
            self.say(
                f"    {res.summary()}"
                + (f"; pseudo-mask IoU vs GT {iou:.3f}" if isinstance(iou, float) else "")
            )
        else:
            self.say(f"pseudo {name}: done")
        return PseudoLabels(target, digest(key), dict(done))

    # ------------------------------------------------------------------ refine
    def refine(
        self,
        name: str,
        dataset: Any,
        pseudo: PseudoLabels,
        trained: Trained,
        *,
        student_weight: float = 0.6,
        clip_margin: float = 0.02,
        settings: Mapping[str, Any] | None = None,
        folder: PathLike | None = None,
        quality: bool = True,
    ) -> PseudoLabels:
        """Self-training: the next round's pseudo-masks from the student and the teacher.

        For each image of ``pseudo``, the student's map (``trained``, predicted with
        ``settings``) is kept only inside the image's boxes (each grown by
        ``clip_margin`` of its size, as teachers clip), then averaged with the teacher's
        map: ``(1 - w)·teacher + w·student`` with ``w = student_weight``. With the default
        0.6 the student can remove a teacher pixel it finds authentic (student < 0.17) and
        add one it is sure of (> 0.83); at 0.5 a binary teacher's mask could never change.
        Images without
        boxes stay all-zero. Written to ``folder`` (default ``OUT/pseudo/<name>``) with a
        ``manifest.json`` like :func:`pseudo_label`'s and, with ``quality``, their IoU
        against the dataset's masks. Strict, like the pseudo stage.
        """
        from boxpromptiml.data.images import load_image, load_map, resize_map, save_png
        from boxpromptiml.fileio import atomic_write_json
        from boxpromptiml.predict import Localizer
        from boxpromptiml.teachers.maps import grow_box
        from boxpromptiml.teachers.quality import pseudo_quality

        if not 0.0 <= student_weight <= 1.0:
            raise ConfigError(f"student_weight must lie in [0, 1], got {student_weight}")
        stage_id = f"refine/{name}"
        target = Path(folder) if folder is not None else self.out / "pseudo" / name
        opts = dict(settings or {})
        key = {
            "pseudo": pseudo.key,
            "student": trained.key,
            "student_weight": student_weight,
            "clip_margin": clip_margin,
            "predict": opts,
        }
        done = self.cache.done(stage_id, key, strict=True, redo=str(target))
        if done is not None and (target / "manifest.json").is_file():
            self.say(f"refine {name}: done")
            return PseudoLabels(target, digest(key), dict(done))
        t0 = time.perf_counter()
        self.say(f"refine {name}: student x {student_weight:g} + teacher -> {target}")
        manifest = json.loads((pseudo.folder / "manifest.json").read_text(encoding="utf-8"))
        localizer = Localizer.from_checkpoint(trained.last, **opts)
        target.mkdir(parents=True, exist_ok=True)
        images: dict[str, Any] = {}
        for stem, rec in manifest.get("images", {}).items():
            teacher_map = load_map(pseudo.folder / rec["file"])
            boxes = np.asarray(rec.get("boxes") or [], dtype=np.float64).reshape(-1, 4)
            out = teacher_map.copy()
            if len(boxes):
                image = load_image(rec["image"])
                student = resize_map(localizer.predict_maps([image])[0], teacher_map.shape)
                inside = np.zeros(teacher_map.shape, bool)
                h, w = teacher_map.shape
                for box in boxes:  # the window a teacher clips its map to
                    xa, ya, xb, yb = grow_box(box, clip_margin, h, w)
                    inside[ya:yb, xa:xb] = True
                out = (1 - student_weight) * teacher_map + student_weight * np.where(
                    inside, student, 0.0
                )
            save_png(target / rec["file"], out.astype(np.float32))
            images[stem] = {**rec, "refined": {"student_weight": student_weight}}
        atomic_write_json(
            target / "manifest.json",
            {**manifest, "images": images, "refined_from": str(pseudo.folder),
             "student": str(trained.last)},
        )  # fmt: skip
        summary: dict[str, Any] = {"pseudo_masks": len(images), "pseudo_iou": None}
        if quality:
            q = pseudo_quality(target, dataset)
            if self.write:
                q.save(target / "quality.json")
            summary["pseudo_iou"] = q.mean_iou if q.n else None
            summary["pseudo_f1"] = q.mean_f1 if q.n else None
        self.cache.finish(stage_id, key, summary, time.perf_counter() - t0)
        if isinstance(summary["pseudo_iou"], float):
            self.say(f"    pseudo-mask IoU vs GT {summary['pseudo_iou']:.3f}")
        return PseudoLabels(target, digest(key), summary)

    # ------------------------------------------------------------------ train
    def train(self, config: Any, *, stage_id: str = "train") -> Trained:
        """Train (or resume) a student with a :class:`~boxpromptiml.train.TrainConfig`
        in its ``out_dir``. The key is every run-defining field (runtime ones such as
        ``workers`` or ``progress`` may change); other settings on a finished run raise.
        ``resume`` is set when ``last.pt`` is there."""
        from boxpromptiml.train import RUNTIME_FIELDS, fit

        folder = Path(config.out_dir)
        last = folder / "last.pt"
        cfg = dataclasses.replace(config, resume=last.is_file(), progress=self.progress).validated()
        run_def = {k: v for k, v in cfg.to_dict().items() if k not in RUNTIME_FIELDS}
        run_def["train"] = {"samples": len(cfg.train), "digest": digest(run_def["train"])}
        if cfg.val:
            run_def["val"] = {"samples": len(cfg.val), "digest": digest(run_def["val"])}
        done = self.cache.done(stage_id, run_def, strict=True, redo=str(folder))
        if done is not None and last.is_file():
            self.say(f"{stage_id}: done ({last})")
            return Trained(last, folder, file_digest(last), dict(done))
        t0 = time.perf_counter()
        self.say(
            f"{stage_id}: {cfg.model.backbone} student on {len(cfg.train)} images, "
            f"{cfg.epochs} epochs{' (resuming)' if cfg.resume else ''} -> {folder}"
        )
        res = fit(cfg)
        summary = {
            "last": str(res.last),
            "best": None if res.best is None else str(res.best),
            "epochs": res.epochs,
            "steps": res.steps,
            "history": res.history[-1:],
        }
        self.cache.finish(stage_id, run_def, summary, time.perf_counter() - t0)
        return Trained(res.last, folder, file_digest(res.last), summary)

    # ------------------------------------------------------------------ predict
    def predict(
        self,
        name: str,
        images: PathLike | Sequence[Any],
        checkpoint: PathLike | Trained,
        *,
        settings: Mapping[str, Any] | None = None,
        folder: PathLike | None = None,
    ) -> Predicted:
        """Probability maps of ``images`` (a source or a list: paths, folders, samples)
        by ``checkpoint`` in ``folder`` (default ``OUT/predict/<name>``, maps in
        ``maps/``). ``settings``: keyword arguments of
        :meth:`~boxpromptiml.predict.Localizer.from_checkpoint` (device, threads,
        batch_size, tile, overlap). Cheap: other settings redo it."""
        from boxpromptiml.predict import Localizer, predict_to_folder

        stage_id = f"predict/{name}"
        target = Path(folder) if folder is not None else self.out / "predict" / name
        ckpt = checkpoint.last if isinstance(checkpoint, Trained) else Path(checkpoint)
        ckpt_key = checkpoint.key if isinstance(checkpoint, Trained) else file_digest(ckpt)
        items: list[Any] = [Path(images)] if isinstance(images, str | os.PathLike) else list(images)
        sources = [getattr(s, "image", s) for s in items]
        opts = dict(settings or {})
        key = {"checkpoint": ckpt_key, "images": fingerprint(items), "predict": opts}
        done = self.cache.done(stage_id, key, strict=False)
        if done is not None and (target / "maps").is_dir():
            self.say(f"predict {name}: done")
            return Predicted(target, target / "maps", digest(key), dict(done))
        t0 = time.perf_counter()
        self.say(f"predict {name}: -> {target / 'maps'}")
        if target.is_dir() and (target / "run.json").is_file():
            shutil.rmtree(target)  # our own earlier output: no stale maps
        localizer = Localizer.from_checkpoint(ckpt, **opts)
        run = predict_to_folder(
            localizer,
            sources,
            target,
            save_mask=False,
            save_overlay=False,
            save_json=False,
            progress=self.progress,
        )
        summary = {
            "predicted": run.n_predicted,
            "skipped": [f"{s.source}: {s.reason}" for s in run.skipped],
        }
        self.cache.finish(stage_id, key, summary, time.perf_counter() - t0)
        return Predicted(target, target / "maps", digest(key), summary)

    # ------------------------------------------------------------------ evaluate
    def evaluate(
        self,
        name: str,
        dataset: Any,
        predicted: Predicted,
        *,
        threshold: float = 0.5,
        on_size_mismatch: SizeMismatch = "error",
        invert_masks: bool = False,
        image_reduce: str = "max",
        ci: bool = False,
        folder: PathLike | None = None,
    ) -> Evaluated:
        """Pixel metrics of ``dataset`` (GT masks) against ``predicted`` maps, saved in
        ``folder`` (default ``OUT/eval/<name>``); ``ci`` adds bootstrap intervals,
        ``image_reduce`` is the map → image score reduction. Cheap: other settings redo
        it."""
        from boxpromptiml.evaluate import evaluate

        stage_id = f"evaluate/{name}"
        target = Path(folder) if folder is not None else self.out / "eval" / name
        key = {
            "predict": predicted.key,
            "threshold": threshold,
            "invert_masks": invert_masks,
            "on_size_mismatch": on_size_mismatch,
        }
        if ci or image_reduce != "max":  # (keys of earlier records stay valid)
            key.update(ci=ci, image_reduce=image_reduce)
        done = self.cache.done(stage_id, key, strict=False)
        if done is not None and (target / "results.json").is_file():
            self.say(f"evaluate {name}: done")
            # the record stores NaN (no value) as null
            summary = {k: math.nan if v is None else v for k, v in done["summary"].items()}
            return Evaluated(target, summary, str(done["table"]))
        t0 = time.perf_counter()
        self.say(f"evaluate {name}")
        res = evaluate(
            [dataset],
            [predicted.maps],
            threshold=threshold,
            on_size_mismatch=on_size_mismatch,
            on_missing_pred="skip",
            invert_masks=invert_masks,
            image_reduce=image_reduce,
            progress=self.progress,
            ci=ci,
        )
        if self.write:
            res.save(target)
        summary = dict(res.datasets[0].summary)
        done = {"summary": summary, "table": res.table()}
        self.cache.finish(stage_id, key, done, time.perf_counter() - t0)
        return Evaluated(target, summary, done["table"])
