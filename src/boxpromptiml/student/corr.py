"""Self-correlation: a copy-move cue for the student (our addition; not in the paper).

A copy-moved region is, by construction, a duplicate of another part of the same image.
Networks for copy-move detection (e.g. BusterNet, Wu et al., ECCV 2018) therefore compare
every location's features with those of every other location and keep the best matches.
:class:`SelfCorrelation` does this on one backbone level:

1. a learned 1×1 projection of the features to ``dim`` channels, L2-normalised per location;
2. the cosine similarity of every location with every other one, ``(HW × HW)``, where the
   locations within ``exclude`` cells of each other (Chebyshev distance; a location and
   its neighbours always look alike) are set to −1;
3. the ``k`` largest similarities of each location, in decreasing order, as a ``k``-channel
   map at the level's resolution.

Both copies of a duplicated region get high values; the fusion module decides what to do
with them (the MGFM treats the map as one more scale). Cost at 224² on the stride-16
level: a ``196 × 196`` similarity matrix, about 2.5 MFLOPs for ``dim`` 64.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from boxpromptiml.errors import ConfigError

__all__ = ["SelfCorrelation"]


class SelfCorrelation(nn.Module):
    """Top-``k`` self-similarities of a feature map.

    Args:
        in_channels: channels ``C`` of the input features.
        k: how many best matches to keep per location (output channels).
        dim: width of the learned projection before the cosine similarity.
        exclude: locations within this Chebyshev distance (in cells) of each other are
            never matched; ``0`` excludes only the location itself.

    ``forward(x)``: ``x`` ``(B, C, H, W)`` → ``(B, k, H, W)`` similarities in ``[-1, 1]``,
    largest first. Where fewer than ``k`` locations lie outside the excluded window (tiny
    maps), the missing channels are −1.
    """

    def __init__(self, in_channels: int, k: int = 8, dim: int = 64, exclude: int = 1) -> None:
        super().__init__()
        if k < 1:
            raise ConfigError(f"self-correlation k must be >= 1, got {k}")
        if exclude < 0:
            raise ConfigError(f"self-correlation exclude must be >= 0, got {exclude}")
        self.k = int(k)
        self.exclude = int(exclude)
        self.proj = nn.Conv2d(in_channels, dim, 1)

    def similarity(self, x: Tensor) -> Tensor:
        """Cosine similarities ``(B, HW, HW)`` of the projected features, row-major
        locations, with the excluded pairs set to −1."""
        h, w = x.shape[-2:]
        f = F.normalize(self.proj(x).flatten(2), dim=1)  # (B, D, HW)
        sim = torch.matmul(f.transpose(1, 2), f)  # (B, HW, HW)
        ys = torch.arange(h, device=x.device).repeat_interleave(w)
        xs = torch.arange(w, device=x.device).repeat(h)
        near = ((ys[:, None] - ys[None, :]).abs() <= self.exclude) & (
            (xs[:, None] - xs[None, :]).abs() <= self.exclude
        )
        return sim.masked_fill(near, -1.0)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` → ``(B, k, H, W)`` (see the class docstring)."""
        b, _, h, w = x.shape
        sim = self.similarity(x)
        k = min(self.k, h * w)
        top = torch.topk(sim, k, dim=-1).values  # (B, HW, k), largest first
        if k < self.k:
            top = F.pad(top, (0, self.k - k), value=-1.0)
        return top.transpose(1, 2).reshape(b, self.k, h, w)
