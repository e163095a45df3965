"""Student builders: one private function wires the parts; presets differ by a few numbers.

The architecture is fully described by :class:`StudentArgs`, a small dataclass that is
saved in every checkpoint (``model_args``) so that the model can be rebuilt from it.
Backbones are timm models by name; the channels and strides of the fused scales are read
from timm's ``feature_info``, never hard-coded.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from boxpromptiml.errors import CheckpointError, ConfigError
from boxpromptiml.student.args import STUDENTS, StudentArgs, resolve_student_args
from boxpromptiml.student.corr import SelfCorrelation
from boxpromptiml.student.mgfm import MGFM
from boxpromptiml.student.model import Student
from boxpromptiml.student.noise import NoiseResidual

__all__ = ["STUDENTS", "StudentArgs", "build_student", "check_timm_name", "resolve_student_args"]

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def check_timm_name(name: str) -> None:
    """Raise :class:`ConfigError` with close matches unless ``name`` is a timm model."""
    import timm

    if name in timm.list_models() or name in timm.list_models(pretrained=True):
        return
    presets = list(STUDENTS)
    close = difflib.get_close_matches(name, presets + timm.list_models(), n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ConfigError(
        f"unknown student model {name!r}: give a preset ({', '.join(presets)}) "
        f"or a timm model name{hint}"
    )


def _create_backbone(args: StudentArgs, pretrained: str | os.PathLike[str] | None) -> Any:
    """The timm ``features_only`` backbone returning the last ``num_scales`` levels."""
    import timm

    check_timm_name(args.backbone)
    if args.num_scales < 1:
        raise ConfigError(f"num_scales must be >= 1, got {args.num_scales}")
    if args.drop_deepest < 0:
        raise ConfigError(f"drop_deepest must be >= 0, got {args.drop_deepest}")
    last = -args.drop_deepest  # exclusive end of the levels, counted from the deepest
    kwargs: dict[str, Any] = {
        "features_only": True,
        "out_indices": tuple(range(last - args.num_scales, last)),
    }
    hub = isinstance(pretrained, str) and (pretrained == "timm" or pretrained.startswith("hf-hub:"))
    if hub:
        # online: timm downloads the weights (never used in tests)
        assert isinstance(pretrained, str)
        if pretrained.startswith("hf-hub:"):
            kwargs["pretrained_cfg_overlay"] = {"hf_hub_id": pretrained[len("hf-hub:") :]}
        kwargs["pretrained"] = True
    try:
        backbone = timm.create_model(args.backbone, **kwargs)
    except (RuntimeError, ValueError, IndexError, AssertionError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"cannot build backbone {args.backbone!r} with {args.num_scales} feature levels "
            f"and {args.drop_deepest} dropped (timm features_only): {msg}"
        ) from exc
    if pretrained is not None and not hub:
        path = Path(pretrained)
        if not path.is_file():
            raise CheckpointError(
                f"{path}: pretrained weight file not found (give a local file, 'timm' for "
                "timm's default weights, or 'hf-hub:<repo id>'; the last two need internet)"
            )
        from boxpromptiml.student.weights import load_backbone_weights

        load_backbone_weights(backbone, args.backbone, path)
    _drop_unused_blocks(backbone)
    return backbone


def _drop_unused_blocks(backbone: Any) -> None:
    """Remove the blocks after the last returned level, where timm keeps them.

    timm's EfficientNet/MobileNet feature models run and keep every block whatever
    ``out_indices`` asks for; after the deepest level wanted, the rest is dead weight (in
    time, in checkpoints, and for DDP, which rejects parameters without gradients).
    Called after pretrained weights are loaded, since those map onto the full model."""
    from torch import nn

    blocks = getattr(backbone, "blocks", None)
    wanted = getattr(backbone, "_stage_out_idx", None)
    if isinstance(blocks, nn.Sequential) and isinstance(wanted, dict) and wanted:
        keep = max(int(i) for i in wanted)  # stage index i is the output of block i - 1
        if keep < len(blocks):
            backbone.blocks = blocks[:keep]


def _build(args: StudentArgs, pretrained: str | os.PathLike[str] | None) -> Student:
    backbone = _create_backbone(args, pretrained)
    info = backbone.feature_info
    channels = [int(c) for c in info.channels()]
    strides = [int(s) for s in info.reduction()]
    corr = None
    if args.corr_k:
        if not -len(channels) <= args.corr_level < len(channels):
            raise ConfigError(
                f"corr_level {args.corr_level} is not one of the {len(channels)} fused levels"
            )
        corr = SelfCorrelation(channels[args.corr_level], k=args.corr_k, dim=args.dim)
    noise = NoiseResidual(args.noise, norm=args.noise_norm) if args.noise else None
    fusion = MGFM(
        channels
        + ([args.corr_k] if corr is not None else [])
        + ([args.noise] if noise is not None else []),
        dim=args.dim,
        memory_size=args.memory_size,
        gates=args.gates,
        alpha=args.alpha,
    )
    cfg = getattr(backbone, "pretrained_cfg", None) or {}
    mean = tuple(cfg.get("mean", _IMAGENET_MEAN))
    std = tuple(cfg.get("std", _IMAGENET_STD))
    return Student(
        backbone,
        fusion,
        mean=mean,
        std=std,
        strides=strides,
        corr=corr,
        corr_level=args.corr_level,
        noise=noise,
    )


def build_student(
    model: str | StudentArgs | Mapping[str, Any] = "tinyvit5m",
    pretrained: str | os.PathLike[str] | None = None,
    **overrides: Any,
) -> Student:
    """Build a student.

    Args:
        model: a preset of :data:`STUDENTS` (``tinyvit5m``, ``efficientnet-lite0``), any
            timm model name supporting ``features_only``, a dict, or :class:`StudentArgs`.
        pretrained: backbone weights: ``None`` (random init), a local file (see
            :mod:`boxpromptiml.student.weights`), or, online only, ``"timm"`` (timm's
            default weights) or ``"hf-hub:<repo id>"``.
        overrides: :class:`StudentArgs` fields, e.g. ``memory_size=0``.

    The returned model's ``forward`` maps ``(B, 3, H, W)`` RGB in ``[0, 1]`` to logits
    ``(B, 1, H, W)``; it is in training mode, on the CPU.
    """
    return _build(resolve_student_args(model, **overrides), pretrained)
