"""Distillation losses between the student's logits and a soft target map.

The paper's only loss is ``BCE(student, pseudo_mask)``. Tampered pixels are often a small
fraction of an image, so soft Dice and focal terms are offered (weights default to 0).
All terms accept soft targets in ``[0, 1]``.

An image term (weight defaults to 0) ties the map to an image-level decision:
``BCE(mean of the top ``image_topk`` share of pixel logits, [target has a manipulated
pixel])``. On an untouched image it pushes the top 1 % of the map below 0.5, so fewer
than 1 % of its pixels are flagged; on a manipulated one it asks for a confident region.
It trains the same reduction that ``image_score="top1pct"`` reads at inference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["DistillLoss", "soft_dice_loss", "soft_focal_loss", "topk_image_loss"]


def soft_dice_loss(logits: Tensor, target: Tensor, smooth: float = 1.0) -> Tensor:
    """Mean over images of ``1 − (2 Σ p t + s) / (Σ p + Σ t + s)``, ``p = sigmoid(logits)``.

    ``logits``, ``target``: ``(B, 1, H, W)``; target in ``[0, 1]``. Returns a scalar.
    """
    p = torch.sigmoid(logits).flatten(1)
    t = target.flatten(1)
    inter = (p * t).sum(1)
    return (1.0 - (2.0 * inter + smooth) / (p.sum(1) + t.sum(1) + smooth)).mean()


def soft_focal_loss(logits: Tensor, target: Tensor, gamma: float = 2.0) -> Tensor:
    """Focal loss generalised to soft targets: ``BCE · |t − p|^γ``, averaged over pixels.

    With a binary target this is the usual ``−(1 − p_t)^γ log p_t``.
    """
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    weight = (target - torch.sigmoid(logits)).abs().pow(gamma)
    return (weight * bce).mean()


def topk_image_loss(logits: Tensor, target: Tensor, topk: float = 0.01) -> Tensor:
    """Image-level BCE on the mean of each image's top ``topk`` share of pixel logits.

    ``logits``, ``target``: ``(B, 1, H, W)``; an image's label is 1 when any target pixel
    exceeds 0.5, else 0. Returns a scalar (mean over the batch).
    """
    flat = logits.flatten(1)
    k = max(1, round(topk * flat.shape[1]))
    score = flat.topk(k, dim=1).values.mean(1)
    label = (target.flatten(1) > 0.5).any(1).to(score.dtype)
    return F.binary_cross_entropy_with_logits(score, label)


class DistillLoss(nn.Module):
    """``bce·BCE + dice·Dice + focal·Focal`` between logits and a target map.

    ``pos_weight`` ``w`` weighs the manipulated term of BCE,
    ``−[w·t·log p + (1 − t)·log(1 − p)]``. BCE alone then learns ``p' = w·p / (w·p + 1 − p)``
    instead of the calibrated ``p``: the 0.5 cut of ``p'`` is the ``1/(1 + w)`` cut of ``p``.
    Pixel F1 is maximised by a cut below 0.5 (about half the F1 reached), so ``w`` of 2–3
    moves a fixed 0.5 threshold towards the F1-optimal decision.

    ``image`` weighs :func:`topk_image_loss` (``image_topk``: the share of pixels it
    averages).

    ``forward(logits, target)`` with ``(B, 1, H, W)`` tensors returns the total (a scalar
    tensor) and a dict of the detached terms (for logging). Computed in float32.
    """

    def __init__(
        self,
        bce: float = 1.0,
        dice: float = 0.0,
        focal: float = 0.0,
        gamma: float = 2.0,
        pos_weight: float = 1.0,
        image: float = 0.0,
        image_topk: float = 0.01,
    ) -> None:
        super().__init__()
        self.weights = {
            "bce": float(bce),
            "dice": float(dice),
            "focal": float(focal),
            "image": float(image),
        }
        self.image_topk = float(image_topk)
        self.gamma = float(gamma)
        self.pos_weight = float(pos_weight)

    def forward(self, logits: Tensor, target: Tensor) -> tuple[Tensor, dict[str, float]]:
        logits, target = logits.float(), target.float()
        terms: dict[str, Tensor] = {}
        if self.weights["bce"]:
            pw = None
            if self.pos_weight != 1.0:
                pw = torch.tensor(self.pos_weight, dtype=logits.dtype, device=logits.device)
            terms["bce"] = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pw)
        if self.weights["dice"]:
            terms["dice"] = soft_dice_loss(logits, target)
        if self.weights["focal"]:
            terms["focal"] = soft_focal_loss(logits, target, self.gamma)
        if self.weights["image"]:
            terms["image"] = topk_image_loss(logits, target, self.image_topk)
        total = sum(
            (self.weights[k] * v for k, v in terms.items()), torch.zeros((), device=logits.device)
        )
        return total, {k: float(v.detach()) for k, v in terms.items()}
