"""Noise residuals: a forensic input branch for the student (our addition; not in the paper).

An ImageNet backbone sees content; a splice or an inpainted area often differs from the
rest of the photo only in its high-frequency noise: sensor noise, demosaicing, JPEG
blocking and resampling leave statistics that no object outline shows. Rich-model (SRM)
steganalysis filters expose them (Fridrich and Kodovský, 2012; used for manipulation
detection by RGB-N, Zhou et al., CVPR 2018). :class:`NoiseResidual`:

1. three fixed SRM high-pass kernels (5×5; first-, second- and third-order-like
   residuals) on the image in grey levels (0-255): kernel ``c`` on colour channel ``c``
   (red: the second-order kernel, green: the 5×5 one, blue: the horizontal one);
2. truncation to ``[-T, T]`` and division by ``T`` (``T`` = 3, as in SRM);
3. two stride-2 3×3 convolutions and one more 3×3 convolution (batch norm, ReLU):
   ``channels`` maps at stride 4, passed to the fusion module as one more scale.

The layout of the stored weights is that of a 9-map residual, each of the three maps
above repeated three times (the first learned convolution takes 9 inputs: input
``3c + j`` is map ``c`` for ``j`` = 0, 1, 2), as every trained checkpoint holds it. The
forward pass computes the three distinct maps only and sums the first convolution's
weights over each triplet, which gives the same result with a third of the work; 255 and
``1/T`` are folded into the fixed kernels, so step 2 is one clamp to ``[-1, 1]``.

Cost at 224² with 32 channels: 53 MMACs (fvcore; 72 for the 9-map definition).
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from boxpromptiml.errors import ConfigError
from boxpromptiml.student.args import check_noise_norm

__all__ = ["NoiseResidual", "srm_kernels"]


def srm_kernels() -> Tensor:
    """The three SRM kernels, ``(3, 5, 5)`` float32, each summing to zero."""
    k1 = (
        torch.tensor(
            [
                [0, 0, 0, 0, 0],
                [0, -1, 2, -1, 0],
                [0, 2, -4, 2, 0],
                [0, -1, 2, -1, 0],
                [0, 0, 0, 0, 0],
            ],
            dtype=torch.float32,
        )
        / 4.0
    )
    k2 = (
        torch.tensor(
            [
                [-1, 2, -2, 2, -1],
                [2, -6, 8, -6, 2],
                [-2, 8, -12, 8, -2],
                [2, -6, 8, -6, 2],
                [-1, 2, -2, 2, -1],
            ],
            dtype=torch.float32,
        )
        / 12.0
    )
    k3 = (
        torch.tensor(
            [
                [0, 0, 0, 0, 0],
                [0, 0, 0, 0, 0],
                [0, 1, -2, 1, 0],
                [0, 0, 0, 0, 0],
                [0, 0, 0, 0, 0],
            ],
            dtype=torch.float32,
        )
        / 2.0
    )
    return torch.stack([k1, k2, k3])


def _conv_bn_relu(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class NoiseResidual(nn.Module):
    """SRM residuals of an RGB image, learned into ``channels`` maps at stride 4.

    ``forward(x)``: ``x`` ``(B, 3, H, W)`` RGB in ``[0, 1]`` (not normalised) →
    ``(B, channels, ceil(H/4), ceil(W/4))``. With ``norm="center"`` each map has its mean
    over the image subtracted (per image and channel).
    """

    srm: Tensor
    scaled: Tensor

    def __init__(self, channels: int = 32, truncate: float = 3.0, norm: str = "none") -> None:
        super().__init__()
        if channels < 1:
            raise ConfigError(f"noise branch channels must be >= 1, got {channels}")
        self.norm = check_noise_norm(norm)
        k = srm_kernels()  # (3, 5, 5): kernel c filters colour channel c
        # the 9-map bank the weights were laid out for: map 3c + j = kernel c on channel c
        self.register_buffer("srm", k.repeat_interleave(3, dim=0)[:, None], persistent=False)
        # the 3 distinct maps, input in [0, 1]: the 255 and 1/T of the definition folded in
        self.register_buffer("scaled", k[:, None] * (255.0 / truncate), persistent=False)
        self.truncate = float(truncate)
        self.channels = int(channels)
        self.convs = nn.Sequential(
            _conv_bn_relu(9, 16, 2),
            _conv_bn_relu(16, channels, 2),
            _conv_bn_relu(channels, channels, 1),
        )

    def residuals(self, x: Tensor) -> Tensor:
        """The 9 truncated residual maps of the definition, ``(B, 9, H, W)`` in ``[-1, 1]``
        (for reading and tests; :meth:`forward` does not build them)."""
        r = nn.functional.conv2d(x * 255.0, self.srm.to(x.dtype), padding=2, groups=3)
        return torch.clamp(r, -self.truncate, self.truncate) / self.truncate

    def forward(self, x: Tensor) -> Tensor:
        r = nn.functional.conv2d(x, self.scaled.to(x.dtype), padding=2, groups=3)
        r = torch.clamp(r, -1.0, 1.0)  # (B, 3, H, W): map c stands for inputs 3c..3c+2
        stage = cast(nn.Sequential, self.convs[0])
        first = cast(nn.Conv2d, stage[0])
        w = first.weight.unflatten(1, (3, 3)).sum(dim=2)  # (C, 9, 3, 3) -> (C, 3, 3, 3)
        r = nn.functional.conv2d(r, w, None, first.stride, first.padding)
        out = cast(Tensor, self.convs[1:](stage[1:](r)))
        if self.norm == "center":  # departure from the image's own mean, per channel
            out = out - out.mean(dim=(2, 3), keepdim=True)
        return out
