"""The labelled paintings a model is trained on: the images under a folder and their CSV rows.

Read by the publisher's own rules (`imgsim_vectorizer.publisher`): a painting's id is its path
relative to the folder, its row is found by that path, then by its file name, in the CSV's
`new_filename` column. So the ids of the split are the ids in the index, and `imgsim evaluate`
finds the same paintings.
"""

import csv
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from imgsim_vectorizer import publisher

IN_TRAIN_COLUMN: Final = "in_train"
_TRUE, _FALSE = frozenset({"true", "1", "yes", "t", "y"}), frozenset({"false", "0", "no", "f", "n"})


class TrainingDataError(ValueError):
    """The images or the metadata cannot be trained on; the message says what to fix."""


@dataclass(frozen=True)
class LabelledPainting:
    id: str  # the path relative to the image folder, as published
    path: Path
    labels: Mapping[str, str]  # column -> label, for the head columns the row fills
    in_train: bool | None  # the CSV's in_train; None when it has no such column or cell


@dataclass
class LabelledSet:
    paintings: list[LabelledPainting]
    columns: tuple[str, ...]  # the head columns, in the order of the heads
    metadata_file: str
    has_in_train: bool
    images_without_row: int = 0
    rows_without_image: int = 0
    without_labels: list[str] = field(default_factory=list)  # ids whose row has no head label

    def label_counts(self, column: str) -> Counter[str]:
        return Counter(p.labels[column] for p in self.paintings if column in p.labels)


def csv_columns(metadata: Path) -> list[str]:
    try:
        with metadata.open(newline="", encoding="utf-8-sig") as f:
            return next(csv.reader(f), [])
    except FileNotFoundError as e:
        raise TrainingDataError(f"the metadata CSV {metadata} does not exist") from e
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise TrainingDataError(f"cannot read the metadata CSV {metadata}: {e}") from e


def read_labelled_set(images: Path, metadata: Path, columns: Sequence[str]) -> LabelledSet:
    """Every image under `images` with a CSV row that labels at least one head column."""
    if not images.is_dir():
        raise TrainingDataError(f"{images} is not a folder of images")
    header = csv_columns(metadata)
    missing = [c for c in (publisher.FILENAME_COLUMN, *columns) if c not in header]
    if missing:
        raise TrainingDataError(
            f"{metadata} has no {', '.join(map(repr, missing))} column"
            f"{'s' if len(missing) > 1 else ''}, which training needs "
            f"(its columns: {', '.join(header) or 'none'})"
        )
    try:
        rows = publisher.load_metadata(metadata)
    except (OSError, ValueError) as e:
        raise TrainingDataError(f"cannot read the metadata CSV: {e}") from e
    found = publisher.scan_folder(images)
    if not found.paintings:
        raise TrainingDataError(f"{images} holds no images ({found.unknown_files} other files)")

    labelled = LabelledSet([], tuple(columns), metadata.name, IN_TRAIN_COLUMN in header)
    matched: set[str] = set()
    for painting_id in found.paintings:
        row_key, row = publisher.metadata_row(painting_id, rows)
        if row_key is None or row is None:
            labelled.images_without_row += 1
            continue
        matched.add(row_key)
        labels = {c: str(row[c]) for c in columns if c in row}
        if not labels:
            labelled.without_labels.append(painting_id)
            continue
        flag = _in_train(row.get(IN_TRAIN_COLUMN), painting_id)
        labelled.paintings.append(LabelledPainting(painting_id, images / painting_id, labels, flag))
    labelled.rows_without_image = len(rows.keys() - matched)
    if not labelled.paintings:
        example = next(iter(rows), "none")
        raise TrainingDataError(
            f"none of the {len(found.paintings)} images under {images} has a labelled row in "
            f"{metadata} (its {publisher.FILENAME_COLUMN} names files like {example!r}, the "
            f"images are like {found.paintings[0]!r})"
        )
    return labelled


def _in_train(value: object, painting_id: str) -> bool | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise TrainingDataError(
        f"{IN_TRAIN_COLUMN} of {painting_id} is {value!r}, neither true nor false"
    )
