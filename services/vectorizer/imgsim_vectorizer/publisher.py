"""Turns a folder of paintings into one `image-paths` record per image, keyed by painting id."""

import csv
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Final, Protocol

from confluent_kafka import KafkaError
from imgsim_common import contract
from imgsim_common.image_formats import IMAGE_SUFFIXES
from imgsim_common.records import ImagePathRecord, MetadataValue
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

# Painter by Numbers' `all_data_info.csv` names each image in this column.
FILENAME_COLUMN: Final = "new_filename"
HEADER: Final = contract.version_header(contract.IMAGE_PATHS_VERSION)
# A year on its own, not part of a longer number: "c.1890", "1890.0", "1885-1890" (the first).
_YEAR = re.compile(r"(?<!\d)\d{4}(?!\d)")

Metadata = dict[str, MetadataValue]


class RecordProducer(Protocol):
    """What `publish` needs of `confluent_kafka.Producer`; tests pass a fake."""

    def produce(
        self,
        topic: str,
        *,
        key: bytes,
        value: bytes,
        headers: list[tuple[str, str | bytes | None]],
        on_delivery: Callable[[KafkaError | None, Any], None],
    ) -> None: ...

    def poll(self, timeout: float) -> int: ...

    def flush(self, timeout: float = ...) -> int: ...


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass
class Scan:
    """The images under a root, as ids: paths relative to it, posix style."""

    paintings: list[str] = field(default_factory=list)
    unknown_files: int = 0
    skipped: list[Skipped] = field(default_factory=list)


@dataclass
class PublishSummary:
    published: int = 0
    failed: int = 0
    first_error: str | None = None
    unknown_files: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    without_metadata: int = 0
    csv_rows_without_image: int = 0


def year_of(date: str) -> int | None:
    match = _YEAR.search(date)
    return int(match.group()) if match else None


def load_metadata(csv_path: Path) -> dict[str, Metadata]:
    """Rows by file name; empty cells are left out, `year` is added when `date` holds one."""
    rows: dict[str, Metadata] = {}
    # utf-8-sig: spreadsheet exports often start with a byte order mark.
    with csv_path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        try:
            if reader.fieldnames is None or FILENAME_COLUMN not in reader.fieldnames:
                raise ValueError(
                    f"{csv_path} has no {FILENAME_COLUMN!r} column, which names each image "
                    f"(columns: {', '.join(reader.fieldnames or []) or 'none'})"
                )
            for row in reader:
                filename = (row.get(FILENAME_COLUMN) or "").strip()
                if filename:
                    rows[filename] = _painting_metadata(row)
        except (UnicodeDecodeError, csv.Error) as e:
            raise ValueError(f"{csv_path}, line {reader.line_num}: {e}") from e
    return rows


def _painting_metadata(row: Mapping[str | None, str | list[str] | None]) -> Metadata:
    metadata: Metadata = {}
    for column, cell in row.items():
        # Cells beyond the header come under the key None; short rows give None cells.
        if column is None or column == FILENAME_COLUMN or not isinstance(cell, str):
            continue
        if value := cell.strip():
            metadata[column] = value
    date = metadata.get("date")
    if isinstance(date, str) and (year := year_of(date)) is not None:
        metadata["year"] = year
    return metadata


def scan_folder(root: Path) -> Scan:
    found = Scan()
    # os.walk does not follow symlinked folders, so a link loop cannot make it run forever.
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for filename in filenames:
            if filename.startswith("."):
                continue
            relative = Path(folder, filename).relative_to(root).as_posix()
            if _is_image(relative):
                found.paintings.append(relative)
            else:
                found.unknown_files += 1
    # Sorted as a whole, so the order (and every rerun) does not depend on the file system.
    found.paintings.sort()
    return found


def read_list(root: Path, list_file: Path) -> Scan:
    """The images a list file names, one path relative to `root` per line."""
    found = Scan()
    seen: set[str] = set()
    for line in list_file.read_text(encoding="utf-8-sig").splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        path = PurePosixPath(entry)
        if path.is_absolute() or ".." in path.parts:
            # The vectorizer reads only below its image root; such a record would be refused.
            found.skipped.append(Skipped(entry, "outside the image root"))
        elif path.as_posix() in seen:
            found.skipped.append(Skipped(entry, "listed more than once"))
        elif not (root / path).exists():
            found.skipped.append(Skipped(entry, "no such file"))
        elif not (root / path).is_file():
            found.skipped.append(Skipped(entry, "not a regular file"))
        elif not _is_image(entry):
            found.unknown_files += 1
        else:
            seen.add(path.as_posix())
            found.paintings.append(path.as_posix())
    return found


def scan(root: Path, list_file: Path | None = None) -> Scan:
    return scan_folder(root) if list_file is None else read_list(root, list_file)


def _is_image(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in IMAGE_SUFFIXES


def publish(
    producer: RecordProducer,
    topic: str,
    found: Scan,
    metadata: Mapping[str, Metadata] | None = None,
    *,
    progress: bool = False,
) -> PublishSummary:
    """Produces a record per image, then flushes; `published` counts acknowledged records.

    The key is the painting id, so publishing a folder again replaces rather than duplicates:
    the vectorizer's output and the index are keyed by the same id.
    """
    summary = PublishSummary(unknown_files=found.unknown_files, skipped=list(found.skipped))
    matched: set[str] = set()
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not progress,
    )
    task = bar.add_task("publishing", total=len(found.paintings))

    def delivered(error: KafkaError | None, _message: Any) -> None:
        if error is None:
            summary.published += 1
        else:
            summary.failed += 1
            summary.first_error = summary.first_error or error.str()
        bar.advance(task)

    with bar:
        for painting_id in found.paintings:
            row_key, row = metadata_row(painting_id, metadata)
            try:
                key = painting_id.encode("utf-8")
                value = ImagePathRecord(id=painting_id, path=painting_id, metadata=row or {})
            except (UnicodeEncodeError, ValidationError) as e:
                # One line, as the summary prints it ("id: String should have at most ..."), not
                # pydantic's several with a link.
                reason = (
                    "name is not valid UTF-8"
                    if isinstance(e, UnicodeEncodeError)
                    else "; ".join(
                        f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()
                    )
                )
                summary.skipped.append(Skipped(painting_id, reason))
                bar.advance(task)
                continue
            if row_key is not None:
                matched.add(row_key)
            elif metadata is not None:
                summary.without_metadata += 1
            _produce(producer, topic, key, value.model_dump_json().encode(), delivered)
        # Blocks until every record is acknowledged or has failed (delivery.timeout.ms).
        undelivered = producer.flush()
    if undelivered:
        summary.failed += undelivered
        summary.first_error = summary.first_error or f"{undelivered} records still queued"
    if metadata is not None:
        summary.csv_rows_without_image = len(metadata.keys() - matched)
    return summary


def metadata_row(
    painting_id: str, metadata: Mapping[str, Metadata] | None
) -> tuple[str | None, Metadata | None]:
    """The CSV row of a painting: by its relative path first, then by its file name."""
    if metadata is None:
        return None, None
    for row_key in (painting_id, PurePosixPath(painting_id).name):
        row = metadata.get(row_key)
        if row is not None:
            return row_key, row
    return None, None


def _produce(
    producer: RecordProducer,
    topic: str,
    key: bytes,
    value: bytes,
    delivered: Callable[[KafkaError | None, Any], None],
) -> None:
    while True:
        try:
            producer.produce(topic, key=key, value=value, headers=[HEADER], on_delivery=delivered)
            break
        except BufferError:
            # The local queue is full: serve delivery reports until there is room again.
            producer.poll(0.5)
    # Delivery callbacks run only inside poll() and flush().
    producer.poll(0)
