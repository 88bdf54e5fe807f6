"""The search API as the benchmarks run it: a uvicorn process of its own on a port."""

import sys


def api_argv(port: int) -> list[str]:
    """The command that serves the search API on 127.0.0.1:`port`, quietly."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "imgsim_search_api.app:create_app",
        "--factory",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
