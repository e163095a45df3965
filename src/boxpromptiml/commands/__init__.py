"""Subcommands of ``boxprompt``: each module defines ``add_arguments(parser)`` and ``run(args)``."""
