"""The checkpoint format lives with the student: :mod:`boxpromptiml.student.checkpoint`.

This module keeps the old import path (``boxpromptiml.train.checkpoint``) working.
"""

from boxpromptiml.student.checkpoint import *  # noqa: F403
from boxpromptiml.student.checkpoint import __all__  # noqa: F401
