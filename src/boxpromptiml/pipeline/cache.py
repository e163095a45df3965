"""The stage cache: one JSON record per finished stage, keyed by its inputs and settings.

``OUT/stages/<stage id>.json`` holds ``{"stage", "key", "seconds", "result"}``. A stage is
done when its record exists and its ``key`` (a JSON-ready dict of everything the stage's
output depends on: input digests, settings) equals the one asked for. Costly stages are
*strict*: a record with another key raises :class:`~boxpromptiml.errors.ConfigError`
naming what changed and what to delete; cheap ones simply run again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from boxpromptiml.errors import ConfigError
from boxpromptiml.fileio import atomic_write_json
from boxpromptiml.tables import jsonable

__all__ = ["StageCache", "digest", "file_digest", "fingerprint"]


def digest(obj: Any) -> str:
    """Short (16 hex digits) SHA-256 of ``obj``'s canonical JSON."""
    text = json.dumps(jsonable(obj), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def file_digest(path: str | Path) -> str:
    """Short (16 hex digits) SHA-256 of a file's bytes."""
    from boxpromptiml.weights import sha256_file

    return sha256_file(Path(path))[:16]


def fingerprint(samples: Any) -> dict[str, Any]:
    """What identifies a dataset's content: its samples' names, paths and labels.

    ``samples``: an iterable of :class:`~boxpromptiml.data.sources.Sample` (a
    :class:`~boxpromptiml.data.sources.Dataset`, a list) or of image paths.
    """
    items: list[Any] = []
    for s in samples:
        if isinstance(s, str | Path):
            items.append(str(s))
        else:
            items.append([s.name, str(s.image), None if s.mask is None else str(s.mask), s.label])
    return {"samples": len(items), "digest": digest(items)}


class StageCache:
    """The ``OUT/stages`` records of one run folder.

    ``write=False`` (e.g. on the non-zero ranks of a distributed run) reads records but
    never writes them. ``log`` maps each stage id met so far to what happened to it
    (``"skipped (done)"`` or ``"ran (12.3 s)"``).
    """

    def __init__(self, out: str | Path, write: bool = True) -> None:
        self.dir = Path(out) / "stages"
        self.write = write
        self.log: dict[str, str] = {}

    def path(self, stage_id: str) -> Path:
        """The record file of ``stage_id`` (``/`` in ids become ``-``)."""
        return self.dir / f"{stage_id.replace('/', '-')}.json"

    def record(self, stage_id: str) -> dict[str, Any] | None:
        """The stage's record, or ``None`` when there is none or it cannot be read."""
        p = self.path(stage_id)
        if not p.is_file():
            return None
        try:
            rec = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            return None  # unreadable record: the stage runs again (its tools resume)
        return rec if isinstance(rec, dict) else None

    def done(self, stage_id: str, key: dict[str, Any], *, strict: bool, redo: str = "") -> Any:
        """The saved result when the stage finished with ``key``; ``None`` when it must run.

        With another key: ``strict`` raises :class:`ConfigError` (``redo`` names what to
        delete besides the record), otherwise ``None`` (the stage runs again).
        """
        rec = self.record(stage_id)
        if rec is None:
            return None
        key = json.loads(json.dumps(jsonable(key), default=str))
        if rec.get("key") == key:
            self.log[stage_id] = "skipped (done)"
            return rec.get("result")
        if strict:
            old = rec.get("key") or {}
            changed = sorted(k for k in set(old) | set(key) if old.get(k) != key.get(k))
            where = f"{redo} and {self.path(stage_id)}" if redo else str(self.path(stage_id))
            raise ConfigError(
                f"{self.path(stage_id)}: stage '{stage_id}' was finished with other settings "
                f"(changed: {', '.join(changed)}); to redo it delete {where}, or use another --out"
            )
        return None

    def finish(self, stage_id: str, key: dict[str, Any], result: Any, seconds: float) -> None:
        """Record that ``stage_id`` ran with ``key`` (atomically) and produced ``result``."""
        self.log[stage_id] = f"ran ({seconds:.1f} s)"
        if self.write:
            atomic_write_json(
                self.path(stage_id),
                jsonable(
                    {"stage": stage_id, "key": key, "seconds": round(seconds, 3), "result": result}
                ),
            )
