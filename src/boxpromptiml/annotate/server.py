"""The FastAPI application of ``boxprompt annotate``.

Routes (``I`` is the 0-based image index; images are served by index only, never by
a path taken from the request):

- ``GET /`` the page; ``GET /static/{name}`` its script and style (fixed whitelist);
- ``GET /api/state`` progress and the list of images;
- ``GET /api/images/I`` one image's boxes and status; ``GET /api/images/I/file`` its
  pixels (re-encoded after EXIF orientation, so page and boxes share one frame);
- ``PUT /api/images/I/boxes`` ``{"boxes": [[x1, y1, x2, y2], ...], "seconds": s}``;
- ``POST /api/images/I/authentic`` and ``POST /api/images/I/time`` ``{"seconds": s}``;
- ``POST /api/images/I/overlay`` ``{"boxes": [...]}`` -> RGBA PNG of the image's size
  whose alpha is the teacher's pseudo-mask probability (red), for the boxes given.

With a ``token``, every request must carry it as ``?token=`` or an ``X-Token`` header.
"""

from __future__ import annotations

import hmac
import io
import math
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from PIL import Image
from pydantic import BaseModel, Field, field_validator

from boxpromptiml.annotate.session import AnnotationSession
from boxpromptiml.data.boxes import clip_boxes
from boxpromptiml.data.images import load_image
from boxpromptiml.errors import BoxPromptError

STATIC = Path(__file__).parent / "static"
STATIC_FILES = {"app.js": "text/javascript", "app.css": "text/css"}
OVERLAY_RGB = (255, 40, 40)
OVERLAY_ALPHA = 0.55  # alpha of a probability-1 pixel


#: most boxes one image may hold, and largest request body (bytes) the app reads
MAX_BOXES = 500
MAX_BODY = 256 * 1024


def _finite_seconds(v: float) -> float:
    if not math.isfinite(v) or v < 0:
        raise ValueError("seconds must be a finite number >= 0")
    return v


class BoxesBody(BaseModel):
    """Body of a box update: XYXY boxes in original pixels and seconds spent since the last.

    Validated before anything changes: at most :data:`MAX_BOXES` boxes, each four finite
    numbers with ``x2 > x1`` and ``y2 > y1`` (the session then clips them to the image).
    """

    boxes: list[list[float]] = Field(default_factory=list, max_length=MAX_BOXES)
    seconds: float = 0.0

    @field_validator("boxes")
    @classmethod
    def _boxes_are_xyxy(cls, boxes: list[list[float]]) -> list[list[float]]:
        for i, b in enumerate(boxes):
            if len(b) != 4 or not all(math.isfinite(v) for v in b):
                raise ValueError(f"box {i} must be four finite numbers [x1, y1, x2, y2]")
            if not (b[2] > b[0] and b[3] > b[1]):
                raise ValueError(f"box {i} is empty or inverted: {b}")
        return boxes

    _seconds = field_validator("seconds")(_finite_seconds)


class SecondsBody(BaseModel):
    """Body of an authentic marking or a time report."""

    seconds: float = 0.0

    _seconds = field_validator("seconds")(_finite_seconds)


class _Pixels:
    """A small LRU cache of decoded images (uint8 HWC RGB), shared by page and teacher."""

    def __init__(self, size: int = 4) -> None:
        self._items: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, path: Path) -> np.ndarray:
        with self._lock:
            if path in self._items:
                self._items.move_to_end(path)
                return self._items[path]
        arr = load_image(path)
        with self._lock:
            self._items[path] = arr
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return arr


def overlay_png(prob: np.ndarray) -> bytes:
    """RGBA PNG bytes of an ``(H, W)`` map in ``[0, 1]``: red, alpha proportional to it."""
    h, w = prob.shape
    rgba = np.zeros((h, w, 4), dtype=np.uint8)
    rgba[..., :3] = OVERLAY_RGB
    rgba[..., 3] = np.clip(np.rint(prob * 255.0 * OVERLAY_ALPHA), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def create_app(
    session: AnnotationSession,
    teacher: str = "ensemble",
    token: str | None = None,
    hosts: list[str] | None = None,
) -> FastAPI:
    """The web application over ``session``; the teacher named ``teacher`` is built on
    first use (call ``app.state.warm_teacher()`` to build it ahead).

    ``token``: required on every request (query ``token=`` or header ``X-Token``) when
    given. ``hosts``: the host names the server answers to (Starlette's
    ``TrustedHostMiddleware``): a page of another origin whose name resolves to this
    machine (DNS rebinding) is refused. Bodies over :data:`MAX_BODY` bytes are refused.
    """
    app = FastAPI(title="boxprompt annotate", docs_url=None, redoc_url=None, openapi_url=None)
    if hosts:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))
    pixels = _Pixels()
    teacher_lock = threading.Lock()
    built: dict[str, Any] = {}

    def get_teacher() -> Any:
        with teacher_lock:
            if "t" not in built:
                from boxpromptiml.teachers import build_teacher

                built["t"] = build_teacher(teacher)
            return built["t"]

    app.state.warm_teacher = get_teacher

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        # one line per problem, without echoing the input (NaN is not valid JSON)
        detail = "; ".join(
            f"{'.'.join(str(x) for x in e.get('loc', ())[1:]) or 'body'}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return JSONResponse({"detail": detail}, status_code=422)

    @app.middleware("http")
    async def check_token(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return JSONResponse({"detail": "request body too large"}, status_code=413)
        if token is not None:
            given = request.query_params.get("token") or request.headers.get("x-token") or ""
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"detail": "missing or wrong token"}, status_code=403)
        response = await call_next(request)
        response.headers["Cache-Control"] = "no-store"
        return response

    def state_at(index: int) -> Any:
        try:
            return session.get(index)
        except BoxPromptError as exc:
            raise HTTPException(404, str(exc)) from exc

    def reply(index: int, state: Any) -> dict[str, Any]:
        return {**state.summary(index), "progress": session.progress()}

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{name}")
    def static(name: str) -> FileResponse:
        if name not in STATIC_FILES:
            raise HTTPException(404, "no such file")
        return FileResponse(STATIC / name, media_type=STATIC_FILES[name])

    @app.get("/api/state")
    def api_state() -> dict[str, Any]:
        return {
            "teacher": teacher,
            "out": session.out.name,  # the file name only: no path of this machine
            "progress": session.progress(),
            "images": [s.summary(i) for i, s in enumerate(session.images)],
        }

    @app.get("/api/images/{index}")
    def api_image(index: int) -> dict[str, Any]:
        return reply(index, state_at(index))

    @app.get("/api/images/{index}/file")
    def api_image_file(index: int) -> Response:
        state = state_at(index)
        try:
            arr = pixels.get(state.path)
        except BoxPromptError as exc:
            raise HTTPException(422, str(exc)) from exc
        buf = io.BytesIO()
        if state.path.suffix.lower() in (".jpg", ".jpeg"):
            Image.fromarray(arr).save(buf, format="JPEG", quality=92)
            media = "image/jpeg"
        else:
            Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
            media = "image/png"
        return Response(buf.getvalue(), media_type=media)

    @app.put("/api/images/{index}/boxes")
    def api_set_boxes(index: int, body: BoxesBody) -> dict[str, Any]:
        state_at(index)
        try:
            state = session.set_boxes(index, body.boxes, body.seconds)
        except BoxPromptError as exc:
            raise HTTPException(422, str(exc)) from exc
        return reply(index, state)

    @app.post("/api/images/{index}/authentic")
    def api_authentic(index: int, body: SecondsBody) -> dict[str, Any]:
        state_at(index)
        try:
            state = session.mark_authentic(index, body.seconds)
        except BoxPromptError as exc:
            raise HTTPException(422, str(exc)) from exc
        return reply(index, state)

    @app.post("/api/images/{index}/time")
    def api_time(index: int, body: SecondsBody) -> dict[str, Any]:
        state_at(index)
        try:
            state = session.add_time(index, body.seconds)
        except BoxPromptError as exc:
            raise HTTPException(422, str(exc)) from exc
        return reply(index, state)

    @app.get("/api/next-todo")
    def api_next_todo(after: int = -1) -> dict[str, Any]:
        return {"index": session.next_todo(after)}

    @app.post("/api/images/{index}/overlay")
    def api_overlay(index: int, body: BoxesBody) -> Response:
        state = state_at(index)
        try:
            boxes = np.asarray(body.boxes, dtype=np.float64).reshape(-1, 4)
        except ValueError as exc:
            raise HTTPException(422, f"boxes must be [x1, y1, x2, y2] lists ({exc})") from exc
        image = pixels.get(state.path)
        h, w = image.shape[:2]
        prob: np.ndarray = np.zeros((h, w), dtype=np.float32)
        boxes, _ = clip_boxes(boxes, w, h)
        if len(boxes):
            t = get_teacher()
            with teacher_lock:  # teachers are not assumed thread-safe
                prob = t.predict(image, boxes).combined()
        return Response(overlay_png(np.asarray(prob, dtype=np.float64)), media_type="image/png")

    return app
