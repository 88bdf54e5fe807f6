"""Which paintings train the heads and which judge them: the CSV's `in_train`, else a split.

The split is saved beside the model (`split.json`, `{"train": [ids], "validation": [ids]}`), so
`imgsim evaluate` queries with the very paintings the model never trained on.
"""

import json
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final, Literal

from imgsim_vectorizer.training.dataset import (
    IN_TRAIN_COLUMN,
    LabelledPainting,
    LabelledSet,
    TrainingDataError,
)

SPLIT_FILE: Final = "split.json"

SplitKind = Literal["in_train", "stratified"]


@dataclass(frozen=True)
class Split:
    kind: SplitKind
    train: tuple[str, ...]
    validation: tuple[str, ...]
    seed: int | None = None
    validation_fraction: float | None = None
    stratified_by: str | None = None
    # Artists held out whole: every painting of theirs is in the validation split.
    unseen_artists: tuple[str, ...] = ()
    outside: int = 0  # paintings in neither split (an empty in_train cell)

    def keeping(self, ids: Iterable[str]) -> "Split":
        """The split of only these paintings (those whose image decoded)."""
        kept = frozenset(ids)
        return Split(
            self.kind,
            tuple(i for i in self.train if i in kept),
            tuple(i for i in self.validation if i in kept),
            self.seed,
            self.validation_fraction,
            self.stratified_by,
            self.unseen_artists,
            self.outside,
        )

    def save(self, folder: Path) -> Path:
        path = folder / SPLIT_FILE
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")
        return path


def split_paintings(
    labelled: LabelledSet,
    fraction: float,
    seed: int,
    stratify_by: str,
    unseen_artists: float = 0.0,
    artist_column: str = "artist",
) -> Split:
    if labelled.has_in_train:
        return _by_in_train(labelled.paintings)
    if not 0 < fraction < 1:
        raise TrainingDataError(
            f"the metadata has no {IN_TRAIN_COLUMN} column, so a validation fraction between 0 "
            f"and 1 is needed, not {fraction}"
        )
    rng = random.Random(seed)
    held_out = _unseen_artists(labelled.paintings, unseen_artists, stratify_by, artist_column, rng)
    by_class: dict[str, list[str]] = defaultdict(list)
    validation: list[str] = []
    for painting in labelled.paintings:
        if painting.labels.get(artist_column) in held_out:
            validation.append(painting.id)
        else:
            by_class[painting.labels.get(stratify_by, "")].append(painting.id)
    train: list[str] = []
    for label in sorted(by_class):
        ids = sorted(by_class[label])
        rng.shuffle(ids)
        # At least one painting of every class stays in training.
        count = min(int(len(ids) * fraction + 0.5), len(ids) - 1)
        validation += ids[:count]
        train += ids[count:]
    if not validation:
        raise TrainingDataError(
            f"a validation fraction of {fraction} holds out none of the "
            f"{len(labelled.paintings)} paintings: use more paintings or a larger --validation"
        )
    return Split(
        "stratified",
        tuple(sorted(train)),
        tuple(sorted(validation)),
        seed,
        fraction,
        stratify_by,
        tuple(sorted(held_out)),
    )


def _by_in_train(paintings: list[LabelledPainting]) -> Split:
    train = tuple(sorted(p.id for p in paintings if p.in_train is True))
    validation = tuple(sorted(p.id for p in paintings if p.in_train is False))
    if not train or not validation:
        empty = "training" if not train else "validation"
        raise TrainingDataError(
            f"the {IN_TRAIN_COLUMN} column leaves the {empty} split empty "
            f"({len(train)} paintings marked true, {len(validation)} false)"
        )
    outside = sum(1 for p in paintings if p.in_train is None)
    return Split("in_train", train, validation, outside=outside)


def _unseen_artists(
    paintings: list[LabelledPainting],
    fraction: float,
    stratify_by: str,
    artist_column: str,
    rng: random.Random,
) -> set[str]:
    """A fraction of each class's artists (by their most frequent class), held out whole; every
    class keeps at least one artist in training."""
    if fraction <= 0:
        return set()
    if not any(artist_column in p.labels for p in paintings):
        raise TrainingDataError(f"artists cannot be held out: no painting has an {artist_column}")
    classes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for painting in paintings:
        if artist_column in painting.labels:
            artist = painting.labels[artist_column]
            classes[artist][painting.labels.get(stratify_by, "")] += 1
    artists_by_class: dict[str, list[str]] = defaultdict(list)
    for artist, counts in classes.items():
        main = max(sorted(counts), key=lambda label: counts[label])
        artists_by_class[main].append(artist)
    held_out: set[str] = set()
    for label in sorted(artists_by_class):
        artists = sorted(artists_by_class[label])
        rng.shuffle(artists)
        held_out.update(artists[: min(int(len(artists) * fraction + 0.5), len(artists) - 1)])
    return held_out
