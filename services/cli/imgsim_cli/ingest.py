"""`imgsim ingest DIR`: publish a folder, then follow it to the index with a progress bar.

What a user wants after publishing: to see the images become searchable, and to hear at once,
not after the last image, when they cannot (no worker, or a worker that cannot see DIR).
"""

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from imgsim_indexer_check.progress import DeadLetterSeen, IngestionWatch

OK, FAILED, BAD_ARGUMENTS = 0, 1, 2
# The first outcomes tell whether the worker can see DIR at all.
FIRST_OUTCOMES = 5
# With no outcome for this long, say whether any worker is there to produce one.
QUIET_S = 20.0

console = Console(highlight=False, markup=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser(
        "ingest",
        help="publish a folder and follow it until every image is indexed or dead-lettered",
        description="Publish one record per image under DIR (as `imgsim publish`), then show "
        "published -> vectorized -> indexed until each image is searchable or dead-lettered, "
        "and end with a summary. Needs a running worker (`make worker`) whose "
        "VECTORIZER_IMAGE_ROOT is DIR.",
    )
    parser.add_argument("dir", type=Path, metavar="DIR", help="the image root")
    parser.add_argument("--metadata", type=Path, metavar="CSV", help="all_data_info.csv or alike")
    parser.add_argument("--list", type=Path, metavar="FILE", help="only the paths in FILE")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait at most")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(command=command)


def command(args: argparse.Namespace) -> int:
    # Imported here: building the command line must stay cheap.
    from confluent_kafka import KafkaException, Producer
    from imgsim_indexer_check import searched
    from imgsim_indexer_check.legs import legs
    from imgsim_indexer_check.progress import IngestionWatch
    from imgsim_indexer_check.settings import IndexerCheckSettings
    from imgsim_vectorizer import publisher
    from imgsim_vectorizer.settings import PublishSettings
    from pydantic import ValidationError

    try:
        publish_settings = PublishSettings()
        # Progress is what reaches the searched index (after a swap: its model's pipeline).
        check_settings = searched.follow(IndexerCheckSettings())
    except ValidationError as e:
        return _fail(f"invalid settings:\n{e}")
    root: Path = args.dir
    if not root.is_dir():
        return _fail(f"{root} is not a folder")
    try:
        metadata = publisher.load_metadata(args.metadata) if args.metadata else None
        found = publisher.scan(root, args.list)
    except (OSError, ValueError) as e:
        return _fail(str(e))
    if not found.paintings:
        return _fail(f"no images under {root}")

    servers = publish_settings.kafka_bootstrap_servers
    try:
        watch = IngestionWatch(
            check_settings.kafka_config(),
            check_settings.paintings_topic,
            check_settings.dead_letter_topic,
            check_settings.sink_group,
        )
    except Exception as e:  # noqa: BLE001 - any failure here means Kafka is not usable
        return _fail(f"cannot follow the pipeline on {servers}: {e}", FAILED)
    try:
        watch.watch(found.paintings)
        producer = Producer(
            {**publish_settings.kafka_config(), "acks": "all", "enable.idempotence": True}
        )
        try:
            producer.list_topics(publish_settings.input_topic, timeout=15)
        except KafkaException as e:
            return _fail(f"cannot reach Kafka at {servers}: {e}", FAILED)
        summary = publisher.publish(
            producer,
            publish_settings.input_topic,
            found,
            metadata,
            progress=not args.no_progress,
        )
        console.print(f"published {summary.published} of {len(found.paintings)} images")
        if summary.failed:
            return _fail(f"{summary.failed} records were not published: {summary.first_error}", 1)
        leg1 = (publish_settings.input_topic, check_settings.vectorizer_group)
        # The checker's own words for the worker to start: after a model swap, that model's.
        start_worker = legs(check_settings)[0].stop_hint
        return _follow(watch, root, leg1, start_worker, args)
    finally:
        watch.close()


def _follow(
    watch: "IngestionWatch",
    root: Path,
    leg1: tuple[str, str],
    start_worker: str,
    args: argparse.Namespace,
) -> int:
    total = len(watch.watched)
    started = last_change = time.monotonic()
    warned_quiet = False
    seen = 0
    bars = Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=args.no_progress,
    )
    with bars:
        vectorized = bars.add_task("vectorized", total=total)
        indexed = bars.add_task("indexed", total=total)
        dead = bars.add_task("dead-lettered", total=total)
        while not watch.settled and time.monotonic() - started < args.timeout:
            outcomes = watch.poll()
            bars.update(vectorized, completed=len(outcomes.vectorized))
            bars.update(indexed, completed=len(outcomes.indexed))
            bars.update(dead, completed=len(outcomes.dead_lettered))
            done = len(outcomes.vectorized) + len(outcomes.dead_lettered)
            if done != seen:
                seen, last_change = done, time.monotonic()
            if _cannot_see(outcomes.vectorized, outcomes.dead_lettered, total):
                bars.stop()
                example = next(iter(outcomes.dead_lettered.values())).message
                errors.print(
                    f"error: the worker cannot see {root}: its first {FIRST_OUTCOMES} images "
                    f"were dead-lettered as missing ({example}). Start the worker with "
                    f"VECTORIZER_IMAGE_ROOT={root.resolve()}, then publish again, or retry "
                    f"them: imgsim check --retry-dead-letters --reason missing",
                    style="red",
                )
                return FAILED
            if not warned_quiet and time.monotonic() - last_change > QUIET_S:
                warned_quiet = True
                topic, group = leg1
                if watch.offsets.read(topic, group).members == 0:
                    errors.print(
                        f"warning: nothing has happened for {QUIET_S:.0f} s and no vectorizer "
                        f"worker is running (group {group!r} has no members): {start_worker}",
                        style="yellow",
                    )
    return _summary(watch, total)


def _cannot_see(
    vectorized: dict[str, tuple[int, int]], dead: dict[str, "DeadLetterSeen"], total: int
) -> bool:
    """The first outcomes are all `missing`: the worker looks under another root."""
    return (
        not vectorized
        and len(dead) >= min(FIRST_OUTCOMES, total)
        and all(letter.reason == "missing" for letter in dead.values())
    )


def _summary(watch: "IngestionWatch", total: int) -> int:
    outcomes = watch.outcomes
    table = Table(title="ingestion", show_header=False)
    table.add_column()
    table.add_column(justify="right")
    table.add_row("published", str(total))
    table.add_row("vectorized", str(len(outcomes.vectorized)))
    table.add_row("indexed (searchable)", str(len(outcomes.indexed)))
    table.add_row("dead-lettered", str(len(outcomes.dead_lettered)))
    waiting = total - len(outcomes.indexed) - len(outcomes.dead_lettered)
    if waiting:
        table.add_row("not finished in time", str(waiting))
    console.print(table)
    for reason, count in outcomes.reasons().items():
        example = next(m for m in outcomes.dead_lettered.values() if m.reason == reason)
        console.print(f"dead-lettered {count}: {reason} (e.g. {example.message})")
    return OK if len(outcomes.indexed) == total else FAILED


def _fail(message: str, code: int = BAD_ARGUMENTS) -> int:
    errors.print(f"error: {message}", style="red")
    return code
