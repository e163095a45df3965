"""Synthetic manipulated datasets: shapes, exact masks, reproducibility, files, CLI."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from boxpromptiml.cli import main
from boxpromptiml.data.boxes import read_coco
from boxpromptiml.data.images import load_image, load_mask
from boxpromptiml.data.sources import load_dataset
from boxpromptiml.errors import ConfigError, DataError
from boxpromptiml.synth import (
    DEFAULT_PHOTOS,
    Photo,
    SynthConfig,
    default_photos,
    make_dataset,
    synthesize,
)
from boxpromptiml.synth.ops import dilate
from boxpromptiml.synth.photos import PhotoCache
from boxpromptiml.synth.shapes import blob, grow_segment, polygon, superpixels
from tests.conftest import SHARED_DATA

# small images keep the suite fast; the algorithms do not depend on the size
SMALL = 192
CLEAN = {"post": False, "crop": 0.0}  # no post-processing: image vs source comparisons


@pytest.fixture(scope="module")
def photos() -> list[Photo]:
    return default_photos()


@pytest.fixture(scope="module")
def cache(photos: list[Photo]) -> PhotoCache:
    return PhotoCache(photos, 2 * SMALL)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, photos: list[Photo]) -> Path:
    """One small dataset shared by the file-level tests (6 manipulated, 2 authentic)."""
    out = tmp_path_factory.mktemp("synth") / "ds"
    return make_dataset(photos, out, n=6, authentic=2, size=SMALL, seed=5, progress=False)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for sub in ("Tp", "Gt", "Au")
        if (root / sub).is_dir()
        for p in sorted((root / sub).iterdir())
    }


# --- photos -------------------------------------------------------------------------


def test_default_photos_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("default photos must not touch the network")

    monkeypatch.setattr(socket, "socket", no_network)
    photos = default_photos()
    names = [p.name for p in photos]
    assert len(photos) >= 3 and set(names) <= set(DEFAULT_PHOTOS)
    assert {"sklearn:china", "sklearn:flower", "matplotlib:grace_hopper"} <= set(names)
    if importlib.util.find_spec("skimage") is not None:
        assert len(photos) == len(DEFAULT_PHOTOS)  # all bundled photos found
    for p in photos:
        img = load_image(p.path)
        assert img.dtype == np.uint8 and img.ndim == 3 and min(img.shape[:2]) >= 256
        assert img.std(axis=2).mean() > 2  # a colour photo, not a grey one


# --- shapes -------------------------------------------------------------------------


def test_blob_and_polygon_areas() -> None:
    rng = np.random.default_rng(0)
    for target in (300.0, 2000.0, 15000.0):
        for make in (blob, polygon):
            m = make(target, rng)
            assert m.dtype == bool and m.ndim == 2
            assert abs(m.sum() / target - 1) < 0.15, (make.__name__, target, m.sum())
            assert m[0].any() and m[-1].any() and m[:, 0].any() and m[:, -1].any()  # tight


def test_superpixels_and_segments(cache: PhotoCache) -> None:
    img, _ = cache.get(0)
    rng = np.random.default_rng(1)
    lab = superpixels(img, 200, rng)
    assert lab.shape == img.shape[:2] and lab.min() == 0
    assert 100 <= lab.max() + 1 <= 250
    target = 0.05 * lab.size
    forbid = np.zeros(lab.shape, bool)
    forbid[:, : lab.shape[1] // 2] = True
    seg = grow_segment(img, target, rng, forbid=forbid)
    assert 0.5 * target <= seg.sum() <= 2.0 * target
    assert not (seg & forbid).any()
    import cv2

    n, _ = cv2.connectedComponents(seg.astype(np.uint8), connectivity=8)
    assert n == 2  # one region


# --- one image ----------------------------------------------------------------------


def test_synthesize_is_reproducible(photos: list[Photo], cache: PhotoCache) -> None:
    cfg = SynthConfig(size=SMALL, seed=3)
    for i in range(4):
        a = synthesize(i, photos, cfg, cache=cache)
        b = synthesize(i, photos, cfg)  # fresh cache: the result must not depend on it
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.mask, b.mask)
        assert a.record == b.record
    other = SynthConfig(size=SMALL, seed=4)
    diffs = [
        not np.array_equal(
            synthesize(i, photos, cfg, cache=cache).mask,
            synthesize(i, photos, other, cache=cache).mask,
        )
        for i in range(4)
    ]
    assert all(diffs)


@pytest.mark.parametrize("kind", ["splice", "copymove", "removal"])
def test_masks_are_exact_without_post(kind: str, photos: list[Photo], cache: PhotoCache) -> None:
    cfg = SynthConfig(size=SMALL, kinds={kind: 1}, feather=0.0, **CLEAN)  # type: ignore[arg-type]
    for i in range(5):
        r = synthesize(i, photos, cfg, cache=cache)
        assert r.kind == kind and r.image.shape == r.source.shape
        assert r.mask.shape == r.image.shape[:2] and r.mask.dtype == bool
        changed = (r.image != r.source).any(axis=2)
        # outside the mask: bit-identical to the source photo
        assert not changed[~r.mask].any(), f"{r.name}: pixels outside the mask changed"
        # inside: the region was replaced (a few pixels may keep their value by chance)
        assert changed[r.mask].mean() > 0.3, f"{r.name}: mask marks unchanged pixels"
        assert {g["kind"] for g in r.record["regions"]} == {kind}


@pytest.mark.parametrize(
    ("kind", "setting", "method"),
    [("splice", "poisson", "poisson"), ("removal", "removal_patch", "patch")],
)
def test_wild_blends_keep_masks_exact(
    kind: str, setting: str, method: str, photos: list[Photo], cache: PhotoCache
) -> None:
    """Poisson splices and clone-stamp removals change the masked pixels only."""
    cfg = SynthConfig(size=SMALL, kinds={kind: 1}, feather=0.0, **{setting: 1.0}, **CLEAN)  # type: ignore[arg-type]
    used = 0
    for i in range(8):
        r = synthesize(i, photos, cfg, cache=cache)
        changed = (r.image != r.source).any(axis=2)
        assert not changed[~r.mask].any(), f"{r.name}: pixels outside the mask changed"
        assert changed[r.mask].mean() > 0.3
        used += sum(
            g.get("blend") == method or g.get("method") == method for g in r.record["regions"]
        )
    assert used >= 4, f"{method} was used for only {used} of the regions"


def test_prejpeg_and_noise_match_are_recorded(photos: list[Photo], cache: PhotoCache) -> None:
    cfg = SynthConfig(size=SMALL, kinds={"splice": 1}, prejpeg=1.0, noise_match=1.0, **CLEAN)  # type: ignore[arg-type]
    r = synthesize(0, photos, cfg, cache=cache)
    pre = r.record["host"]["prejpeg"]
    assert 70 <= pre["quality"] <= 98 and all(0 <= v < 8 for v in pre["shift"])
    assert "prejpeg" in r.record["regions"][0]["donor"]
    # the host went through JPEG: it differs from the cached photo (of the same crop)
    assert r.image.shape == r.source.shape
    # the defaults draw no extra random numbers: old datasets stay bit-identical
    plain = SynthConfig(size=SMALL, seed=3)
    a = synthesize(1, photos, plain, cache=cache)
    b = synthesize(1, photos, SynthConfig(size=SMALL, seed=3, prejpeg=0.0), cache=cache)
    assert np.array_equal(a.image, b.image) and "prejpeg" not in a.record["host"]


def test_camera_pipeline_keeps_colours_and_adds_a_sensor_pattern() -> None:
    from boxpromptiml.synth.ops import DEMOSAIC, camera_pipeline, noise_sigma

    flat = np.zeros((64, 80, 3), np.uint8)
    flat[...] = (200, 100, 30)
    seen: set[str] = set()
    for seed in range(12):
        out, rec = camera_pipeline(flat, np.random.default_rng(seed))
        again, rec2 = camera_pipeline(flat, np.random.default_rng(seed))
        assert np.array_equal(out, again) and rec == rec2  # a function of the generator
        assert out.shape == flat.shape and out.dtype == np.uint8
        seen.add(rec["demosaic"])
        # colours stay where they were (a mosaic read in the wrong order swaps red and
        # blue); the gamma moves tones by at most about 25 levels here
        mean = out[4:-4, 4:-4].reshape(-1, 3).mean(axis=0)
        assert mean[0] > mean[1] > mean[2], (rec, mean)
        assert np.abs(mean - (200, 100, 30)).max() < 30, (rec, mean)
        assert noise_sigma(out) > 0.3, rec  # sensor noise on a flat patch
    assert seen == set(DEMOSAIC)


def test_camera_gives_host_and_donor_their_own_draws(
    photos: list[Photo], cache: PhotoCache
) -> None:
    cfg = SynthConfig(size=SMALL, kinds={"splice": 1}, camera=1.0, feather=0.0, **CLEAN)  # type: ignore[arg-type]
    r = synthesize(0, photos, cfg, cache=cache)
    host, donor = r.record["host"]["camera"], r.record["regions"][0]["donor"]["camera"]
    assert host["op"] == donor["op"] == "camera" and host != donor
    # pixels outside the mask still equal the (re-captured) source
    assert np.array_equal(r.image[~r.mask], r.source[~r.mask])
    # off by default, and then no random number is drawn: old datasets stay bit-identical
    plain = synthesize(1, photos, SynthConfig(size=SMALL, seed=3), cache=cache)
    off = synthesize(1, photos, SynthConfig(size=SMALL, seed=3, camera=0.0), cache=cache)
    assert np.array_equal(plain.image, off.image) and "camera" not in plain.record["host"]
    with pytest.raises(ConfigError, match="camera"):
        SynthConfig(camera=1.5)


def test_noise_match_raises_a_clean_layer_to_the_host_level() -> None:
    from boxpromptiml.synth.ops import match_noise, noise_sigma

    rng = np.random.default_rng(0)
    flat = np.full((96, 96, 3), 128, np.uint8)
    host = np.clip(128 + rng.normal(0, 6, flat.shape), 0, 255).astype(np.uint8)
    region = np.zeros((96, 96), bool)
    region[30:60, 30:60] = True
    out, added = match_noise(flat, region, host, rng)
    assert added > 3.0
    assert abs(noise_sigma(out, region) - noise_sigma(host, ~region)) < 2.0


def test_feathered_edges_stay_near_the_mask(photos: list[Photo], cache: PhotoCache) -> None:
    cfg = SynthConfig(size=SMALL, kinds={"splice": 1, "copymove": 1}, feather=1.0, **CLEAN)  # type: ignore[arg-type]
    for i in range(4):
        r = synthesize(i, photos, cfg, cache=cache)
        sigma = max(g["feather_sigma"] for g in r.record["regions"])
        changed = (r.image != r.source).any(axis=2)
        band = dilate(r.mask, int(np.ceil(3 * sigma)) + 1)
        assert not changed[~band].any()
        assert changed[r.mask].mean() > 0.3


@pytest.mark.parametrize("kind", ["splice", "copymove", "removal"])
def test_each_kind_gives_sane_regions(kind: str, photos: list[Photo], cache: PhotoCache) -> None:
    cfg = SynthConfig(size=SMALL, kinds={kind: 1}, two_regions=0.5, seed=11)
    fractions = []
    for i in range(6):
        r = synthesize(i, photos, cfg, cache=cache)
        assert r.mask.any() and r.mask.shape == r.image.shape[:2]
        assert 1 <= len(r.record["regions"]) <= 2
        fractions.append(r.mask.mean())
        hi = cfg.removal_max_area if kind == "removal" else cfg.area[1]
        assert 0.5 * cfg.area[0] <= r.mask.mean() <= 1.6 * hi
    assert max(fractions) > 2 * min(fractions)  # sizes spread


def test_post_processing_resizes_the_mask(photos: list[Photo], cache: PhotoCache) -> None:
    cfg = SynthConfig(size=SMALL, resize=1.0, blur=1.0, noise=1.0, jpeg=1.0, crop=0.0)
    r = synthesize(0, photos, cfg, cache=cache)
    assert [o["op"] for o in r.record["post"]] == ["resize", "blur", "noise", "jpeg"]
    assert r.image.shape[:2] == r.mask.shape and r.image.shape[0] < r.source.shape[0]
    assert r.record["hw"] == list(r.mask.shape)


def test_upscale_enlarges_image_and_mask_together(photos: list[Photo], cache: PhotoCache) -> None:
    """``upscale`` enlarges forged and untouched images alike (the mask follows); off by
    default, when it draws nothing, so datasets made without it stay bit-identical."""
    cfg = SynthConfig(size=SMALL, upscale=1.0, upscale_scale=(1.5, 2.0), resize=0.0, crop=0.0)
    for i, authentic in ((0, False), (1, False), (0, True)):
        r = synthesize(i, photos, cfg, authentic=authentic, cache=cache)
        up = [o for o in r.record["post"] if o["op"] == "upscale"]
        assert len(up) == 1 and 1.5 <= up[0]["scale"] <= 2.0
        assert up[0]["interpolation"] in ("bilinear", "bicubic")
        assert r.image.shape[:2] == r.mask.shape == tuple(up[0]["hw"])
        ratio = r.image.shape[0] / r.source.shape[0]
        assert ratio == pytest.approx(up[0]["scale"], abs=0.02)
        assert r.mask.any() != authentic
    plain = synthesize(2, photos, SynthConfig(size=SMALL, seed=3), cache=cache)
    off = synthesize(2, photos, SynthConfig(size=SMALL, seed=3, upscale=0.0), cache=cache)
    assert np.array_equal(plain.image, off.image) and plain.record == off.record
    assert not {"upscale", "upscale_scale"} & set(SynthConfig().to_dict())
    with pytest.raises(ConfigError, match="upscale_scale"):
        SynthConfig(upscale_scale=(0.5, 2.0))
    with pytest.raises(ConfigError, match="upscale"):
        SynthConfig(upscale=2.0)


def test_authentic_images_have_no_region(photos: list[Photo], cache: PhotoCache) -> None:
    r = synthesize(0, photos, SynthConfig(size=SMALL), authentic=True, cache=cache)
    assert r.authentic and r.name == "au_00000" and not r.mask.any()
    assert r.record["regions"] == []


def test_config_validation(photos: list[Photo]) -> None:
    with pytest.raises(ConfigError, match="unknown kind"):
        SynthConfig(kinds={"blur": 1.0})
    with pytest.raises(ConfigError, match="feather"):
        SynthConfig(feather=1.5)
    with pytest.raises(ConfigError, match="area"):
        SynthConfig(area=(0.3, 0.1))
    with pytest.raises(ConfigError, match="poisson"):
        SynthConfig(poisson=2.0)
    with pytest.raises(ConfigError, match="size"):
        SynthConfig(size=10)
    with pytest.raises(ConfigError, match="at least 2 photos"):
        synthesize(0, photos[:1], SynthConfig())
    cfg = SynthConfig(kinds={"splice": 2, "removal": 2}, seed=9)
    assert dict(cfg.kinds) == {"splice": 0.5, "removal": 0.5}
    assert SynthConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


# --- datasets on disk ---------------------------------------------------------------


def test_dataset_layout_boxes_and_manifest(dataset: Path) -> None:
    ds = load_dataset(dataset)
    tampered = [s for s in ds if s.label == 1]
    authentic = [s for s in ds if s.label == 0]
    assert len(tampered) == 6 and len(authentic) == 2
    for s in tampered:
        assert s.mask is not None
        img, mask = load_image(s.image), load_mask(s.mask)
        assert mask.shape == img.shape[:2] and mask.any()
        raw = np.asarray(Image.open(s.mask))
        assert set(np.unique(raw).tolist()) <= {0, 255}
    boxes = read_coco(dataset / "boxes.json", strict=True).by_stem()
    assert set(boxes) == {s.name for s in ds}
    for s in tampered:
        assert len(boxes[s.name].boxes) >= 1
    for s in authentic:
        assert boxes[s.name].authentic
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["seed"] == 5 and sum(manifest["counts"].values()) == 8
    recs = {r["name"]: r for r in manifest["images"]}
    assert set(recs) == {s.name for s in ds}
    assert all(r["kind"] in ("splice", "copymove", "removal", "authentic") for r in recs.values())
    assert not (dataset / ".synth").exists()


def test_dataset_is_reproducible_and_worker_independent(
    dataset: Path, photos: list[Photo], tmp_path: Path
) -> None:
    again = make_dataset(
        photos, tmp_path / "b", n=6, authentic=2, size=SMALL, seed=5, workers=2, progress=False
    )
    assert _files(again) == _files(dataset)  # byte-identical images and masks
    m1 = json.loads((dataset / "manifest.json").read_text())
    m2 = json.loads((again / "manifest.json").read_text())
    assert m1["images"] == m2["images"]
    assert (dataset / "boxes.json").read_bytes() == (again / "boxes.json").read_bytes()
    other = make_dataset(photos, tmp_path / "c", n=6, size=SMALL, seed=6, progress=False)
    a, b = _files(dataset), _files(other)
    assert all(a[k] != b[k] for k in b if k.startswith("Gt/"))


def test_resume_extend_and_refuse(photos: list[Photo], tmp_path: Path) -> None:
    out = tmp_path / "r"
    make_dataset(photos, out, n=3, size=SMALL, seed=2, progress=False)
    first = _files(out)
    stamp = {k: (out / k).stat().st_mtime_ns for k in first}
    # an interrupted run: one image lost, its record gone
    (out / "Tp" / "tp_00001.png").unlink()
    make_dataset(photos, out, n=5, size=SMALL, seed=2, progress=False)
    now = _files(out)
    assert len(now) == 10 and all(now[k] == v for k, v in first.items())
    assert (out / "Gt" / "tp_00000.png").stat().st_mtime_ns == stamp["Gt/tp_00000.png"]
    fresh = make_dataset(photos, tmp_path / "f", n=5, size=SMALL, seed=2, progress=False)
    assert _files(fresh) == now
    with pytest.raises(ConfigError, match="other settings"):
        make_dataset(photos, out, n=5, size=SMALL, seed=3, progress=False)
    with pytest.raises(ConfigError, match="beyond"):
        make_dataset(photos, out, n=2, size=SMALL, seed=2, progress=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        make_dataset(photos, foreign, n=2, size=SMALL, progress=False)


def test_folder_made_before_a_later_setting_still_resumes(
    photos: list[Photo], tmp_path: Path
) -> None:
    out = make_dataset(photos, tmp_path / "old", n=2, size=SMALL, seed=4, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert "camera" not in manifest["config"]  # as written before the option existed
    make_dataset(photos, out, n=3, size=SMALL, seed=4, progress=False)  # extends it
    assert len(list((out / "Tp").iterdir())) == 3
    with pytest.raises(ConfigError, match="camera"):
        make_dataset(
            photos, out, n=3, config=SynthConfig(size=SMALL, seed=4, camera=0.5), progress=False
        )


def test_bad_photos_are_skipped_and_listed(photos: list[Photo], tmp_path: Path) -> None:
    src = tmp_path / "photos"
    src.mkdir()
    for p in photos[:3]:
        shutil.copy(p.path, src / p.path.name)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(src / "tiny.png")
    out = make_dataset(src, tmp_path / "o", n=3, size=SMALL, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    skipped = manifest["skipped_photos"]
    assert len(skipped) == 2
    assert any("broken.png" in s for s in skipped) and any("tiny.png" in s for s in skipped)
    assert [p["name"] for p in manifest["photos"]] == sorted(p.path.name for p in photos[:3])
    assert len(load_dataset(out)) == 3
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.jpg").write_bytes(b"nope")
    with pytest.raises(DataError, match="none of the 1 photo"):
        make_dataset(bad, tmp_path / "o2", n=1, progress=False)


def test_shared_photo_folder(tmp_path: Path) -> None:
    root = SHARED_DATA / "photos" / "kodak24"
    if not root.is_dir():
        pytest.skip("../shared/data/photos is not present")
    out = make_dataset(root, tmp_path / "k", n=3, size=SMALL, progress=False)
    assert len(load_dataset(out)) == 3


# --- CLI ----------------------------------------------------------------------------


def test_cli_synth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    argv = ["synth", "--n", "3", "--authentic", "1", "--size", str(SMALL), "--out", str(out)]
    assert main([*argv, "--workers", "1", "--no-progress", "--set", "jpeg=1", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert "3 manipulated" in printed and "1 authentic" in printed
    assert len(load_dataset(out)) == 4
    assert main(["synth", "--list-photos"]) == 0
    assert "sklearn:china" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["jpeg"] == 1 and manifest["config"]["seed"] == 1
    assert all(r["post"][-1]["op"] == "jpeg" for r in manifest["images"])
    assert main(["synth", "--kinds", "warp=1", "--out", str(tmp_path / "x")]) == 2
    assert "unknown kind" in capsys.readouterr().err
    assert main(["synth", "--set", "fether=0", "--out", str(tmp_path / "x")]) == 2
    assert "did you mean feather" in capsys.readouterr().err
    assert main(["synth", "--n", "3", "--out", str(out), "--seed", "2", "--no-progress"]) == 2


# --- whole-object splices -------------------------------------------------------------


def _disk_saliency(image: np.ndarray) -> np.ndarray:
    """A stand-in for U²-Netp: one crisp disk in the middle third of the image."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    r = min(h, w) / 5
    return ((yy - h / 2) ** 2 + (xx - w / 2) ** 2 < r * r).astype(np.float32)


def test_object_mask_acceptance_rules() -> None:
    from boxpromptiml.synth.objects import border_share, object_mask

    disk = _disk_saliency(np.zeros((120, 160, 3), np.uint8))
    got = object_mask(disk)
    assert got is not None and got.sum() == pytest.approx(disk.sum(), rel=0.05)
    assert object_mask(np.zeros((120, 160), np.float32)) is None  # nothing salient
    assert object_mask(np.ones((120, 160), np.float32)) is None  # the whole photo
    blurry = np.clip(
        disk * 0.5 + 0.25 + np.random.default_rng(0).uniform(-0.2, 0.2, disk.shape), 0, 1
    )
    assert object_mask(blurry.astype(np.float32)) is None  # not a crisp map: unsure
    bottom = np.zeros((120, 160), np.float32)
    bottom[70:, 20:140] = 1.0  # an object cut by the photo's frame
    assert border_share(bottom > 0.5) > 0.2 and object_mask(bottom) is None


def test_object_splices_paste_the_donor_object(
    photos: list[Photo], cache: PhotoCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    from boxpromptiml.synth import objects

    monkeypatch.setattr(objects, "_saliency", _disk_saliency)
    cfg = SynthConfig(size=SMALL, kinds={"splice": 1}, feather=0.0, splice_object=1.0, **CLEAN)  # type: ignore[arg-type]
    for i in range(4):
        r = synthesize(i, photos, cfg, cache=cache)
        regions = r.record["regions"]
        assert regions and all(g["shape"] == "object" for g in regions)
        changed = (r.image != r.source).any(axis=2)
        assert not changed[~r.mask].any() and changed[r.mask].mean() > 0.3
        # a disk keeps its shape through the similarity transform: round, filled
        x0, y0, x1, y1 = regions[0]["target_box"]
        fill = r.mask[int(y0) : int(y1) + 1, int(x0) : int(x1) + 1].mean()
        assert 0.6 < fill < 0.9  # a disk fills pi/4 of its box
    # off by default: no extra random draw, the same images as before the setting existed
    a = synthesize(2, photos, SynthConfig(size=SMALL, seed=3), cache=cache)
    b = synthesize(2, photos, SynthConfig(size=SMALL, seed=3, splice_object=0.0), cache=cache)
    assert np.array_equal(a.image, b.image) and a.record == b.record
    assert "splice_object" not in SynthConfig().to_dict()  # older folders keep their settings


def test_object_copymoves_and_removals_use_the_host_object(
    photos: list[Photo], cache: PhotoCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """copymove_object duplicates the host's object away from it; removal_object erases
    it; the network runs once per image; a setting at 0 draws nothing."""
    from boxpromptiml.synth import objects

    calls: list[bytes] = []

    def disk(image: np.ndarray) -> np.ndarray:
        calls.append(hashlib.sha1(image.tobytes()).digest())
        return _disk_saliency(image)

    monkeypatch.setattr(objects, "_saliency", disk)
    found = {"copymove": 0, "removal": 0}
    for kind, key in (("copymove", "copymove_object"), ("removal", "removal_object")):
        cfg = SynthConfig(size=SMALL, kinds={kind: 1}, feather=0.0, **{key: 1.0}, **CLEAN)  # type: ignore[arg-type]
        for i in range(6):
            calls.clear()
            r = synthesize(i, photos, cfg, cache=cache)
            assert len(calls) == len(set(calls))  # one look per host, whatever the tries
            host = objects.object_mask(_disk_saliency(r.source))
            assert host is not None
            changed = (r.image != r.source).any(axis=2)
            assert not changed[~r.mask].any()
            for g in r.record["regions"]:
                if g["shape"] != "object":
                    continue
                found[kind] += 1
                if kind == "copymove":  # from the disk, to a place off it
                    ys, xs = np.nonzero(host)
                    want = [xs.min(), ys.min(), xs.max(), ys.max()]
                    assert np.allclose(g["source_box"], want, atol=1.5)
                    assert not (r.mask & host).any()
                else:  # the disk itself, grown by at most 3 px
                    assert r.mask[host].all() and r.mask.sum() < 1.6 * host.sum()
    assert found["copymove"] >= 2 and found["removal"] >= 4
    assert SynthConfig(copymove_object=0.5).uses_objects()
    assert not SynthConfig(kinds={"splice": 1}, copymove_object=0.5).uses_objects()
    assert not SynthConfig().uses_objects()
    a = synthesize(3, photos, SynthConfig(size=SMALL, seed=3), cache=cache)
    b = synthesize(3, photos, SynthConfig(size=SMALL, seed=3, copymove_object=0.0,
                                          removal_object=0.0), cache=cache)  # fmt: skip
    assert np.array_equal(a.image, b.image) and a.record == b.record
    assert not {"copymove_object", "removal_object"} & set(SynthConfig().to_dict())


def test_object_splices_need_the_u2netp_file(
    photos: list[Photo], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from boxpromptiml.errors import CheckpointError

    monkeypatch.setenv("BOXPROMPT_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(CheckpointError, match=r"u2netp.*boxpromptiml\.weights fetch"):
        make_dataset(
            photos,
            tmp_path / "ds",
            n=2,
            config=SynthConfig(size=SMALL, splice_object=1.0),
            progress=False,
        )
    assert not (tmp_path / "ds").exists()  # nothing started


def test_salient_object_on_a_photo_of_one_object() -> None:
    """The real network finds the motorcycle of scikit-image's photo and refuses the cat of
    ``chelsea``, which fills the frame and is cut by it (needs u2netp)."""
    from boxpromptiml.errors import BoxPromptError
    from boxpromptiml.synth.objects import salient_object
    from boxpromptiml.weights import require

    try:
        require("u2netp")
    except BoxPromptError as exc:
        pytest.skip(f"u2netp model not available: {exc}")
    named = {p.name: p for p in default_photos()}
    if not {"skimage:motorcycle_left", "skimage:chelsea"} <= set(named):
        pytest.skip("scikit-image's sample photos are not installed")
    image = load_image(named["skimage:motorcycle_left"].path)
    mask = salient_object(image)
    assert mask is not None and mask.shape == image.shape[:2]
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    assert 0.1 < mask.mean() < 0.5 and ys.min() > 0.1 * h and xs.min() > 0.05 * w
    assert mask[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].sum() > 0.5 * mask.sum()
    assert salient_object(load_image(named["skimage:chelsea"].path)) is None
