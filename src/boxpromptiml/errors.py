"""User-facing errors.

Every problem a user can fix (a missing file, a malformed JSON, a mask of the wrong size)
raises a :class:`BoxPromptError` whose message names the file and the problem in one line.
The CLI prints that line without a traceback (``--debug`` shows it). Programming errors
stay ordinary Python exceptions.
"""

from __future__ import annotations


class BoxPromptError(Exception):
    """Base class of errors a user can act on; the message is one self-contained line."""


class DataError(BoxPromptError):
    """An input file or dataset is missing, unreadable or inconsistent."""


class ConfigError(BoxPromptError, ValueError):
    """An option or argument has an invalid value."""


class CheckpointError(BoxPromptError):
    """A checkpoint or model file cannot be loaded or does not fit the requested model."""
