"""The student network: a timm feature backbone, the MGFM fusion module, and the glue.

:class:`Student` takes RGB images with values in ``[0, 1]`` and returns one-channel
**logits** at the input size. Normalisation (the backbone's mean and std) happens inside
the model, with non-persistent buffers, so that callers (training, predict, ONNX export)
never repeat it and checkpoints stay free of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from boxpromptiml.predict.preprocess import resize_image
from boxpromptiml.student.corr import SelfCorrelation
from boxpromptiml.student.mgfm import MGFM
from boxpromptiml.student.noise import NoiseResidual

__all__ = ["Student", "image_to_tensor", "resize_image"]


def image_to_tensor(image: np.ndarray) -> Tensor:
    """``(H, W, 3)`` ``uint8`` RGB → ``(3, H, W)`` ``float32`` in ``[0, 1]``."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)


class Student(nn.Module):
    """Backbone + MGFM + upsampling head, with an optional self-correlation cue.

    Args:
        backbone: a timm ``features_only`` model returning ``len(strides)`` maps.
        fusion: the :class:`MGFM` sized from the backbone's ``feature_info`` (plus one
            more input of ``corr.k`` channels when ``corr`` is given).
        mean, std: per-channel RGB normalisation of the backbone (values for ``[0, 1]`` input).
        strides: the backbone's output strides, finest first (e.g. ``(4, 8, 16, 32)``).
        corr: a :class:`~boxpromptiml.student.corr.SelfCorrelation` of backbone level
            ``corr_level`` (an index into the levels, e.g. ``-2`` for stride 16 of 4-32);
            its map is passed to the fusion as one more scale, after the backbone's.
        noise: a :class:`~boxpromptiml.student.noise.NoiseResidual` branch on the raw
            (unnormalised) input; its maps are one more scale, after the correlation's.

    ``forward(x)``: ``x`` ``(B, 3, H, W)`` float RGB in ``[0, 1]``, any ``H, W``; returns
    logits ``(B, 1, H, W)``. Inputs whose sides are not multiples of the coarsest stride
    are zero-padded (after normalisation, i.e. with the mean colour) at the bottom/right
    and the output is cropped back.
    """

    pixel_mean: Tensor
    pixel_std: Tensor

    def __init__(
        self,
        backbone: nn.Module,
        fusion: MGFM,
        mean: Sequence[float],
        std: Sequence[float],
        strides: Sequence[int],
        corr: SelfCorrelation | None = None,
        corr_level: int = -2,
        noise: NoiseResidual | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.fusion = fusion
        self.corr = corr
        self.corr_level = int(corr_level)
        self.noise = noise
        self.strides = tuple(int(s) for s in strides)
        self.register_buffer(
            "pixel_mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer(
            "pixel_std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False
        )
        #: Square side the model was trained at; set from the checkpoint by ``load_student``.
        self.input_size = 224

    @property
    def pad_multiple(self) -> int:
        """Input sides are padded to a multiple of this (the coarsest stride)."""
        return max(self.strides)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, 1, H, W)`` for images ``x`` ``(B, 3, H, W)`` in ``[0, 1]``."""
        h, w = x.shape[-2:]
        raw = x
        x = (x - self.pixel_mean.to(x.dtype)) / self.pixel_std.to(x.dtype)
        m = self.pad_multiple
        pad_h, pad_w = (-h) % m, (-w) % m
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
            raw = F.pad(raw, (0, pad_w, 0, pad_h), mode="replicate")
        features = list(self.backbone(x))
        if self.corr is not None:
            features.append(self.corr(features[self.corr_level]))
        if self.noise is not None:
            features.append(self.noise(raw))
        logits = self.fusion(features)
        logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return logits[..., :h, :w]

    @torch.no_grad()
    def predict_maps(
        self, images: Sequence[np.ndarray], size: int | None = None
    ) -> list[np.ndarray]:
        """Probability maps for a batch of images, each at its own original size.

        ``images``: ``(H_i, W_i, 3)`` ``uint8`` RGB arrays. Each is resized to
        ``size × size`` (default :attr:`input_size`), the batch runs in one forward pass,
        and each map is resized back (bilinear). Returns ``(H_i, W_i)`` ``float32`` maps in
        ``[0, 1]``. Runs in the module's current mode; call ``.eval()`` first.
        """
        s = int(size or self.input_size)
        device = self.pixel_mean.device
        batch = torch.stack([image_to_tensor(resize_image(im, s)) for im in images]).to(device)
        probs = torch.sigmoid(self(batch).float())
        out = []
        for im, p in zip(images, probs, strict=True):
            h, w = im.shape[:2]
            p = F.interpolate(p[None], size=(h, w), mode="bilinear", align_corners=False)
            out.append(p[0, 0].clamp_(0.0, 1.0).cpu().numpy().astype(np.float32))
        return out
