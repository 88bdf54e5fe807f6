"""The trained model as a versioned artefact: `<out>/<name>-<version>/` with the model, its card
and its split.

The version is a hash of the saved model's weights (`imgsim_vision.model.weights_version`), the
same hash the vectorizer checks the card against when it loads the folder. The folder is written
under a temporary name and renamed into place, so a folder with a version in its name is whole.
"""

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import keras
from imgsim_common.model_card import MODEL_FILE, ModelCard
from imgsim_vision.model import weights_version

from imgsim_vectorizer.training.split import Split


@dataclass(frozen=True)
class SavedModel:
    folder: Path
    card: ModelCard


def save(model: keras.Model, card: ModelCard, split: Split, out: Path) -> SavedModel:
    """Writes the folder; `card.version` must be the model's weights hash."""
    if card.version != weights_version(model):
        raise ValueError("the card's version is not the hash of the model's weights")
    out.mkdir(parents=True, exist_ok=True)
    folder = out / f"{card.name}-{card.version}"
    partial = out / f".{folder.name}.{uuid.uuid4().hex}.partial"
    partial.mkdir()
    try:
        model.save(partial / MODEL_FILE)
        card.save(partial)
        split.save(partial)
        if folder.exists():
            # The same version is the same weights: only the card's date and notes may differ.
            shutil.rmtree(folder)
        os.replace(partial, folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return SavedModel(folder, card)
