"""The `imgsim` command line of the whole product: each service's commands, and the demo.

The services never import this package: it imports their command modules.
"""

import sys


def child_argv(*argv: str) -> list[str]:
    """The command line that runs `imgsim ARGV...` in a child process on this interpreter."""
    return [sys.executable, "-m", "imgsim_cli", *argv]
