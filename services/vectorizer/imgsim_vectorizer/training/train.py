"""`imgsim train` from start to end: labelled paintings, split, what the heads read, heads, card.

The backbone stays frozen. With starting weights worth reading (ImageNet's, a weights file), the
heads are fitted on its features of a few views of every image, computed once and cached. With
random weights, its features tell the heads little, so a small convolutional tower is trained
from the pixels with the heads (`tower_training`). Either way the saved model puts what was
trained on the backbone again: the vectorizer runs one model from pixels to every representation.
"""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import keras
from imgsim_common.model_card import TrainingSummary
from imgsim_vision.model import BackboneSpec, load_backbone, load_trained

from imgsim_vectorizer.training import artefact, frozen, heads, tower_training
from imgsim_vectorizer.training.card import notes, trained_card
from imgsim_vectorizer.training.dataset import read_labelled_set
from imgsim_vectorizer.training.features import Extraction
from imgsim_vectorizer.training.pixels import Decoded
from imgsim_vectorizer.training.run import HEAD_COLUMNS, Prepared
from imgsim_vectorizer.training.run import TowerChoice as TowerChoice
from imgsim_vectorizer.training.run import TrainingOptions as TrainingOptions
from imgsim_vectorizer.training.split import split_paintings

STRATIFY_BY: Final = "style"


@dataclass(frozen=True)
class StartingWeights:
    keras: str  # what the backbone is built with: "imagenet", "random" or a weights file
    card: str  # what the card says
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Trained:
    saved: artefact.SavedModel
    model: keras.Model  # as saved: pixels -> every representation and probabilities
    fit_seconds: float
    extraction: Extraction | None = None  # of the backbone's features, without a tower
    decoded: Decoded | None = None  # the paintings' pixels, with a tower


def tower_wanted(choice: TowerChoice, weights: StartingWeights) -> tuple[bool, str]:
    """Whether to train a tower, and why (for the card)."""
    if choice == "on":
        return True, "--tower on"
    if choice == "off":
        return False, "--tower off"
    if weights.keras == "random":
        return True, "--tower auto: the backbone's weights are random, so its features say little"
    return False, f"--tower auto: the backbone's weights ({weights.card}) are worth reading"


def train(
    images: Path,
    metadata: Path,
    out: Path,
    spec: BackboneSpec,
    weights: StartingWeights,
    options: TrainingOptions,
) -> Trained:
    started = time.perf_counter()
    wanted_heads = ("genre", "style") + (("artist",) if options.artist_head else ())
    columns = [HEAD_COLUMNS[h] for h in wanted_heads]
    extra = ["artist"] if options.unseen_artists > 0 and "artist" not in columns else []
    labelled = read_labelled_set(images, metadata, [*columns, *extra])
    split = split_paintings(
        labelled, options.validation, options.seed, STRATIFY_BY, options.unseen_artists
    )
    prepared = Prepared(
        labelled, split, load_backbone(spec, weights.keras), wanted_heads, out / ".cache"
    )
    with_tower, why = tower_wanted(options.tower, weights)
    if with_tower:
        fitted = tower_training.train_tower(prepared, spec, options, why)
    else:
        fitted = frozen.train_frozen(prepared, spec, options, why, weights.keras == "random")

    name = options.name or f"{spec.name}-paintings"
    model = heads.assemble(
        prepared.loaded.extractor, fitted.heads_model, name.replace("-", "_"), fitted.tower
    )
    labels = {p.id: p.labels for p in labelled.paintings}
    paintings = (
        [labels[i] for i in fitted.split.train],
        [labels[i] for i in fitted.split.validation],
    )
    card = trained_card(
        name,
        model,
        prepared.loaded,
        weights.card,
        fitted.classes,
        fitted.heads_model,
        fitted.validation,
        paintings,
    )
    card = card.model_copy(
        update={
            "notes": notes(
                weights.notes, fitted.how, labelled.images_without_row, fitted.skipped, fitted.split
            ),
            "training": TrainingSummary(
                images=len(fitted.split.train) + len(fitted.split.validation),
                skipped=len(fitted.skipped) + len(labelled.without_labels),
                train=len(fitted.split.train),
                validation=len(fitted.split.validation),
                split=fitted.split.kind,
                augmented_views=fitted.augmented_views,
                epochs=fitted.epochs,
                seconds=round(time.perf_counter() - started, 1),
                metadata=labelled.metadata_file,
                rebalanced=fitted.rebalanced,
            ),
        }
    )
    saved = artefact.save(model, card, fitted.split, out)
    load_trained(saved.folder)  # the folder must load as the vectorizer will load it
    return Trained(saved, model, fitted.fit_seconds, fitted.extraction, fitted.decoded)
