"""``build_report`` and ``boxprompt report``: contents of the page, embedded pictures,
curves against scikit-learn, moved files, errors."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from boxpromptiml.cli import main
from boxpromptiml.data.sources import Sample, load_dataset
from boxpromptiml.errors import ConfigError, DataError
from boxpromptiml.evaluate import evaluate
from boxpromptiml.report import ReportOptions, build_report, history_html, load_results
from boxpromptiml.report.curves import PixelPool, pr_curve, roc_curve, sample_pixels
from boxpromptiml.report.thumbs import FN_COLOR, FP_COLOR, TP_COLOR, fit_size, overlay
from boxpromptiml.robust.sweep import robustness_sweep

N_TAMPERED = 5
SHIFT = 3  # px by which the map of image i is shifted: F1 falls with i


def make_run(root: Path) -> dict[str, Path]:
    """A dataset (5 tampered 48x64 images + 1 authentic), maps whose quality falls with
    the index, pseudo-masks for all but the last tampered image, an evaluation run, a
    robustness run (blur and jpeg) and a training log."""
    rng = np.random.default_rng(0)
    data = root / "data"
    for sub in ("Tp", "Gt", "Au"):
        (data / sub).mkdir(parents=True)
    pred, pseudo = root / "pred", root / "pseudo"
    pred.mkdir()
    pseudo.mkdir()
    for i in range(N_TAMPERED):
        img = rng.normal(60, 8, (48, 64, 3))
        m = np.zeros((48, 64), bool)
        m[10:30, 12 + i : 32 + i] = True
        img[m] = 210
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(data / "Tp" / f"s{i}.png")
        Image.fromarray(m.astype(np.uint8) * 255).save(data / "Gt" / f"s{i}.png")
        p = np.roll(m, SHIFT * i, axis=1).astype(np.float32) * 0.9 + 0.05
        np.save(pred / f"s{i}.npy", p)
        if i < N_TAMPERED - 1:
            Image.fromarray(m.astype(np.uint8) * 255).save(pseudo / f"s{i}.png")
    au = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(au).save(data / "Au" / "a0.png")
    np.save(pred / "a0.npy", np.full((48, 64), 0.2, np.float32))

    ds = load_dataset(data, name="toy")
    res = evaluate([ds], [pred], progress=False)
    eval_dir = root / "eval"
    res.save(eval_dir)

    def predictor(images: list[np.ndarray], sample: Sample) -> list[np.ndarray]:
        return [np.clip((im.mean(axis=2) - 60) / 150, 0, 1).astype(np.float32) for im in images]

    robust = root / "robust"
    robustness_sweep(predictor, [ds], {"blur": [3], "jpeg": [90]}, progress=False).save(robust)
    log = root / "log.csv"
    log.write_text(
        "epoch,step,lr,train_loss,val_f1,val_iou,val_auc\n"
        + "".join(
            f"{e},{10 * e},0.001,{1 / e:.3f},{0.5 + e / 20},{0.4 + e / 20},\n" for e in (1, 2, 3)
        ),
        encoding="utf-8",
    )
    return {
        "data": data,
        "pred": pred,
        "pseudo": pseudo,
        "eval": eval_dir,
        "robust": robust,
        "log": log,
    }


@pytest.fixture
def run(tmp_path: Path) -> dict[str, Path]:
    return make_run(tmp_path)


IMG_RE = re.compile(r'<img src="data:(image/[a-z]+);base64,([A-Za-z0-9+/=]+)" alt="([^"]*)"')


def embedded_images(page: str) -> list[tuple[str, Image.Image, str]]:
    """``(mime, decoded picture, alt)`` of every ``<img>``; fails on an undecodable one."""
    out = []
    for mime, b64, alt in IMG_RE.findall(page):
        data = base64.b64decode(b64, validate=True)
        if mime == "image/png":
            assert data.startswith(b"\x89PNG\r\n\x1a\n"), alt
        else:
            assert mime == "image/jpeg" and data.startswith(b"\xff\xd8\xff"), alt
        Image.open(io.BytesIO(data)).verify()  # raises on a corrupt file
        img = Image.open(io.BytesIO(data))
        img.load()
        out.append((mime, img, html.unescape(alt)))
    return out


def case_names(page: str, kind: str) -> list[str]:
    """Image names of the best or worst cases, in page order."""
    return re.findall(rf'<div class="note">{kind} #\d+</div><div class="name">([^<]+)</div>', page)


def test_report_contents(run: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out" / "report.html"
    opts = ReportOptions(top_k=2, max_images=4, thumb_size=32, row_thumb_size=24)
    path = build_report(
        run["eval"],
        out,
        pseudo_dirs=[run["pseudo"]],
        robust_dir=run["robust"],
        extra={
            "Training": history_html(run["log"]),
            "Pseudo-label quality": [{"teacher": "box", "iou": 0.5}, {"teacher": "x", "iou": None}],
        },
        options=opts,
    )
    assert path == out and out.is_file()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp left
    page = out.read_text(encoding="utf-8")
    _, results = load_results(run["eval"])
    summary = results["datasets"][0]["summary"]
    rows = results["datasets"][0]["images"]

    # sections, tables and values
    for heading in ("Summary", "Settings", "Dataset: toy", "Robustness", "Training"):
        assert f">{heading}</h2>" in page
    assert ">Pseudo-label quality</h2>" in page
    assert f"{summary['f1']:.3f}" in page and f"{summary['micro_iou']:.3f}" in page
    assert "microIoU" in page and "imgBAcc" in page and "on_missing_pred" in page
    assert "blur=3" in page and "jpeg=90" in page and "F1 vs clean" in page
    # the authentic image a0 is perturbed too: false-alarm columns
    assert "untouched px flagged" in page and "image AUC" in page
    assert '<td class="num">–</td>' in page  # None in the extra table shows as a dash
    assert "showing the first 4 of 6 images" in page
    assert "1 manipulated image(s) have no pseudo-mask" in page
    assert "no pseudo-mask" in page  # the missing pseudo panel of s4 (a worst case)

    # best and worst by F1: s0, s1 best; s4, s3 worst (maps shifted more and more)
    f1 = {r["name"]: r["f1"] for r in rows if r["label"] == 1}
    assert f1["s0"] > f1["s1"] > f1["s2"] > f1["s3"] > f1["s4"]
    assert case_names(page, "best") == ["s0", "s1"]
    assert case_names(page, "worst") == ["s4", "s3"]

    # pictures: 1 plot figure, 4 cases x 5 panels (minus 1 missing pseudo-mask),
    # 4 table thumbnails, 2 robustness plots, 1 training figure
    images = embedded_images(page)
    assert page.count("<img ") == len(images) == 1 + 4 * 5 - 1 + 4 + 2 + 1
    alts = [a for _, _, a in images]
    assert alts.count("prediction (map)") == 4 and alts.count("pseudo-mask") == 3
    assert sum(a.startswith("overlay ") for a in alts) == 4 + 4
    assert sum(a.startswith("robustness plot") for a in alts) == 2
    for mime, img, alt in images:
        if alt in ("image", "ground truth", "pseudo-mask", "prediction (map)") or alt.startswith(
            "overlay at"
        ):
            assert max(img.size) <= 32, alt
        elif alt.startswith("overlay s") or alt.startswith("overlay a"):
            assert max(img.size) <= 24, alt
        if alt in ("ground truth", "pseudo-mask"):
            assert mime == "image/png"

    # self-contained: nothing refers outside the page
    assert not re.search(r'(src|href)="(?!data:|#)', page)
    assert "<link" not in page and "<script src" not in page and "@import" not in page


def test_cases_follow_page_order_and_png_option(run: dict[str, Path], tmp_path: Path) -> None:
    """top_k larger than half the images: best and worst do not overlap; all-PNG output."""
    out = build_report(
        run["eval"], tmp_path / "r.html", options=ReportOptions(top_k=4, image_format="png")
    )
    page = out.read_text(encoding="utf-8")
    best, worst = case_names(page, "best"), case_names(page, "worst")
    assert best == ["s0", "s1", "s2", "s3"] and worst == ["s4"]
    assert {m for m, _, _ in embedded_images(page)} == {"image/png"}
    assert "pseudo-mask" not in page  # no --pseudo, no pseudo panel


def test_moved_files_and_redirection(run: dict[str, Path], tmp_path: Path) -> None:
    """When the recorded paths are gone the page still builds and says so; passing the
    dataset and prediction folders again restores the pictures."""
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.move(str(run["data"]), moved / "data")
    shutil.move(str(run["pred"]), moved / "pred")
    page = build_report(run["eval"], tmp_path / "a.html").read_text(encoding="utf-8")
    assert "6 image(s) could not be loaded" in page and "could not be loaded" in page
    assert page.count("<img ") == 1  # only the figure: F1 histogram from results.json

    # a run that records its dataset spec and prediction folder needs no help
    results = json.loads((run["eval"] / "results.json").read_text(encoding="utf-8"))
    results["settings"]["datasets"] = [
        {"name": "toy", "source": str(moved / "data"), "masks": None, "mask_suffixes": [""]}
    ]
    results["settings"]["pred_dirs"] = [str(moved / "pred")]
    rec = tmp_path / "recorded" / "results.json"
    rec.parent.mkdir()
    rec.write_text(json.dumps(results), encoding="utf-8")
    page = build_report(rec).read_text(encoding="utf-8")
    assert "could not be loaded" not in page and len(embedded_images(page)) == 1 + 5 * 4 + 6
    assert (rec.parent / "report.html").is_file()

    for f in (moved / "pred").iterdir():  # maps renamed <stem>_pred.npy
        f.rename(f.with_name(f"{f.stem}_pred{f.suffix}"))
    ds = load_dataset(moved / "data", name="toy")
    out = build_report(
        run["eval"],
        tmp_path / "b.html",
        datasets=[ds],
        pred_dirs={"toy": moved / "pred"},
        pred_suffix="_pred",
    )
    page = out.read_text(encoding="utf-8")
    assert "could not be loaded" not in page
    assert re.search(r">authentic</td>(<td class=\"num\"[^>]*>–</td>){7}", page)  # no pixel scores
    assert len(embedded_images(page)) == 1 + 5 * 4 + 6


def test_errors(run: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"results\.json"):
        build_report(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="not in the run"):
        build_report(run["eval"], datasets=[load_dataset(run["data"], name="other")])
    with pytest.raises(ConfigError, match="1 dataset"):
        build_report(run["eval"], pseudo_dirs=[run["pseudo"], run["pseudo"]])
    with pytest.raises(DataError, match="pseudo-mask folder not found"):
        build_report(run["eval"], pseudo_dirs={"toy": tmp_path / "missing"})
    with pytest.raises(DataError, match=r"robustness\.json"):
        build_report(run["eval"], tmp_path / "x.html", robust_dir=tmp_path)
    with pytest.raises(ConfigError, match="thumb_size"):
        build_report(run["eval"], options=ReportOptions(thumb_size=4))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match="malformed JSON"):
        build_report(tmp_path / "bad")


def test_cli(run: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.html"
    code = main(
        [
            "report",
            str(run["eval"]),
            "--out",
            str(out),
            "--pseudo",
            f"toy={run['pseudo']}",
            "--robust",
            str(run["robust"]),
            "--top-k",
            "1",
            "--no-roc",
            "--no-progress",
        ]
    )
    assert code == 0 and out.is_file()
    assert str(out) in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    assert case_names(page, "best") == ["s0"] and "Robustness</h2>" in page
    # the annotation effort of a box file, as a section
    import json as _json

    boxes = tmp_path / "boxes.json"
    boxes.write_text(_json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 10, "height": 10,
                    "status": "boxes", "annotation_seconds": 8.0}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4]}],
        "categories": [{"id": 1, "name": "manipulated"}],
    }))  # fmt: skip
    with_boxes = tmp_path / "boxes.html"
    argv = ["report", str(run["eval"]), "-o", str(with_boxes), "--boxes", str(boxes)]
    assert main([*argv, "--no-progress", "--curve-pixels", "0"]) == 0
    page = with_boxes.read_text(encoding="utf-8")
    assert "Annotation effort</h2>" in page and "seconds per box" in page
    # default output next to results.json
    assert main(["report", str(run["eval"]), "--no-progress", "--curve-pixels", "0"]) == 0
    assert (run["eval"] / "report.html").is_file()
    # a user error is one line, exit status 2
    assert main(["report", str(tmp_path / "none"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("boxprompt: error:") and err.count("\n") == 1
    assert main(["report", str(run["eval"]), "--pseudo", "a=x", "y"]) == 2


def test_history_html(tmp_path: Path) -> None:
    csv_path = tmp_path / "log.csv"
    csv_path.write_text("epoch,train_loss,val_f1\n1,0.9,0.2\n2,0.5,\n3,0.3,0.6\n", encoding="utf-8")
    frag = history_html(csv_path, max_rows=2)
    assert len(embedded_images(frag)) == 1
    assert "last 2 of 3 rows" in frag and "–" in frag


# --------------------------------------------------------------------------- pieces


def test_overlay_colours() -> None:
    img = np.full((2, 2, 3), 100, np.uint8)
    mask = np.array([[True, True], [False, False]])
    pred = np.array([[True, False], [True, False]])
    ov = overlay(img, mask, pred).astype(int)
    base = 100 * 0.75 * 0.4

    def expect(color: tuple[int, int, int]) -> list[int]:
        return [round(base + 0.6 * c) for c in color]

    assert ov[0, 0].tolist() == expect(TP_COLOR)
    assert ov[1, 0].tolist() == expect(FP_COLOR)
    assert ov[0, 1].tolist() == expect(FN_COLOR)
    assert ov[1, 1].tolist() == [75, 75, 75]  # true negative: dimmed only
    with pytest.raises(ValueError):
        overlay(img, mask[:1], pred)


def test_fit_size() -> None:
    assert fit_size((480, 640), 256) == (192, 256)
    assert fit_size((1000, 10), 100) == (100, 1)
    assert fit_size((40, 50), 256) == (40, 50)  # never enlarged


def test_curves_match_sklearn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    labels = rng.random(3000) < 0.3
    scores = np.clip(labels * 0.3 + rng.random(3000) * 0.7, 0, 1)
    scores = np.round(scores * 50) / 50  # many ties, like 8-bit maps
    pr = pr_curve(scores, labels)
    roc = roc_curve(scores, labels)
    assert pr is not None and roc is not None
    assert pr.area == pytest.approx(metrics.average_precision_score(labels, scores))
    assert roc.area == pytest.approx(metrics.roc_auc_score(labels, scores))
    p, r, _ = metrics.precision_recall_curve(labels, scores)
    # sklearn lists recall decreasing and ends at (recall 0, precision 1)
    np.testing.assert_allclose(pr.x, r[::-1])
    np.testing.assert_allclose(pr.y, p[::-1])
    fpr, tpr, _ = metrics.roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(roc.x, fpr)
    np.testing.assert_allclose(roc.y, tpr)


def test_curves_degenerate() -> None:
    s = np.array([0.1, 0.5, 0.9])
    assert pr_curve(s, np.zeros(3, bool)) is None
    assert roc_curve(s, np.ones(3, bool)) is None
    pr = pr_curve(s, np.ones(3, bool))
    assert pr is not None and pr.area == pytest.approx(1.0)
    with pytest.raises(ValueError):
        pr_curve(np.zeros(0), np.zeros(0, bool))


def test_pixel_sampling_is_deterministic() -> None:
    rng = np.random.default_rng(2)
    prob = rng.random((60, 70)).astype(np.float32)
    mask = prob > 0.7
    a = sample_pixels(prob, mask, 0.1, "img", seed=3)
    b = sample_pixels(prob, mask, 0.1, "img", seed=3)
    c = sample_pixels(prob, mask, 0.1, "other", seed=3)
    assert a[0].size == 420 and np.array_equal(a[0], b[0]) and not np.array_equal(a[0], c[0])
    np.testing.assert_array_equal(a[1], a[0] > 0.7)  # labels stay with their pixels
    full = sample_pixels(prob, mask, 1.0, "img")
    assert full[0].size == prob.size
    pool = PixelPool(rate=0.5)
    pool.add("x", prob, mask)
    pool.add("y", prob, mask)
    assert len(pool) == 2 * 2100
    with pytest.raises(ValueError):
        sample_pixels(prob, mask, 0.0, "img")
