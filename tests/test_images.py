"""Image, mask and map reading: every common form, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from boxpromptiml.data.images import load_image, load_map, load_mask, save_png
from boxpromptiml.errors import DataError


@pytest.fixture
def mask_array() -> np.ndarray:
    m = np.zeros((12, 17), bool)
    m[2:9, 3:11] = True
    return m


@pytest.mark.parametrize(
    "mode,ext",
    [
        ("L", ".png"),
        ("RGB", ".png"),
        ("RGBA", ".png"),
        ("P", ".png"),
        ("1", ".png"),
        ("I;16", ".png"),
        ("L", ".tif"),
        ("RGB", ".tiff"),
        ("L", ".bmp"),
    ],
)
def test_mask_forms(tmp_path: Path, mask_array: np.ndarray, mode: str, ext: str) -> None:
    u8 = mask_array.astype(np.uint8) * 255
    if mode == "I;16":
        img = Image.fromarray(mask_array.astype(np.uint16) * 65535)
    elif mode == "RGBA":
        img = Image.fromarray(np.dstack([u8, u8, u8, np.full_like(u8, 255)]), "RGBA")
    else:
        img = Image.fromarray(u8).convert(mode)
    p = tmp_path / f"m{ext}"
    img.save(p)
    out = load_mask(p)
    assert out.dtype == bool and out.shape == mask_array.shape
    np.testing.assert_array_equal(out, mask_array)
    np.testing.assert_array_equal(load_mask(p, invert=True), ~mask_array)


def test_mask_jpeg_binarised_at_127(tmp_path: Path, mask_array: np.ndarray) -> None:
    p = tmp_path / "m.jpg"
    Image.fromarray(mask_array.astype(np.uint8) * 255).save(p, quality=90)
    out = load_mask(p)
    # JPEG ringing changes a few border pixels at most
    assert (out != mask_array).mean() < 0.05


def test_mask_threshold_on_channel_mean(tmp_path: Path) -> None:
    # a red-only pixel (255,0,0) has mean 85 -> not manipulated; white -> manipulated
    arr = np.zeros((1, 3, 3), np.uint8)
    arr[0, 0] = (255, 0, 0)
    arr[0, 1] = (255, 255, 255)
    arr[0, 2] = (128, 128, 128)
    p = tmp_path / "rgb.png"
    Image.fromarray(arr).save(p)
    np.testing.assert_array_equal(load_mask(p), [[False, True, True]])


def test_image_exif_orientation_and_modes(tmp_path: Path) -> None:
    arr = np.zeros((10, 20, 3), np.uint8)
    arr[:, :5] = 255  # left stripe white
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 CW on display
    p = tmp_path / "rot.jpg"
    img.save(p, exif=exif, quality=95)
    out = load_image(p)
    assert out.shape == (20, 10, 3)  # transposed
    assert out[:5].mean() > 200 and out[-5:].mean() < 50  # the stripe is now on top
    for mode in ("L", "RGBA", "P", "CMYK", "1"):
        q = tmp_path / f"x_{mode}.{'jpg' if mode == 'CMYK' else 'png'}"
        Image.fromarray(arr).convert(mode).save(q)
        got = load_image(q)
        assert got.shape == (10, 20, 3) and got.dtype == np.uint8


def test_load_map_png_and_npy(tmp_path: Path) -> None:
    m = np.linspace(0, 1, 30, dtype=np.float32).reshape(5, 6)
    np.save(tmp_path / "a.npy", m)
    np.testing.assert_allclose(load_map(tmp_path / "a.npy"), m)
    save_png(tmp_path / "b.png", m)
    np.testing.assert_allclose(load_map(tmp_path / "b.png"), m, atol=1 / 255)
    np.save(tmp_path / "bad.npy", m * 3)
    with pytest.raises(DataError, match=r"bad\.npy.*\[0, 1\]"):
        load_map(tmp_path / "bad.npy")
    np.save(tmp_path / "nan.npy", np.full((2, 2), np.nan))
    with pytest.raises(DataError, match="NaN"):
        load_map(tmp_path / "nan.npy")


def test_corrupt_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DataError, match=r"corrupt\.png"):
        load_image(bad)
    with pytest.raises(DataError, match=r"nothere\.png: image not found"):
        load_image(tmp_path / "nothere.png")
    trunc = tmp_path / "trunc.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 7).save(trunc)
    trunc.write_bytes(trunc.read_bytes()[:60])
    with pytest.raises(DataError, match=r"trunc\.png"):
        load_image(trunc)


def test_decompression_bomb_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "big.png"
    Image.fromarray(np.zeros((100, 100), np.uint8)).save(p)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10000 px > 2x limit -> error
    with pytest.raises(DataError, match="decompression-bomb"):
        load_image(p)


def test_decompression_bomb_in_size_checks_and_bad_pixel_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from boxpromptiml.data.images import image_size
    from boxpromptiml.data.sources import find_size_mismatches, load_dataset
    from boxpromptiml.errors import ConfigError

    for sub in ("Tp", "Gt"):
        (tmp_path / sub).mkdir()
        Image.fromarray(np.zeros((100, 100), np.uint8)).save(tmp_path / sub / "a.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(DataError, match=r"a\.png: image is larger than .*decompression-bomb"):
        image_size(tmp_path / "Tp" / "a.png")
    # the size scan skips what it cannot open: the loader reports it, with its reason
    assert find_size_mismatches(load_dataset(tmp_path)) == []
    for bad in ("abc", "-1", "0"):
        monkeypatch.setenv("BOXPROMPT_MAX_PIXELS", bad)
        with pytest.raises(ConfigError, match="BOXPROMPT_MAX_PIXELS"):
            load_image(tmp_path / "Tp" / "a.png")
    monkeypatch.setenv("BOXPROMPT_MAX_PIXELS", "1000000")
    assert load_image(tmp_path / "Tp" / "a.png").shape == (100, 100, 3)
