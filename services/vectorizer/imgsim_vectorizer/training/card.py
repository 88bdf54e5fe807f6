"""The card of a trained model: what it produces, its heads' classes and accuracy, how it was made.

Class counts are of paintings (not of their views); accuracy is measured on the validation split,
whose paintings the heads never trained on.
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import keras
import numpy as np
import numpy.typing as npt
from imgsim_common.model_card import Head, HeadClass, ModelCard, RepresentationCard
from imgsim_vision.model import LoadedModel, weights_version

from imgsim_vectorizer.training import heads
from imgsim_vectorizer.training.accuracy import accuracy
from imgsim_vectorizer.training.classes import MISSING, HeadClasses
from imgsim_vectorizer.training.fitting import Labelled
from imgsim_vectorizer.training.split import Split

Labels = Sequence[Mapping[str, str]]


def trained_card(
    name: str,
    model: keras.Model,
    loaded: LoadedModel,
    weights: str,
    classes: Sequence[HeadClasses],
    heads_model: keras.Model,
    validation: Labelled,
    paintings: tuple[Labels, Labels],
) -> ModelCard:
    """The card without its training summary and notes; class counts are of paintings."""
    predicted = heads_model.predict(dict(validation.features), batch_size=256, verbose=0)
    head_cards = []
    for head in classes:
        scores = accuracy(
            predicted[heads.probabilities_name(head.head)], validation.classes[head.head]
        )
        head_cards.append(
            Head(
                name=head.head,
                column=head.column,
                classes=[
                    HeadClass(name=c, train=n, validation=v)
                    for c, n, v in zip(
                        head.classes,
                        _counts(head.indices(paintings[0]), len(head.classes)),
                        _counts(head.indices(paintings[1]), len(head.classes)),
                        strict=True,
                    )
                ],
                min_count=head.min_count,
                grouped=list(head.grouped),
                other_class=head.other_class,
                accuracy=scores.accuracy,
                balanced_accuracy=scores.balanced,
                representation=heads.embedding_name(head.head),
            )
        )
    backbone = [
        RepresentationCard(name=r.name, dims=r.dims, description=r.description, source="backbone")
        for r in loaded.card.representations
    ]
    return ModelCard(
        name=name,
        version=weights_version(model),
        backbone=loaded.card.backbone,
        input_size=loaded.card.input_size,
        weights=weights,
        representations=[
            *backbone,
            heads.layout_representation(),
            *heads.trained_representations(classes),
        ],
        heads=head_cards,
        created=datetime.now(UTC).replace(microsecond=0),
    )


def _counts(classes: npt.NDArray[np.int64], count: int) -> list[int]:
    return [int(n) for n in np.bincount(classes[classes != MISSING], minlength=count)]


def notes(
    weights: Sequence[str],
    how: Sequence[str],
    images_without_row: int,
    skipped: Mapping[str, str],
    split: Split,
) -> list[str]:
    found = [*weights, *how]
    if split.unseen_artists:
        found.append(
            f"{len(split.unseen_artists)} artists held out whole (validation only): "
            + ", ".join(split.unseen_artists[:20])
            + (" ..." if len(split.unseen_artists) > 20 else "")
        )
    if split.outside:
        found.append(f"{split.outside} paintings have no in_train value and were not used")
    if images_without_row:
        found.append(f"{images_without_row} images have no row in the metadata")
    if skipped:
        first = next(iter(skipped.items()))
        found.append(f"{len(skipped)} images could not be read (e.g. {first[0]}: {first[1]})")
    return found
