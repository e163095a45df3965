"""Reading images, masks and predicted maps, defined once for the whole tool.

Conventions (every module relies on them):

* **image**: ``np.ndarray`` of shape ``(H, W, 3)``, ``uint8``, RGB, EXIF orientation applied.
* **mask**: ``np.ndarray`` of shape ``(H, W)``, ``bool``; ``True`` marks manipulated pixels.
* **map**: ``np.ndarray`` of shape ``(H, W)``, ``float32`` probabilities in ``[0, 1]``.

Pillow's decompression-bomb guard stays on; an image over its limit raises a
:class:`~boxpromptiml.errors.DataError` that names the file and the way to raise the limit.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from boxpromptiml.errors import ConfigError, DataError
from boxpromptiml.fileio import atomic_write

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
MAP_EXTENSIONS = (".png", ".npy", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")

PathLike = str | os.PathLike[str]


def _open(path: PathLike, what: str) -> Image.Image:
    """Open ``path`` with Pillow, turning every failure into one clear :class:`DataError`."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: {what} not found")
    _apply_pixel_limit()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(p)
            try:
                img.load()
            except BaseException:
                img.close()  # no open file left behind by a truncated image
                raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(
            f"{p}: {what} is larger than Pillow's decompression-bomb limit "
            f"({Image.MAX_IMAGE_PIXELS} pixels); if you trust the file, raise "
            "PIL.Image.MAX_IMAGE_PIXELS or set BOXPROMPT_MAX_PIXELS"
        ) from exc
    except UnidentifiedImageError as exc:
        raise DataError(f"{p}: not a readable image ({what})") from exc
    except OSError as exc:
        raise DataError(f"{p}: corrupt or truncated {what} ({exc})") from exc
    return img


def _apply_pixel_limit() -> None:
    """Raise Pillow's decompression-bomb limit to ``BOXPROMPT_MAX_PIXELS`` when it is set
    (checked on every read, so that a bad value is one clear error, not an import crash)."""
    env = os.environ.get("BOXPROMPT_MAX_PIXELS")
    if not env:
        return
    try:
        value = int(env)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(
            f"BOXPROMPT_MAX_PIXELS={env!r}: expected a positive whole number of pixels"
        )
    Image.MAX_IMAGE_PIXELS = value


def load_image(path: PathLike) -> np.ndarray:
    """Read an image as ``(H, W, 3)`` ``uint8`` RGB with its EXIF orientation applied.

    Any Pillow mode (L, LA, P, RGBA, CMYK, I;16, 1, ...) is converted to RGB; alpha is
    dropped (composited on black). 16-bit greyscale is scaled to 8 bits.
    """
    img = _open(path, "image")
    with contextlib.suppress(Exception):  # a broken EXIF block must not make it unreadable
        img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if arr.max() > 255 else 255.0
        grey = np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        grey = np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def _to_unit_grey(img: Image.Image) -> np.ndarray:
    """Channel-mean intensity of any Pillow image, scaled to ``[0, 255]`` as float64."""
    if img.mode == "1":
        return np.asarray(img, dtype=np.float64) * 255.0
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        return arr / 65535.0 * 255.0 if arr.max() > 255 else arr
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        return arr * 255.0 if arr.max() <= 1.0 else arr
    if img.mode in ("LA", "RGBA", "PA"):
        img = img.convert("RGB") if img.mode != "LA" else img.convert("L")
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    arr = np.asarray(img, dtype=np.float64)
    return arr.mean(axis=2) if arr.ndim == 3 else arr


def load_mask(path: PathLike, invert: bool = False, threshold: float = 127.0) -> np.ndarray:
    """Read a ground-truth mask as ``(H, W)`` ``bool``; ``True`` = manipulated.

    The channel mean (on the 0–255 scale; 16-bit and 1-bit masks are rescaled) is
    binarised with ``> threshold``. ``invert=True`` is for datasets that mark manipulated
    pixels black (NIST16). A mask's EXIF orientation is ignored: masks are pixel arrays.
    """
    img = _open(path, "mask")
    grey = _to_unit_grey(img)
    mask = grey > threshold
    return ~mask if invert else mask


def load_map(path: PathLike) -> np.ndarray:
    """Read a predicted map as ``(H, W)`` ``float32`` in ``[0, 1]``.

    ``.npy`` files hold floats in ``[0, 1]`` (a 2-D array, or 3-D with a singleton axis);
    image files hold 0–255 (8-bit) or 0–65535 (16-bit) and are divided accordingly.
    """
    p = Path(path)
    if p.suffix.lower() == ".npy":
        if not p.is_file():
            raise DataError(f"{p}: predicted map not found")
        try:
            arr = np.load(p, allow_pickle=False)
        except Exception as exc:
            raise DataError(f"{p}: not a readable .npy array ({exc})") from exc
        arr = np.squeeze(np.asarray(arr))
        if arr.ndim != 2:
            raise DataError(f"{p}: predicted map must be 2-D, got shape {arr.shape}")
        arr = arr.astype(np.float32)
        if not np.all(np.isfinite(arr)):
            raise DataError(f"{p}: predicted map contains NaN or infinite values")
        if arr.min() < -1e-6 or arr.max() > 1 + 1e-6:
            raise DataError(
                f"{p}: .npy map values must lie in [0, 1], got [{arr.min():.4g}, {arr.max():.4g}]"
            )
        return np.clip(arr, 0.0, 1.0)
    img = _open(p, "predicted map")
    return (_to_unit_grey(img) / 255.0).astype(np.float32)


def resize_map(prob: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Resize a float map to ``size_hw = (H, W)`` with bilinear interpolation."""
    import cv2

    h, w = size_hw
    if prob.shape == (h, w):
        return prob.astype(np.float32, copy=False)
    out = cv2.resize(prob.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(out, 0.0, 1.0)


def resize_mask(mask: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Resize a boolean mask to ``size_hw = (H, W)`` with nearest-neighbour interpolation."""
    import cv2

    h, w = size_hw
    if mask.shape == (h, w):
        return mask
    return cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)


def image_size(path: PathLike) -> tuple[int, int]:
    """``(H, W)`` of an image file after EXIF orientation, read from the header only."""
    with _open_header(path) as img:
        w, h = img.size
        try:
            orientation = img.getexif().get(0x0112, 1)
        except Exception:
            orientation = 1
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    return h, w


def _open_header(path: PathLike) -> Image.Image:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: image not found")
    _apply_pixel_limit()
    try:
        return Image.open(p)
    except Image.DecompressionBombError as exc:
        raise DataError(
            f"{p}: image is larger than Pillow's decompression-bomb limit "
            f"({Image.MAX_IMAGE_PIXELS} pixels); if you trust the file, set BOXPROMPT_MAX_PIXELS"
        ) from exc
    except UnidentifiedImageError as exc:
        raise DataError(f"{p}: not a readable image") from exc
    except OSError as exc:
        raise DataError(f"{p}: unreadable image ({exc})") from exc


def save_png(path: PathLike, array: np.ndarray) -> Path:
    """Save a ``uint8`` (H, W) or (H, W, 3) array, a bool mask (0/255) or a float map
    in ``[0, 1]`` (scaled to 0–255) as PNG, atomically."""
    arr = np.asarray(array)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        arr = np.clip(np.rint(arr.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    img = Image.fromarray(arr)
    return atomic_write(path, lambda tmp: img.save(tmp, format="PNG"))


def cap_size(image: np.ndarray, longest: int) -> np.ndarray:
    """Downscale ``(H, W, 3)`` uint8 (area interpolation) so that ``max(H, W) <= longest``;
    smaller images are returned unchanged."""
    import cv2

    h, w = image.shape[:2]
    if max(h, w) <= longest:
        return image
    s = longest / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
