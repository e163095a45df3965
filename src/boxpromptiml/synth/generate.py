"""One synthetic image: a host photo, one or two manipulated regions, post-processing.

:func:`synthesize` makes image number ``index`` of a dataset from its own generator,
``np.random.default_rng([seed, stream, index])`` (``stream`` 0 for manipulated images,
1 for authentic ones), so an image depends only on the seed, its index, the photo list
and the configuration: never on the order, the process or the number of workers.

Steps for a manipulated image:

1. **Host**: a photo drawn at random, randomly cropped (60–100 % of each side, with
   probability ``crop``), mirrored (``flip``), then downscaled so that its longer side is
   at most ``size``. This is the *source* the mask refers to.
2. **Regions**: one, or two with probability ``two_regions`` (never touching; each at
   most half the usual area). The area of a region is drawn log-uniformly in ``area``
   (fractions of the image; removal capped at ``removal_max_area``). Its shape is an
   object-like ``segment`` of a real photo, a ``blob`` or a ``polygon``
   (:mod:`boxpromptiml.synth.shapes`), in proportions ``shapes``.

   * ``splice``: the region is cut from another photo (prepared like the host), scaled
     by about ±10 % around the size that gives the drawn area, sometimes rotated
     (±15°), optionally colour-matched to its new surroundings (mean/std transfer in
     Lab, probability ``color_match``) and pasted at a random place.
   * ``copymove``: the region is cut from the host itself and pasted elsewhere in it,
     away from its origin, optionally rescaled (0.7–1.4), rotated (±45°) or mirrored.
   * ``removal``: the region (grown by 0–3 px, like a brush stroke) is filled by
     OpenCV inpainting (Telea or Navier-Stokes, radius 3–7).

   Splices and copy-moves get feathered edges with probability ``feather``: the
   region is blended with a Gaussian-blurred alpha matte (sigma 0.7–2 px).

   Options for photos in the wild (all off by default): ``camera`` re-captures each
   prepared photo (host and donor each with their own draw) through a simulated camera,
   Bayer mosaic, sensor noise, demosaicing, gamma and sharpening
   (:func:`boxpromptiml.synth.ops.camera_pipeline`), so that a splice joins two sensor
   patterns; ``prejpeg`` JPEG-compresses
   each prepared photo (host and donor alike, quality in ``prejpeg_quality``) and shifts
   its 8×8 grid by 0–7 px, so that the final JPEG makes a double compression;
   ``noise_match`` adds noise to a spliced region up to its surroundings' level;
   ``poisson`` blends a splice in the gradient domain (OpenCV ``seamlessClone``);
   ``removal_patch`` fills a removal with a shifted copy of the image (a clone stamp)
   instead of inpainting; ``splice_object`` makes a splice paste the donor's most salient
   whole object (found by U²-Netp, :mod:`boxpromptiml.synth.objects`; shape ``object`` in
   the record) instead of a drawn shape, scaled to the drawn area (0.25–2×);
   ``copymove_object`` makes a copy-move duplicate the host's most salient whole object
   (scaled to the drawn area within 0.5–1.4×, placed away from the original), and
   ``removal_object`` makes a removal erase it (when it covers at most
   ``removal_max_area``); a host without a clear object, or whose object overlaps an
   earlier region, gets a drawn shape instead.
3. **Post-processing** (``post``): resize, blur, noise and JPEG, each with its own
   probability, applied to the whole image (:func:`boxpromptiml.synth.ops.post_process`).
   Authentic images get the same post-processing, so that it is no clue by itself.

**What the mask marks.** The mask is the set of replaced pixels: alpha > 0.5 for
composited regions (with hard edges alpha is 0 or 1), the inpainted area for removals.
Before post-processing, every pixel outside the mask equals the source bit for bit,
except in a feathered band where alpha <= 0.5 (a blend of at most half the new content).
A replaced pixel may by chance keep its value. Post-processing changes the whole image
and leaves the mask alone; a resize resizes it with nearest-neighbour interpolation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from boxpromptiml.errors import ConfigError, without_later_defaults
from boxpromptiml.synth import objects, ops
from boxpromptiml.synth.photos import Photo, PhotoCache, cap_size
from boxpromptiml.synth.shapes import SHAPES, blob, grow_segment, polygon

KINDS = ("splice", "copymove", "removal")
DEFAULT_KINDS: dict[str, float] = {"splice": 0.40, "copymove": 0.35, "removal": 0.25}
DEFAULT_SHAPES: dict[str, float] = {"segment": 0.5, "blob": 0.25, "polygon": 0.25}
#: retries of a whole image whose mask came out too small (deterministic: same generator)
MAX_ATTEMPTS = 12
#: a region gap: regions of one image stay at least this many pixels apart
GAP_PX = 8


def _weights(value: Mapping[str, float], allowed: Sequence[str], what: str) -> dict[str, float]:
    bad = [k for k in value if k not in allowed]
    if bad:
        raise ConfigError(
            f"unknown {what} {', '.join(map(repr, bad))}; choose from {', '.join(allowed)}"
        )
    if any(not np.isfinite(v) or v < 0 for v in value.values()):
        raise ConfigError(f"{what} weights must be finite and >= 0, got {dict(value)}")
    total = float(sum(value.values()))
    if total <= 0:
        raise ConfigError(f"{what} weights must not all be zero, got {dict(value)}")
    return {k: float(value[k]) / total for k in allowed if value.get(k, 0) > 0}


def _range(value: tuple[float, float], lo: float, hi: float, name: str) -> None:
    a, b = value
    if not (lo <= a <= b <= hi):
        raise ConfigError(f"{name} must be a range within [{lo}, {hi}], got ({a}, {b})")


@dataclass(frozen=True)
class SynthConfig:
    """Every setting of the synthesiser (see the module docstring for what each does).

    Probabilities lie in ``[0, 1]``; area fractions are of the host image's area.
    ``kinds`` and ``shapes`` are relative weights (normalised; zero-weight entries unused).
    """

    n: int = 100
    authentic: int = 0
    kinds: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_KINDS))
    size: int = 512
    seed: int = 0
    area: tuple[float, float] = (0.01, 0.30)
    removal_max_area: float = 0.15
    two_regions: float = 0.2
    shapes: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SHAPES))
    crop: float = 0.7
    flip: float = 0.5
    color_match: float = 0.5
    feather: float = 0.5
    rotate: float = 0.4
    rescale: float = 0.5
    mirror: float = 0.15
    post: bool = True
    resize: float = 0.25
    resize_scale: tuple[float, float] = (0.6, 0.95)
    blur: float = 0.2
    blur_sigma: tuple[float, float] = (0.4, 1.2)
    noise: float = 0.2
    noise_sigma: tuple[float, float] = (1.0, 4.0)
    jpeg: float = 0.5
    jpeg_quality: tuple[int, int] = (60, 95)
    camera: float = 0.0
    prejpeg: float = 0.0
    prejpeg_quality: tuple[int, int] = (70, 98)
    poisson: float = 0.0
    noise_match: float = 0.0
    removal_patch: float = 0.0
    splice_object: float = 0.0
    copymove_object: float = 0.0
    removal_object: float = 0.0
    upscale: float = 0.0
    upscale_scale: tuple[float, float] = (1.25, 2.0)

    LATER: ClassVar[dict[str, Any]] = {
        "camera": 0.0,
        "splice_object": 0.0,
        "copymove_object": 0.0,
        "removal_object": 0.0,
        "upscale": 0.0,
        "upscale_scale": (1.25, 2.0),
    }

    def __post_init__(self) -> None:
        for name in ("n", "authentic", "seed"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or v < 0:
                raise ConfigError(f"{name} must be an integer >= 0, got {v!r}")
        if self.n + self.authentic < 1:
            raise ConfigError("nothing to make: n and authentic are both 0")
        if not isinstance(self.size, int | np.integer) or not 64 <= self.size <= 8192:
            raise ConfigError(f"size must be an integer in [64, 8192], got {self.size!r}")
        object.__setattr__(self, "kinds", _weights(self.kinds, KINDS, "kind"))
        object.__setattr__(self, "shapes", _weights(self.shapes, SHAPES, "shape"))
        _range(self.area, 0.001, 0.6, "area")
        _range(self.resize_scale, 0.2, 1.0, "resize_scale")
        _range(self.upscale_scale, 1.0, 4.0, "upscale_scale")
        _range(self.blur_sigma, 0.0, 10.0, "blur_sigma")
        _range(self.noise_sigma, 0.0, 50.0, "noise_sigma")
        _range(self.jpeg_quality, 1, 100, "jpeg_quality")
        _range(self.prejpeg_quality, 1, 100, "prejpeg_quality")
        for name in (
            "removal_max_area",
            "two_regions",
            "crop",
            "flip",
            "color_match",
            "feather",
            "rotate",
            "rescale",
            "mirror",
            "resize",
            "blur",
            "noise",
            "jpeg",
            "camera",
            "prejpeg",
            "poisson",
            "noise_match",
            "removal_patch",
            "splice_object",
            "copymove_object",
            "removal_object",
            "upscale",
        ):
            v = getattr(self, name)
            if not 0.0 <= float(v) <= 1.0:
                raise ConfigError(f"{name} must lie in [0, 1], got {v!r}")

    def uses_objects(self) -> bool:
        """Whether some manipulation may need U²-Netp's salient objects."""
        wanted = (
            ("splice", self.splice_object),
            ("copymove", self.copymove_object),
            ("removal", self.removal_object),
        )
        return any(p > 0 and self.kinds.get(kind, 0) > 0 for kind, p in wanted)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field (tuples as lists), except the settings added
        after datasets were first made (:attr:`LATER`) when at their default: a folder
        made before them keeps matching its settings."""
        out = dataclasses.asdict(self)
        out["kinds"] = dict(self.kinds)
        out["shapes"] = dict(self.shapes)
        out = without_later_defaults(out, self.LATER)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SynthConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        bad = [k for k in data if k not in names]
        if bad:
            raise ConfigError(f"unknown synth setting(s): {', '.join(bad)}")
        kw: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**kw)


@dataclass
class SynthResult:
    """One synthesised image.

    ``image`` ``(H, W, 3)`` uint8 RGB after post-processing; ``mask`` ``(H, W)`` bool
    (all ``False`` for authentic images); ``source`` ``(Hs, Ws, 3)`` uint8, the prepared
    host before manipulation and post-processing (same size as ``image`` unless a resize
    was applied); ``record`` the JSON-ready description written to the manifest.
    """

    name: str
    kind: str
    image: np.ndarray
    mask: np.ndarray
    source: np.ndarray
    record: dict[str, Any]

    @property
    def authentic(self) -> bool:
        return self.kind == "authentic"


def image_name(index: int, authentic: bool = False) -> str:
    """File stem of image ``index``: ``tp_00012`` (manipulated) or ``au_00003`` (authentic)."""
    return f"{'au' if authentic else 'tp'}_{index:05d}"


def _r(x: float, nd: int = 4) -> float:
    return round(float(x), nd)


def _pick(rng: np.random.Generator, weights: Mapping[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _prepare(
    cache: PhotoCache, idx: int, rng: np.random.Generator, cfg: SynthConfig
) -> tuple[np.ndarray, dict[str, Any]]:
    """A photo randomly cropped and mirrored, longer side capped at ``cfg.size``."""
    img, scale = cache.get(idx)
    h, w = img.shape[:2]
    crop = None
    if rng.random() < cfg.crop:
        # side fractions 0.6-1 with an aspect change of at most 25 %
        f, aspect = rng.uniform(0.6, 1.0), rng.uniform(0.8, 1.25)
        fy, fx = min(1.0, f / np.sqrt(aspect)), min(1.0, f * np.sqrt(aspect))
        ch, cw = min(h, max(64, round(h * fy))), min(w, max(64, round(w * fx)))
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        img = img[y0 : y0 + ch, x0 : x0 + cw]
        # recorded in the original photo's pixel frame
        crop = [
            _r(x0 / scale, 1),
            _r(y0 / scale, 1),
            _r((x0 + cw) / scale, 1),
            _r((y0 + ch) / scale, 1),
        ]
    flip = bool(rng.random() < cfg.flip)
    if flip:
        img = img[:, ::-1]
    img = np.ascontiguousarray(cap_size(np.ascontiguousarray(img), cfg.size))
    camera = None
    if ops.happens(rng, cfg.camera):
        img, camera = ops.camera_pipeline(img, rng)
    prejpeg = None
    if ops.happens(rng, cfg.prejpeg) and min(img.shape[:2]) > 72:
        # the photo as a camera or an earlier save left it: JPEG-compressed, its 8x8 grid
        # then shifted by a crop of 0-7 px so that it need not align with the final image's
        lo, hi = cfg.prejpeg_quality
        q = int(rng.integers(lo, hi + 1))
        dy, dx = (int(v) for v in rng.integers(0, 8, size=2))
        img = np.ascontiguousarray(ops.jpeg_roundtrip(img, q)[dy:, dx:])
        prejpeg = {"quality": q, "shift": [dx, dy]}
    rec: dict[str, Any] = {
        "photo": cache.photos[idx].name,
        "crop": crop,
        "flip": flip,
        "hw": list(img.shape[:2]),
    }
    if camera is not None:
        rec["camera"] = camera
    if prejpeg is not None:
        rec["prejpeg"] = prejpeg
    return img, rec


def _shape_region(
    shape: str,
    image: np.ndarray,
    target_px: float,
    rng: np.random.Generator,
    forbid: np.ndarray | None,
) -> np.ndarray | None:
    """A region of about ``target_px`` pixels on ``image``'s frame, or ``None``."""
    h, w = image.shape[:2]
    target_px = min(target_px, 0.5 * h * w)
    if shape == "segment":
        region = grow_segment(image, target_px, rng, forbid=forbid)
    else:
        patch = blob(target_px, rng) if shape == "blob" else polygon(target_px, rng)
        placed = ops.place_patch(patch, (h, w), rng, forbid)
        if placed is None:
            return None
        region = placed
    return region if region.sum() >= 16 else None


class _HostObject:
    """The host photo's most salient whole object (``(H, W)`` bool in its pixel frame, or
    ``None``), found on first use and kept for the other regions and tries of one image."""

    def __init__(self, host: np.ndarray) -> None:
        self.host = host
        self._mask: np.ndarray | None = None
        self._done = False

    def region(self, forbid: np.ndarray) -> np.ndarray | None:
        """The object, or ``None`` when there is none or it touches ``forbid``."""
        if not self._done:
            self._mask, self._done = objects.salient_object(self.host), True
        if self._mask is None or (self._mask & forbid).any():
            return None
        return self._mask


def _feather(
    dest: np.ndarray, rng: np.random.Generator, cfg: SynthConfig
) -> tuple[np.ndarray, np.ndarray, float | None]:
    """``(alpha, mask, sigma)``: a hard or feathered matte for the bool region ``dest``."""
    if rng.random() < cfg.feather:
        sigma = float(rng.uniform(0.7, 2.0))
        alpha = ops.feather_alpha(dest, sigma)
        return alpha, alpha > 0.5, sigma
    return dest.astype(np.float32), dest, None


def _splice(
    image: np.ndarray,
    target_px: float,
    forbid: np.ndarray,
    rng: np.random.Generator,
    cache: PhotoCache,
    host_idx: int,
    cfg: SynthConfig,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
    n = len(cache.photos)
    donor_idx = int(rng.integers(0, n - 1)) if n > 1 else 0
    if n > 1 and donor_idx >= host_idx:
        donor_idx += 1
    donor, donor_rec = _prepare(cache, donor_idx, rng, cfg)
    if ops.happens(rng, cfg.splice_object):
        # a whole object of the donor, resized to the drawn area (shrunk more freely:
        # a donor's main object is often larger than the region the host can take)
        shape, lowest = "object", 0.25
        region = objects.salient_object(donor)
    else:
        shape, lowest = _pick(rng, cfg.shapes), 0.5
        region = _shape_region(shape, donor, target_px, rng, None)
    if region is None:
        return None
    scale = float(np.sqrt(target_px / region.sum()) * rng.uniform(0.9, 1.1))
    scale = float(np.clip(scale, lowest, 2.0))
    angle = float(rng.uniform(-15, 15)) if rng.random() < 0.2 else 0.0
    fit = ops.fit_transform(
        region, ops.similarity(scale, angle, False), image.shape[:2], rng, forbid
    )
    if fit is None:
        return None
    m, dest, shrink = fit
    layer = ops.warp_image(donor, m, image.shape[:2])
    strength = None
    if rng.random() < cfg.color_match:
        strength = float(rng.uniform(0.5, 1.0))
        layer = ops.match_colour(layer, dest, image, strength)
    noise_added = None
    if ops.happens(rng, cfg.noise_match):
        layer, noise_added = ops.match_noise(layer, dest, image, rng)
    blended = None
    if ops.happens(rng, cfg.poisson):
        blended = ops.poisson_blend(image, layer, dest)
    if blended is not None:
        alpha, mask, sigma = dest.astype(np.float32), dest, None
    else:
        alpha, mask, sigma = _feather(dest, rng, cfg)
    if mask.sum() < 16:
        return None
    rec = {
        "kind": "splice",
        "shape": shape,
        "donor": donor_rec,
        "source_box": ops.region_box(region),
        "target_box": ops.region_box(mask),
        "scale": _r(scale * shrink),
        "angle": _r(angle, 2),
        "color_match": None if strength is None else _r(strength),
        "feather_sigma": None if sigma is None else _r(sigma),
    }
    if noise_added is not None:
        rec["noise_match_sigma"] = _r(noise_added)
    if blended is not None:
        rec["blend"] = "poisson"
        return blended, mask, rec
    return ops.composite(image, layer, alpha), mask, rec


def _copymove(
    image: np.ndarray,
    target_px: float,
    forbid: np.ndarray,
    rng: np.random.Generator,
    cfg: SynthConfig,
    host_object: _HostObject,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
    scale = float(rng.uniform(0.7, 1.4)) if rng.random() < cfg.rescale else 1.0
    angle = float(rng.uniform(-45, 45)) if rng.random() < cfg.rotate else 0.0
    mirror = bool(rng.random() < cfg.mirror)
    region, shape = None, "object"
    if ops.happens(rng, cfg.copymove_object):
        region = host_object.region(forbid)
        if region is not None:  # the whole object, its copy about the drawn area
            scale = float(np.sqrt(target_px / region.sum()) * rng.uniform(0.9, 1.1))
            scale = float(np.clip(scale, 0.5, 1.4))
    if region is None:
        shape = _pick(rng, cfg.shapes)
        region = _shape_region(shape, image, target_px / scale**2, rng, forbid)
    if region is None:
        return None
    # the copy must land away from its origin and from earlier regions
    avoid = forbid | ops.dilate(region, GAP_PX)
    fit = ops.fit_transform(
        region, ops.similarity(scale, angle, mirror), image.shape[:2], rng, avoid
    )
    if fit is None:
        return None
    m, dest, shrink = fit
    layer = ops.warp_image(image, m, image.shape[:2])
    alpha, mask, sigma = _feather(dest, rng, cfg)
    if mask.sum() < 16:
        return None
    rec = {
        "kind": "copymove",
        "shape": shape,
        "source_box": ops.region_box(region),
        "target_box": ops.region_box(mask),
        "scale": _r(scale * shrink),
        "angle": _r(angle, 2),
        "mirror": mirror,
        "feather_sigma": None if sigma is None else _r(sigma),
    }
    return ops.composite(image, layer, alpha), mask, rec


def _removal(
    image: np.ndarray,
    target_px: float,
    forbid: np.ndarray,
    rng: np.random.Generator,
    cfg: SynthConfig,
    host_object: _HostObject,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
    region, shape = None, "object"
    if ops.happens(rng, cfg.removal_object):
        region = host_object.region(forbid)
        if region is not None and region.mean() > cfg.removal_max_area:
            region = None  # too large to erase believably
    if region is None:
        shape = _pick(rng, {"segment": 0.6, "blob": 0.25, "polygon": 0.15})
        region = _shape_region(shape, image, target_px, rng, forbid)
    if region is None:
        return None
    grow = int(rng.integers(0, 4))
    region = ops.dilate(region, grow)
    if (region & forbid).any():
        return None
    if ops.happens(rng, cfg.removal_patch):
        filled = ops.patch_fill(image, region, rng, forbid)
        if filled is not None:
            out, shift = filled
            rec = {
                "kind": "removal",
                "shape": shape,
                "target_box": ops.region_box(region),
                "grow_px": grow,
                "method": "patch",
                "shift": shift,
            }
            return out, region, rec
    method = "telea" if rng.random() < 0.5 else "ns"
    radius = int(rng.integers(3, 8))
    out = ops.inpaint(image, region, method, radius)
    rec = {
        "kind": "removal",
        "shape": shape,
        "target_box": ops.region_box(region),
        "grow_px": grow,
        "method": method,
        "radius": radius,
    }
    return out, region, rec


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else lo


def _manipulate(
    kind: str,
    host: np.ndarray,
    host_idx: int,
    rng: np.random.Generator,
    cache: PhotoCache,
    cfg: SynthConfig,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    h, w = host.shape[:2]
    lo, hi = cfg.area
    if kind == "removal":
        hi = max(lo, min(hi, cfg.removal_max_area))
    n_regions = 2 if rng.random() < cfg.two_regions else 1
    if n_regions == 2:
        hi = max(lo, hi / 2)
    image = host.copy()
    mask = np.zeros((h, w), bool)
    records: list[dict[str, Any]] = []
    host_object = _HostObject(host)
    for _ in range(n_regions):
        target = _log_uniform(rng, lo, hi) * h * w
        forbid = ops.dilate(mask, GAP_PX)
        for _try in range(6):
            if kind == "splice":
                made = _splice(image, target, forbid, rng, cache, host_idx, cfg)
            elif kind == "copymove":
                made = _copymove(image, target, forbid, rng, cfg, host_object)
            else:
                made = _removal(image, target, forbid, rng, cfg, host_object)
            if made is not None:
                break
        if made is None:
            continue
        image, region, rec = made
        rec["target_fraction"] = _r(target / (h * w))
        rec["area_fraction"] = _r(region.mean())
        mask |= region
        records.append(rec)
    return image, mask, records


def synthesize(
    index: int,
    photos: Sequence[Photo],
    config: SynthConfig | None = None,
    *,
    authentic: bool = False,
    cache: PhotoCache | None = None,
) -> SynthResult:
    """Make image ``index`` (manipulated, or authentic when ``authentic``) of a dataset.

    ``photos`` are the usable photos (see :func:`~boxpromptiml.synth.photos.check_photo`);
    ``cache`` may be shared between calls of one process to avoid re-reading photos.
    The result depends only on ``(config, photos, index, authentic)``.
    """
    cfg = config or SynthConfig()
    if not photos:
        raise ConfigError("no photos to synthesise from")
    if not authentic and len(photos) < 2 and "splice" in cfg.kinds:
        raise ConfigError(
            "splicing needs at least 2 photos; give more or leave splice out of kinds"
        )
    cache = cache or PhotoCache(photos, 2 * cfg.size)
    stream = 1 if authentic else 0
    rng = np.random.default_rng([cfg.seed, stream, index])
    name = image_name(index, authentic)
    kind = "authentic" if authentic else _pick(rng, cfg.kinds)
    probs = {"resize": cfg.resize, "blur": cfg.blur, "noise": cfg.noise, "jpeg": cfg.jpeg}
    probs["upscale"] = cfg.upscale
    ranges: dict[str, tuple[float, float]] = {
        "resize": cfg.resize_scale,
        "upscale": cfg.upscale_scale,
        "blur": cfg.blur_sigma,
        "noise": cfg.noise_sigma,
        "jpeg": (float(cfg.jpeg_quality[0]), float(cfg.jpeg_quality[1])),
    }
    attempt = 0
    regions: list[dict[str, Any]]
    while True:
        host_idx = int(rng.integers(0, len(photos)))
        host, host_rec = _prepare(cache, host_idx, rng, cfg)
        if authentic:
            image, mask, regions = host, np.zeros(host.shape[:2], bool), []
        else:
            image, mask, regions = _manipulate(kind, host, host_idx, rng, cache, cfg)
        post: list[dict[str, Any]] = []
        if cfg.post:
            image, mask, post = ops.post_process(image, mask, rng, probs, ranges)
        # a manipulated image needs a visible region (a resize may thin out tiny ones)
        if authentic or (regions and mask.mean() >= 0.5 * cfg.area[0]):
            break
        attempt += 1
        if attempt >= MAX_ATTEMPTS:
            raise ConfigError(
                f"{name}: could not fit a {kind} region with area in {cfg.area} "
                f"in {MAX_ATTEMPTS} attempts; lower the area range (--area)"
            )
    record = {
        "name": name,
        "kind": kind,
        "index": index,
        "rng": [cfg.seed, stream, index],
        "attempt": attempt,
        "host": host_rec,
        "regions": regions,
        "post": post,
        "hw": list(image.shape[:2]),
        "mask_fraction": _r(mask.mean()),
    }
    return SynthResult(name, kind, image, mask, host, record)
