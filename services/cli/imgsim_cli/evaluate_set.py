"""The labelled set an evaluation runs on: the paintings with a CSV row, their labels, the split.

The images and their rows are found by the publisher's own rules (`evaluate_run.load_set` calls
`imgsim_vectorizer.publisher`): a painting's id is its path relative to the folder, and its row
is found by that path, then by its file name. So the ids here are the ids in the index, and the
ids of the training command's `split.json`.
"""

import json
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

LABELS: Final = ("style", "genre", "artist")
SPLIT_FILE: Final = "split.json"
IN_TRAIN_COLUMN: Final = "in_train"
TRUE, FALSE = frozenset({"true", "1", "yes", "t", "y"}), frozenset({"false", "0", "no", "f", "n"})

SplitSource = Literal["in_train", "split.json", "none"]


@dataclass(frozen=True)
class Painting:
    id: str
    labels: Mapping[str, str]  # of LABELS, those the row has
    train: bool | None = None  # None: the split does not say
    row: Mapping[str, str] = field(default_factory=dict)  # every cell, for a head's column


@dataclass
class LabelledSet:
    paintings: dict[str, Painting]
    queries: list[str]  # the held-out paintings searched by, in a stable order
    split: SplitSource
    held_out: int = 0  # queries before any sampling
    images_without_row: int = 0
    missing: list[str] = field(default_factory=list)  # from the index
    notes: list[str] = field(default_factory=list)

    def seen_artists(self) -> frozenset[str]:
        """Artists with at least one painting in the train split."""
        return frozenset(
            p.labels["artist"] for p in self.paintings.values() if p.train and "artist" in p.labels
        )

    def label_counts(self, ids: frozenset[str] | set[str], label: str) -> Counter[str]:
        return Counter(
            self.paintings[i].labels[label] for i in ids if label in self.paintings[i].labels
        )

    def summary(self, candidates: int) -> dict[str, Any]:
        seen = self.seen_artists()
        by_unseen = sum(
            1 for q in self.queries if self.paintings[q].labels.get("artist") not in seen
        )
        return {
            "paintings": len(self.paintings),
            "images_without_row": self.images_without_row,
            "split": self.split,
            "held_out": self.held_out,
            "queries": len(self.queries),
            "candidates": candidates,
            "missing_from_index": len(self.missing),
            "seen_artists": len(seen),
            "queries_by_unseen_artists": by_unseen if self.split != "none" else None,
            "notes": self.notes,
        }

    def sample_queries(self, count: int | None, seed: int) -> None:
        """Keeps `count` queries drawn with `seed` (all of them when None or more)."""
        if count is not None and count < len(self.queries):
            self.queries = sorted(random.Random(seed).sample(self.queries, count))


def _flag(value: object, painting_id: str) -> bool:
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(f"{IN_TRAIN_COLUMN} of {painting_id} is {value!r}, neither true nor false")


def labelled_set(
    rows: Mapping[str, Mapping[str, object]], images: int, model_dir: Path | None = None
) -> LabelledSet:
    """The paintings of `rows` (painting id -> its CSV row, of `images` images found) and the
    held-out split to query with: the rows whose `in_train` is false; else the validation ids of
    the model's `split.json`; else every painting. Raises ValueError for an unreadable split."""
    split_file = model_dir / SPLIT_FILE if model_dir is not None else None
    if any(IN_TRAIN_COLUMN in row for row in rows.values()):
        split: SplitSource = "in_train"
        train = {
            i: _flag(row[IN_TRAIN_COLUMN], i) if IN_TRAIN_COLUMN in row else None
            for i, row in rows.items()
        }
    elif split_file is not None and split_file.is_file():
        split = "split.json"
        train = _split_file(split_file, frozenset(rows))
    else:
        split, train = "none", dict.fromkeys(rows)
    paintings = {
        i: Painting(
            i,
            {n: str(row[n]) for n in LABELS if n in row},
            train[i],
            {column: str(value) for column, value in row.items()},
        )
        for i, row in rows.items()
    }
    queries = sorted(i for i, p in paintings.items() if p.train is False or split == "none")
    result = LabelledSet(paintings, queries, split, len(queries), images - len(rows))
    if split == "none":
        result.notes.append(
            "no split (no in_train column, no split.json): every painting is a query, and no "
            "artist counts as seen or unseen"
        )
    unsplit = sum(1 for p in paintings.values() if p.train is None) if split != "none" else 0
    if unsplit:
        result.notes.append(f"{unsplit} paintings are in neither split and are never queries")
    if split != "none" and not queries:
        raise ValueError(f"the {split} split holds out none of the {len(paintings)} paintings")
    return result


def _split_file(path: Path, ids: frozenset[str]) -> dict[str, bool | None]:
    try:
        split = json.loads(path.read_text())
        train, validation = set(split["train"]), set(split["validation"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(
            f'{path} is not a split {{"train": [ids], "validation": [ids]}}: {e}'
        ) from e
    if not validation & ids:
        raise ValueError(f"none of the validation ids of {path} is an image of this set")
    return {i: True if i in train else False if i in validation else None for i in ids}


def read_labelled_set(images: Path, metadata: Path, model_dir: Path | None) -> LabelledSet:
    """The labelled set of a folder and its CSV; ValueError or OSError saying what is wrong."""
    # The publisher's rules for ids and rows; imported here, as `imgsim ingest` imports it.
    from imgsim_vectorizer import publisher

    if not images.is_dir():
        raise ValueError(f"{images} is not a folder")
    rows = publisher.load_metadata(metadata)
    found = publisher.scan(images)
    by_id = {
        painting_id: row
        for painting_id in found.paintings
        if (row := publisher.metadata_row(painting_id, rows)[1]) is not None
    }
    if not by_id:
        raise ValueError(
            f"none of the {len(found.paintings)} images under {images} has a row in {metadata}"
        )
    return labelled_set(by_id, len(found.paintings), model_dir)
