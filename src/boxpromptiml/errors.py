"""User-facing errors.

Every problem a user can fix (a missing file, a malformed JSON, a mask of the wrong size)
raises a :class:`BoxPromptError` whose message names the file and the problem in one line.
The CLI prints that line without a traceback (``--debug`` shows it). Programming errors
stay ordinary Python exceptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


class BoxPromptError(Exception):
    """Base class of errors a user can act on; the message is one self-contained line."""


class DataError(BoxPromptError):
    """An input file or dataset is missing, unreadable or inconsistent."""


class ConfigError(BoxPromptError, ValueError):
    """An option or argument has an invalid value."""


class CheckpointError(BoxPromptError):
    """A checkpoint or model file cannot be loaded or does not fit the requested model."""


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` with the known name closest to ``key``, or ``""``."""
    import difflib

    close = difflib.get_close_matches(key, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def reject_unknown(keys: Iterable[str], known: Sequence[str], what: str) -> None:
    """Raise :class:`ConfigError` for the first of ``keys`` not in ``known``, naming it as a
    ``what`` (e.g. ``"training option"``) with the closest known name as a hint."""
    for key in keys:
        if key not in known:
            raise ConfigError(f"unknown {what} {key!r}{did_you_mean(key, known)}")


def without_later_defaults(data: Mapping[str, Any], later: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` less the settings named in ``later`` that hold the default given there.

    For settings added after files of their kind (checkpoints, run folders, datasets) were
    first written: left out at their default, a newer file of the same settings still
    compares equal to an older one."""
    return {k: v for k, v in data.items() if k not in later or later[k] != v}
