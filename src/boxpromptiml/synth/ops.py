"""Image operations of the synthesiser: region transforms, compositing, colour matching,
inpainting and whole-image post-processing.

Arrays: images ``(H, W, 3)`` uint8 RGB; region masks ``(H, W)`` bool; alpha mattes
``(H, W)`` float32 in ``[0, 1]``; affine transforms ``(2, 3)`` float64 mapping source
pixel coordinates ``(x, y)`` to destination coordinates (OpenCV's convention).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from boxpromptiml.data.images import resize_mask


def region_box(mask: np.ndarray) -> list[int]:
    """Tight XYXY box ``[x0, y0, x1, y1]`` (pixel-cover convention) of a non-empty mask."""
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    """``(H, W)`` bool mask grown by ``px`` pixels (elliptic structuring element)."""
    if px <= 0 or not mask.any():
        return mask.copy()
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool)


def place_patch(
    patch: np.ndarray,
    hw: tuple[int, int],
    rng: np.random.Generator,
    forbid: np.ndarray | None = None,
    tries: int = 20,
) -> np.ndarray | None:
    """Put a ``(h, w)`` bool ``patch`` at a random position of an ``(H, W)`` canvas.

    Returns the ``(H, W)`` bool mask, or ``None`` when the patch does not fit or every
    try overlaps ``forbid``.
    """
    h, w = hw
    ph, pw = patch.shape
    if ph > h or pw > w:
        return None
    for _ in range(tries):
        y0 = int(rng.integers(0, h - ph + 1))
        x0 = int(rng.integers(0, w - pw + 1))
        if forbid is not None and (forbid[y0 : y0 + ph, x0 : x0 + pw] & patch).any():
            continue
        out = np.zeros((h, w), bool)
        out[y0 : y0 + ph, x0 : x0 + pw] = patch
        return out
    return None


def similarity(scale: float, angle_deg: float, mirror: bool) -> np.ndarray:
    """The ``(2, 2)`` linear part: optional horizontal mirror, then scale, then rotation."""
    t = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return rot @ np.diag([-scale if mirror else scale, scale])


def fit_transform(
    region: np.ndarray,
    linear: np.ndarray,
    hw: tuple[int, int],
    rng: np.random.Generator,
    forbid: np.ndarray | None = None,
    tries: int = 30,
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Find a random translation that puts the transformed ``region`` inside the canvas.

    ``region`` is the ``(Hs, Ws)`` bool source mask, ``linear`` the ``(2, 2)`` linear part
    applied about the region's centroid; when the transformed region is larger than the
    ``(H, W)`` canvas, ``linear`` is shrunk to fit. The destination centre is drawn
    uniformly among positions where the region lies fully inside, rounded to whole pixels.
    Returns ``(M, dest_mask, shrink)``: the ``(2, 3)`` affine, the warped ``(H, W)`` bool
    mask (warped as float, kept where ``> 0.5``) and the shrink factor applied; or
    ``None`` when every try overlaps ``forbid``.
    """
    h, w = hw
    ys, xs = np.nonzero(region)
    if ys.size == 0:
        return None
    c = np.array([xs.mean(), ys.mean()])
    x0, y0, x1, y1 = region_box(region)
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64) - c
    shrink = 1.0
    moved = corners @ linear.T
    ext = moved.max(axis=0) - moved.min(axis=0)
    room = np.array([w - 2, h - 2], dtype=np.float64)
    if (ext > room).any():
        shrink = float(0.97 * np.min(room / np.maximum(ext, 1e-9)))
        linear = linear * shrink
        moved = corners @ linear.T
    lo, hi = moved.min(axis=0), moved.max(axis=0)
    src = region.astype(np.float32)
    for _ in range(tries):
        tx = float(np.rint(rng.uniform(-lo[0], w - hi[0])))
        ty = float(np.rint(rng.uniform(-lo[1], h - hi[1])))
        m = np.zeros((2, 3))
        m[:, :2] = linear
        m[:, 2] = np.array([tx, ty]) - linear @ c
        dest = cv2.warpAffine(src, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0) > 0.5
        if not dest.any():
            continue
        if forbid is not None and (dest & forbid).any():
            continue
        return m, dest, shrink
    return None


def warp_image(image: np.ndarray, m: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Warp an ``(Hs, Ws, 3)`` uint8 image with the ``(2, 3)`` affine ``m`` onto ``(H, W)``
    (bilinear; borders reflected so that edge pixels never turn black)."""
    h, w = hw
    return cv2.warpAffine(
        image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )


def feather_alpha(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Soft alpha ``(H, W)`` float32: the bool ``mask`` blurred by a Gaussian of ``sigma`` px."""
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)


def composite(host: np.ndarray, layer: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``host + alpha * (layer - host)`` rounded to uint8.

    Where ``alpha == 0`` the result equals ``host`` bit for bit, where ``alpha == 1`` it
    equals ``layer``. ``host``/``layer`` ``(H, W, 3)`` uint8, ``alpha`` ``(H, W)`` float.
    """
    h = host.astype(np.float32)
    out = h + alpha.astype(np.float32)[:, :, None] * (layer.astype(np.float32) - h)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def match_colour(
    layer: np.ndarray, region: np.ndarray, host: np.ndarray, strength: float, ring_px: int = 15
) -> np.ndarray:
    """Move the colour statistics of ``layer`` inside ``region`` towards the host's.

    Per Lab channel, the mean and standard deviation of the layer's pixels in ``region``
    are moved by ``strength`` (0 = unchanged, 1 = equal) towards those of the host's
    pixels in a ring of ``ring_px`` around ``region`` (Reinhard-style transfer). Returns
    the whole ``(H, W, 3)`` uint8 layer recoloured.
    """
    ring = dilate(region, ring_px) & ~region
    if ring.sum() < 16 or region.sum() < 16:
        return layer
    src = _lab(layer)
    ref = _lab(host)
    mu_s, sd_s = src[region].mean(axis=0), src[region].std(axis=0)
    mu_r, sd_r = ref[ring].mean(axis=0), ref[ring].std(axis=0)
    mu_t = mu_s + strength * (mu_r - mu_s)
    sd_t = sd_s + strength * (sd_r - sd_s)
    out = (src - mu_s) * (sd_t / np.maximum(sd_s, 1e-3)) + mu_t
    rgb = cv2.cvtColor(out.astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


INPAINT_METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


def inpaint(image: np.ndarray, region: np.ndarray, method: str, radius: int) -> np.ndarray:
    """Fill ``region`` of an ``(H, W, 3)`` uint8 image with OpenCV's inpainting
    (``method`` ``"telea"`` or ``"ns"``); pixels outside ``region`` are not changed."""
    return cv2.inpaint(
        np.ascontiguousarray(image), region.astype(np.uint8), radius, INPAINT_METHODS[method]
    )


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode an ``(H, W, 3)`` uint8 RGB image as JPEG at ``quality`` and decode it back."""
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    )
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 image
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if decoded is None:  # pragma: no cover
        raise RuntimeError("JPEG decoding failed")
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def happens(rng: np.random.Generator, p: float) -> bool:
    """Whether an option applied with probability ``p`` applies this time. Draws from
    ``rng`` only when ``p > 0``, so an option left off consumes no draw and datasets made
    without it stay the same."""
    return p > 0 and rng.random() < p


def post_process(
    image: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    probs: dict[str, float],
    ranges: dict[str, tuple[float, float]],
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Whole-image post-processing in the fixed order resize, upscale, blur, noise, JPEG.

    Each step runs with probability ``probs[step]`` and draws its parameter uniformly
    from ``ranges[step]``: resize scale (downscaling, area interpolation; the mask follows
    with nearest neighbour), upscale factor (bilinear or bicubic interpolation, as
    editors, viewers and phones' digital zoom enlarge photos; optional: no ``"upscale"``
    in ``probs`` or probability 0 draws nothing), Gaussian blur sigma in px, Gaussian
    noise sigma in grey levels, JPEG quality (integer). The mask is otherwise unchanged.
    Returns the image, the mask and one record per applied step.
    """
    ops: list[dict[str, Any]] = []
    if rng.random() < probs["resize"]:
        s = float(rng.uniform(*ranges["resize"]))
        h, w = image.shape[:2]
        nh, nw = max(32, round(h * s)), max(32, round(w * s))
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        mask = resize_mask(mask, (nh, nw))
        ops.append({"op": "resize", "scale": round(s, 4), "hw": [nh, nw]})
    if happens(rng, probs.get("upscale", 0.0)):
        s = float(rng.uniform(*ranges["upscale"]))
        cubic = bool(rng.random() < 0.5)
        h, w = image.shape[:2]
        nh, nw = round(h * s), round(w * s)
        interp = cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR
        image = cv2.resize(image, (nw, nh), interpolation=interp)
        mask = resize_mask(mask, (nh, nw))
        ops.append(
            {"op": "upscale", "scale": round(s, 4), "hw": [nh, nw],
             "interpolation": "bicubic" if cubic else "bilinear"}
        )  # fmt: skip
    if rng.random() < probs["blur"]:
        sigma = float(rng.uniform(*ranges["blur"]))
        image = cv2.GaussianBlur(image, (0, 0), sigma)
        ops.append({"op": "blur", "sigma": round(sigma, 4)})
    if rng.random() < probs["noise"]:
        sigma = float(rng.uniform(*ranges["noise"]))
        noisy = image.astype(np.float32) + rng.normal(0.0, sigma, image.shape).astype(np.float32)
        image = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
        ops.append({"op": "noise", "sigma": round(sigma, 4)})
    if rng.random() < probs["jpeg"]:
        lo, hi = ranges["jpeg"]
        q = int(rng.integers(int(lo), int(hi) + 1))
        image = jpeg_roundtrip(image, q)
        ops.append({"op": "jpeg", "quality": q})
    return image, mask, ops


def _highpass_gain(sigma: float = 1.0) -> float:
    """Standard deviation of ``x - GaussianBlur(x, sigma)`` for unit white noise ``x``."""
    g = cv2.getGaussianKernel(2 * int(np.ceil(3 * sigma)) + 1, sigma)
    k = (g @ g.T).astype(np.float64)
    centre = k.shape[0] // 2
    return float(np.sqrt(1.0 - 2.0 * k[centre, centre] + (k**2).sum()))


_GAIN = _highpass_gain(1.0)


def noise_sigma(image: np.ndarray, region: np.ndarray | None = None) -> float:
    """Robust per-channel noise level (grey levels, mean over RGB) of an ``(H, W, 3)`` uint8
    image, over ``region`` when given: 1.4826 × the median absolute high-pass residual
    (image minus its Gaussian blur, sigma 1 px), scaled so that white Gaussian noise of
    standard deviation ``s`` reads ``s``. Texture reads as noise too: compare like areas."""
    x = image.astype(np.float32)
    residual = np.abs(x - cv2.GaussianBlur(x, (0, 0), 1.0))
    values = residual[region] if region is not None and region.any() else residual.reshape(-1, 3)
    return float(1.4826 * np.median(values, axis=0).mean() / _GAIN)


def match_noise(
    layer: np.ndarray, region: np.ndarray, host: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """Add Gaussian noise to ``layer`` so that its noise level inside ``region`` reaches the
    host's level in a ring around it (nothing is added when the layer is already noisier).
    Returns the ``(H, W, 3)`` uint8 layer and the sigma added (grey levels)."""
    ring = dilate(region, 15) & ~region
    if ring.sum() < 16 or region.sum() < 16:
        return layer, 0.0
    target, have = noise_sigma(host, ring), noise_sigma(layer, region)
    add = float(np.sqrt(max(0.0, target**2 - have**2)))
    if add < 0.25:
        return layer, 0.0
    noisy = layer.astype(np.float32) + rng.normal(0.0, add, layer.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8), add


def poisson_blend(host: np.ndarray, layer: np.ndarray, region: np.ndarray) -> np.ndarray | None:
    """Poisson (gradient-domain) blend of ``layer`` into ``host`` inside the bool ``region``
    (OpenCV ``seamlessClone``, normal clone, the region kept in place). Pixels outside
    ``region`` are the host's bit for bit. ``None`` when OpenCV refuses the region (e.g. it
    touches the image border)."""
    x0, y0, x1, y1 = region_box(region)
    h, w = region.shape
    if x0 < 1 or y0 < 1 or x1 > w - 1 or y1 > h - 1:
        return None
    centre = (x0 + (x1 - x0) // 2, y0 + (y1 - y0) // 2)
    mask = region.astype(np.uint8) * 255
    try:
        cloned = cv2.seamlessClone(
            np.ascontiguousarray(layer), np.ascontiguousarray(host), mask, centre, cv2.NORMAL_CLONE
        )
    except cv2.error:
        return None
    return np.where(region[:, :, None], cloned, host)


def patch_fill(
    image: np.ndarray, region: np.ndarray, rng: np.random.Generator, forbid: np.ndarray
) -> tuple[np.ndarray, list[int]] | None:
    """Fill ``region`` with a shifted copy of the image itself (a clone-stamp removal).

    The shift is 1–2.5 region sizes in a random direction, chosen so that the source area
    lies inside the image and overlaps neither the region nor ``forbid``; the copy is blended
    with a 1.5 px feathered edge inside the region (outside it the image is unchanged).
    Returns the image and the shift ``[dx, dy]``, or ``None`` when no shift fits."""
    h, w = region.shape
    x0, y0, x1, y1 = region_box(region)
    size = max(x1 - x0, y1 - y0)
    for _ in range(20):
        angle = rng.uniform(0, 2 * np.pi)
        dist = rng.uniform(1.0, 2.5) * size
        dx, dy = round(float(dist * np.cos(angle))), round(float(dist * np.sin(angle)))
        if not (x0 + dx >= 0 and x1 + dx <= w and y0 + dy >= 0 and y1 + dy <= h):
            continue
        src = np.zeros_like(region)
        src[y0 + dy : y1 + dy, x0 + dx : x1 + dx] = region[y0:y1, x0:x1]
        if (src & (region | forbid)).any():
            continue
        m = np.array([[1.0, 0.0, -dx], [0.0, 1.0, -dy]])
        layer = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_NEAREST)
        alpha = np.minimum(feather_alpha(region, 1.5) * 2.0, 1.0) * region
        return composite(image, layer, alpha), [dx, dy]
    return None


#: demosaicing algorithms of :func:`camera_pipeline`: OpenCV ``cvtColor`` codes that turn
#: an RGGB mosaic (red at even rows and columns) into RGB; OpenCV names that layout "BG"
DEMOSAIC: dict[str, int] = {
    "bilinear": cv2.COLOR_BayerBG2RGB,
    "vng": cv2.COLOR_BayerBG2RGB_VNG,
    "ea": cv2.COLOR_BayerBG2RGB_EA,
}


def camera_pipeline(
    image: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any]]:
    """Re-capture an ``(H, W, 3)`` uint8 RGB photo through a simulated camera.

    The photo is taken back to linear light (gamma 2.2), sampled on an RGGB Bayer mosaic,
    given signal-dependent sensor noise (variance ``shot × x + read`` for linear
    intensity ``x`` in ``[0, 1]``; ``shot`` log-uniform in ``[1e-4, 3e-3]``, ``read`` in
    ``[1e-7, 1e-5]``, about 1-6 grey levels at mid-grey), demosaiced by a randomly chosen
    algorithm (:data:`DEMOSAIC`), encoded with a gamma in ``[1.9, 2.5]`` and, with
    probability 0.5, sharpened by an unsharp mask (sigma 0.7-1.5 px, amount 0.2-1.0).

    Every photo prepared with it carries its own sensor noise and interpolation pattern,
    so that a splice joins two "cameras" and an untouched photo shows one. Returns the
    image (same shape, uint8) and a JSON-ready record of the drawn parameters.
    """
    h, w = image.shape[:2]
    shot = float(np.exp(rng.uniform(np.log(1e-4), np.log(3e-3))))
    read = float(np.exp(rng.uniform(np.log(1e-7), np.log(1e-5))))
    algo = str(rng.choice(list(DEMOSAIC)))
    gamma = float(rng.uniform(1.9, 2.5))
    sharpen = bool(rng.random() < 0.5)
    lin = (image.astype(np.float32) / 255.0) ** 2.2
    # RGGB: R at (even, even), G at (even, odd) and (odd, even), B at (odd, odd)
    raw = np.empty((h, w), np.float32)
    raw[0::2, 0::2] = lin[0::2, 0::2, 0]
    raw[0::2, 1::2] = lin[0::2, 1::2, 1]
    raw[1::2, 0::2] = lin[1::2, 0::2, 1]
    raw[1::2, 1::2] = lin[1::2, 1::2, 2]
    sd = np.sqrt(shot * raw + read)
    raw = np.clip(raw + sd * rng.standard_normal(raw.shape, dtype=np.float32), 0.0, 1.0)
    if algo == "vng":  # OpenCV's VNG takes 8-bit mosaics only: demosaic after the gamma
        mosaic8 = np.rint(255.0 * raw ** (1.0 / gamma)).astype(np.uint8)
        out = cv2.cvtColor(mosaic8, DEMOSAIC[algo]).astype(np.float32)
    else:
        mosaic16 = np.rint(65535.0 * raw).astype(np.uint16)
        rgb = cv2.cvtColor(mosaic16, DEMOSAIC[algo]).astype(np.float32) / 65535.0
        out = 255.0 * rgb ** (1.0 / gamma)
    rec: dict[str, Any] = {
        "op": "camera",
        "shot": round(shot, 7),
        "read": round(read, 9),
        "demosaic": algo,
        "gamma": round(gamma, 4),
    }
    if sharpen:
        sigma, amount = float(rng.uniform(0.7, 1.5)), float(rng.uniform(0.2, 1.0))
        out = out + amount * (out - cv2.GaussianBlur(out, (0, 0), sigma))
        rec["sharpen"] = {"sigma": round(sigma, 4), "amount": round(amount, 4)}
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), rec
