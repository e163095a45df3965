"""Image perturbations for robustness sweeps, applied in memory (datasets are never modified).

Every perturbation maps an image ``(H, W, 3)`` uint8 RGB to an image of the **same size**
(resizing goes down and back up), so the ground-truth mask stays valid. Randomness (noise)
comes from a generator the caller seeds per image, so sweeps are deterministic.

The "social network" chains approximate what an upload does to a photo. Their parameters
are documented approximations from public measurements of each service's processing, not
the services' own pipelines:

==========  ===================  ============  ==========
chain       longest side (px)    JPEG quality  sharpening
==========  ===================  ============  ==========
facebook    2048                 71            none
whatsapp    1600                 60            none
wechat      1280                 50            mild
weibo       2048                 75            none
==========  ===================  ============  ==========

An image smaller than the cap is not upscaled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from boxpromptiml.errors import ConfigError

Perturbation = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Re-encode as JPEG at ``quality`` (1–100) and decode."""
    if not 1 <= quality <= 100:
        raise ConfigError(f"JPEG quality must lie in [1, 100], got {quality}")
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV failure
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if decoded is None:  # pragma: no cover - OpenCV failure
        raise RuntimeError("JPEG decoding failed")
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def resize_round_trip(image: np.ndarray, scale: float) -> np.ndarray:
    """Scale by ``scale`` (area interpolation down) and back to the original size (bilinear)."""
    if not 0 < scale <= 4:
        raise ConfigError(f"resize scale must lie in (0, 4], got {scale}")
    h, w = image.shape[:2]
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(image, (sw, sh), interpolation=interp)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def gaussian_blur(image: np.ndarray, kernel: int) -> np.ndarray:
    """Gaussian blur with an odd ``kernel`` size (sigma derived by OpenCV from the size)."""
    if kernel < 1 or kernel % 2 == 0:
        raise ConfigError(f"blur kernel must be a positive odd number, got {kernel}")
    return cv2.GaussianBlur(image, (kernel, kernel), 0)


def gaussian_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add zero-mean Gaussian noise of standard deviation ``sigma`` (0–255 scale), clipped."""
    if sigma < 0:
        raise ConfigError(f"noise sigma must be >= 0, got {sigma}")
    noisy = image.astype(np.float32) + rng.normal(0.0, sigma, image.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def sharpen(image: np.ndarray, amount: float = 0.5, sigma: float = 1.0) -> np.ndarray:
    """Unsharp mask: ``image + amount * (image - blur(image))``."""
    blurred = cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigma)
    out = image.astype(np.float32) * (1 + amount) - blurred * amount
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class SocialChain:
    """An approximate upload pipeline: cap the longest side, optionally sharpen, re-encode."""

    name: str
    max_side: int
    quality: int
    sharpen_amount: float = 0.0

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        out = image
        scale = self.max_side / max(h, w)
        if scale < 1:
            small = cv2.resize(
                out,
                (max(1, round(w * scale)), max(1, round(h * scale))),
                interpolation=cv2.INTER_AREA,
            )
            if self.sharpen_amount:
                small = sharpen(small, self.sharpen_amount)
            small = jpeg(small, self.quality)
            # back to the original grid so the ground-truth mask still applies
            return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        if self.sharpen_amount:
            out = sharpen(out, self.sharpen_amount)
        return jpeg(out, self.quality)


SOCIAL_CHAINS: dict[str, SocialChain] = {
    "facebook": SocialChain("facebook", 2048, 71),
    "whatsapp": SocialChain("whatsapp", 1600, 60),
    "wechat": SocialChain("wechat", 1280, 50, sharpen_amount=0.3),
    "weibo": SocialChain("weibo", 2048, 75),
}

#: The default sweep: family -> list of levels (the issue's protocol).
DEFAULT_SWEEP: dict[str, list[float | int | str]] = {
    "jpeg": [100, 90, 80, 70, 60, 50],
    "resize": [0.25, 0.5, 0.75],
    "blur": [3, 7, 11, 15],
    "noise": [3, 7, 15, 23],
    "social": list(SOCIAL_CHAINS),
}


def parse_levels(item: str) -> tuple[str, list[float | int | str]]:
    """``"FAMILY=L1,L2"`` (a ``--levels`` value) as ``(family, levels)``: chain names for
    ``social``, floats for ``resize`` and ``noise``, integers otherwise. Raises
    :class:`~boxpromptiml.errors.ConfigError` for an unknown family or a bad number."""
    fam, sep, values = item.partition("=")
    if not sep or fam not in DEFAULT_SWEEP:
        raise ConfigError(
            f"--levels expects FAMILY=L1,L2 with FAMILY in {', '.join(DEFAULT_SWEEP)}"
        )
    levels: list[float | int | str] = []
    for v in values.split(","):
        v = v.strip()
        if fam == "social":
            levels.append(v)
        else:
            try:
                levels.append(float(v) if fam in ("resize", "noise") else int(v))
            except ValueError as exc:
                raise ConfigError(f"--levels {fam}: {v!r} is not a number") from exc
    return fam, levels


def make_perturbation(family: str, level: float | int | str) -> Perturbation:
    """The perturbation ``family`` at ``level``, as ``f(image, rng) -> image``."""
    if family == "none":
        return lambda img, rng: img
    if family == "jpeg":
        q = int(level)
        return lambda img, rng: jpeg(img, q)
    if family == "resize":
        s = float(level)
        return lambda img, rng: resize_round_trip(img, s)
    if family == "blur":
        k = int(level)
        return lambda img, rng: gaussian_blur(img, k)
    if family == "noise":
        sigma = float(level)
        return lambda img, rng: gaussian_noise(img, sigma, rng)
    if family == "social":
        if str(level) not in SOCIAL_CHAINS:
            raise ConfigError(
                f"unknown social chain {level!r}; choose from {', '.join(SOCIAL_CHAINS)}"
            )
        chain = SOCIAL_CHAINS[str(level)]
        return lambda img, rng: chain(img)
    raise ConfigError(
        f"unknown perturbation family {family!r}; choose from none, {', '.join(DEFAULT_SWEEP)}"
    )
