"""Perturbations keep the image size and degrade as their level says."""

from __future__ import annotations

import numpy as np
import pytest

from boxpromptiml.errors import ConfigError
from boxpromptiml.robust.perturb import DEFAULT_SWEEP, SOCIAL_CHAINS, make_perturbation


@pytest.fixture
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.linspace(0, 255, 97)
    base = np.stack(np.meshgrid(x, x[:61]), -1).mean(-1)
    img = np.dstack([base, base[::-1], np.full_like(base, 90)]) + rng.normal(0, 20, (61, 97, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


@pytest.mark.parametrize("family", list(DEFAULT_SWEEP))
def test_same_size_and_degrading(image: np.ndarray, family: str) -> None:
    errs = []
    for level in DEFAULT_SWEEP[family]:
        out = make_perturbation(family, level)(image, np.random.default_rng(1))
        assert out.shape == image.shape and out.dtype == np.uint8
        errs.append(_err(out, image))
    assert all(e > 0 for e in errs), errs  # every level changes the image
    if family in ("blur", "noise"):
        assert errs == sorted(errs)  # stronger level, larger change
    if family == "resize":
        assert errs == sorted(errs, reverse=True)  # larger scale, smaller change
    if family == "jpeg":
        assert errs[0] < errs[-1]  # quality 100 changes less than quality 50


def test_noise_is_seeded(image: np.ndarray) -> None:
    f = make_perturbation("noise", 7)
    a = f(image, np.random.default_rng(5))
    b = f(image, np.random.default_rng(5))
    c = f(image, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_social_chain_downscales_large_images() -> None:
    big = np.random.default_rng(0).integers(0, 256, (2400, 3000, 3), dtype=np.uint8)
    out = SOCIAL_CHAINS["wechat"](big)
    assert out.shape == big.shape
    assert (
        _err(out, big)
        > _err(make_perturbation("jpeg", 50)(big, np.random.default_rng()), big) * 0.5
    )


def test_bad_levels() -> None:
    with pytest.raises(ConfigError, match="odd"):
        make_perturbation("blur", 4)(np.zeros((4, 4, 3), np.uint8), np.random.default_rng())
    with pytest.raises(ConfigError, match="unknown perturbation family"):
        make_perturbation("sepia", 1)
    with pytest.raises(ConfigError, match="unknown social chain"):
        make_perturbation("social", "myspace")
