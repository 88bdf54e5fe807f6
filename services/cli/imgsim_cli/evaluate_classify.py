"""Classification accuracy per head, measured here (`imgsim evaluate --classify`): the trained
model run over the query paintings, decoded as ingestion decodes them.

The card already gives each head's accuracy on the training run's validation split; this is for
a set the model was not validated on (another CSV, a test split), where the card cannot say.
"""

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from imgsim_common.model_card import Head

from imgsim_cli.evaluate_set import LabelledSet

BATCH = 32
MISSING = -1  # a painting whose row has no label the head knows


def class_indices(head: Head, rows: Sequence[Mapping[str, str]]) -> npt.NDArray[np.int64]:
    """Each row's class for the head, by the training's rule: a label the head does not list
    counts as its other class (grouped, or seen only in validation), else as missing."""
    lookup = {c.name: i for i, c in enumerate(head.classes)}
    other = lookup.get(head.other_class or "", MISSING)
    return np.array(
        [lookup.get(row[head.column], other) if head.column in row else MISSING for row in rows],
        dtype=np.int64,
    )


def accuracy(predicted: npt.NDArray[np.int64], truth: npt.NDArray[np.int64]) -> dict[str, Any]:
    """Accuracy and balanced accuracy (the mean recall of the classes present) of the labelled."""
    labelled = truth != MISSING
    if not labelled.any():
        return {"accuracy": None, "balanced_accuracy": None, "paintings": 0}
    right = predicted[labelled] == truth[labelled]
    recalls = [float(right[truth[labelled] == c].mean()) for c in np.unique(truth[labelled])]
    return {
        "accuracy": float(right.mean()),
        "balanced_accuracy": float(np.mean(recalls)),
        "paintings": int(labelled.sum()),
    }


def classify(
    model_dir: Path,
    image_root: Path,
    labelled: LabelledSet,
    ids: Sequence[str],
    advance: Callable[[], None] = lambda: None,
) -> tuple[list[dict[str, Any]], int]:
    """Per head: its accuracy on `ids`; and how many images could not be decoded."""
    # TensorFlow and the decoder, only when asked: the rest of the evaluation needs neither.
    from imgsim_common.rejections import ImageRejected
    from imgsim_vectorizer.settings import VectorizerSettings
    from imgsim_vision import model
    from imgsim_vision.images import decode_image

    limits = VectorizerSettings.model_fields  # the worker's own, so this sees what it sees
    max_bytes, max_pixels = limits["max_file_bytes"].default, limits["max_pixels"].default
    loaded = model.load_trained(model_dir)
    heads = loaded.card.heads
    predicted: dict[str, list[int]] = {h.name: [] for h in heads}
    decoded_ids: list[str] = []
    rejected = 0
    for start in range(0, len(ids), BATCH):
        pixels = []
        for painting_id in ids[start : start + BATCH]:
            try:
                image = decode_image(
                    image_root / painting_id, loaded.input_size, max_bytes, max_pixels
                )
            except ImageRejected:
                rejected += 1
                continue
            pixels.append(image.pixels)
            decoded_ids.append(painting_id)
        if pixels:
            outputs = loaded.extractor.predict_on_batch(np.stack(pixels))
            for head in heads:
                probabilities = np.asarray(outputs[f"{head.name}_probabilities"])
                predicted[head.name].extend(probabilities.argmax(axis=1).tolist())
        advance()
    rows = [labelled.paintings[i].row for i in decoded_ids]
    return [
        {
            "name": head.name,
            "column": head.column,
            "classes": len(head.classes),
            **accuracy(np.array(predicted[head.name], dtype=np.int64), class_indices(head, rows)),
        }
        for head in heads
    ], rejected
