"""API of ``boxprompt annotate`` through FastAPI's TestClient, on a temporary folder."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from boxpromptiml.annotate import AnnotationSession, create_app
from boxpromptiml.data.boxes import ImageBoxes, read_coco, write_coco


def make_images(folder: Path, n: int = 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        arr = rng.integers(0, 255, (40 + 4 * i, 60, 3), dtype=np.uint8)
        p = folder / f"im{i}.png"
        Image.fromarray(arr).save(p)
        paths.append(p)
    return paths


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[Path, Path]:
    make_images(tmp_path / "imgs")
    return tmp_path / "imgs", tmp_path / "boxes.json"


def client(image_dir: Path, out: Path, token: str | None = None) -> TestClient:
    return TestClient(create_app(AnnotationSession(image_dir, out), teacher="box", token=token))


def test_list_and_get_image(setup: tuple[Path, Path]) -> None:
    image_dir, out = setup
    c = client(image_dir, out)
    st = c.get("/api/state").json()
    assert [im["name"] for im in st["images"]] == ["im0.png", "im1.png", "im2.png"]
    assert st["progress"] == {"count": 3, "done": 0, "first_todo": 0}
    r = c.get("/api/images/1/file")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    got = np.asarray(Image.open(io.BytesIO(r.content)))
    assert np.array_equal(got, np.asarray(Image.open(image_dir / "im1.png")))
    assert c.get("/api/images/1").json()["height"] == 44
    assert c.get("/").status_code == 200
    assert "canvas" in c.get("/").text
    assert c.get("/static/app.js").status_code == 200
    assert not out.exists()  # nothing written before a change


def test_bad_bodies_change_nothing(setup: tuple[Path, Path]) -> None:
    import json as _json

    image_dir, out = setup
    c = client(image_dir, out)
    assert c.put("/api/images/0/boxes", json={"boxes": [[5, 6, 20, 30]], "seconds": 2}).is_success
    before = out.read_bytes()
    bad_boxes = [
        [[float("nan"), 0, 10, 10]],
        [[0, 0, float("inf"), 10]],
        [[20, 20, 10, 10]],  # inverted
        [[1, 2, 3]],
        [[0, 0, 5, 5]] * 501,  # over the cap of boxes per image
    ]
    for boxes in bad_boxes:
        body = _json.dumps({"boxes": boxes, "seconds": 1})  # NaN/Infinity tokens included
        r = c.put("/api/images/0/boxes", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422, boxes[:1]
    r = c.put("/api/images/0/boxes", json={"boxes": [], "seconds": -3})
    assert r.status_code == 422
    huge = {"boxes": [[0, 0, 5, 5]] * 100_000, "seconds": 1}
    assert c.put("/api/images/0/boxes", json=huge).status_code == 413
    assert out.read_bytes() == before  # no rejected request changed the saved boxes
    assert c.get("/api/images/0").json()["boxes"] == [[5.0, 6.0, 20.0, 30.0]]
    assert c.get("/api/state").json()["out"] == out.name  # no absolute path shown


def test_only_the_bound_host_names_are_answered(setup: tuple[Path, Path]) -> None:
    image_dir, out = setup
    app = create_app(AnnotationSession(image_dir, out), teacher="box", hosts=["127.0.0.1"])
    assert TestClient(app, base_url="http://127.0.0.1:8765").get("/api/state").status_code == 200
    evil = TestClient(app, base_url="http://evil.example:8765")  # a rebinding page's Host
    assert evil.put("/api/images/0/boxes", json={"boxes": []}).status_code == 400
    assert not out.exists()


def test_save_boxes_writes_coco(setup: tuple[Path, Path]) -> None:
    image_dir, out = setup
    c = client(image_dir, out)
    r = c.put(
        "/api/images/0/boxes", json={"boxes": [[5, 6, 20, 30], [-5, 0, 10, 10]], "seconds": 2}
    )
    assert r.status_code == 200
    assert r.json()["progress"]["done"] == 1
    bf = read_coco(out)
    assert [im.file_name for im in bf] == ["im0.png"]  # unfinished images are left out
    np.testing.assert_allclose(bf.images[0].boxes, [[5, 6, 20, 30], [0, 0, 10, 10]])
    assert bf.images[0].extra["status"] == "boxes"
    assert bf.images[0].extra["annotation_seconds"] == pytest.approx(2)
    assert not list(out.parent.glob("*.tmp*"))  # no temporary file left behind
    # deleting every box of an image makes it "todo" again but keeps it in the file
    c.put("/api/images/0/boxes", json={"boxes": [], "seconds": 1})
    bf = read_coco(out)
    assert bf.images[0].extra["status"] == "todo" and len(bf.images[0].boxes) == 0
    assert c.get("/api/state").json()["progress"]["done"] == 0


def test_authentic_and_time(setup: tuple[Path, Path]) -> None:
    image_dir, out = setup
    c = client(image_dir, out)
    c.put("/api/images/2/boxes", json={"boxes": [[1, 1, 9, 9]], "seconds": 1.5})
    c.post("/api/images/2/time", json={"seconds": 3})
    r = c.post("/api/images/2/authentic", json={"seconds": 0.5})
    assert r.json()["status"] == "authentic"
    im = read_coco(out).images[0]
    assert im.file_name == "im2.png" and im.authentic
    assert im.extra == {"status": "authentic", "annotation_seconds": pytest.approx(5.0)}
    assert c.post("/api/images/2/time", json={"seconds": -1}).status_code == 422
    assert c.post("/api/images/2/time", json={"seconds": 1e9}).json()["seconds"] == 605.0
    assert c.get("/api/next-todo?after=0").json() == {"index": 1}


def test_restart_resumes(setup: tuple[Path, Path]) -> None:
    image_dir, out = setup
    c = client(image_dir, out)
    c.put("/api/images/0/boxes", json={"boxes": [[1, 2, 30, 20]], "seconds": 4})
    c.post("/api/images/1/authentic", json={"seconds": 1})
    c2 = client(image_dir, out)  # a new server process over the same file
    st = c2.get("/api/state").json()
    assert st["progress"] == {"count": 3, "done": 2, "first_todo": 2}
    assert st["images"][0]["boxes"] == [[1.0, 2.0, 30.0, 20.0]]
    assert st["images"][0]["seconds"] == 4.0
    c2.post("/api/images/0/time", json={"seconds": 1})
    assert read_coco(out).images[0].extra["annotation_seconds"] == pytest.approx(5.0)


def test_existing_coco_loads_and_is_corrected(setup: tuple[Path, Path]) -> None:
    image_dir, out = setup
    # as exported by CVAT: all images listed, no status, other keys and an absent image
    entries = [
        ImageBoxes("im0.png", 60, 40, np.array([[2.0, 3.0, 12.0, 13.0]]), extra={"license": 0}),
        ImageBoxes("im1.png", 60, 44),
        ImageBoxes("gone.png", 10, 10, np.array([[1.0, 1.0, 5.0, 5.0]])),
    ]
    write_coco(out, entries)
    c = client(image_dir, out)
    st = c.get("/api/state").json()
    assert st["images"][0]["boxes"] == [[2.0, 3.0, 12.0, 13.0]]
    assert st["progress"]["done"] == 1  # an unlabelled image is not "done" until reviewed
    c.put("/api/images/0/boxes", json={"boxes": [[4, 4, 14, 14]], "seconds": 1})
    bf = read_coco(out)
    names = [im.file_name for im in bf]
    assert names == ["im0.png", "im1.png", "gone.png"]  # nothing of the export is lost
    np.testing.assert_allclose(bf.images[0].boxes, [[4, 4, 14, 14]])
    assert bf.images[0].extra["license"] == 0
    np.testing.assert_allclose(bf.images[2].boxes, [[1, 1, 5, 5]])


def test_traversal_rejected(setup: tuple[Path, Path], tmp_path: Path) -> None:
    image_dir, out = setup
    secret = tmp_path / "secret.png"
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(secret)
    c = client(image_dir, out)
    for path in (
        "/api/images/../secret.png/file",
        "/api/images/..%2Fsecret.png/file",
        "/api/images/-1/file",
        "/api/images/3/file",
        "/static/..%2F..%2Fsession.py",
        "/static/../server.py",
        "/static/index.html",
    ):
        r = c.get(path)
        assert r.status_code in (404, 422), path
        assert not r.content.startswith(b"\x89PNG"), path


def test_token_required(setup: tuple[Path, Path]) -> None:
    image_dir, out = setup
    c = client(image_dir, out, token="s3cret")
    assert c.get("/api/state").status_code == 403
    assert c.get("/").status_code == 403
    assert c.get("/api/images/0/file?token=wrong").status_code == 403
    assert c.get("/api/state?token=s3cret").status_code == 200
    assert c.get("/api/state", headers={"X-Token": "s3cret"}).status_code == 200


def test_command_needs_token_off_loopback(
    setup: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from boxpromptiml.commands import annotate as cmd

    image_dir, out = setup
    seen: dict[str, object] = {}

    def fake_run(self: uvicorn.Server, sockets: list[object]) -> None:
        seen["app"] = self.config.app
        for s in sockets:
            s.close()  # type: ignore[attr-defined]

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    for host, needs in (("0.0.0.0", True), ("127.0.0.1", False)):
        args = argparse_ns(image_dir, out, host)
        assert cmd.run(args) == 0
        browser = TestClient(seen["app"], base_url=f"http://{host}:8765")  # type: ignore[arg-type]
        status = browser.get("/api/state").status_code
        assert status == (403 if needs else 200), host
    # an empty token would switch authentication off: refused, whatever the host
    from boxpromptiml.errors import ConfigError

    args = argparse_ns(image_dir, out, "0.0.0.0")
    args.token = ""  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="--token must not be empty"):
        cmd.run(args)  # type: ignore[arg-type]


def test_a_second_server_on_one_box_file_is_refused(
    setup: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn
    from filelock import FileLock

    from boxpromptiml.commands import annotate as cmd
    from boxpromptiml.errors import ConfigError

    image_dir, out = setup
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: [s.close() for s in sockets])
    held = FileLock(f"{out.resolve()}.lock")
    with held, pytest.raises(ConfigError, match="another 'boxprompt annotate' is saving"):
        cmd.run(argparse_ns(image_dir, out, "127.0.0.1"))  # type: ignore[arg-type]
    assert cmd.run(argparse_ns(image_dir, out, "127.0.0.1")) == 0  # type: ignore[arg-type]


def argparse_ns(image_dir: Path, out: Path, host: str) -> object:
    import argparse

    from boxpromptiml.commands import annotate as cmd

    p = argparse.ArgumentParser()
    cmd.add_arguments(p)
    return p.parse_args(
        [str(image_dir), "--out", str(out), "--teacher", "box", "--host", host, "--port", "0"]
    )


def test_overlay_png(setup: tuple[Path, Path]) -> None:
    image_dir, out = setup
    c = client(image_dir, out)
    r = c.post("/api/images/1/overlay", json={"boxes": [[10, 10, 30, 20]]})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    ov = np.asarray(Image.open(io.BytesIO(r.content)))
    assert ov.shape == (44, 60, 4)
    alpha = ov[..., 3]
    assert alpha[15, 20] > 100 and alpha[30, 50] == 0  # box teacher: inside vs outside
    empty = np.asarray(Image.open(io.BytesIO(c.post("/api/images/1/overlay", json={}).content)))
    assert empty.shape == (44, 60, 4) and empty[..., 3].max() == 0
    assert not out.exists()  # the overlay does not save anything
    assert c.post("/api/images/1/overlay", json={"boxes": [[1, 2]]}).status_code == 422


def test_file_is_valid_json_after_each_save(setup: tuple[Path, Path]) -> None:
    image_dir, out = setup
    c = client(image_dir, out)
    for k in range(5):
        c.put("/api/images/0/boxes", json={"boxes": [[k, k, k + 10, k + 10]]})
        assert len(json.loads(out.read_text())["annotations"]) == 1


def test_stats_report_time_and_boxes_per_image(
    setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from boxpromptiml.cli import main

    image_dir, out = setup
    assert main(["annotate", str(image_dir), "--out", str(out), "--stats"]) == 2  # no file yet
    session = AnnotationSession(image_dir, out)
    session.set_boxes(0, [[2, 2, 20, 20], [30, 30, 50, 50]], 12.0)
    session.mark_authentic(1, 3.0)
    capsys.readouterr()
    assert main(["annotate", str(image_dir), "--out", str(out), "--stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["images"] == 2 and stats["status"] == {"authentic": 1, "boxes": 1}
    assert stats["seconds_per_image"]["total"] == pytest.approx(15.0)
    assert stats["seconds_per_box"] == pytest.approx(6.0)
    assert stats["boxes_per_image"]["mean"] == pytest.approx(1.0)
    n_images = len(list(image_dir.iterdir()))
    assert len(stats["not_annotated"]) == n_images - 2
    assert main(["annotate", str(image_dir), "--out", str(out), "--stats"]) == 0
    text = capsys.readouterr().out
    assert "per box 6.0 s" in text and "paper: about 7 s per image" in text
