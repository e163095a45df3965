"""The paper's protocol in one call: boxes → pseudo-masks → student → predict → evaluate.

:func:`run_protocol` reads a JSON configuration (``configs/paper-protocol.json`` is the
paper's; ``docs/paper-protocol.md`` documents every key), checks every path in it, then
runs the stages and writes a table of per-dataset pixel F1 with the **in-distribution (ID)
and out-of-distribution (OOD) averages** (unweighted means of the per-dataset F1s, as the
paper reports them), next to the paper's BoxPromptIML row.

Stages, each resumable (a finished stage is skipped when the run is started again)::

    boxes     per training set: the COCO box file given in the config, or boxes simulated
              from the ground-truth masks (simulated annotator, recorded as such)
    pseudo    per training set: pseudo-masks from the frozen teacher (pseudo_label)
    train     one student on the pseudo-masks of every training set (fit)
    predict   per test set: probability maps (Localizer + predict_to_folder)
    evaluate  per test set: pixel metrics against the ground-truth masks (evaluate)

Output folder (``runs/protocol/<name>`` unless given)::

    OUT/protocol.json              the resolved configuration (absolute paths)
    OUT/boxes/<train set>.json     simulated boxes (COCO), when the config gives no box file
    OUT/pseudo/<train set>/        <stem>.png pseudo-masks, manifest.json, quality.json
    OUT/train/                     the student run: config.json, log.csv, last.pt
    OUT/predict/<test set>/maps/   <stem>.png probability maps (0-255)
    OUT/eval/<test set>/           results.json, summary.csv, per_image.csv
    OUT/stages/<stage>.json        one record per finished stage: its settings and result
    OUT/summary.json|csv|md        the table (written atomically)

A stage record holds the settings the stage ran with. Re-running with changed settings
redoes the cheap stages (predict, evaluate) and refuses to reuse the costly ones (boxes,
pseudo-masks, training) with a :class:`~boxpromptiml.errors.ConfigError` naming what to
delete. Missing datasets, box files or checkpoints raise before any stage starts.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import os
import re
import shutil
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from boxpromptiml.data.annotator import AnnotatorConfig
from boxpromptiml.data.sources import DEFAULT_MASK_SUFFIXES, Dataset, SizeMismatch
from boxpromptiml.errors import ConfigError, DataError
from boxpromptiml.fileio import atomic_write_json, atomic_write_text
from boxpromptiml.tables import jsonable, rows_to_csv

__all__ = [
    "PAPER_AVERAGES",
    "PAPER_F1",
    "STAGES",
    "DatasetSpec",
    "ProtocolConfig",
    "ProtocolResult",
    "TeacherSpec",
    "load_protocol_config",
    "run_protocol",
]

PathLike = str | os.PathLike[str]

#: The paper's BoxPromptIML pixel F1 at 0.5 on its in-distribution test sets (PAPER.md §4).
PAPER_F1: dict[str, float] = {
    "NIST16": 0.618,
    "CASIAv1": 0.552,
    "Columbia": 0.903,
    "COVERAGE": 0.403,
}
#: The paper's BoxPromptIML ID and OOD averages (the OOD sets are not named in what we read).
PAPER_AVERAGES: dict[str, float] = {"id": 0.619, "ood": 0.285}

#: The stages, in order (``stop_after`` takes one of them).
STAGES: tuple[str, ...] = ("boxes", "pseudo", "train", "predict", "evaluate")

#: Keys of the configuration, per section. Keys starting with ``_`` are comments.
TOP_KEYS = (
    "name",
    "data_root",
    "train_sets",
    "test_sets",
    "annotator",
    "teacher",
    "train",
    "predict",
    "evaluate",
)
DATASET_KEYS = (
    "name",
    "path",
    "masks",
    "mask_suffixes",
    "invert_masks",
    "on_size_mismatch",
    "authentic",
    "boxes",
    "expected_images",
)
TEACHER_KEYS = (
    "name",
    "checkpoint",
    "variant",
    "device",
    "options",
    "workers",
    "batch_size",
    "binary",
)
PREDICT_KEYS = ("device", "batch_size", "tile", "overlap", "threads")
EVALUATE_KEYS = ("threshold",)
#: TrainConfig fields the protocol sets itself (data, folder, resume, display).
_TRAIN_FIXED = ("train", "val", "out_dir", "resume", "progress", "supervision")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


# ============================================================================ configuration


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the protocol, with absolute paths.

    ``path`` is what :func:`boxpromptiml.data.sources.load_dataset` accepts: a ROOT with
    ``Tp/`` + ``Gt/`` (+ ``Au/``), an IMDL-BenCo JSON list, or an image folder with
    ``masks`` a mask folder. ``authentic`` keeps authentic images (training sets: off, as
    the paper counts tampered images only; test sets: on, they enter image-level metrics
    only). ``boxes`` (training sets only): a COCO box file; ``None`` simulates boxes from
    the masks. ``expected_images``: the paper's count of manipulated images, to report a
    difference.
    """

    name: str
    path: Path
    masks: Path | None = None
    mask_suffixes: tuple[str, ...] = DEFAULT_MASK_SUFFIXES
    invert_masks: bool = False
    on_size_mismatch: SizeMismatch = "skip"
    authentic: bool = False
    boxes: Path | None = None
    expected_images: int | None = None

    def load(self) -> Dataset:
        """The dataset (authentic images dropped unless ``authentic``); raises DataError."""
        from boxpromptiml.data.sources import load_dataset

        ds = load_dataset(self.path, self.masks, mask_suffixes=self.mask_suffixes, name=self.name)
        if not self.authentic:
            ds.samples = [s for s in ds.samples if s.label != 0]
        return ds

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form (paths as strings)."""
        d = dataclasses.asdict(self)
        for k in ("path", "masks", "boxes"):
            d[k] = None if d[k] is None else str(d[k])
        d["mask_suffixes"] = list(self.mask_suffixes)
        return d


@dataclass(frozen=True)
class TeacherSpec:
    """The teacher: a registered name, its options (a ``checkpoint`` path absolute), and how
    :func:`~boxpromptiml.teachers.pseudo.pseudo_label` runs it (``workers`` CPU processes
    or ``batch_size`` images per call on a GPU)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    workers: int = 1
    batch_size: int = 1
    binary: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = jsonable(dataclasses.asdict(self))
        return out


@dataclass
class ProtocolConfig:
    """A parsed, structurally valid protocol configuration (see the module docstring).

    ``source`` is the JSON file (``None`` for a dict); ``base_dir`` the folder that the
    teacher checkpoint and training weight paths were resolved against; ``data_root`` the
    one for dataset paths. Paths are absolute; :meth:`check_paths` checks that they exist.
    ``train`` holds keyword arguments of :class:`boxpromptiml.train.TrainConfig` (``model``
    as a :class:`~boxpromptiml.student.StudentArgs`); ``predict`` those of
    :class:`~boxpromptiml.predict.Localizer` plus ``device`` and ``threads``.
    """

    name: str
    source: Path | None
    base_dir: Path
    data_root: Path
    train_sets: list[DatasetSpec]
    test_id: list[DatasetSpec]
    test_ood: list[DatasetSpec]
    annotator: AnnotatorConfig
    teacher: TeacherSpec
    train: dict[str, Any]
    predict: dict[str, Any]
    threshold: float = 0.5

    @property
    def test_sets(self) -> list[tuple[str, DatasetSpec]]:
        """``(group, spec)`` for every test set, ID first."""
        return [("id", s) for s in self.test_id] + [("ood", s) for s in self.test_ood]

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration (absolute paths), as saved in ``protocol.json``."""
        from boxpromptiml.student.build import StudentArgs

        train = dict(self.train)
        if isinstance(train.get("model"), StudentArgs):
            train["model"] = train["model"].to_dict()
        for k in ("pretrained", "init_from"):
            if isinstance(train.get(k), Path):
                train[k] = str(train[k])
        return jsonable(
            {
                "name": self.name,
                "source": None if self.source is None else str(self.source),
                "data_root": str(self.data_root),
                "train_sets": [s.to_dict() for s in self.train_sets],
                "test_sets": {
                    "id": [s.to_dict() for s in self.test_id],
                    "ood": [s.to_dict() for s in self.test_ood],
                },
                "annotator": dataclasses.asdict(self.annotator),
                "teacher": self.teacher.to_dict(),
                "train": train,
                "predict": self.predict,
                "evaluate": {"threshold": self.threshold},
            }
        )

    # ------------------------------------------------------------------ path checks
    def check_paths(self) -> dict[str, Dataset]:
        """Check that everything the run reads exists, before any long work; return the
        datasets keyed ``"train/<name>"`` and ``"test/<name>"``.

        Raises :class:`DataError` naming each missing dataset, box file, checkpoint or
        listed image, or a dataset that cannot be paired; :class:`ConfigError` when the
        SAM teacher's package is missing. Size-mismatched pairs fail here only for datasets
        whose ``on_size_mismatch`` is ``"error"``.
        """
        where = f"{self.source}: " if self.source else ""
        missing: list[str] = []
        for role, specs in (
            ("train set", self.train_sets),
            ("test set", self.test_id + self.test_ood),
        ):
            for s in specs:
                for label, p in (("", s.path), (" masks", s.masks), (" boxes", s.boxes)):
                    if p is not None and not p.exists():
                        missing.append(f"{p} ({role} {s.name}{label})")
        for key, value in self.teacher.options.items():
            if (
                key.split(".")[-1] == "checkpoint"
                and value is not None
                and not Path(value).is_file()
            ):
                missing.append(f"{value} (teacher {self.teacher.name} checkpoint)")
        pretrained = self.train.get("pretrained")
        if isinstance(pretrained, Path) and not pretrained.is_file():
            missing.append(f"{pretrained} (train.pretrained)")
        init_from = self.train.get("init_from")
        if init_from is not None and not Path(init_from).is_file():
            missing.append(f"{init_from} (train.init_from)")
        if missing:
            raise DataError(
                f"{where}{len(missing)} path(s) not found: {'; '.join(missing)} "
                f"(relative dataset paths resolve against the data root {self.data_root}; "
                "set it with --data-root)"
            )
        self._check_teacher_environment()

        from boxpromptiml.data.boxes import read_coco
        from boxpromptiml.data.sources import check_sizes

        loaded: dict[str, Dataset] = {}
        for role, specs in (("train", self.train_sets), ("test", self.test_id + self.test_ood)):
            for s in specs:
                ds = s.load()
                if not any(x.label == 1 for x in ds):
                    raise DataError(f"{s.path}: {role} set {s.name} holds no manipulated image")
                absent = [
                    str(p)
                    for x in ds
                    for p in (x.image, x.mask)
                    if p is not None and not p.is_file()
                ]
                if absent:
                    raise DataError(
                        f"{s.path}: {len(absent)} file(s) listed by {role} set {s.name} not "
                        f"found: {', '.join(absent[:5])}{' ...' if len(absent) > 5 else ''}"
                    )
                check_sizes(ds, s.on_size_mismatch)
                if s.boxes is not None:
                    with warnings.catch_warnings():  # clipped boxes are reported when used
                        warnings.simplefilter("ignore")
                        read_coco(s.boxes)
                loaded[f"{role}/{s.name}"] = ds
        return loaded

    def _check_teacher_environment(self) -> None:
        import importlib.util

        base = self.teacher.name.partition("+")[0]
        uses_sam = base == "sam" or any(k.startswith("sam.") for k in self.teacher.options)
        if uses_sam and importlib.util.find_spec("segment_anything") is None:
            raise ConfigError(
                "the sam teacher needs the 'segment_anything' package: pip install 'boxpromptiml[sam]'"
            )
        if base in ("u2netp", "ensemble"):
            from boxpromptiml.weights import require

            require("u2netp")


def _hint(key: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _section(
    value: Any, where: str, allowed: Sequence[str], required: Sequence[str] = ()
) -> dict[str, Any]:
    """``value`` as a dict without comment keys (``_...``); unknown keys raise with a hint."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a JSON object, got {type(value).__name__}")
    out = {k: v for k, v in value.items() if not str(k).startswith("_")}
    for k in out:
        if k not in allowed:
            raise ConfigError(
                f"{where}: unknown key {k!r}{_hint(k, allowed)} (known: {', '.join(allowed)})"
            )
    for k in required:
        if k not in out:
            raise ConfigError(f"{where}: missing required key {k!r}")
    return out


def _typed(value: Any, kinds: type | tuple[type, ...], where: str) -> Any:
    """``value`` if it is of ``kinds`` (a bool never passes for a number); else ConfigError."""
    kinds_t = kinds if isinstance(kinds, tuple) else (kinds,)
    ok = isinstance(value, kinds_t) and not (isinstance(value, bool) and bool not in kinds_t)
    if not ok:
        names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds_t)
        raise ConfigError(f"{where}: expected {names}, got {value!r}")
    return value


def _resolve(path: str, base: Path) -> Path:
    p = Path(os.path.expanduser(path))
    return Path(os.path.normpath(p if p.is_absolute() else base / p))


def _dataset(raw: Any, where: str, data_root: Path, training: bool) -> DatasetSpec:
    if isinstance(raw, str):
        raw = {"path": raw}
    keys = DATASET_KEYS if training else tuple(k for k in DATASET_KEYS if k != "boxes")
    d = _section(raw, where, keys, required=("path",))
    path = _resolve(_typed(d["path"], str, f"{where}.path"), data_root)
    default_name = path.stem if path.suffix.lower() == ".json" else path.name
    name = _typed(d.get("name", default_name), str, f"{where}.name")
    if not _NAME_RE.match(name):
        raise ConfigError(
            f"{where}.name: {name!r} must be a folder-safe name (letters, digits, . _ + -)"
        )
    masks = d.get("masks")
    boxes = d.get("boxes")
    suffixes = d.get("mask_suffixes", list(DEFAULT_MASK_SUFFIXES))
    if not isinstance(suffixes, list) or not all(isinstance(x, str) for x in suffixes):
        raise ConfigError(f"{where}.mask_suffixes: expected a list of strings, got {suffixes!r}")
    policy = d.get("on_size_mismatch", "skip")
    if policy not in ("error", "skip", "resize"):
        raise ConfigError(
            f"{where}.on_size_mismatch: must be error, skip or resize, got {policy!r}"
        )
    expected = d.get("expected_images")
    if expected is not None and (_typed(expected, int, f"{where}.expected_images") < 1):
        raise ConfigError(f"{where}.expected_images: must be a positive integer, got {expected}")
    return DatasetSpec(
        name=name,
        path=path,
        masks=None if masks is None else _resolve(_typed(masks, str, f"{where}.masks"), data_root),
        mask_suffixes=tuple(suffixes),
        invert_masks=_typed(d.get("invert_masks", False), bool, f"{where}.invert_masks"),
        on_size_mismatch=policy,
        authentic=_typed(d.get("authentic", not training), bool, f"{where}.authentic"),
        boxes=None if boxes is None else _resolve(_typed(boxes, str, f"{where}.boxes"), data_root),
        expected_images=expected,
    )


def _datasets(raw: Any, where: str, data_root: Path, training: bool) -> list[DatasetSpec]:
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: expected a list of datasets, got {type(raw).__name__}")
    specs = [_dataset(x, f"{where}[{i}]", data_root, training) for i, x in enumerate(raw)]
    return specs


def _teacher(raw: Any, where: str, base_dir: Path) -> TeacherSpec:
    from boxpromptiml.teachers.registry import split_name, teacher_options

    d = _section(raw, where, TEACHER_KEYS, required=("name",))
    name = _typed(d["name"], str, f"{where}.name")
    base, _refine = split_name(name)
    allowed = teacher_options(base)  # raises ConfigError with a hint for an unknown teacher
    options = dict(_typed(d.get("options", {}), dict, f"{where}.options"))
    for key in ("checkpoint", "variant", "device"):
        if d.get(key) is not None:
            if key not in allowed:
                raise ConfigError(f"{where}.{key}: teacher {name!r} takes no {key!r}")
            options[key] = d[key]
    for key in options:
        if "." in key and base == "ensemble":
            continue  # an ensemble member's option, checked when the teacher is built
        if key not in allowed:
            raise ConfigError(
                f"{where}.options: teacher {base!r} has no option {key!r}{_hint(key, allowed)}"
            )
    for key, value in list(options.items()):
        if key.split(".")[-1] == "checkpoint" and value is not None:
            options[key] = str(_resolve(_typed(value, str, f"{where}.{key}"), base_dir))
    if base == "sam" and options.get("checkpoint") is None and not options.get("random_init"):
        raise ConfigError(
            f"{where}.checkpoint: the sam teacher needs a checkpoint (e.g. sam_vit_h_4b8939.pth)"
        )
    workers = _typed(d.get("workers", 1), int, f"{where}.workers")
    batch_size = _typed(d.get("batch_size", 1), int, f"{where}.batch_size")
    if workers < 1 or batch_size < 1:
        raise ConfigError(f"{where}: workers and batch_size must be at least 1")
    if workers > 1 and batch_size > 1:
        raise ConfigError(
            f"{where}: use either workers > 1 (CPU) or batch_size > 1 (GPU), not both"
        )
    binary = _typed(d.get("binary", False), bool, f"{where}.binary")
    return TeacherSpec(name, options, workers, batch_size, binary)


def _train_settings(raw: Any, where: str, base_dir: Path) -> dict[str, Any]:
    from boxpromptiml.data.sources import Sample
    from boxpromptiml.student.build import STUDENTS, check_timm_name, resolve_student_args
    from boxpromptiml.train import TrainConfig

    allowed = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in _TRAIN_FIXED]
    d = _section(raw, where, allowed)
    model = d.get("model", "tinyvit5m")
    if not isinstance(model, str | dict):
        raise ConfigError(f"{where}.model: expected a preset name, a timm name or an object")
    try:
        args = resolve_student_args(model)
    except (ConfigError, TypeError) as exc:
        raise ConfigError(f"{where}.model: {exc}") from exc
    if not (isinstance(model, str) and model in STUDENTS):
        try:
            check_timm_name(args.backbone)
        except ConfigError as exc:
            raise ConfigError(f"{where}.model: {exc}") from exc
    d["model"] = args
    pretrained = d.get("pretrained")
    if pretrained is not None:
        _typed(pretrained, str, f"{where}.pretrained")
        if pretrained != "timm" and not pretrained.startswith("hf-hub:"):
            d["pretrained"] = _resolve(pretrained, base_dir)
    if d.get("init_from") is not None:
        d["init_from"] = _resolve(_typed(d["init_from"], str, f"{where}.init_from"), base_dir)
    if d.get("devices", "auto") not in ("auto", 1) or d.get("num_nodes", 1) != 1:
        raise ConfigError(
            f"{where}: devices and num_nodes stay 'auto' and 1 here; for several GPUs run the "
            "train stage under torchrun (docs/paper-protocol.md)"
        )
    # let TrainConfig validate the values now, with a placeholder sample and no file checks
    probe: dict[str, Any] = {k: (None if k == "init_from" else v) for k, v in d.items()}
    if isinstance(probe.get("pretrained"), Path):
        probe["pretrained"] = str(probe["pretrained"])
    try:
        TrainConfig(
            train=[Sample("probe", Path("probe.png"))], out_dir=Path("."), **probe
        ).validated()
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    except TypeError as exc:  # a value of the wrong type deep in validation
        raise ConfigError(f"{where}: {exc}") from exc
    return d


def _predict_settings(raw: Any, where: str) -> dict[str, Any]:
    d = _section(raw, where, PREDICT_KEYS)
    out: dict[str, Any] = {
        "device": _typed(d.get("device", "auto"), str, f"{where}.device"),
        "batch_size": _typed(d.get("batch_size", 8), int, f"{where}.batch_size"),
        "tile": _typed(d.get("tile", False), bool, f"{where}.tile"),
        "overlap": float(_typed(d.get("overlap", 0.25), (int, float), f"{where}.overlap")),
        "threads": _typed(d.get("threads"), (int, type(None)), f"{where}.threads"),
    }
    if out["batch_size"] < 1:
        raise ConfigError(f"{where}.batch_size: must be at least 1, got {out['batch_size']}")
    if not 0.0 <= out["overlap"] < 1.0:
        raise ConfigError(f"{where}.overlap: must lie in [0, 1), got {out['overlap']}")
    return out


def load_protocol_config(
    config: PathLike | Mapping[str, Any],
    *,
    data_root: PathLike | None = None,
    check_paths: bool = True,
) -> ProtocolConfig:
    """Parse and validate a protocol configuration.

    Args:
        config: a JSON file, or the same content as a dict (paths then resolve against the
            current directory).
        data_root: folder that relative dataset paths (``path``, ``masks``, ``boxes``)
            resolve against. Default: the config's ``data_root`` key (itself relative to
            the config file's folder), else the config file's folder. Other relative paths
            (teacher checkpoint, ``train.pretrained``, ``train.init_from``) always resolve
            against the config file's folder.
        check_paths: also check that every file exists (:meth:`ProtocolConfig.check_paths`).
            ``False`` checks the structure only (keys, types, values).

    Raises :class:`ConfigError` for a malformed file, an unknown key (with the closest
    known one), a value of the wrong type or out of range; :class:`DataError` for missing
    files when ``check_paths``.
    """
    if isinstance(config, Mapping):
        raw: Any = dict(config)
        source: Path | None = None
        base_dir = Path.cwd()
    else:
        source = Path(config)
        if not source.is_file():
            raise DataError(f"{source}: protocol configuration not found")
        try:
            raw = json.loads(source.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{source}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{source}: not a UTF-8 text file ({exc})") from exc
        base_dir = source.resolve().parent
    where = str(source) if source else "config"
    top = _section(raw, where, TOP_KEYS, required=("train_sets", "test_sets", "teacher"))
    if data_root is not None:
        root = Path(os.path.expanduser(str(data_root))).resolve()
    elif top.get("data_root") is not None:
        root = _resolve(_typed(top["data_root"], str, f"{where}: data_root"), base_dir).resolve()
    else:
        root = base_dir
    name = _typed(top.get("name", source.stem if source else "protocol"), str, f"{where}: name")
    if not _NAME_RE.match(name):
        raise ConfigError(f"{where}: name {name!r} must be a folder-safe name")

    train_sets = _datasets(top["train_sets"], f"{where}: train_sets", root, training=True)
    tests = _section(top["test_sets"], f"{where}: test_sets", ("id", "ood"))
    test_id = _datasets(tests.get("id", []), f"{where}: test_sets.id", root, training=False)
    test_ood = _datasets(tests.get("ood", []), f"{where}: test_sets.ood", root, training=False)
    if not train_sets:
        raise ConfigError(f"{where}: train_sets is empty")
    if not test_id and not test_ood:
        raise ConfigError(f"{where}: test_sets has no dataset (give 'id' and/or 'ood' lists)")
    for what, specs in (("train_sets", train_sets), ("test_sets", test_id + test_ood)):
        names = [s.name for s in specs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(
                f"{where}: {what} names must be unique, {', '.join(dup)} repeats; add a 'name'"
            )

    ann_raw = _section(
        top.get("annotator", {}),
        f"{where}: annotator",
        [f.name for f in dataclasses.fields(AnnotatorConfig)],
    )
    try:
        annotator = AnnotatorConfig(**{"margin": 0.1, "seed": 0, **ann_raw})
    except TypeError as exc:
        raise ConfigError(f"{where}: annotator: {exc}") from exc
    teacher = _teacher(top["teacher"], f"{where}: teacher", base_dir)
    train = _train_settings(top.get("train", {}), f"{where}: train", base_dir)
    predict = _predict_settings(top.get("predict", {}), f"{where}: predict")
    ev = _section(top.get("evaluate", {}), f"{where}: evaluate", EVALUATE_KEYS)
    threshold = float(
        _typed(ev.get("threshold", 0.5), (int, float), f"{where}: evaluate.threshold")
    )
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"{where}: evaluate.threshold must lie in [0, 1], got {threshold}")

    cfg = ProtocolConfig(
        name=name,
        source=None if source is None else source.resolve(),
        base_dir=base_dir,
        data_root=root,
        train_sets=train_sets,
        test_id=test_id,
        test_ood=test_ood,
        annotator=annotator,
        teacher=teacher,
        train=train,
        predict=predict,
        threshold=threshold,
    )
    if check_paths:
        cfg.check_paths()
    return cfg


# ============================================================================ stage records


def _digest(obj: Any) -> str:
    """Short SHA-256 of ``obj``'s canonical JSON."""
    text = json.dumps(jsonable(obj), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _file_digest(path: Path) -> str:
    """Short SHA-256 of a file's bytes."""
    from boxpromptiml.weights import sha256_file

    return sha256_file(path)[:16]


def _fingerprint(ds: Dataset) -> dict[str, Any]:
    """What identifies a dataset's content: its samples (names, paths, labels)."""
    items = [[s.name, str(s.image), None if s.mask is None else str(s.mask), s.label] for s in ds]
    return {"samples": len(items), "digest": _digest(items)}


class _Stages:
    """``OUT/stages/<id>.json`` records: a stage is done when its record exists and was
    made with the same settings (``key``)."""

    def __init__(self, out: Path, write: bool) -> None:
        self.dir = out / "stages"
        self.write = write
        self.log: dict[str, str] = {}

    def path(self, stage_id: str) -> Path:
        return self.dir / f"{stage_id.replace('/', '-')}.json"

    def done(self, stage_id: str, key: dict[str, Any], *, strict: bool, redo: str = "") -> Any:
        """The saved result when the stage finished with ``key``; ``None`` when it must run.

        With other settings: ``strict`` raises :class:`ConfigError` (``redo`` says what to
        delete), otherwise the stage runs again.
        """
        p = self.path(stage_id)
        if not p.is_file():
            return None
        try:
            rec = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None  # unreadable record: run the stage again (its tools resume)
        key = json.loads(json.dumps(jsonable(key), default=str))
        if rec.get("key") == key:
            self.log[stage_id] = "skipped (done)"
            return rec.get("result")
        if strict:
            old = rec.get("key") or {}
            changed = sorted(k for k in set(old) | set(key) if old.get(k) != key.get(k))
            raise ConfigError(
                f"{p}: stage '{stage_id}' was finished with other settings (changed: "
                f"{', '.join(changed)}); to redo it delete {redo} and {p}, or use another --out"
            )
        return None

    def finish(self, stage_id: str, key: dict[str, Any], result: Any, seconds: float) -> None:
        self.log[stage_id] = f"ran ({seconds:.1f} s)"
        if self.write:
            atomic_write_json(
                self.path(stage_id),
                jsonable(
                    {"stage": stage_id, "key": key, "seconds": round(seconds, 3), "result": result}
                ),
            )


# ============================================================================ result


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


# ============================================================================ the run


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
    stages = _Stages(out, write=rank == 0)
    result = ProtocolResult(out.resolve(), cfg.name, threshold=cfg.threshold)
    say(f"[protocol] {cfg.name}: {len(cfg.train_sets)} training set(s), "
        f"{len(cfg.test_id)} ID and {len(cfg.test_ood)} OOD test set(s) -> {out}")  # fmt: skip

    def finish(last: str) -> ProtocolResult:
        result.stages = dict(stages.log)
        result.stopped_after = last
        say(f"[protocol] stopped after the {last} stage")
        return result

    # ---- 1-2. boxes and pseudo-masks, per training set
    if world > 1:
        unfinished = [
            s.name for s in cfg.train_sets if not stages.path(f"pseudo/{s.name}").is_file()
        ]
        if unfinished:
            raise ConfigError(
                f"under torchrun only the train stage runs; finish the boxes and pseudo stages "
                f"first in one process (boxprompt protocol CONFIG --stop-after pseudo); "
                f"not done: {', '.join(unfinished)}"
            )
    training_samples: list[Any] = []
    for spec in cfg.train_sets:
        ds = datasets[f"train/{spec.name}"]
        boxes = _boxes_stage(cfg, spec, ds, out, stages, progress, say)
        if stop_after == "boxes":
            continue
        info = _pseudo_stage(cfg, spec, ds, boxes, out, stages, progress, say)
        training_samples.extend(_pseudo_samples(spec, ds, out / "pseudo" / spec.name))
        result.training.append({"dataset": spec.name, **boxes["summary"], **info})
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
    checkpoint = _train_stage(cfg, training_samples, out, stages, progress, say)
    if world > 1 or stop_after == "train":
        if world > 1:
            say(
                "[protocol] predict and evaluate in one process: run the same command without torchrun"
            )
        return finish("train")

    # ---- 4-5. predict and evaluate, per test set
    ckpt_digest = _file_digest(checkpoint)
    for group, spec in cfg.test_sets:
        ds = datasets[f"test/{spec.name}"]
        pkey = _predict_stage(cfg, spec, ds, checkpoint, ckpt_digest, out, stages, progress, say)
        if stop_after == "predict":
            continue
        summary = _evaluate_stage(cfg, spec, ds, pkey, out, stages, progress, say)
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
    result.stages = dict(stages.log)
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


def _boxes_stage(
    cfg: ProtocolConfig,
    spec: DatasetSpec,
    ds: Dataset,
    out: Path,
    stages: _Stages,
    progress: bool,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """The training set's COCO box file: given, or simulated into ``OUT/boxes/<set>.json``.

    Returns ``{"file", "key", "summary": {"images", "boxes"}}``.
    """
    from boxpromptiml.data.annotator import annotate_dataset
    from boxpromptiml.data.boxes import read_coco, write_coco

    stage_id = f"boxes/{spec.name}"
    if spec.boxes is not None:
        key: dict[str, Any] = {
            "source": "file",
            "file": str(spec.boxes),
            "sha256": _file_digest(spec.boxes),
        }
        label = f"boxes file ({spec.boxes.name})"
        target = spec.boxes
    else:
        key = {
            "source": "simulated",
            "annotator": dataclasses.asdict(cfg.annotator),
            "dataset": _fingerprint(ds),
            "invert_masks": spec.invert_masks,
            "on_size_mismatch": spec.on_size_mismatch,
        }
        label = f"simulated boxes (margin {cfg.annotator.margin}, seed {cfg.annotator.seed})"
        target = out / "boxes" / f"{spec.name}.json"
    # simulated boxes are the start of the pseudo-masks' lineage: never silently redrawn;
    # a changed box file is read again (the pseudo stage then refuses its old masks)
    done = stages.done(stage_id, key, strict=spec.boxes is None, redo=str(target))
    if done is None or not Path(done["file"]).is_file():
        t0 = time.perf_counter()
        if spec.boxes is None:
            say(f"[protocol] boxes {spec.name}: simulating boxes from the masks ({label})")
            box_file = annotate_dataset(
                ds,
                cfg.annotator,
                on_size_mismatch=spec.on_size_mismatch,
                invert_masks=spec.invert_masks,
                progress=progress,
            )
            box_file.info["source"] = "simulated boxes"
            if stages.write:
                write_coco(target, box_file)
        else:
            say(f"[protocol] boxes {spec.name}: {spec.boxes}")
            box_file = read_coco(spec.boxes)
        done = {
            "file": str(target),
            "source": "simulated" if spec.boxes is None else "file",
            "images": len(box_file),
            "boxes": int(sum(len(e.boxes) for e in box_file)),
            "problems": box_file.problems,
            # our annotator (and boxprompt synth) record their settings in the file's info
            "simulated": spec.boxes is None or "annotator" in box_file.info,
        }
        stages.finish(stage_id, key, done, time.perf_counter() - t0)
    else:
        say(f"[protocol] boxes {spec.name}: done")
    if spec.boxes is not None and done.get("simulated"):
        label += ": simulated boxes, says the file"
    return {
        "file": Path(done["file"]),
        "key": _digest(key),
        "summary": {"images": done["images"], "boxes": label, "n_boxes": done["boxes"]},
    }


def _pseudo_stage(
    cfg: ProtocolConfig,
    spec: DatasetSpec,
    ds: Dataset,
    boxes: dict[str, Any],
    out: Path,
    stages: _Stages,
    progress: bool,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Pseudo-masks of one training set in ``OUT/pseudo/<set>`` (resumable per image),
    and their quality against the ground-truth masks. Returns counts and mean IoU."""
    from boxpromptiml.teachers.pseudo import pseudo_label
    from boxpromptiml.teachers.quality import pseudo_quality

    stage_id = f"pseudo/{spec.name}"
    folder = out / "pseudo" / spec.name
    t = cfg.teacher
    options = dict(t.options)
    for k, v in options.items():
        if k.split(".")[-1] == "checkpoint" and v is not None:
            options[k] = {"path": v, "bytes": Path(v).stat().st_size}
    key = {"boxes": boxes["key"], "teacher": t.name, "options": options, "binary": t.binary}
    done = stages.done(stage_id, key, strict=True, redo=str(folder))
    if done is None:
        t0 = time.perf_counter()
        say(f"[protocol] pseudo {spec.name}: '{t.name}' teacher -> {folder}")
        res = pseudo_label(
            ds,
            boxes["file"],
            folder,
            t.name,
            teacher_options=t.options,
            binary=t.binary,
            workers=t.workers,
            batch_size=t.batch_size,
            progress=progress,
        )
        quality = pseudo_quality(
            folder,
            ds,
            on_size_mismatch="skip" if spec.on_size_mismatch == "error" else spec.on_size_mismatch,
            invert_masks=spec.invert_masks,
        )
        if stages.write:
            quality.save(folder / "quality.json")
        done = {
            "pseudo_masks": len(res.labelled) + len(res.resumed),
            "pseudo_failed": len(res.failed),
            "unboxed": len(res.unboxed),
            "fallbacks": res.fallbacks,
            "pseudo_iou": quality.mean_iou if quality.n else None,
            "pseudo_f1": quality.mean_f1 if quality.n else None,
        }
        stages.finish(stage_id, key, done, time.perf_counter() - t0)
        say(f"[protocol]     {res.summary()}; pseudo-mask IoU vs GT {_fmt(done['pseudo_iou'])}")
    else:
        say(f"[protocol] pseudo {spec.name}: done")
    return dict(done)


def _pseudo_samples(spec: DatasetSpec, ds: Dataset, folder: Path) -> list[Any]:
    """Training samples: each image of ``ds`` with a pseudo-mask in ``folder``, paired by
    the stem pseudo_label used; names ``<set>/<stem>`` stay unique across sets."""
    from boxpromptiml.data.sources import Sample

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    labelled = manifest.get("images", {})
    out = []
    for s in ds:
        rec = labelled.get(s.image.stem)
        if rec is not None and (folder / rec["file"]).is_file():
            out.append(Sample(f"{spec.name}/{s.image.stem}", s.image, folder / rec["file"], 1))
    return out


def _train_stage(
    cfg: ProtocolConfig,
    samples: list[Any],
    out: Path,
    stages: _Stages,
    progress: bool,
    say: Callable[[str], None],
) -> Path:
    """Train (or resume) the student in ``OUT/train``; returns its ``last.pt``."""
    from boxpromptiml.train import RUNTIME_FIELDS, TrainConfig, fit

    folder = out / "train"
    last = folder / "last.pt"
    settings = dict(cfg.train)
    if isinstance(settings.get("pretrained"), Path):
        settings["pretrained"] = str(settings["pretrained"])
    train_cfg = TrainConfig(
        train=samples, out_dir=folder, progress=progress, resume=last.is_file(), **settings
    )
    run_def = {k: v for k, v in train_cfg.to_dict().items() if k not in RUNTIME_FIELDS}
    run_def["train"] = {"samples": len(samples), "digest": _digest(run_def["train"])}
    done = stages.done("train", run_def, strict=True, redo=str(folder))
    if done is not None and last.is_file():
        say(f"[protocol] train: done ({last})")
        return last
    t0 = time.perf_counter()
    say(f"[protocol] train: {train_cfg.model.backbone} student on {len(samples)} pseudo-masked "
        f"images, {train_cfg.epochs} epochs{' (resuming)' if train_cfg.resume else ''} -> {folder}")  # fmt: skip
    res = fit(train_cfg)
    stages.finish(
        "train",
        run_def,
        {
            "last": str(res.last),
            "epochs": res.epochs,
            "steps": res.steps,
            "history": res.history[-1:],
        },
        time.perf_counter() - t0,
    )
    return res.last


def _predict_stage(
    cfg: ProtocolConfig,
    spec: DatasetSpec,
    ds: Dataset,
    checkpoint: Path,
    ckpt_digest: str,
    out: Path,
    stages: _Stages,
    progress: bool,
    say: Callable[[str], None],
) -> str:
    """Maps of every image of a test set in ``OUT/predict/<set>/maps``; returns the
    stage's key digest (the evaluate stage depends on it)."""
    from boxpromptiml.predict import Localizer, predict_to_folder

    stage_id = f"predict/{spec.name}"
    folder = out / "predict" / spec.name
    key = {"checkpoint": ckpt_digest, "images": _fingerprint(ds), "predict": cfg.predict}
    if stages.done(stage_id, key, strict=False) is not None and (folder / "maps").is_dir():
        say(f"[protocol] predict {spec.name}: done")
        return _digest(key)
    t0 = time.perf_counter()
    say(f"[protocol] predict {spec.name}: {len(ds)} images -> {folder / 'maps'}")
    shutil.rmtree(folder, ignore_errors=True)  # our own folder: no stale maps
    p = cfg.predict
    localizer = Localizer.from_checkpoint(
        checkpoint,
        device=p["device"],
        threads=p["threads"],
        batch_size=p["batch_size"],
        tile=p["tile"],
        overlap=p["overlap"],
    )
    run = predict_to_folder(
        localizer,
        [s.image for s in ds],
        folder,
        save_mask=False,
        save_overlay=False,
        save_json=False,
        progress=progress,
    )
    stages.finish(
        stage_id,
        key,
        {"predicted": run.n_predicted, "skipped": [f"{s.source}: {s.reason}" for s in run.skipped]},
        time.perf_counter() - t0,
    )
    return _digest(key)


def _evaluate_stage(
    cfg: ProtocolConfig,
    spec: DatasetSpec,
    ds: Dataset,
    predict_key: str,
    out: Path,
    stages: _Stages,
    progress: bool,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Pixel metrics of one test set, saved in ``OUT/eval/<set>``; returns its summary."""
    from boxpromptiml.evaluate import evaluate

    stage_id = f"evaluate/{spec.name}"
    key = {
        "predict": predict_key,
        "threshold": cfg.threshold,
        "invert_masks": spec.invert_masks,
        "on_size_mismatch": spec.on_size_mismatch,
    }
    done = stages.done(stage_id, key, strict=False)
    if done is not None:
        say(f"[protocol] evaluate {spec.name}: done")
        return dict(done)
    t0 = time.perf_counter()
    say(f"[protocol] evaluate {spec.name}")
    res = evaluate(
        [ds],
        [out / "predict" / spec.name / "maps"],
        threshold=cfg.threshold,
        on_size_mismatch=spec.on_size_mismatch,
        on_missing_pred="skip",
        invert_masks=spec.invert_masks,
        progress=progress,
    )
    if stages.write:
        res.save(out / "eval" / spec.name)
    summary = dict(res.datasets[0].summary)
    stages.finish(stage_id, key, summary, time.perf_counter() - t0)
    return summary
