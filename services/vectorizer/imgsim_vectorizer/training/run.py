"""What a training run starts from, and what each way of training the heads hands back."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import keras
from imgsim_vision.model import LoadedModel
from imgsim_vision.settings import BackendKind

from imgsim_vectorizer.training.classes import HeadClasses, head_classes
from imgsim_vectorizer.training.dataset import LabelledSet, TrainingDataError
from imgsim_vectorizer.training.features import Extraction, Features, Limits
from imgsim_vectorizer.training.fitting import Labelled
from imgsim_vectorizer.training.pixels import Decoded
from imgsim_vectorizer.training.split import Split

HEAD_COLUMNS: Final = {"genre": "genre", "style": "style", "artist": "artist"}

TowerChoice = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class TrainingOptions:
    limits: Limits
    views: int = 3
    epochs: int | None = None  # None: 60 for heads on the backbone's features, 40 for a tower
    min_class_count: int = 5
    validation: float = 0.2
    seed: int = 0
    artist_head: bool = False
    unseen_artists: float = 0.0
    fresh: bool = False
    backend: BackendKind = "onnx"
    batch_size: int | None = None  # None: by the number of rows
    patience: int = 8
    decode_threads: int = 2
    progress: bool = True
    name: str | None = None
    tower: TowerChoice = "auto"


@dataclass(frozen=True)
class Prepared:
    """What training starts from, whichever way the heads are trained."""

    labelled: LabelledSet
    split: Split
    loaded: LoadedModel
    heads: tuple[str, ...]
    cache_root: Path


@dataclass(frozen=True)
class Fitted:
    """What either way of training hands over to the card and the saved model."""

    split: Split  # of the paintings that decoded
    classes: list[HeadClasses]
    heads_model: keras.Model
    tower: keras.Model | None
    validation: Labelled  # what the heads read of the validation paintings
    epochs: int
    rebalanced: str
    augmented_views: int
    skipped: Mapping[str, str]  # painting id -> why it could not be read
    how: list[str]  # notes on how it was trained
    fit_seconds: float
    extraction: Extraction | None = None
    decoded: Decoded | None = None


def no_paintings_left(split: Split, skipped: int, wanted: int) -> None:
    if not split.train or not split.validation:
        raise TrainingDataError(
            f"{skipped} of {wanted} images could not be read, which leaves "
            f"{len(split.train)} to train on and {len(split.validation)} to validate with"
        )


def classes_of(
    prepared: Prepared, split: Split, min_count: int
) -> tuple[list[HeadClasses], dict[str, Mapping[str, str]]]:
    labels = {p.id: p.labels for p in prepared.labelled.paintings}
    classes = [
        head_classes(
            head,
            HEAD_COLUMNS[head],
            [labels[i] for i in split.train],
            [labels[i] for i in split.validation],
            min_count,
        )
        for head in prepared.heads
    ]
    return classes, labels


def labelled_rows(
    features: Features, classes: Sequence[HeadClasses], labels: Mapping[str, Mapping[str, str]]
) -> Labelled:
    rows = [labels[i] for i in features.ids]
    return Labelled(features.vectors, {h.head: h.indices(rows) for h in classes})
