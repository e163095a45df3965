"""Draw manipulation boxes in the browser; every change is saved to a COCO box file.

Starts a local web server over the images of IMAGE_DIR and prints its URL. On the page:
drag to draw a box, click to select (drag a selected box or its corners to move or resize),
Delete or right-click to delete, 'a' marks the image authentic, n/p (or arrow keys) move
between images, 'u' jumps to the next image not done, 'h' lists all shortcuts. The
teacher's pseudo-mask for the current boxes is overlaid in red ('o' hides it).

The COCO file (--out) is rewritten atomically after every change; an existing one (for
example a CVAT export) is loaded and can be corrected; restarting resumes where you
stopped. The time spent per image is stored as "annotation_seconds" and the state as
"status" ("boxes" / "authentic") in each image entry.

Bound to 127.0.0.1 by default. With --host set to another address, a random token is
required and printed in the URL.

examples:
  boxprompt annotate data/photos --out boxes.json
  boxprompt annotate data/photos --out boxes.json --stats     # time and boxes per image
  boxprompt annotate data/photos --out boxes.json --teacher grabcut --port 8800
"""

from __future__ import annotations

import argparse
import secrets

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image_dir", metavar="IMAGE_DIR", help="folder of images to annotate")
    p.add_argument(
        "-o", "--out", required=True, help="COCO box file to write (loaded if it exists)"
    )
    p.add_argument(
        "--teacher",
        default="ensemble",
        help="teacher of the pseudo-mask overlay (default ensemble)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument(
        "--stats",
        action="store_true",
        help="print time and boxes per image of the --out file (with --json: as JSON) and exit",
    )
    p.add_argument("--json", action="store_true", help="with --stats: print JSON")
    p.add_argument(
        "--token",
        default=None,
        help="access token (default: random when --host is not a loopback address)",
    )


def _stats(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from boxpromptiml.annotate.stats import annotation_stats, format_stats
    from boxpromptiml.errors import DataError
    from boxpromptiml.tables import jsonable

    if not Path(args.out).is_file():
        raise DataError(f"{args.out}: no box file yet (annotate first)")
    stats = annotation_stats(args.out, args.image_dir)
    print(json.dumps(jsonable(stats), indent=2) if args.json else format_stats(stats))
    return 0


def run(args: argparse.Namespace) -> int:
    import socket

    if args.stats:
        return _stats(args)

    import uvicorn

    from boxpromptiml.annotate import AnnotationSession
    from boxpromptiml.annotate.server import create_app
    from boxpromptiml.errors import ConfigError
    from boxpromptiml.teachers.registry import split_name

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be in 0..65535, got {args.port}")
    split_name(args.teacher)  # fail early on an unknown teacher name
    session = AnnotationSession(args.image_dir, args.out)
    # one server per box file: a second one would overwrite the first one's boxes
    from filelock import FileLock, Timeout

    lock = FileLock(f"{session.out}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise ConfigError(
            f"{session.out}: another 'boxprompt annotate' is saving to this file; stop it "
            "first, or give another --out"
        ) from exc
    token = args.token
    if token is not None and not token.strip():
        raise ConfigError("--token must not be empty (it would switch off authentication)")
    if token is None and args.host not in LOOPBACK:
        token = secrets.token_urlsafe(16)
    # answer only to the names this server is reached by (no DNS rebinding)
    hosts = (
        sorted({args.host, "localhost", "127.0.0.1", "[::1]", "::1"})
        if args.host in LOOPBACK
        else [args.host]
    )
    if args.host in ("0.0.0.0", "::"):
        hosts = ["*"]  # every interface: the token is the protection there
    app = create_app(session, teacher=args.teacher, token=token, hosts=hosts)
    print(f"building teacher '{args.teacher}' ...", flush=True)
    app.state.warm_teacher()

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port} ({exc})") from exc
    port = sock.getsockname()[1]
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    prog = session.progress()
    print(f"{prog['done']} of {prog['count']} images done; saving to {session.out}")
    print(f"open {url}  (Ctrl+C to stop)", flush=True)
    config = uvicorn.Config(app, log_level="warning")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        lock.release()
    return 0
