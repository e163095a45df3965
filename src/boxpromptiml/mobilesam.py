"""The MobileSAM checkpoint format (Zhang et al., 2023: "Faster Segment Anything").

MobileSAM is SAM with its ViT image encoder replaced by a TinyViT-5M distilled from it
(``mobile_sam.pt``, about 40 MB, from github.com/ChaoningZhang/MobileSAM); its prompt
encoder and mask decoder are SAM's, at SAM's sizes. Its TinyViT differs from timm's
``tiny_vit_5m_224`` in two ways only:

* **names**: Microsoft's TinyViT names (``layers.i``, ``patch_embed.seq.0``, ``.c.`` for the
  convolution of a conv+BN pair, each stage's downsampling at the *end* of the previous
  ``layers`` entry) instead of timm's (``stages.i``, ``patch_embed.conv1``, ``.conv.``, the
  downsampling at the *start* of the stage);
* **stride**: the last downsampling (160 → 320 channels) keeps the resolution, so a
  1024² input gives a 64² grid (stride 16, as SAM's ViT), followed by a *neck*
  (1×1 conv to 256, LayerNorm2d, 3×3 conv, LayerNorm2d).

Every tensor has the same shape in both, so the encoder's weights load into timm's
TinyViT by renaming (:func:`tinyvit_key`), which this module does for the
``mobile_sam`` teacher (:class:`~boxpromptiml.teachers.mobile_sam.MobileSamTeacher`) and for
a TinyViT-5M student initialised from MobileSAM
(:func:`~boxpromptiml.student.weights.load_backbone_weights`). Key layout as in the
official ``mobile_sam/modeling/tiny_vit_sam.py``; tested with random weights.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ENCODER_PREFIX",
    "TIMM_NAME",
    "build_encoder",
    "encoder_state",
    "is_mobilesam",
    "tinyvit_key",
]

#: prefix of the image encoder's tensors in a MobileSAM checkpoint
ENCODER_PREFIX = "image_encoder."
#: the timm model whose tensors (names aside) the MobileSAM image encoder holds
TIMM_NAME = "tiny_vit_5m_224"
#: width of the encoder's last stage, and of the neck's output (SAM's prompt dimension)
LAST_DIM = 320
NECK_DIM = 256

_PATCH_EMBED = {
    "patch_embed.seq.0.": "patch_embed.conv1.",
    "patch_embed.seq.2.": "patch_embed.conv2.",
}
_DOWNSAMPLE = re.compile(r"^layers\.(\d+)\.downsample\.(.*)$")


def is_mobilesam(state: Mapping[str, Any]) -> bool:
    """Whether a state dict is a MobileSAM checkpoint (a TinyViT image encoder)."""
    return any(k.startswith(ENCODER_PREFIX + "layers.") for k in state)


def tinyvit_key(key: str) -> str | None:
    """A MobileSAM image-encoder key (without ``image_encoder.``) → its timm TinyViT key.

    ``neck.*`` keys come back unchanged; the unused classifier (``norm_head.*``,
    ``head.*``) and saved ``attention_bias_idxs`` index buffers give ``None``. Examples: ``layers.0.blocks.1.conv2.c.weight`` →
    ``stages.0.blocks.1.conv2.conv.weight``; ``layers.2.downsample.conv1.bn.bias`` →
    ``stages.3.downsample.conv1.bn.bias``.
    """
    if key.startswith(("norm_head.", "head.")) or key.endswith("attention_bias_idxs"):
        return None  # the classifier; index buffers the attention rebuilds (older saves)
    if key.startswith("neck."):
        return key
    for old, new in _PATCH_EMBED.items():
        if key.startswith(old):
            key = new + key[len(old) :]
    found = _DOWNSAMPLE.match(key)
    if found:
        key = f"stages.{int(found[1]) + 1}.downsample.{found[2]}"
    elif key.startswith("layers."):
        key = "stages." + key[len("layers.") :]
    # a conv+BN pair's convolution: Conv2d_BN ".c." in MobileSAM, ConvNorm ".conv." in timm
    return re.sub(r"\.c\.(weight|bias)$", r".conv.\1", key)


def encoder_state(state: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a MobileSAM checkpoint's image encoder into (timm TinyViT tensors, neck tensors).

    Returns ``(trunk, neck)``: ``trunk`` keyed as timm's ``tiny_vit_5m_224`` (classifier
    left out), ``neck`` keyed ``0.weight`` … ``3.bias``. A BatchNorm whose step counter
    (``num_batches_tracked``) the file lacks gets a zero one, as a fresh layer has.
    """
    import torch

    trunk: dict[str, Any] = {}
    neck: dict[str, Any] = {}
    for key, value in state.items():
        if not key.startswith(ENCODER_PREFIX):
            continue
        new = tinyvit_key(key[len(ENCODER_PREFIX) :])
        if new is None:
            continue
        if new.startswith("neck."):
            neck[new[len("neck.") :]] = value
        else:
            trunk[new] = value
    for key in [k for k in trunk if k.endswith(".bn.running_mean")]:
        trunk.setdefault(key.replace("running_mean", "num_batches_tracked"), torch.tensor(0))
    return trunk, neck


def build_encoder(image_size: int = 1024) -> Any:
    """MobileSAM's image encoder with random weights: ``(B, 3, S, S)`` → ``(B, 256, S/16, S/16)``.

    timm's ``tiny_vit_5m_224`` trunk with the last downsampling at stride 1, then the neck.
    ``image_size`` (a multiple of 16; 1024 for the official checkpoint) is the padded
    input side, read by :class:`segment_anything.modeling.Sam` as ``img_size``.
    """
    import timm
    import torch
    from segment_anything.modeling.common import LayerNorm2d

    class TinyVitSamEncoder(torch.nn.Module):
        def __init__(self, size: int) -> None:
            super().__init__()
            self.img_size = size
            self.trunk: Any = timm.create_model(TIMM_NAME, pretrained=False, drop_path_rate=0.0)
            self.trunk.head = torch.nn.Identity()  # classifier unused
            last: Any = self.trunk.stages[3]  # type: ignore[index]
            last.downsample.conv2.conv.stride = (1, 1)
            self.neck = torch.nn.Sequential(
                torch.nn.Conv2d(LAST_DIM, NECK_DIM, kernel_size=1, bias=False),
                LayerNorm2d(NECK_DIM),
                torch.nn.Conv2d(NECK_DIM, NECK_DIM, kernel_size=3, padding=1, bias=False),
                LayerNorm2d(NECK_DIM),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.neck(self.trunk.forward_features(x))  # type: ignore[no-any-return]

    return TinyVitSamEncoder(int(image_size))
