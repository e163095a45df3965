"""MobileSAM (Zhang et al., 2023) prompted by each box: SAM's decoder on a TinyViT encoder.

A laptop-sized member of the SAM family: the image encoder is a 5.7 M-parameter TinyViT
distilled from SAM's ViT-H, the prompt encoder and mask decoder are SAM's. Needs the
``sam`` extra (``segment-anything``, ``torch``; ``timm`` comes with ``torch``) and the
user's ``mobile_sam.pt`` (about 40 MB, from github.com/ChaoningZhang/MobileSAM). Nothing
is downloaded. ``random_init=True`` builds the real architecture with random weights, for
tests.

Prediction is :class:`~boxpromptiml.teachers.sam.SamTeacher`'s: one encoder pass per image
(longer side resized to ``image_size``, padded), all boxes of the image decoded together,
the best of three masks by predicted IoU, a sigmoid of its upsampled logits cut to the box
window; confidence is the predicted IoU. The checkpoint's encoder tensors are renamed to
timm's TinyViT (:mod:`boxpromptiml.mobilesam`) and every tensor must fit; a SAM ViT
checkpoint given here is refused with a pointer to the ``sam`` teacher.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from boxpromptiml.errors import CheckpointError
from boxpromptiml.teachers.sam import PATCH, SamTeacher, assemble_sam, describe_checkpoint

__all__ = ["MobileSamTeacher", "build_mobile_sam_model"]


def build_mobile_sam_model(image_size: int = 1024) -> Any:
    """MobileSAM with random weights for inputs of ``image_size`` (1024: the official one).

    Sizes as the official ``vit_t`` build: TinyViT-5M encoder with a 256-channel neck, SAM's
    prompt encoder (grid ``image_size / 16``) and mask decoder (two-way transformer of depth
    2, three multimask outputs).
    """
    from boxpromptiml.errors import ConfigError
    from boxpromptiml.mobilesam import build_encoder

    if image_size % PATCH or image_size < 4 * PATCH:
        raise ConfigError(
            f"image_size must be a multiple of {PATCH}, at least {4 * PATCH}; got {image_size}"
        )
    return assemble_sam(build_encoder(image_size), image_size)


def _renamed(state: dict[str, Any]) -> dict[str, Any]:
    """A MobileSAM checkpoint's tensors under this build's names (encoder renamed, the
    classifier dropped; see :func:`~boxpromptiml.mobilesam.encoder_state`)."""
    from boxpromptiml.mobilesam import ENCODER_PREFIX, encoder_state

    trunk, neck = encoder_state(state)
    out = {k: v for k, v in state.items() if not k.startswith(ENCODER_PREFIX)}
    out.update({f"{ENCODER_PREFIX}trunk.{k}": v for k, v in trunk.items()})
    out.update({f"{ENCODER_PREFIX}neck.{k}": v for k, v in neck.items()})
    return out


class MobileSamTeacher(SamTeacher):
    """Box-prompted MobileSAM (see the module docstring).

    Args:
        checkpoint: path of ``mobile_sam.pt``.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        image_size: encoder input size; 1024 for the official checkpoint.
        multimask: ask for three masks and keep the best (else one mask).
        random_init: random weights instead of a checkpoint (tests only; ``seed`` seeds them).
        batch_size: images per encoder pass in :meth:`predict_batch`.
        **common: see :class:`~boxpromptiml.teachers.base.Teacher`.
    """

    name = "mobile_sam"
    version = "1"
    variants = ("vit_t",)
    checkpoint_hint = "mobile_sam.pt from github.com/ChaoningZhang/MobileSAM"

    def __init__(
        self,
        *,
        checkpoint: str | os.PathLike[str] | None = None,
        device: str = "auto",
        image_size: int = 1024,
        multimask: bool = True,
        random_init: bool = False,
        seed: int = 0,
        batch_size: int = 4,
        **common: Any,
    ) -> None:
        super().__init__(
            checkpoint=checkpoint,
            variant="vit_t",
            device=device,
            image_size=image_size,
            multimask=multimask,
            random_init=random_init,
            seed=seed,
            batch_size=batch_size,
            **common,
        )

    def _new_model(self) -> Any:
        return build_mobile_sam_model(self.image_size)

    def _load_weights(self, path: Path, state: dict[str, Any]) -> None:
        from boxpromptiml.mobilesam import is_mobilesam

        if not is_mobilesam(state):
            found = describe_checkpoint(state)
            hint = " (use --teacher sam)" if found.startswith("SAM ") else ""
            raise CheckpointError(
                f"{path}: not a MobileSAM checkpoint: the file holds {found}{hint}"
            )
        self._strict_load(path, _renamed(state), "MobileSAM")
