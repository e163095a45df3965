"""Dataset sources: pairing by stem, JSON lists, plain image sources, size mismatches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from boxpromptiml.data.sources import (
    check_sizes,
    images_dataset,
    load_dataset,
    load_sample,
    mask_or_skip,
    resolve_images,
)
from boxpromptiml.errors import DataError
from tests.conftest import write_pair


def test_pairs_by_stem_not_by_order(tmp_path: Path) -> None:
    # sorted names of images and masks disagree: b.jpg <-> b_gt.png must still pair
    ma = np.zeros((8, 8), bool)
    ma[1:3, 1:3] = True
    mb = np.zeros((8, 8), bool)
    mb[4:8, 4:8] = True
    write_pair(tmp_path, "b", mb, image_ext=".jpg", mask_name="b_gt.png")
    write_pair(tmp_path, "a", ma, mask_name="a_mask.png")
    write_pair(tmp_path, "c", ma, mask_name="c.tif")
    ds = load_dataset(tmp_path)
    assert [s.name for s in ds] == ["a", "b", "c"]
    by = {s.name: s for s in ds}
    assert by["b"].mask is not None and by["b"].mask.name == "b_gt.png"
    _, mask_b = load_sample(by["b"])
    np.testing.assert_array_equal(mask_b, mb)


def test_unpaired_files_listed(tmp_path: Path) -> None:
    m = np.zeros((4, 4), bool)
    write_pair(tmp_path, "x", m)
    write_pair(tmp_path, "y", m)
    (tmp_path / "Gt" / "y.png").unlink()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "Gt" / "orphan.png")
    with pytest.raises(DataError) as err:
        load_dataset(tmp_path)
    msg = str(err.value)
    assert "y.png" in msg and "orphan.png" in msg and "without a mask" in msg
    ds = load_dataset(tmp_path, allow_unpaired=True)
    assert [s.name for s in ds] == ["x"] and ds.problems


def test_custom_suffix(tmp_path: Path) -> None:
    m = np.zeros((4, 4), bool)
    write_pair(tmp_path, "k", m, mask_name="k-forged.png")
    with pytest.raises(DataError, match="unpaired"):
        load_dataset(tmp_path)
    assert len(load_dataset(tmp_path, mask_suffixes=("-forged",))) == 1


def test_authentic_folder(small_dataset: Path) -> None:
    (small_dataset / "Au").mkdir()
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(small_dataset / "Au" / "real.jpg")
    ds = load_dataset(small_dataset)
    real = next(s for s in ds if s.name == "real")
    assert real.label == 0 and real.mask is None
    _image, mask = load_sample(real)
    assert mask.shape == (9, 9) and not mask.any()


def test_json_list(tmp_path: Path, small_dataset: Path) -> None:
    entries = [
        [str(p), str(small_dataset / "Gt" / p.name)]
        for p in sorted((small_dataset / "Tp").iterdir())
    ]
    entries.append([str(small_dataset / "Tp" / "img0.png"), "Negative"])
    jp = tmp_path / "list.json"
    jp.write_text(json.dumps(entries))
    ds = load_dataset(jp)
    assert len(ds) == 4 and ds.samples[-1].label == 0 and ds.samples[-1].mask is None
    assert len({s.name for s in ds}) == 4  # duplicate stems made unique
    (tmp_path / "bad.json").write_text("[[1, 2")
    with pytest.raises(DataError, match=r"bad\.json: malformed JSON"):
        load_dataset(tmp_path / "bad.json")
    (tmp_path / "bad2.json").write_text('[["only-one"]]')
    with pytest.raises(DataError, match="entry 0"):
        load_dataset(tmp_path / "bad2.json")


def test_relative_json_paths(tmp_path: Path, small_dataset: Path) -> None:
    jp = small_dataset / "l.json"
    jp.write_text(json.dumps([["Tp/img1.png", "Gt/img1.png"]]))
    ds = load_dataset(jp)
    assert ds.samples[0].image == small_dataset / "Tp" / "img1.png"
    load_sample(ds.samples[0])


def test_size_mismatch_policies(small_dataset: Path) -> None:
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(small_dataset / "Gt" / "img1.png")
    ds = load_dataset(small_dataset)
    with pytest.raises(DataError, match=r"1 image/mask pair.*img1 \(image 50x40, mask 10x10\)"):
        check_sizes(ds, "error")
    check_sizes(ds, "skip")
    s = next(x for x in ds if x.name == "img1")
    problems: list[str] = []
    assert mask_or_skip(s, (40, 50), "skip", problems) is None and "img1" in problems[0]
    resized = mask_or_skip(s, (40, 50), "resize", problems)
    assert resized is not None and resized.shape == (40, 50)
    with pytest.raises(DataError, match="img1"):
        mask_or_skip(s, (40, 50), "error", problems)


def test_resolve_images(tmp_path: Path, small_dataset: Path) -> None:
    tp = small_dataset / "Tp"
    assert len(resolve_images(tp)) == 3
    assert len(resolve_images(str(tp / "img*.png"))) == 3
    assert resolve_images(tp / "img0.png") == [tp / "img0.png"]
    lst = tmp_path / "list.txt"
    lst.write_text(f"# comment\n{tp / 'img0.png'}\n\n{tp / 'img2.png'}\n")
    assert len(resolve_images(lst)) == 2
    latin = tmp_path / "latin.txt"
    latin.write_bytes("photos/caf\xe9.jpg\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.txt: a list file must be UTF-8"):
        resolve_images(latin)
    with pytest.raises(DataError, match="glob matches no images"):
        resolve_images(str(tmp_path / "*.nope"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="holds no images"):
        resolve_images(empty)
    with pytest.raises(DataError, match="no such file"):
        resolve_images(tmp_path / "missing")
    assert images_dataset(tp).samples[0].label is None


def test_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a dataset"):
        load_dataset(tmp_path)
    with pytest.raises(DataError, match="dataset not found"):
        load_dataset(tmp_path / "nope")


def test_coverage_pairs(coverage_root: Path) -> None:
    ds = load_dataset(coverage_root)
    assert len(ds) == 100
    split = json.loads((coverage_root / "split.json").read_text())
    with pytest.raises(DataError) as err:
        check_sizes(ds, "error")
    assert "9 image/mask pair(s)" in str(err.value)
    for stem in split["size_mismatch"]:
        assert stem in str(err.value)
