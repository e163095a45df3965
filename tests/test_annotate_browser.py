"""``boxprompt annotate`` in a real headless Chromium through Playwright.

Draws a box with the mouse, waits for the pseudo-mask overlay, reloads the page and finds
the box in the COCO file and on the page. Skipped without Playwright or Chromium
(``BOXPROMPT_CHROMIUM`` names another binary). The server runs in a thread on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxpromptiml.annotate import AnnotationSession, create_app
from boxpromptiml.data.boxes import read_coco
from tests.test_annotate import make_images

playwright_sync = pytest.importorskip("playwright.sync_api")


def chromium() -> str:
    for name in (os.environ.get("BOXPROMPT_CHROMIUM", ""), "chromium", "chromium-browser"):
        path = shutil.which(name) if name else None
        if path:
            return path
    pytest.skip("chromium is not installed (apt-get install -y chromium)")


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    import uvicorn

    make_images(tmp_path / "imgs", n=2)
    out = tmp_path / "boxes.json"
    app = create_app(AnnotationSession(tmp_path / "imgs", out), teacher="box")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/", out
    srv.should_exit = True
    thread.join(5)
    sock.close()


def test_draw_box_overlay_reload(server: tuple[str, Path]) -> None:
    url, out = server
    exe = chromium()
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=args, headless=True)
        page = browser.new_page(viewport={"width": 640, "height": 428})
        overlays: list[int] = []
        page.on(
            "response", lambda r: overlays.append(r.status) if r.url.endswith("/overlay") else None
        )
        page.goto(url)
        page.wait_for_selector("canvas[data-ready='1']", timeout=10000)
        page.wait_for_function("document.getElementById('name').textContent.includes('im0')")
        # image 60x40 fitted to a 640x400 canvas: scale 10, 20 px horizontal margin
        box = page.locator("canvas").bounding_box()
        assert box is not None
        x0, y0 = box["x"], box["y"]
        page.mouse.move(x0 + 100, y0 + 100)
        page.mouse.down()
        page.mouse.move(x0 + 200, y0 + 150, steps=5)
        page.mouse.move(x0 + 300, y0 + 200, steps=5)
        page.mouse.up()
        page.wait_for_function("document.getElementById('saved').textContent === 'saved'")
        deadline = time.monotonic() + 5
        while not overlays and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        assert overlays == [200]
        bf = read_coco(out)
        assert len(bf.images) == 1 and bf.images[0].file_name == "im0.png"
        (b,) = bf.images[0].boxes.tolist()
        assert b == pytest.approx([8, 10, 28, 20], abs=0.6)
        # undo removes the box from the page and the file; redo brings it back
        page.keyboard.press("Control+z")
        page.wait_for_function("S.boxes.length === 0")
        page.wait_for_function("document.getElementById('saved').textContent === 'saved'")
        assert read_coco(out).images[0].boxes.shape[0] == 0
        page.keyboard.press("Control+Shift+z")
        page.wait_for_function("S.boxes.length === 1")
        page.wait_for_function("document.getElementById('saved').textContent === 'saved'")
        (b2,) = read_coco(out).images[0].boxes.tolist()
        assert b2 == pytest.approx(b)
        # the image list shows each status and jumps to the image clicked
        page.keyboard.press("l")
        page.wait_for_selector("#list .row.current")
        rows = page.locator("#list .row")
        assert rows.count() == 2
        assert "boxes (1)" in (rows.nth(0).text_content() or "")
        rows.nth(1).click()
        page.wait_for_function("document.getElementById('name').textContent.includes('im1')")
        page.keyboard.press("Escape")
        page.keyboard.press("p")
        page.wait_for_function("document.getElementById('name').textContent.includes('im0')")
        page.keyboard.press("h")
        assert page.locator("#help").is_visible()
        page.reload()
        page.wait_for_selector("canvas[data-ready='1']", timeout=10000)
        # a reload stays on the image (its index is in the address) and shows the saved box
        page.wait_for_function("document.getElementById('name').textContent.includes('im0')")
        page.wait_for_function("document.getElementById('info').textContent.includes('boxes')")
        assert "1 of 2 done" in (page.locator("#progress").text_content() or "")
        assert page.evaluate("S.boxes.length") == 1
        # a fresh visit resumes at the first image not done
        page.goto(url)
        page.wait_for_selector("canvas[data-ready='1']", timeout=10000)
        page.wait_for_function("document.getElementById('name').textContent.includes('im1')")
        browser.close()
