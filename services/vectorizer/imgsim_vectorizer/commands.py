"""The vectorizer's commands, `imgsim publish`, `imgsim worker` and `imgsim train` (in
`training.command`): each wires settings to the domain. `imgsim_cli.main` adds them to the
product's command line.

Importing this module must stay cheap (no TensorFlow, no faust, no OpenCV): the command line is
built from it for every command, and `publish` needs none of them.
"""

import argparse
from collections import Counter
from pathlib import Path
from typing import TypeAlias

from confluent_kafka import KafkaException, Producer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from imgsim_vectorizer import publisher
from imgsim_vectorizer.settings import PublishSettings, VectorizerSettings
from imgsim_vectorizer.training import command as training_command

# typeshed makes the subparsers action generic; argparse itself does not, hence the string.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

OK, FAILED, BAD_ARGUMENTS, INTERRUPTED = 0, 1, 2, 130

# No markup: paths and error messages may hold square brackets.
console = Console(highlight=False, markup=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


def _fail(message: str, code: int = BAD_ARGUMENTS) -> int:
    errors.print(f"error: {message}", style="red")
    return code


def add_parsers(commands: Subparsers) -> None:
    """Adds `publish`, `worker` and `train`; each parser's `command` default is the function to
    run."""
    _add_publish(commands).set_defaults(command=publish_command)
    _add_worker(commands).set_defaults(command=worker_command)
    training_command.add_parser(commands)


def _add_publish(
    commands: Subparsers,
) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "publish",
        help="publish one image-path record per image in a folder",
        description="Publish one record per image under DIR to the image-path topic, keyed by "
        "its path relative to DIR. Publishing the same folder again is safe.",
    )
    parser.add_argument("dir", type=Path, metavar="DIR", help="the image root")
    parser.add_argument(
        "--metadata",
        type=Path,
        metavar="CSV",
        help="a CSV with a new_filename column (Painter by Numbers' all_data_info.csv)",
    )
    parser.add_argument(
        "--list",
        type=Path,
        metavar="FILE",
        help="publish only the paths in FILE (relative to DIR, one per line) instead of a scan",
    )
    # Defaults are None so that the environment is read only when the command runs.
    parser.add_argument(
        "--bootstrap-servers",
        metavar="HOST:PORT",
        help="default: $VECTORIZER_KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092",
    )
    parser.add_argument(
        "--topic", metavar="NAME", help="default: $VECTORIZER_INPUT_TOPIC or image-paths"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _add_worker(
    commands: Subparsers,
) -> argparse.ArgumentParser:
    return commands.add_parser(
        "worker",
        help="run a vectorizer worker (settings from VECTORIZER_* variables)",
        description="Consume the image-path topic in batches, run the CNN and produce vector "
        "records. Start more workers with the same VECTORIZER_CONSUMER_GROUP to share the "
        "topic's partitions.",
    )


def publish_command(args: argparse.Namespace) -> int:
    try:
        # Only what publishing uses: the model's settings are the worker's business.
        settings = PublishSettings()
    except ValidationError as e:
        return _fail(f"invalid VECTORIZER_* settings:\n{e}")
    servers: str = args.bootstrap_servers or settings.kafka_bootstrap_servers
    topic: str = args.topic or settings.input_topic
    root: Path = args.dir
    if not root.is_dir():
        return _fail(f"{root} is not a folder")
    try:
        metadata = publisher.load_metadata(args.metadata) if args.metadata else None
    except (OSError, ValueError) as e:
        return _fail(f"cannot read the metadata CSV: {e}")
    try:
        found = publisher.scan(root, args.list)
    except (OSError, ValueError) as e:
        return _fail(f"cannot read the list file: {e}")

    producer = Producer(
        {
            **settings.kafka_config(),
            "bootstrap.servers": servers,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 20,
            "compression.type": "lz4",
        }
    )
    # Checked first so that a wrong address or name fails in seconds, not after
    # delivery.timeout.ms for every record; listing all topics never auto-creates one.
    try:
        existing = producer.list_topics(timeout=15).topics
    except KafkaException as e:
        return _fail(f"cannot reach Kafka at {servers}: {e}", FAILED)
    if topic not in existing:
        return _fail(f"topic {topic!r} does not exist on {servers} (`make provision` creates it)")

    try:
        summary = publisher.publish(producer, topic, found, metadata, progress=not args.no_progress)
    except KeyboardInterrupt:
        # Whatever was not acknowledged is safe to publish again: records are keyed by id.
        return _fail("interrupted; publishing again is safe", INTERRUPTED)
    print_summary(summary, topic, with_metadata=metadata is not None)
    return FAILED if summary.failed else OK


def print_summary(summary: publisher.PublishSummary, topic: str, *, with_metadata: bool) -> None:
    table = Table(title=f"published to {topic}", show_header=False)
    table.add_column(justify="left")
    table.add_column(justify="right")
    table.add_row("published (acknowledged)", str(summary.published))
    table.add_row("failed", str(summary.failed))
    table.add_row("not images (unknown files)", str(summary.unknown_files))
    table.add_row("skipped", str(len(summary.skipped)))
    if with_metadata:
        table.add_row("images without a CSV row", str(summary.without_metadata))
        table.add_row("CSV rows without an image", str(summary.csv_rows_without_image))
    console.print(table)
    if summary.first_error:
        console.print(f"first delivery error: {summary.first_error}")
    reasons = Counter(skipped.reason for skipped in summary.skipped)
    for reason, count in reasons.most_common():
        example = next(s.path for s in summary.skipped if s.reason == reason)
        console.print(f"skipped {count}: {reason} (e.g. {example})")


def worker_command(args: argparse.Namespace) -> int:
    # Imported here: the worker pulls in TensorFlow and faust, `publish` must start fast.
    from imgsim_vectorizer import worker

    try:
        settings = VectorizerSettings()
    except ValidationError as e:
        return _fail(f"invalid VECTORIZER_* settings:\n{e}")
    try:
        worker.run(settings)
    except worker.ModelLoadError as e:
        return _fail(str(e), FAILED)
    return OK
