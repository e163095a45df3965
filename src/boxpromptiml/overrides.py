"""Settings typed on a command line as ``KEY=VALUE`` (``--set``, ``-O``, benchmark variants).

One grammar for every command and benchmark that takes such overrides:

- a value is read as JSON when it is JSON (``3``, ``0.5``, ``[0.01, 0.3]``,
  ``{"camera": 0.8}``, ``"quoted text"``); ``true``/``false`` and ``none``/``null`` in any
  case are booleans and ``None``; numbers joined by commas (``0.01,0.3``) are a list;
  anything else is the text itself;
- when the setting's current value is known (``like``, e.g. a dataclass field's default),
  its type decides where the text is ambiguous: a text setting keeps the text as typed
  (``noise_norm=none`` stays ``"none"``), a float setting reads ``6`` as ``6.0``, a
  boolean one reads ``1``/``0``, ``yes``/``no`` and ``on``/``off`` too;
- a list of overrides in one argument (``dim=16,noise=8``) is split at the commas that
  start a new ``KEY=``, so ``area=0.01,0.3,noise=8`` is two overrides.

Which keys are allowed, and what each value may be, is checked by whoever receives them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from boxpromptiml.errors import ConfigError

__all__ = ["parse_override", "parse_overrides", "parse_value", "split_items"]

_UNSET: Any = object()
_NEW_KEY = re.compile(r",(?=\s*[A-Za-z_][\w.\-]*\s*=)")


def _scalar(text: str) -> Any:
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_value(text: str, like: Any = _UNSET) -> Any:
    """``text`` as a Python value (see the module docstring).

    Args:
        text: what followed ``=``.
        like: the setting's current value when known: a ``str`` keeps ``text`` as typed
            (unless it is a quoted JSON string), a ``float`` turns a whole number into a
            float, a ``bool`` reads 1/0, yes/no, on/off.
    """
    if isinstance(like, str):
        stripped = text.strip()
        if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
            try:
                return json.loads(stripped)
            except ValueError:
                return stripped
        return stripped
    value = _scalar(text)
    if isinstance(like, bool) and not isinstance(value, bool):
        words = {"1": True, "yes": True, "on": True, "0": False, "no": False, "off": False}
        return words.get(text.strip().lower(), value)
    if isinstance(like, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and "," in text:
        parts = [_scalar(p) for p in text.split(",")]
        if all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in parts):
            return parts
    return value


def parse_override(
    item: str, option: str = "--set", like: Mapping[str, Any] | None = None
) -> tuple[str, Any]:
    """``"KEY=VALUE"`` → ``(KEY, value)``; ``like`` maps keys to current values (for text
    settings). A missing ``=`` or key raises :class:`ConfigError` naming ``option``."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"{option} {item!r}: expected KEY=VALUE")
    return key, parse_value(text, (like or {}).get(key, _UNSET))


def parse_overrides(
    items: Iterable[str] | None, option: str = "--set", like: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Several ``KEY=VALUE`` items → a dict (a later item wins over an earlier one)."""
    return dict(parse_override(item, option, like) for item in items or [])


def split_items(text: str) -> list[str]:
    """``"dim=16,area=0.01,0.3"`` → ``["dim=16", "area=0.01,0.3"]``: split at the commas
    that begin another ``KEY=``; empty items are dropped."""
    parts = (part.strip().rstrip(",").strip() for part in _NEW_KEY.split(text))
    return [part for part in parts if part]
