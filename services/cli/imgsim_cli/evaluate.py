"""`imgsim evaluate --images DIR --metadata CSV`: how well the indexed vectors find similar
paintings, measured through the search API's own query path.

Building the parser imports nothing beyond the standard library; the command's modules (HTTP,
NumPy, Pillow) are imported when it runs.
"""

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

OK, FAILED, BAD_ARGUMENTS = 0, 1, 2


@dataclass(frozen=True)
class Options:
    images: Path
    metadata: Path
    api: str = "http://127.0.0.1:8000"
    model: Path | None = None
    k: int = 10
    extra: int = 10
    queries: int | None = 500  # None: every held-out painting
    representations: tuple[str, ...] = ()  # empty: every one the API lists
    seed: int = 0
    concurrency: int = 8
    draws: int = 20
    robustness: int = 100
    pair_paintings: int = 2000
    upload_wait_s: float = 60.0
    timeout_s: float = 30.0
    allow_missing: bool = False
    classify: bool = False
    json: Path | None = None
    progress: bool = True


def _count(text: str) -> int | None:
    if text == "all":
        return None
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 or 'all', got {value}")
    return value


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser(
        "evaluate",
        help="measure how well the index finds similar paintings, through the search API",
        description="Query the search API with the held-out paintings of a labelled set "
        "(CSV rows with in_train false, else the model's split.json validation ids, else all) "
        "and report precision@k and mAP@k of same-style, -genre and -artist neighbours, pair "
        "AUC for artists seen and unseen in training, and whether crops, rescales and JPEG "
        "re-encodes find the original, per representation and metric, beside random.",
    )
    parser.add_argument("--images", type=Path, required=True, metavar="DIR", help="image root")
    parser.add_argument(
        "--metadata", type=Path, required=True, metavar="CSV", help="all_data_info.csv or alike"
    )
    parser.add_argument("--model", type=Path, metavar="DIR", help="trained model (card.json)")
    parser.add_argument(
        "--api", default=Options.api, metavar="URL", help="the search API (default: %(default)s)"
    )
    parser.add_argument(
        "-k", type=_at_least(1), default=Options.k, help="neighbours scored (default: %(default)s)"
    )
    parser.add_argument(
        "--extra",
        type=_at_least(0),
        default=Options.extra,
        help="neighbours asked beyond k, for those outside the set (default: %(default)s)",
    )
    parser.add_argument(
        "--queries",
        type=_count,
        default=Options.queries,
        metavar="N|all",
        help="held-out paintings queried, drawn with --seed if more (default: %(default)s)",
    )
    parser.add_argument(
        "--representations", default="", metavar="A,B", help="those evaluated (empty: all)"
    )
    parser.add_argument("--seed", type=int, default=Options.seed, help="for every random draw")
    parser.add_argument(
        "--concurrency",
        type=_at_least(1),
        default=Options.concurrency,
        help="requests to the API at once (default: %(default)s)",
    )
    parser.add_argument(
        "--draws",
        type=_at_least(1),
        default=Options.draws,
        help="random rankings per query for the baseline (default: %(default)s)",
    )
    parser.add_argument(
        "--robustness",
        type=_at_least(0),
        default=Options.robustness,
        metavar="N",
        help="paintings altered and uploaded (0: none) (default: %(default)s)",
    )
    parser.add_argument(
        "--pair-paintings",
        type=_at_least(2),
        default=Options.pair_paintings,
        metavar="N",
        help="most paintings per pair-AUC group (default: %(default)s)",
    )
    parser.add_argument(
        "--allow-missing", action="store_true", help="leave out paintings missing from the index"
    )
    parser.add_argument(
        "--classify",
        action="store_true",
        help="run the model (--model) over the queries for each head's accuracy on them",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(command=command)


def command(args: argparse.Namespace) -> int:
    options = Options(
        images=args.images,
        metadata=args.metadata,
        api=args.api.rstrip("/"),
        model=args.model,
        k=args.k,
        extra=args.extra,
        queries=args.queries,
        representations=tuple(n.strip() for n in args.representations.split(",") if n.strip()),
        seed=args.seed,
        concurrency=args.concurrency,
        draws=args.draws,
        robustness=args.robustness,
        pair_paintings=args.pair_paintings,
        allow_missing=args.allow_missing,
        classify=args.classify,
        json=args.json,
        progress=not args.no_progress,
    )
    return run(options)


def run(options: Options, transport: "httpx.AsyncBaseTransport | None" = None) -> int:
    """Evaluates and reports; the exit status. `transport` lets tests answer as the API."""
    import asyncio

    from imgsim_cli import evaluate_run

    try:
        return asyncio.run(evaluate_run.evaluate(options, transport))
    except evaluate_run.Refused as e:
        print(f"imgsim evaluate: {e.message}", file=sys.stderr)
        return e.status
