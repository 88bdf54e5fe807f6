"""`imgsim COMMAND`: the product's command line, built from each service's own commands.

A service's command module adds its parsers and names the function each one runs. The modules are
imported only when the parser is built, and they keep their heavy imports inside the command
functions: `imgsim publish` loads neither TensorFlow, OpenCV nor faust.
"""

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeAlias

from imgsim_cli import evaluate, ingest, models, records, sample_set

Command = Callable[[argparse.Namespace], int]
# typeshed makes the subparsers action generic; argparse itself does not, hence the string.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

BAD_ARGUMENTS, INTERRUPTED = 2, 130

CHECKER_COMMANDS = "imgsim_indexer_check.commands"


def _add_vectorizer(commands: Subparsers) -> None:
    from imgsim_vectorizer import commands as vectorizer

    vectorizer.add_parsers(commands)


def _add_checker(commands: Subparsers) -> None:
    """`imgsim check`, when the consistency checker's commands are there.

    Its module offers `add_check_parser(subparsers)` and `check_command(args) -> int`; imported
    by name, so that this package builds and type-checks whether or not it exists yet.
    """
    try:
        checker = importlib.import_module(CHECKER_COMMANDS)
    except ModuleNotFoundError as e:
        if e.name in ("imgsim_indexer_check", CHECKER_COMMANDS):
            return
        raise  # the checker is there but lacks one of its own dependencies: say so
    checker.add_check_parser(commands)
    commands.choices["check"].set_defaults(command=checker.check_command)


def _add_demo(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "demo",
        help="paint a labelled collection, train on it, index it, measure it and serve it",
        description="Needs the stack running (make up). Paints the labelled sample set, trains "
        "the genre/style model, indexes the set with it through the pipeline (its own worker), "
        "prints the evaluation (trained against untrained representations) and serves the "
        "gallery until Ctrl-C.",
    )
    parser.add_argument("--dir", type=Path, default=Path(".stack/demo"), help="where to work")
    parser.add_argument("--per-artist", type=int, default=12, help="paintings per artist")
    parser.add_argument("--alias", default=None, help="the alias to search (default: paintings)")
    parser.add_argument("--port", type=int, default=8000, help="the search API's port")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs at most")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for indexing")
    parser.add_argument("--no-serve", action="store_true", help="stop after the evaluation")
    parser.set_defaults(command=demo_command)


def demo_command(args: argparse.Namespace) -> int:
    # Imported here: the demo orchestrates every service, which no other command needs.
    from imgsim_common import names

    from imgsim_cli import demo

    if args.per_artist < 2:
        print("imgsim demo: --per-artist must be at least 2", file=sys.stderr)
        return BAD_ARGUMENTS
    return demo.run(
        demo.DemoOptions(
            folder=args.dir.resolve(),
            per_artist=args.per_artist,
            alias=args.alias or names.PAINTINGS_ALIAS,
            port=args.port,
            timeout_s=args.timeout,
            serve=not args.no_serve,
            epochs=args.epochs,
        )
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imgsim", description="Image similarity search.")
    commands = parser.add_subparsers(dest="name", required=True, metavar="COMMAND")
    _add_vectorizer(commands)
    _add_checker(commands)
    ingest.add_parser(commands)
    records.add_parser(commands)
    models.add_parser(commands)
    _add_demo(commands)
    evaluate.add_parser(commands)
    sample_set.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, or a usage error argparse has already reported
        return e.code if isinstance(e.code, int) else BAD_ARGUMENTS
    command: Command = args.command
    try:
        return command(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
