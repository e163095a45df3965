"""``python -m boxpromptiml`` runs the ``boxprompt`` command line."""

import sys

from boxpromptiml.cli import main

sys.exit(main())
