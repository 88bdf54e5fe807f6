"""`python -m imgsim_indexer_check`: the checker service (settings from INDEXER_CHECK_*)."""

import sys

from pydantic import ValidationError

from imgsim_indexer_check.app import serve
from imgsim_indexer_check.settings import IndexerCheckSettings


def main() -> int:
    try:
        settings = IndexerCheckSettings()
    except ValidationError as e:
        print(f"error: invalid INDEXER_CHECK_* settings:\n{e}", file=sys.stderr)
        return 2
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
