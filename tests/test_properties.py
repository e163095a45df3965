"""Property tests (hypothesis): box and mask geometry, COCO round trips, tiling cover."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from boxpromptiml.data.annotator import AnnotatorConfig, simulate_boxes, tight_boxes  # noqa: E402
from boxpromptiml.data.boxes import BoxFile, ImageBoxes, clip_boxes, read_coco, write_coco  # noqa: E402
from boxpromptiml.predict.tiling import tile_starts  # noqa: E402
from boxpromptiml.teachers.maps import box_mask, grow_box  # noqa: E402

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def masks(draw: st.DrawFn) -> np.ndarray:
    h, w = draw(st.integers(4, 40)), draw(st.integers(4, 40))
    m = np.zeros((h, w), bool)
    for _ in range(draw(st.integers(1, 4))):
        y0, x0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        y1, x1 = draw(st.integers(y0 + 1, h)), draw(st.integers(x0 + 1, w))
        m[y0:y1, x0:x1] = True
    return m


@st.composite
def boxes_in(draw: st.DrawFn, w: int, h: int) -> list[list[float]]:
    out = []
    for _ in range(draw(st.integers(0, 5))):
        x1 = draw(st.floats(-20, w + 20, allow_nan=False))
        y1 = draw(st.floats(-20, h + 20, allow_nan=False))
        out.append([x1, y1, x1 + draw(st.floats(0, w)), y1 + draw(st.floats(0, h))])
    return out


@SETTINGS
@given(masks(), st.integers(0, 50))
def test_tight_boxes_cover_every_region_pixel(mask: np.ndarray, merge: int) -> None:
    boxes = tight_boxes(mask, min_area=1, merge_distance=merge)
    covered = np.zeros_like(mask)
    for x1, y1, x2, y2 in boxes.astype(int):
        assert 0 <= x1 < x2 <= mask.shape[1] and 0 <= y1 < y2 <= mask.shape[0]
        covered[y1:y2, x1:x2] = True
    assert not (mask & ~covered).any()  # no manipulated pixel outside every box


@SETTINGS
@given(masks(), st.floats(0, 1), st.floats(0, 0.5), st.integers(0, 10**6))
def test_simulated_boxes_stay_in_the_image_and_grow_with_the_margin(
    mask: np.ndarray, margin: float, jitter: float, seed: int
) -> None:
    h, w = mask.shape
    cfg = AnnotatorConfig(margin=margin, jitter=jitter, min_area=1, seed=seed)
    boxes = simulate_boxes(mask, cfg, np.random.default_rng(seed))
    assert np.all(boxes[:, 0] >= 0) and np.all(boxes[:, 2] <= w)
    assert np.all(boxes[:, 1] >= 0) and np.all(boxes[:, 3] <= h)
    assert np.all(boxes[:, 2] - boxes[:, 0] >= 1 - 1e-6)
    assert np.all(boxes[:, 3] - boxes[:, 1] >= 1 - 1e-6)
    if jitter == 0:  # without jitter a box holds its whole region
        tight = tight_boxes(mask, min_area=1)
        for t, b in zip(tight, boxes, strict=True):
            assert b[0] <= t[0] + 1e-6 and b[1] <= t[1] + 1e-6
            assert b[2] >= t[2] - 1e-6 and b[3] >= t[3] - 1e-6


@SETTINGS
@given(st.integers(4, 60), st.integers(4, 60), st.data())
def test_clipped_boxes_lie_inside_and_keep_their_overlap(
    w: int, h: int, data: st.DataObject
) -> None:
    raw = np.array(data.draw(boxes_in(w, h)), dtype=np.float64).reshape(-1, 4)
    kept, msgs = clip_boxes(raw, w, h)
    assert len(kept) + sum("dropped" in m for m in msgs) == len(raw)
    for b in kept:
        assert 0 <= b[0] < b[2] <= w and 0 <= b[1] < b[3] <= h
        assert b[2] - b[0] >= 1 and b[3] - b[1] >= 1


@SETTINGS
@given(st.integers(4, 60), st.integers(4, 60), st.data())
def test_box_masks_cover_the_box_inside_a_grown_window(w: int, h: int, data: st.DataObject) -> None:
    x1 = data.draw(st.integers(0, w - 2))
    y1 = data.draw(st.integers(0, h - 2))
    box = np.array(
        [x1, y1, data.draw(st.integers(x1 + 1, w)), data.draw(st.integers(y1 + 1, h))], float
    )
    frac = data.draw(st.floats(0, 0.5))
    win = grow_box(box, frac, h, w)
    m = box_mask(box, win)
    assert m.shape == (win[3] - win[1], win[2] - win[0])
    x0, y0 = win[0], win[1]
    inside = m[int(box[1]) - y0 : int(box[3]) - y0, int(box[0]) - x0 : int(box[2]) - x0]
    assert inside.all() and m.sum() == inside.size  # exactly the box's pixels


@SETTINGS
@given(
    st.lists(st.tuples(st.integers(1, 500), st.integers(1, 500), st.integers(0, 4)), max_size=6),
    st.data(),
)
def test_coco_round_trip_keeps_every_box(
    tmp_path_factory: pytest.TempPathFactory, specs: list[tuple[int, int, int]], data: st.DataObject
) -> None:
    entries = []
    for k, (w, h, n) in enumerate(specs):
        boxes = []
        for _ in range(n):
            x1 = data.draw(st.floats(0, w - 1, allow_nan=False))
            y1 = data.draw(st.floats(0, h - 1, allow_nan=False))
            x2 = data.draw(st.floats(min(w, x1 + 1), w, allow_nan=False))
            y2 = data.draw(st.floats(min(h, y1 + 1), h, allow_nan=False))
            boxes.append([x1, y1, x2, y2])
        entries.append(ImageBoxes(f"im{k}.png", w, h, np.array(boxes, float).reshape(-1, 4)))
    path = tmp_path_factory.mktemp("coco") / "b.json"
    write_coco(path, BoxFile(entries, {}, []))
    back = read_coco(path)
    assert [e.file_name for e in back] == [e.file_name for e in entries]
    for a, b in zip(entries, back, strict=True):
        assert (a.width, a.height) == (b.width, b.height)
        np.testing.assert_allclose(b.boxes, a.boxes, atol=0.011)  # COCO keeps 2 decimals


@SETTINGS
@given(st.integers(1, 5000), st.integers(16, 1024), st.floats(0, 0.9))
def test_tiles_cover_the_image_with_at_least_the_overlap(
    length: int, tile: int, overlap: float
) -> None:
    starts = tile_starts(length, tile, overlap)
    assert starts[0] == 0 and starts == sorted(starts)
    if length <= tile:
        assert starts == [0]
        return
    assert starts[-1] + tile == length  # the last window ends at the edge
    for a, b in itertools.pairwise(starts):
        assert b > a and a + tile - b >= int(tile * overlap) - 1  # overlap kept, up to rounding
