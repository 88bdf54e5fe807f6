"""How well a head predicts its classes on the validation split."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from imgsim_vectorizer.training.classes import MISSING


@dataclass(frozen=True)
class Accuracy:
    accuracy: float | None  # None: no validation painting has a label for the head
    balanced: float | None  # the mean of the recalls of the classes validation holds


def accuracy(probabilities: npt.NDArray[np.float32], classes: npt.NDArray[np.int64]) -> Accuracy:
    labelled = classes != MISSING
    if not labelled.any():
        return Accuracy(None, None)
    truth = classes[labelled]
    right = probabilities[labelled].argmax(axis=1) == truth
    recalls = [float(right[truth == c].mean()) for c in np.unique(truth)]
    return Accuracy(float(right.mean()), float(np.mean(recalls)))
