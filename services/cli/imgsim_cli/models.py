"""`imgsim model swap|rollback|list`: model versions side by side, and which one is searched."""

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Column, Table

OK, FAILED, BAD_ARGUMENTS = 0, 1, 2

console = Console(highlight=False, markup=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser(
        "model",
        help="index a trained model beside the searched one and swap it in; roll back; list",
        description="Model versions each have their own topic, sink connector and index; the "
        "`paintings` alias names the one searched.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    swap = actions.add_parser(
        "swap",
        help="re-drive the collection through MODEL_DIR's model, then move the alias to it",
        description="Provisions the model's pipeline, runs a vectorizer worker with it over every "
        "published image (VECTORIZER_IMAGE_ROOT must be the collection's folder), waits until "
        "the reconciliation finds every painting in the new index, and moves the alias "
        "atomically. Search answers from the old index until then.",
    )
    swap.add_argument(
        "model_dir", type=Path, metavar="MODEL_DIR", help="a folder `imgsim train` wrote"
    )
    swap.add_argument("--timeout", type=float, default=3600, help="seconds to wait at most")
    swap.add_argument(
        "--no-worker",
        action="store_true",
        help="do not start a worker: yours run with VECTORIZER_MODEL_PATH=MODEL_DIR",
    )
    swap.set_defaults(command=swap_command)
    back = actions.add_parser("rollback", help="move the alias back to the index it replaced")
    back.add_argument("--to", metavar="INDEX", help="this index instead")
    back.set_defaults(command=rollback_command)
    listing = actions.add_parser("list", help="the paintings indexes, their models and documents")
    listing.set_defaults(command=list_command)
    for sub in (swap, back, listing):
        sub.add_argument("--alias", default=None, help="the searched alias (default: paintings)")


def _alias(args: argparse.Namespace) -> str:
    from imgsim_common import names

    return str(args.alias or names.PAINTINGS_ALIAS)


def swap_command(args: argparse.Namespace) -> int:
    # Imported here: building the command line must stay cheap.
    from imgsim_indexer_check.settings import IndexerCheckSettings
    from imgsim_stack.errors import StackError
    from imgsim_stack.settings import StackSettings
    from pydantic import ValidationError

    from imgsim_cli import model_swap

    model_dir: Path = args.model_dir
    if not (model_dir / "card.json").is_file():
        errors.print(f"{model_dir} holds no card.json: name a folder written by `imgsim train`")
        return BAD_ARGUMENTS
    try:
        stack, check = StackSettings(), IndexerCheckSettings()
    except ValidationError as e:
        errors.print(f"invalid settings:\n{e}")
        return BAD_ARGUMENTS
    try:
        before, after = model_swap.swap(
            model_dir,
            stack,
            check,
            _alias(args),
            console.print,
            timeout_s=args.timeout,
            run_worker=not args.no_worker,
        )
    except (model_swap.SwapError, StackError, ValueError) as e:
        errors.print(f"swap failed: {e}")
        return FAILED
    console.print(
        f"searching {after} now (before: {before or 'nothing'}); `imgsim model rollback` goes "
        f"back. Run workers with VECTORIZER_MODEL_PATH={model_dir} from now on, so that new "
        "images reach the new index."
    )
    return OK


def rollback_command(args: argparse.Namespace) -> int:
    from elasticsearch import Elasticsearch
    from imgsim_indexer_check.settings import IndexerCheckSettings

    from imgsim_cli import model_swap

    es = Elasticsearch(**IndexerCheckSettings().elasticsearch_options(), request_timeout=30)
    try:
        before, after = model_swap.rollback(es, _alias(args), args.to)
    except model_swap.SwapError as e:
        errors.print(f"rollback failed: {e}")
        return FAILED
    finally:
        es.close()
    console.print(f"alias {_alias(args)} points at {after} again (was {before})")
    return OK


def list_command(args: argparse.Namespace) -> int:
    from elasticsearch import Elasticsearch
    from imgsim_indexer_check.settings import IndexerCheckSettings

    from imgsim_cli import model_swap

    es = Elasticsearch(**IndexerCheckSettings().elasticsearch_options(), request_timeout=30)
    try:
        indexes = model_swap.model_indexes(es, _alias(args))
    finally:
        es.close()
    table = Table("model", "documents", "searched", "replaced")
    # Index names are what `rollback --to` and `check` take: never shortened.
    table.columns.insert(
        0, Column("index", min_width=max((len(f.index) for f in indexes), default=5))
    )
    for found in indexes:
        table.add_row(
            found.index,
            found.model,
            str(found.documents),
            "yes" if found.searched else "",
            found.replaced or "",
        )
    console.print(table)
    return OK
