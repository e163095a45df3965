"""Noise residuals: a forensic input branch for the student (our addition; not in the paper).

An ImageNet backbone sees content; a splice or an inpainted area often differs from the
rest of the photo only in its high-frequency noise: sensor noise, demosaicing, JPEG
blocking and resampling leave statistics that no object outline shows. Rich-model (SRM)
steganalysis filters expose them (Fridrich and Kodovský, 2012; used for manipulation
detection by RGB-N, Zhou et al., CVPR 2018). :class:`NoiseResidual`:

1. three fixed SRM high-pass kernels (5×5; first-, second- and third-order-like
   residuals), applied to each RGB channel of the image in grey levels (0-255), 9 maps;
2. truncation to ``[-T, T]`` and division by ``T`` (``T`` = 3, as in SRM);
3. two stride-2 3×3 convolutions and one more 3×3 convolution (batch norm, ReLU):
   ``channels`` maps at stride 4, passed to the fusion module as one more scale.

Cost at 224²: about 30 MMACs with 32 channels.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from boxpromptiml.errors import ConfigError

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
    ``(B, channels, ceil(H/4), ceil(W/4))``.
    """

    srm: Tensor

    def __init__(self, channels: int = 32, truncate: float = 3.0) -> None:
        super().__init__()
        if channels < 1:
            raise ConfigError(f"noise branch channels must be >= 1, got {channels}")
        k = srm_kernels()  # (3, 5, 5) → one kernel per (filter, colour channel): (9, 1, 5, 5)
        self.register_buffer("srm", k.repeat_interleave(3, dim=0)[:, None], persistent=False)
        self.truncate = float(truncate)
        self.channels = int(channels)
        self.convs = nn.Sequential(
            _conv_bn_relu(9, 16, 2),
            _conv_bn_relu(16, channels, 2),
            _conv_bn_relu(channels, channels, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        grey_levels = x * 255.0
        # channel c of the input feeds filters 3c..3c+2 (groups=3 over the repeated bank)
        r = nn.functional.conv2d(grey_levels, self.srm.to(x.dtype), padding=2, groups=3)
        r = torch.clamp(r, -self.truncate, self.truncate) / self.truncate
        return self.convs(r)
