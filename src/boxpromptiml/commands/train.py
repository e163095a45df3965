"""Train a student on pseudo-masks (or, with --gt, on ground-truth masks).

The options and their defaults are documented in ``boxpromptiml.train.cli``; this module
only exposes that command under ``boxprompt train``.
"""

from __future__ import annotations

from boxpromptiml.train import cli as _cli

__doc__ = _cli.__doc__
add_arguments = _cli.add_arguments
run = _cli.run
