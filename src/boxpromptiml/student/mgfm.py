"""The Memory-Guided Gated Fusion Module (MGFM, PAPER.md §2) and its small building blocks.

The paper describes MGFM only in words; this is our reconstruction, sized to fit the
≈0.4 M parameters left by the TinyViT-5M backbone:

1. **Projection.** Each backbone scale ``F_i`` (``i = 1..n``, finest first) goes through a
   1×1 conv + BN + ReLU to ``dim`` channels: ``F'_i``.
2. **Gated integration.** A 3×3 conv of ``F'_i`` gives one spatial gate logit per scale,
   ``G_i = sigmoid(conv(F'_i))``. Projections and gates are upsampled (bilinear) to the
   finest scale and combined as ``fused = Σ_i G_i ⊙ F'_i``, followed by a 3×3
   conv + BN + ReLU. ``G_avg`` is the mean of the ``G_i``.
3. **Memory read.** A learnable bank ``M ∈ R^{K×dim}`` of prototypes is read per pixel by
   attention, ``a = softmax(q Mᵀ / √dim)`` with ``q`` a 1×1 projection of ``fused``, giving
   ``r = a M``. ``A_mem`` is a 1×1 conv of ``[fused, r]``.
4. **Dual-guided refinement.** ``A_base`` is a 1×1 conv of ``fused``. With probabilities
   ``P_base = sigmoid(A_base)`` and ``P_mem = sigmoid(A_mem)``::

       P_final = α · (P_base ⊙ G_avg) + (1 − α) · P_mem,   α = sigmoid(a), a learned (0 at init)

   The combination is done in probability space, where a low gate *suppresses* a pixel
   (in logit space it would only push it towards 0.5). It is computed with log-sigmoids
   so that the returned logit ``log P_final − log(1 − P_final)`` is exact and stable
   for any input, and the training loss can stay ``BCEWithLogits``.

Ablation switches: ``memory_size=0`` (no bank: ``A_mem`` is a 1×1 conv of ``fused``
alone), ``gates=False`` (``G_i = 1``: plain sum, ``G_avg = 1``), ``alpha=<float>`` (α fixed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from boxpromptiml.errors import ConfigError

__all__ = ["MGFM", "ConvBNReLU"]


class ConvBNReLU(nn.Sequential):
    """``k×k`` conv (no bias, "same" padding) + BatchNorm + ReLU; ``(B, cin, H, W) -> (B, cout, H, W)``."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


def _log_mean_exp(logs: Sequence[Tensor]) -> Tensor:
    """``log(mean_i exp(logs_i))`` of same-shaped tensors, computed stably."""
    return torch.logsumexp(torch.stack(list(logs), dim=0), dim=0) - math.log(len(logs))


class MGFM(nn.Module):
    """Fuse ``n`` backbone scales into a one-channel logit map at the finest scale.

    Args:
        in_channels: channels of the backbone scales, finest first (read from the
            backbone's ``feature_info``).
        dim: projection width ``d``.
        memory_size: number ``K`` of memory prototypes; ``0`` disables the memory bank.
        gates: use spatial gates (``False``: ``G_i = 1``).
        alpha: ``None`` learns α (initialised at 0.5); a float in ``(0, 1)`` fixes it.

    Shapes: ``forward(features)`` takes ``n`` maps ``(B, in_channels[i], H_i, W_i)``,
    finest first, and returns logits ``(B, 1, H_0, W_0)``.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        dim: int = 64,
        memory_size: int = 32,
        gates: bool = True,
        alpha: float | None = None,
    ) -> None:
        super().__init__()
        if len(in_channels) < 1:
            raise ConfigError("MGFM needs at least one backbone scale")
        if dim < 1:
            raise ConfigError(f"MGFM dim must be >= 1, got {dim}")
        if memory_size < 0:
            raise ConfigError(f"memory_size must be >= 0 (0 disables the bank), got {memory_size}")
        if alpha is not None and not 0.0 < alpha < 1.0:
            raise ConfigError(f"a fixed alpha must lie strictly between 0 and 1, got {alpha}")
        self.dim = dim
        self.memory_size = memory_size
        self.use_gates = gates
        self.proj = nn.ModuleList([ConvBNReLU(c, dim, 1) for c in in_channels])
        self.gates = (
            nn.ModuleList([nn.Conv2d(dim, 1, 3, padding=1) for _ in in_channels]) if gates else None
        )
        self.refine = ConvBNReLU(dim, dim, 3)
        self.query: nn.Conv2d | None
        self.base_head = nn.Conv2d(dim, 1, 1)
        if memory_size > 0:
            self.memory = nn.Parameter(torch.randn(memory_size, dim) / math.sqrt(dim))
            self.query = nn.Conv2d(dim, dim, 1)
            self.mem_head = nn.Conv2d(2 * dim, 1, 1)
        else:
            self.register_parameter("memory", None)
            self.query = None
            self.mem_head = nn.Conv2d(dim, 1, 1)
        if alpha is None:
            self.alpha_logit = nn.Parameter(torch.zeros(()))
            self.fixed_alpha: float | None = None
        else:
            self.register_parameter("alpha_logit", None)
            self.fixed_alpha = float(alpha)

    @property
    def alpha(self) -> float:
        """The current α in ``(0, 1)``."""
        if self.alpha_logit is None:
            assert self.fixed_alpha is not None
            return self.fixed_alpha
        return float(torch.sigmoid(self.alpha_logit.detach()))

    def _log_alpha(self, ref: Tensor) -> tuple[Tensor, Tensor]:
        """``(log α, log(1 − α))`` as 0-d tensors on ``ref``'s device and dtype."""
        if self.alpha_logit is None:
            a = torch.logit(torch.tensor(self.fixed_alpha, dtype=ref.dtype, device=ref.device))
        else:
            a = self.alpha_logit.to(ref.dtype)
        return F.logsigmoid(a), F.logsigmoid(-a)

    def read_memory(self, fused: Tensor) -> tuple[Tensor, Tensor]:
        """Per-pixel attention over the bank.

        ``fused``: ``(B, d, H, W)``. Returns ``r`` ``(B, d, H, W)`` (the recalled
        prototype mix) and the attention ``(B, K, H, W)`` (sums to 1 over ``K``).
        """
        assert self.memory is not None and self.query is not None
        b, d, h, w = fused.shape
        q = self.query(fused).flatten(2).transpose(1, 2)  # (B, HW, d)
        mem = self.memory.to(q.dtype)
        attn = torch.softmax(torch.matmul(q, mem.t()) / math.sqrt(d), dim=-1)  # (B, HW, K)
        r = torch.matmul(attn, mem)  # (B, HW, d)
        r = r.transpose(1, 2).reshape(b, d, h, w)
        return r, attn.transpose(1, 2).reshape(b, -1, h, w)

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        """Logits ``(B, 1, H_0, W_0)`` at the finest scale (see :meth:`forward_parts`)."""
        return self.forward_parts(features)["logits"]

    def forward_parts(self, features: Sequence[Tensor]) -> dict[str, Tensor]:
        """All intermediate maps, at the finest scale ``(H_0, W_0)``.

        Keys: ``logits`` (B,1,H,W), ``base`` / ``mem`` (the two branch logits, B,1,H,W),
        ``gate_avg`` (B,1,H,W, probabilities; ones when gates are off), ``attention``
        (B,K,H,W; absent without a memory bank).
        """
        if len(features) != len(self.proj):
            raise ValueError(f"MGFM expects {len(self.proj)} feature maps, got {len(features)}")
        size = features[0].shape[-2:]
        projected: list[Tensor] = []
        gate_logits: list[Tensor] = []
        for i, feat in enumerate(features):
            p = self.proj[i](feat)
            if self.gates is not None:
                g = self.gates[i](p)  # gate computed at the scale's own resolution (cheap)
                if g.shape[-2:] != size:
                    g = F.interpolate(g, size=size, mode="bilinear", align_corners=False)
                gate_logits.append(g)
            if p.shape[-2:] != size:
                p = F.interpolate(p, size=size, mode="bilinear", align_corners=False)
            projected.append(p)

        if gate_logits:
            fused = sum(torch.sigmoid(g) * p for g, p in zip(gate_logits, projected, strict=True))
        else:
            fused = sum(projected)
        assert isinstance(fused, Tensor)
        fused = self.refine(fused)

        base = self.base_head(fused)
        parts: dict[str, Tensor] = {"base": base}
        if self.memory is not None:
            r, attn = self.read_memory(fused)
            mem = self.mem_head(torch.cat([fused, r], dim=1))
            parts["attention"] = attn
        else:
            mem = self.mem_head(fused)
        parts["mem"] = mem

        # log P'_base and log(1 - P'_base) with P'_base = P_base * G_avg
        log_pb, log_not_pb = F.logsigmoid(base), F.logsigmoid(-base)
        if gate_logits:
            log_g = _log_mean_exp([F.logsigmoid(g) for g in gate_logits])
            log_not_g = _log_mean_exp([F.logsigmoid(-g) for g in gate_logits])
            log_b = log_pb + log_g
            # 1 - P_b G = (1 - G) + G (1 - P_b)
            log_not_b = torch.logaddexp(log_not_g, log_g + log_not_pb)
            parts["gate_avg"] = log_g.exp()
        else:
            log_b, log_not_b = log_pb, log_not_pb
            parts["gate_avg"] = torch.ones_like(base)
        log_a, log_not_a = self._log_alpha(base)
        log_p = torch.logaddexp(log_a + log_b, log_not_a + F.logsigmoid(mem))
        log_not_p = torch.logaddexp(log_a + log_not_b, log_not_a + F.logsigmoid(-mem))
        parts["logits"] = log_p - log_not_p
        return parts
