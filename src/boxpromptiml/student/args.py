"""The student's architecture as data: :class:`StudentArgs` and the named presets.

Saved in every checkpoint (``model_args``) so that a model can be rebuilt from it; needs
neither torch nor timm.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from boxpromptiml.errors import ConfigError, without_later_defaults

__all__ = ["NOISE_NORMS", "STUDENTS", "StudentArgs", "check_noise_norm", "resolve_student_args"]

#: how the noise branch's features are normalised (see :class:`StudentArgs`)
NOISE_NORMS = ("none", "center")


def check_noise_norm(value: str) -> str:
    """``value`` when it is one of :data:`NOISE_NORMS`, else :class:`ConfigError`."""
    if value not in NOISE_NORMS:
        raise ConfigError(f"noise_norm must be one of {', '.join(NOISE_NORMS)}, got {value!r}")
    return value


@dataclass(frozen=True)
class StudentArgs:
    """Everything needed to rebuild a student (stored as ``model_args`` in checkpoints).

    Attributes:
        backbone: timm model name with ``features_only`` support.
        num_scales: how many of the backbone's last feature levels MGFM fuses.
        drop_deepest: how many of the backbone's deepest levels are left out entirely
            (neither computed nor fused): ``1`` on a 5-level backbone stops it at stride 16,
            and ``num_scales`` then counts back from there. A speed setting.
        dim: MGFM projection width.
        memory_size: memory prototypes ``K``; ``0`` removes the memory bank (ablation).
        gates: spatial gates on (``False``: plain sum, ablation).
        alpha: ``None`` learns α; a float in ``(0, 1)`` fixes it (ablation).
        corr_k: best matches kept by the self-correlation cue (copy-move; see
            :mod:`boxpromptiml.student.corr`); ``0`` (default, the paper's student) disables it.
        corr_level: which fused level the cue correlates, as an index into them (``-2``:
            the second coarsest, stride 16 with the default 4 levels).
        noise: channels of the noise-residual input branch (SRM filters, see
            :mod:`boxpromptiml.student.noise`), fused as one more scale; ``0`` (default)
            disables it.
        noise_norm: ``"none"`` (default) or ``"center"``: the noise branch's features
            minus their mean over the image (per channel), so that the branch reports how
            a place departs from the rest of the image rather than the image's overall
            noise, compression or processing (which changes with the camera and the
            processing chain of an untouched photo as much as with a forgery).
    """

    backbone: str = "tiny_vit_5m_224"
    num_scales: int = 4
    drop_deepest: int = 0
    dim: int = 64
    memory_size: int = 32
    gates: bool = True
    alpha: float | None = None
    corr_k: int = 0
    corr_level: int = -2
    noise: int = 0
    noise_norm: str = "none"

    #: fields added after checkpoints were first written: left out of :meth:`to_dict` at
    #: their default, so that older and newer files of one architecture compare equal
    LATER: ClassVar[dict[str, Any]] = {"noise_norm": "none"}

    def __post_init__(self) -> None:
        check_noise_norm(self.noise_norm)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of JSON types (what checkpoints store)."""
        return without_later_defaults(dataclasses.asdict(self), self.LATER)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudentArgs:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown student argument(s): {', '.join(unknown)}")
        return cls(**dict(data))


#: Named presets. Any other timm name is accepted by :func:`resolve_student_args`.
STUDENTS: dict[str, StudentArgs] = {
    # the paper's student: TinyViT-5M (64/128/160/320 channels at strides 4..32) + MGFM
    "tinyvit5m": StudentArgs(backbone="tiny_vit_5m_224"),
    # EfficientNet-Lite0, last 4 stages (24/40/112/320 channels at strides 4..32)
    "efficientnet-lite0": StudentArgs(backbone="tf_efficientnet_lite0"),
    # the fast variant: Lite0 stopped at stride 16 (24/40/112 channels at strides 4..16),
    # MGFM width 32: about 301 M MACs at 224x224 instead of 534 M
    "efficientnet-lite0-fast": StudentArgs(
        backbone="tf_efficientnet_lite0", num_scales=3, drop_deepest=1, dim=32
    ),
}


def resolve_student_args(
    model: str | StudentArgs | Mapping[str, Any], **overrides: Any
) -> StudentArgs:
    """A preset name, a timm model name, a dict or a :class:`StudentArgs`, plus overrides.

    ``None`` overrides are ignored (convenient for optional CLI flags), except ``alpha``
    which is ``None`` when learned: pass it only to fix it.
    """
    if isinstance(model, StudentArgs):
        args = model
    elif isinstance(model, Mapping):
        args = StudentArgs.from_dict(model)
    elif model in STUDENTS:
        args = STUDENTS[model]
    else:
        args = StudentArgs(backbone=model)
    given = {k: v for k, v in overrides.items() if v is not None}
    names = {f.name for f in dataclasses.fields(StudentArgs)}
    unknown = sorted(set(given) - names)
    if unknown:
        raise ConfigError(f"unknown student argument(s): {', '.join(unknown)}")
    return dataclasses.replace(args, **given)
