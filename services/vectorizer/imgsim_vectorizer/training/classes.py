"""A head's classes: the labels it predicts, in the order of its outputs, the long tail grouped.

Painter by Numbers has ~136 styles, some with a handful of paintings: a class with fewer
training paintings than the minimum is merged into one "other" class, which the card names.
Labels seen only in the validation split have no training paintings, so they are grouped too.
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from imgsim_vectorizer.training.dataset import TrainingDataError

OTHER: Final = "other"
MISSING: Final = -1  # the class index of a painting whose row has no label for the head


@dataclass(frozen=True)
class HeadClasses:
    head: str
    column: str
    classes: tuple[str, ...]  # in the order of the head's outputs; the other class last
    grouped: tuple[str, ...]
    other_class: str | None
    min_count: int

    def indices(self, labels: Sequence[Mapping[str, str]]) -> npt.NDArray[np.int64]:
        lookup = {c: i for i, c in enumerate(self.classes)}
        other = lookup.get(self.other_class or "", MISSING)
        # A label outside the classes is grouped (or seen only in validation): the other class.
        found = [
            lookup.get(row[self.column], other) if self.column in row else MISSING for row in labels
        ]
        return np.array(found, dtype=np.int64)


def head_classes(
    head: str,
    column: str,
    train: Sequence[Mapping[str, str]],
    validation: Sequence[Mapping[str, str]],
    min_count: int,
) -> HeadClasses:
    counts = Counter(row[column] for row in train if column in row)
    kept = sorted(label for label, n in counts.items() if n >= min_count)
    seen = set(counts) | {row[column] for row in validation if column in row}
    grouped = sorted(seen - set(kept))
    other = None
    if grouped:
        # A real class may be called "other": the group's name must not take its place.
        other = OTHER
        while other in seen:
            other = f"({other})"
    classes = (*kept, other) if other else tuple(kept)
    if len(classes) < 2:
        raise TrainingDataError(
            f"the {head} head would have {len(classes)} class: {len(kept)} {column} labels have "
            f"{min_count} or more training paintings (--min-class-count), "
            f"{len(grouped)} fewer; a classifier needs two"
        )
    return HeadClasses(head, column, classes, tuple(grouped), other, min_count)
