"""Authentic photographs: the raw material of synthetic forgeries.

A :class:`Photo` is a name plus a file path. Photos come from any image source understood
by :func:`~boxpromptiml.data.sources.resolve_images` (a folder, a glob, a ``.txt`` list, a
file), or, with no source, from :func:`default_photos`: real photographs that ship inside
the project's own dependencies, so that a fresh install can synthesise a dataset with no
download at all.

Default photos (each used only when its file is present in the installed package; nothing
is ever downloaded):

=========================  ===================================================  ========
name                       file                                                 size
=========================  ===================================================  ========
skimage:astronaut          scikit-image ``skimage/data/astronaut.png``          512×512
skimage:chelsea            scikit-image ``skimage/data/chelsea.png``            451×300
skimage:coffee             scikit-image ``skimage/data/coffee.png``             600×400
skimage:rocket             scikit-image ``skimage/data/rocket.jpg``             640×427
skimage:motorcycle_left    scikit-image ``skimage/data/motorcycle_left.png``    741×500
sklearn:china              scikit-learn ``sklearn/datasets/images/china.jpg``   640×427
sklearn:flower             scikit-learn ``sklearn/datasets/images/flower.jpg``  640×427
matplotlib:grace_hopper    matplotlib ``mpl-data/sample_data/grace_hopper.jpg`` 512×600
=========================  ===================================================  ========

Left out on purpose: greyscale photos (camera, coins, moon, ...), microscopy and medical
images (ihc, retina, cell), the Hubble deep field, drawings and logos, and the right view
of the motorcycle stereo pair (a near duplicate of the left one). scikit-learn and
matplotlib are core dependencies; scikit-image is an optional one (the ``torch`` extra),
so without it the default set holds the 3 photos of the other two packages.
"""

from __future__ import annotations

import importlib.util
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from boxpromptiml.data.images import cap_size, load_image
from boxpromptiml.errors import DataError

PathLike = str | os.PathLike[str]

#: name -> (distribution's top-level package, file inside that package's folder)
DEFAULT_PHOTOS: dict[str, tuple[str, str]] = {
    "skimage:astronaut": ("skimage", "data/astronaut.png"),
    "skimage:chelsea": ("skimage", "data/chelsea.png"),
    "skimage:coffee": ("skimage", "data/coffee.png"),
    "skimage:rocket": ("skimage", "data/rocket.jpg"),
    "skimage:motorcycle_left": ("skimage", "data/motorcycle_left.png"),
    "sklearn:china": ("sklearn", "datasets/images/china.jpg"),
    "sklearn:flower": ("sklearn", "datasets/images/flower.jpg"),
    "matplotlib:grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
}

#: photos whose shorter side is below this many pixels are skipped
MIN_PHOTO_SIDE = 64


@dataclass(frozen=True)
class Photo:
    """One authentic photograph: ``name`` (unique in a photo list, recorded in manifests)
    and ``path`` (any format :func:`~boxpromptiml.data.images.load_image` reads)."""

    name: str
    path: Path


def _package_file(package: str, relative: str) -> Path | None:
    """Path of a data file inside an installed package's folder, or ``None``.

    The package is located with :func:`importlib.util.find_spec`, which does not import
    it (importing scikit-learn alone takes about a second); nothing is downloaded.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / relative
        if path.is_file():
            return path
    return None


def default_photos() -> list[Photo]:
    """The real photographs bundled with installed dependencies (see the module docstring).

    Only files present on disk are returned, in the order of :data:`DEFAULT_PHOTOS`;
    nothing is downloaded. Raises :class:`DataError` when none is available.
    """
    out = []
    for name, (package, relative) in DEFAULT_PHOTOS.items():
        path = _package_file(package, relative)
        if path is not None:
            out.append(Photo(name, path))
    if not out:
        raise DataError(
            "no bundled photo found (scikit-image, scikit-learn and matplotlib sample data "
            "are all missing); give a folder of photos"
        )
    return out


def as_photos(source: PathLike | Sequence[PathLike | Photo] | None) -> list[Photo]:
    """Turn a photo source into a list of :class:`Photo` with unique names.

    ``None`` gives :func:`default_photos`; a folder, glob, ``.txt`` list or file is resolved
    with :func:`~boxpromptiml.data.sources.resolve_images`; a sequence may mix paths and
    :class:`Photo` objects. A name is the file name; repeated names get ``__2``, ``__3``.
    """
    from boxpromptiml.data.sources import resolve_images

    if source is None:
        return default_photos()
    items: list[PathLike | Photo]
    if isinstance(source, str | os.PathLike):
        items = list(resolve_images(source))
    else:
        items = []
        for s in source:
            items.extend([s] if isinstance(s, Photo) else resolve_images(s))
    if not items:
        raise DataError("no photos given")
    out: list[Photo] = []
    seen: dict[str, int] = {}
    for it in items:
        photo = it if isinstance(it, Photo) else Photo(Path(it).name, Path(it))
        if photo.name in seen:
            seen[photo.name] += 1
            photo = Photo(f"{photo.name}__{seen[photo.name]}", photo.path)
        else:
            seen[photo.name] = 1
        out.append(photo)
    return out


def check_photo(photo: Photo) -> str | None:
    """``None`` when ``photo`` decodes and is at least :data:`MIN_PHOTO_SIDE` px on each
    side, else a one-line reason naming the file."""
    try:
        img = load_image(photo.path)
    except DataError as exc:
        return str(exc)
    h, w = img.shape[:2]
    if min(h, w) < MIN_PHOTO_SIDE:
        return f"{photo.path}: too small ({w}x{h}; needs {MIN_PHOTO_SIDE} px on each side)"
    return None


class PhotoCache:
    """Loads photos on demand, each downscaled once to at most ``longest`` px, and keeps
    the ``capacity`` most recently used in memory.

    The cached array depends only on the file and ``longest``, so results never depend on
    what happens to be cached. ``get`` returns ``(image, scale)`` where ``image`` is
    ``(H, W, 3)`` uint8 RGB and ``scale`` = cached size / original size.
    """

    def __init__(self, photos: Sequence[Photo], longest: int, capacity: int = 24) -> None:
        self.photos = list(photos)
        self.longest = longest
        self.capacity = capacity
        self._items: OrderedDict[int, tuple[np.ndarray, float]] = OrderedDict()

    def get(self, index: int) -> tuple[np.ndarray, float]:
        if index in self._items:
            self._items.move_to_end(index)
            return self._items[index]
        img = load_image(self.photos[index].path)
        small = cap_size(img, self.longest)
        item = (small, small.shape[1] / img.shape[1])
        self._items[index] = item
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return item
