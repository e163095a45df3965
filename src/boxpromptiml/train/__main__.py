"""``python -m boxpromptiml.train``: the ``boxprompt train`` command, runnable by torchrun."""

from __future__ import annotations

import sys

from boxpromptiml.train.cli import main

if __name__ == "__main__":
    sys.exit(main())
