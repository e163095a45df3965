"""The protocol's configuration: its JSON schema, checked key by key, and every path in it.

:func:`load_protocol_config` reads and validates a configuration; ``docs/paper-protocol.md`` documents every key.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from boxpromptiml.data.annotator import AnnotatorConfig
from boxpromptiml.data.sources import DEFAULT_MASK_SUFFIXES, Dataset, SizeMismatch
from boxpromptiml.errors import ConfigError, DataError, did_you_mean
from boxpromptiml.protocol.schema import TeacherSection, TestSet, parse
from boxpromptiml.tables import jsonable

PathLike = str | os.PathLike[str]

__all__ = ["DatasetSpec", "ProtocolConfig", "TeacherSpec", "load_protocol_config"]

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
        sam_family = ("sam", "mobile_sam")
        uses_sam = base in sam_family or any(
            k.split(".")[0] in sam_family for k in self.teacher.options if "." in k
        )
        if uses_sam and importlib.util.find_spec("segment_anything") is None:
            raise ConfigError(
                f"the {base if base in sam_family else 'sam'} teacher needs the "
                "'segment_anything' package: pip install 'boxpromptiml[sam]'"
            )
        if base in ("u2netp", "ensemble"):
            from boxpromptiml.weights import require

            require("u2netp")


def _section(value: Any, where: str, allowed: Sequence[str]) -> dict[str, Any]:
    """A free-form section (``train``, ``annotator``): unknown keys raise with a hint."""
    out = {k: v for k, v in dict(value).items() if not str(k).startswith("_")}
    for k in out:
        if k not in allowed:
            raise ConfigError(
                f"{where}: unknown key {k!r}{did_you_mean(k, allowed)} (known: {', '.join(allowed)})"
            )
    return out


def _resolve(path: str, base: Path) -> Path:
    p = Path(os.path.expanduser(path))
    return Path(os.path.normpath(p if p.is_absolute() else base / p))


def _dataset(d: TestSet, where: str, data_root: Path, training: bool) -> DatasetSpec:
    path = _resolve(d.path, data_root)
    default_name = path.stem if path.suffix.lower() == ".json" else path.name
    name = d.name if d.name is not None else default_name
    if not _NAME_RE.match(name):
        raise ConfigError(
            f"{where}.name: {name!r} must be a folder-safe name (letters, digits, . _ + -)"
        )
    boxes = getattr(d, "boxes", None)
    return DatasetSpec(
        name=name,
        path=path,
        masks=None if d.masks is None else _resolve(d.masks, data_root),
        mask_suffixes=tuple(d.mask_suffixes),
        invert_masks=d.invert_masks,
        on_size_mismatch=d.on_size_mismatch,
        authentic=(not training) if d.authentic is None else d.authentic,
        boxes=None if boxes is None else _resolve(boxes, data_root),
        expected_images=d.expected_images,
    )


def _teacher(t: TeacherSection, where: str, base_dir: Path) -> TeacherSpec:
    from boxpromptiml.teachers.registry import split_name, teacher_class, teacher_options

    d = t.model_dump()
    name = t.name
    base, _refine = split_name(name)
    allowed = teacher_options(base)  # raises ConfigError with a hint for an unknown teacher
    options = dict(t.options)
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
                f"{where}.options: teacher {base!r} has no option {key!r}{did_you_mean(key, allowed)}"
            )
    for key, value in list(options.items()):
        if key.split(".")[-1] == "checkpoint" and value is not None:
            if not isinstance(value, str):
                raise ConfigError(f"{where}.{key}: expected a path string, got {value!r}")
            options[key] = str(_resolve(value, base_dir))
    hint = getattr(teacher_class(base), "checkpoint_hint", None)  # teachers that need a file
    if hint and options.get("checkpoint") is None and not options.get("random_init"):
        raise ConfigError(
            f"{where}.checkpoint: the {base} teacher needs a checkpoint (e.g. {hint})"
        )
    workers, batch_size = t.workers, t.batch_size
    if workers > 1 and batch_size > 1:
        raise ConfigError(
            f"{where}: use either workers > 1 (CPU) or batch_size > 1 (GPU), not both"
        )
    return TeacherSpec(name, options, workers, batch_size, t.binary)


def _train_settings(raw: Any, where: str, base_dir: Path) -> dict[str, Any]:
    from boxpromptiml.data.sources import Sample
    from boxpromptiml.student.build import STUDENTS, check_timm_name, resolve_student_args
    from boxpromptiml.train import TrainConfig
    from boxpromptiml.train.config import PAPER_SETTINGS

    allowed = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in _TRAIN_FIXED]
    d = _section(raw, where, allowed)
    # what the config leaves out follows the paper, not the project's defaults
    for key, value in PAPER_SETTINGS.items():
        d.setdefault(key, value)
    model = d["model"]
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
        if not isinstance(pretrained, str):
            raise ConfigError(f"{where}.pretrained: expected a string or null, got {pretrained!r}")
        if pretrained != "timm" and not pretrained.startswith("hf-hub:"):
            d["pretrained"] = _resolve(pretrained, base_dir)
    if d.get("init_from") is not None:
        if not isinstance(d["init_from"], str):
            raise ConfigError(f"{where}.init_from: expected a path string, got {d['init_from']!r}")
        d["init_from"] = _resolve(d["init_from"], base_dir)
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
    m = parse(raw, where)
    if data_root is not None:
        root = Path(os.path.expanduser(str(data_root))).resolve()
    elif m.data_root is not None:
        root = _resolve(m.data_root, base_dir).resolve()
    else:
        root = base_dir
    name = m.name if m.name is not None else (source.stem if source else "protocol")
    if not _NAME_RE.match(name):
        raise ConfigError(f"{where}: name {name!r} must be a folder-safe name")

    train_sets = [
        _dataset(d, f"{where}: train_sets[{i}]", root, training=True)
        for i, d in enumerate(m.train_sets)
    ]
    test_id = [
        _dataset(d, f"{where}: test_sets.id[{i}]", root, training=False)
        for i, d in enumerate(m.test_sets.id)
    ]
    test_ood = [
        _dataset(d, f"{where}: test_sets.ood[{i}]", root, training=False)
        for i, d in enumerate(m.test_sets.ood)
    ]
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
        m.annotator, f"{where}: annotator", [f.name for f in dataclasses.fields(AnnotatorConfig)]
    )
    try:
        annotator = AnnotatorConfig(**{"margin": 0.1, "seed": 0, **ann_raw})
    except TypeError as exc:
        raise ConfigError(f"{where}: annotator: {exc}") from exc
    teacher = _teacher(m.teacher, f"{where}: teacher", base_dir)
    train = _train_settings(m.train, f"{where}: train", base_dir)
    predict = m.predict.model_dump()
    threshold = m.evaluate.threshold

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
