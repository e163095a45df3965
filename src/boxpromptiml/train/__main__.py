"""``python -m boxpromptiml.train``: the same as ``python -m boxpromptiml train``."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from boxpromptiml.cli import main

    sys.exit(main(["train", *sys.argv[1:]]))
