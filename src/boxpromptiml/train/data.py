"""Training and validation data: reading, augmentation, and a resumable, sharded order.

Reproducibility without global random state: the order of an epoch is a permutation
seeded by ``(seed, epoch)``, and each sample's augmentation is seeded by
``(seed, epoch, index)``. A run resumed at step ``k`` of an epoch therefore sees exactly
the batches it would have seen, whatever the number of data-loading workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from boxpromptiml.data.images import load_image, load_map, load_mask
from boxpromptiml.data.sources import Sample, load_sample
from boxpromptiml.errors import ConfigError, DataError
from boxpromptiml.student.model import image_to_tensor, resize_image

__all__ = ["TrainDataset", "ValDataset", "epoch_batches", "sample_seed", "val_collate"]


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """Augmentation seed of sample ``index`` in ``epoch`` (a 32-bit integer)."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


def epoch_batches(
    n: int, batch_size: int, epoch: int, seed: int, rank: int = 0, world_size: int = 1
) -> list[list[tuple[int, int]]]:
    """This process's batches of one epoch, as lists of ``(index, augmentation_seed)``.

    The permutation of ``range(n)`` depends on ``(seed, epoch)`` only; it is padded by
    wrapping around to a multiple of ``world_size`` and dealt out round-robin, so that
    every process gets the same number of samples (as ``DistributedSampler`` does). Each
    process keeps full batches only (``drop_last``); the count is the same on every rank.
    """
    if n < 1:
        raise ConfigError("no training samples")
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    order = torch.randperm(n, generator=g).tolist()
    total = -(-n // world_size) * world_size
    order = (order * (total // n + 1))[:total]
    mine = order[rank::world_size]
    if len(mine) < batch_size:
        raise ConfigError(
            f"batch size {batch_size} is larger than the {len(mine)} training samples each of "
            f"the {world_size} process(es) gets; lower the batch size"
        )
    n_batches = len(mine) // batch_size
    return [
        [(i, sample_seed(seed, epoch, i)) for i in mine[b * batch_size : (b + 1) * batch_size]]
        for b in range(n_batches)
    ]


def build_augmentation(
    size: int, soft_targets: bool, crop: str = "resize", photometric: float = 0.0
) -> Any:
    """The training augmentation (albumentations): a ``size²`` crop, flips, JPEG
    recompression, blur and noise.

    ``photometric`` (probability, 0: off and nothing drawn for it) gives a crop one global
    change of rendering after the flips: brightness and contrast ×0.8-1.2, saturation
    ×0.6-1.5, hue ±0.03 and, half of the time, a gamma of 0.7-1.4, the same over the whole
    crop (so over a forged region and its surroundings alike).

    ``crop="resize"``: a random resized crop (50-100 % of the image, resampled to
    ``size²``; soft targets resampled bilinearly, binary ones with nearest neighbour).
    ``crop="native"``: a random ``size²`` window at the image's own resolution (smaller
    images are padded with zeros, target 0 there): no resampling, so noise and JPEG
    traces reach the student as they are in the file.
    """
    import albumentations as A

    rendering: list[Any] = []
    if photometric > 0:
        rendering.append(
            A.Sequential(
                [
                    A.ColorJitter(
                        brightness=(0.8, 1.2),
                        contrast=(0.8, 1.2),
                        saturation=(0.6, 1.5),
                        hue=(-0.03, 0.03),
                        p=1.0,
                    ),
                    A.RandomGamma(gamma_limit=(70, 140), p=0.5),
                ],
                p=photometric,
            )
        )
    if crop == "native":
        return A.Compose(
            [
                A.PadIfNeeded(
                    min_height=size,
                    min_width=size,
                    border_mode=cv2.BORDER_CONSTANT,
                    fill=0,
                    fill_mask=0,
                ),
                A.RandomCrop(height=size, width=size, p=1.0),
                A.HorizontalFlip(p=0.5),
                A.VerticalFlip(p=0.2),
                *rendering,
                A.ImageCompression(compression_type="jpeg", quality_range=(70, 100), p=0.15),
                A.GaussNoise(std_range=(0.005, 0.02), p=0.05),
            ],
            seed=0,
        )
    return A.Compose(
        [
            A.RandomResizedCrop(
                size=(size, size),
                scale=(0.5, 1.0),
                ratio=(3 / 4, 4 / 3),
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_LINEAR if soft_targets else cv2.INTER_NEAREST,
                area_for_downscale="image",
                p=1.0,
            ),
            A.HorizontalFlip(p=0.5),
            A.VerticalFlip(p=0.2),
            *rendering,
            A.ImageCompression(compression_type="jpeg", quality_range=(60, 100), p=0.3),
            A.GaussianBlur(blur_limit=(3, 5), sigma_limit=(0.1, 1.5), p=0.1),
            A.GaussNoise(std_range=(0.01, 0.04), p=0.1),
        ],
        seed=0,
    )


class TrainDataset(Dataset[dict[str, Any]]):
    """Images and their target maps, augmented.

    Items are requested as ``(index, augmentation_seed)`` (see :func:`epoch_batches`) and
    returned as a dict: ``image`` ``(3, S, S)`` float32 in ``[0, 1]``, ``target``
    ``(1, S, S)`` float32 in ``[0, 1]``, ``name`` str. Targets are read with
    :func:`~boxpromptiml.data.images.load_map` (soft pseudo-masks, ``supervision="pseudo"``)
    or :func:`~boxpromptiml.data.images.load_mask` (binary, ``"gt"``); a sample without
    a target path gets an all-zero target (authentic image). A sample that cannot be read
    is replaced by the next one that can, and its reason returned in ``skipped``.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        size: int,
        supervision: str,
        augment: bool,
        crop: str = "resize",
        photometric: float = 0.0,
    ) -> None:
        self.samples = list(samples)
        self.size = size
        self.soft = supervision == "pseudo"
        self.augment = build_augmentation(size, self.soft, crop, photometric) if augment else None

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Image ``(H, W, 3)`` uint8 and target ``(H, W)`` float32 in ``[0, 1]``."""
        s = self.samples[index]
        image = load_image(s.image)
        target: np.ndarray
        if s.mask is None:
            target = np.zeros(image.shape[:2], np.float32)
        elif self.soft:
            target = load_map(s.mask)
        else:
            target = load_mask(s.mask).astype(np.float32)
        if target.shape != image.shape[:2]:
            th, tw = target.shape[:2]
            raise DataError(
                f"{s.mask}: target is {th}x{tw} but image {s.image.name} is "
                f"{image.shape[0]}x{image.shape[1]}"
            )
        return image, target

    def __getitem__(self, item: tuple[int, int]) -> dict[str, Any]:
        index, seed = item
        # an unreadable sample is replaced by the next readable one (deterministic) and
        # reported in "skipped" (newline-separated reasons; the loop lists them)
        bad: list[str] = []
        for _ in range(len(self.samples)):
            try:
                image, target = self.load(index)
                break
            except DataError as exc:
                bad.append(str(exc))
                index = (index + 1) % len(self.samples)
        else:
            raise DataError("no training sample can be read: " + "; ".join(bad[:3]))
        if self.augment is not None:
            self.augment.set_random_seed(seed)
            out = self.augment(image=image, mask=target)
            image, target = out["image"], out["mask"]
        else:
            image = resize_image(image, self.size)
            target = cv2.resize(
                target,
                (self.size, self.size),
                interpolation=cv2.INTER_LINEAR if self.soft else cv2.INTER_NEAREST,
            )
        target_t = torch.from_numpy(np.clip(np.asarray(target, np.float32), 0.0, 1.0))[None]
        return {
            "image": image_to_tensor(image),
            "target": target_t,
            "name": self.samples[index].name,
            "skipped": "\n".join(bad),
        }


class ValDataset(Dataset[dict[str, Any]]):
    """Validation images resized to ``size²`` with their full-size ground truth.

    Items: ``image`` ``(3, S, S)`` float32 in ``[0, 1]``, ``mask`` ``(H, W)`` bool numpy
    (all ``False`` for an authentic image), ``label`` int, ``name`` str.
    """

    def __init__(self, samples: Sequence[Sample], size: int) -> None:
        self.samples = list(samples)
        self.size = size

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        s = self.samples[index]
        image, mask = load_sample(s)
        label = s.label if s.label is not None else int(s.mask is not None)
        return {
            "image": image_to_tensor(resize_image(image, self.size)),
            "mask": mask,
            "label": int(label),
            "name": s.name,
        }


def val_collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the images; keep masks (of different sizes), labels and names as lists."""
    return {
        "image": torch.stack([it["image"] for it in items]),
        "mask": [it["mask"] for it in items],
        "label": [it["label"] for it in items],
        "name": [it["name"] for it in items],
    }


def worker_init(_: int) -> None:
    """DataLoader workers: one OpenCV thread each (the workers are the parallelism).

    PyTorch's worker loop has already set torch to one thread (set again only if not).
    :func:`~boxpromptiml.train.fit` keeps OpenCV's pool stopped in the parent while
    training: a pool inherited through a fork would block this call."""
    cv2.setNumThreads(1)
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
