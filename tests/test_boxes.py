"""COCO box files and the simulated annotator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from boxpromptiml.data.annotator import (
    AnnotatorConfig,
    annotate_dataset,
    simulate_boxes,
    tight_boxes,
)
from boxpromptiml.data.boxes import (
    BoxFile,
    BoxWarning,
    ImageBoxes,
    boxes_to_mask,
    read_coco,
    write_coco,
)
from boxpromptiml.data.sources import load_dataset
from boxpromptiml.errors import ConfigError, DataError


def _two_regions() -> np.ndarray:
    m = np.zeros((100, 120), bool)
    m[10:30, 20:50] = True  # 30 wide, 20 high
    m[60:90, 80:100] = True
    m[0:2, 0:2] = True  # 4 px speck
    return m


def test_tight_boxes_and_min_area() -> None:
    m = _two_regions()
    b = tight_boxes(m, min_area=16)
    assert sorted(b.tolist()) == [[20, 10, 50, 30], [80, 60, 100, 90]]
    assert len(tight_boxes(m, min_area=1)) == 3
    # every region small: the largest is kept, a manipulated image always gets a box
    tiny = np.zeros((20, 20), bool)
    tiny[1, 1] = tiny[10:12, 10:12] = True
    assert tight_boxes(tiny, min_area=100).tolist() == [[10, 10, 12, 12]]
    assert tight_boxes(np.zeros((5, 5), bool)).shape == (0, 4)


def test_merge_distance() -> None:
    m = np.zeros((50, 50), bool)
    m[10:20, 10:20] = True
    m[10:20, 24:30] = True  # 4 px gap
    assert len(tight_boxes(m, merge_distance=0)) == 2
    merged = tight_boxes(m, merge_distance=3)
    assert merged.tolist() == [[10, 10, 30, 20]]


def test_margin_and_clipping() -> None:
    m = np.zeros((100, 120), bool)
    m[10:30, 20:50] = True
    b = simulate_boxes(m, AnnotatorConfig(margin=0.1))
    np.testing.assert_allclose(b, [[17, 8, 53, 32]])
    edge = np.zeros((50, 50), bool)
    edge[0:10, 40:50] = True
    b = simulate_boxes(edge, AnnotatorConfig(margin=0.3))
    assert b[0, 1] == 0 and b[0, 2] == 50  # clipped to the image


def test_jitter_seeded_and_bounded() -> None:
    m = _two_regions()
    cfg = AnnotatorConfig(margin=0.1, jitter=0.1, seed=3)
    a, b = simulate_boxes(m, cfg), simulate_boxes(m, cfg)
    np.testing.assert_array_equal(a, b)
    c = simulate_boxes(m, AnnotatorConfig(margin=0.1, jitter=0.1, seed=4))
    assert not np.array_equal(a, c)
    tight = tight_boxes(m, 16)
    size = np.concatenate([tight[:, 2:] - tight[:, :2]] * 2, axis=1)
    grow = np.abs(a - tight) / size
    assert np.all(grow <= 0.2 + 1e-9)  # margin + jitter at most


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="margin"):
        AnnotatorConfig(margin=1.5)
    with pytest.raises(ConfigError, match="miss must be a probability"):
        AnnotatorConfig(miss=2.0)
    with pytest.raises(ConfigError, match="min_area"):
        AnnotatorConfig(min_area=0)


def test_coco_round_trip(tmp_path: Path) -> None:
    bf = BoxFile(
        [
            ImageBoxes("a.png", 100, 80, np.array([[1.5, 2.0, 30.25, 40.0], [50, 10, 99, 79]])),
            ImageBoxes("b.jpg", 64, 64, np.zeros((0, 4)), extra={"seconds": 6.5}),
        ],
        info={"description": "t"},
    )
    p = write_coco(tmp_path / "boxes.json", bf)
    data = json.loads(p.read_text())
    assert data["categories"] == [{"id": 1, "name": "manipulated", "supercategory": ""}]
    assert data["annotations"][0]["bbox"] == [1.5, 2.0, 28.75, 38.0]
    back = read_coco(p)
    assert [im.file_name for im in back] == ["a.png", "b.jpg"]
    np.testing.assert_allclose(back.images[0].boxes, bf.images[0].boxes)
    assert back.images[1].authentic and back.images[1].extra == {"seconds": 6.5}


def test_coco_validation(tmp_path: Path) -> None:
    data = {
        "images": [{"id": 7, "file_name": "x.png", "width": 50, "height": 40}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 1, "bbox": [-5, 10, 20, 10]},  # clipped
            {"id": 2, "image_id": 7, "category_id": 1, "bbox": [10, 10, 0, 5]},  # degenerate
            {"id": 3, "image_id": 99, "category_id": 1, "bbox": [1, 1, 5, 5]},  # unknown image
        ],
        "categories": [{"id": 1, "name": "manipulated"}],
    }
    p = tmp_path / "c.json"
    p.write_text(json.dumps(data))
    with pytest.warns(BoxWarning) as rec:
        bf = read_coco(p)
    msgs = " | ".join(str(w.message) for w in rec)
    assert "clipped" in msgs and "degenerate" in msgs and "unknown image id 99" in msgs
    np.testing.assert_allclose(bf.images[0].boxes, [[0, 10, 15, 20]])
    with pytest.raises(DataError, match=r"c\.json"):
        read_coco(p, strict=True)


def test_coco_categories_and_malformed(tmp_path: Path) -> None:
    data = {
        "images": [{"id": 1, "file_name": "x.png", "width": 50, "height": 40}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 1, 5, 5]},
            {"id": 2, "image_id": 1, "category_id": 4, "bbox": [10, 10, 5, 5]},
        ],
        "categories": [{"id": 3, "name": "tampered"}, {"id": 4, "name": "person"}],
    }
    p = tmp_path / "cats.json"
    p.write_text(json.dumps(data))
    with pytest.raises(DataError, match="no category named 'manipulated'"):
        read_coco(p)
    assert len(read_coco(p, category="tampered").images[0].boxes) == 1
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(DataError, match=r"m\.json: malformed JSON"):
        read_coco(tmp_path / "m.json")
    (tmp_path / "n.json").write_text("[]")
    with pytest.raises(DataError, match="not a COCO file"):
        read_coco(tmp_path / "n.json")
    for cats in (["manipulated"], {"1": "manipulated"}):
        (tmp_path / "c.json").write_text(json.dumps({**data, "categories": cats}))
        with pytest.raises(DataError, match=r"c\.json: 'categories' must be a list of objects"):
            read_coco(tmp_path / "c.json")
    one = {**data, "categories": [], "annotations": [{"id": 1, "image_id": 1, "bbox": "5555"}]}
    (tmp_path / "s.json").write_text(json.dumps(one))
    with pytest.raises(DataError, match=r"annotations\[0\] .*bbox is str"):
        read_coco(tmp_path / "s.json")


def test_boxes_to_mask() -> None:
    m = boxes_to_mask(np.array([[1.2, 0, 3.0, 2.5]]), 4, 5)
    assert m.sum() == 2 * 3 and m[0:3, 1:3].all()


def test_coverage_boxes_round_trip(coverage_root: Path, tmp_path: Path) -> None:
    ds = load_dataset(coverage_root)
    bf = annotate_dataset(ds, AnnotatorConfig(margin=0.1), on_size_mismatch="skip", progress=False)
    assert len(bf) == 91 and len(bf.problems) == 9
    p = write_coco(tmp_path / "cov.json", bf)
    back = read_coco(p, strict=True)
    assert [im.file_name for im in back] == [im.file_name for im in bf]
    for a, b in zip(bf, back, strict=True):
        assert len(a.boxes) >= 1
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
        assert (a.width, a.height) == (b.width, b.height)


def test_annotator_misses_and_adds_boxes_only_when_asked() -> None:
    import numpy as np

    from boxpromptiml.data.annotator import AnnotatorConfig, simulate_boxes

    mask = np.zeros((100, 100), bool)
    mask[10:20, 10:20] = True
    mask[60:80, 60:80] = True
    base = simulate_boxes(mask, AnnotatorConfig(seed=3, jitter=0.1), np.random.default_rng(3))
    same = simulate_boxes(
        mask, AnnotatorConfig(seed=3, jitter=0.1, miss=0.0, extra=0.0), np.random.default_rng(3)
    )
    assert np.array_equal(base, same) and len(base) == 2
    none = simulate_boxes(mask, AnnotatorConfig(miss=1.0), np.random.default_rng(0))
    assert len(none) == 0
    more = simulate_boxes(mask, AnnotatorConfig(extra=1.0), np.random.default_rng(0))
    assert len(more) == 3
    x1, y1, x2, y2 = (int(v) for v in more[-1])
    assert mask[y1:y2, x1:x2].mean() <= 0.05  # the extra box lies on an untouched area
    wide = simulate_boxes(mask, AnnotatorConfig(margin=0.5), np.random.default_rng(0))
    widths = sorted(float(b[2] - b[0]) for b in wide)
    assert widths == pytest.approx([20, 40], abs=0.01)  # 10 and 20 px regions, 50 % a side


def test_a_huge_merge_distance_makes_one_box_without_a_huge_kernel() -> None:
    import numpy as np

    from boxpromptiml.data.annotator import tight_boxes

    m = np.zeros((50, 60), bool)
    m[2:5, 2:5] = True
    m[40:45, 50:55] = True
    assert tight_boxes(m, merge_distance=10**9).tolist() == [[2, 2, 55, 45]]
    assert len(tight_boxes(m)) == 2


def test_read_coco_lists_images_whose_every_box_was_dropped(tmp_path: Path) -> None:
    coco = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 32, "height": 32},
            {"id": 2, "file_name": "b.png", "width": 32, "height": 32},
            {"id": 3, "file_name": "c.png", "width": 32, "height": 32},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 0, 0]},  # dropped
            {"id": 2, "image_id": 2, "category_id": 1, "bbox": [0, 0, 0, 0]},  # dropped,
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": [2, 2, 8, 8]},  # one kept
        ],  # c.png: no box at all (authentic), not "emptied"
        "categories": [{"id": 1, "name": "manipulated"}],
    }
    path = tmp_path / "b.json"
    path.write_text(json.dumps(coco))
    with pytest.warns(UserWarning):
        bf = read_coco(path)
    assert bf.emptied == ["a.png"]
    assert [len(e.boxes) for e in bf] == [0, 1, 0]
