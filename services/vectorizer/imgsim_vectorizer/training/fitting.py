"""Fitting the heads on cached features, in two stages, each resumable.

Stage 1 trains every trained layer with the plain loss: the embeddings learn from the data as it
is. Stage 2 freezes them and retrains only the softmax classifiers with class-balanced weights
(decoupled classifier retraining, Kang et al. 2020), which helps the rare classes without
bending the embeddings the vectors come from towards them. Both stop early on the validation
loss and keep their best epoch.

A stage's state is kept in the run's folder: Keras's BackupAndRestore checkpoint while it runs,
its final weights once it is done, so a run started again goes on where it stopped.
"""

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import keras
import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from imgsim_vectorizer.training.classes import MISSING, HeadClasses
from imgsim_vectorizer.training.heads import classifiers_only, probabilities_name

# Above this ratio of a head's largest to smallest class, the classifiers are rebalanced.
IMBALANCE: Final = 1.5
MAX_CLASS_WEIGHT: Final = 100.0
# From this many rows on, larger batches compiled by XLA: 2x faster per epoch on 2 cores at 30,000
# rows; below it, XLA's compilation costs more than it saves.
LARGE: Final = 8192
BACKUP_EVERY: Final = 5  # epochs: a checkpoint costs ~0.1 s, and an epoch less than that

FeatureArrays = Mapping[str, npt.NDArray[np.float32]]


@dataclass(frozen=True)
class Labelled:
    features: FeatureArrays
    classes: Mapping[str, npt.NDArray[np.int64]]  # head -> class index per row (MISSING: none)


@dataclass(frozen=True)
class FitOptions:
    epochs: int
    batch_size: int | None = None  # None: 64, or 256 for a large set
    patience: int = 8
    learning_rate: float = 1e-3
    progress: bool = True


@dataclass(frozen=True)
class Fitted:
    epochs: int  # of stage 1
    rebalanced: str


def fit(
    heads_model: keras.Model,
    heads: Sequence[HeadClasses],
    train: Labelled,
    validation: Labelled,
    run_dir: Path,
    options: FitOptions,
) -> Fitted:
    run_dir.mkdir(parents=True, exist_ok=True)
    plain = {h.head: np.ones(len(h.classes)) for h in heads}
    epochs = _stage(heads_model, heads, "stage1", plain, train, validation, run_dir, options)
    return Fitted(epochs, rebalance(heads_model, heads, train, validation, run_dir, options))


def rebalance(
    heads_model: keras.Model,
    heads: Sequence[HeadClasses],
    train: Labelled,
    validation: Labelled,
    run_dir: Path,
    options: FitOptions,
) -> str:
    """Stage 2, when a head's classes are unbalanced; says what it did, for the card."""
    run_dir.mkdir(parents=True, exist_ok=True)
    ratios = {h.head: _imbalance(train.classes[h.head], len(h.classes)) for h in heads}
    unbalanced = [head for head, ratio in ratios.items() if ratio > IMBALANCE]
    if not unbalanced:
        return f"not rebalanced: every head's classes are within {IMBALANCE}:1"
    balanced = {h.head: _class_weights(train.classes[h.head], len(h.classes)) for h in heads}
    classifiers_only(heads_model, heads)
    _stage(heads_model, heads, "stage2", balanced, train, validation, run_dir, options)
    worst = ", ".join(f"{head} {ratios[head]:.0f}:1" for head in unbalanced)
    return (
        "decoupled classifier retraining: embeddings trained with the plain loss, then the "
        f"softmax classifiers alone retrained with class-balanced weights (imbalance {worst})"
    )


def _stage(
    heads_model: keras.Model,
    heads: Sequence[HeadClasses],
    stage: str,
    class_weights: Mapping[str, npt.NDArray[np.float64]],
    train: Labelled,
    validation: Labelled,
    run_dir: Path,
    options: FitOptions,
) -> int:
    done = run_dir / f"{stage}.weights.h5"
    record = run_dir / f"{stage}.json"
    if done.is_file() and record.is_file():
        heads_model.load_weights(done)
        epochs: int = json.loads(record.read_text())["epochs"]
        return epochs
    outputs = {
        probabilities_name(h.head): heads_model.output[probabilities_name(h.head)] for h in heads
    }
    model = keras.Model(heads_model.input, outputs, name=f"heads_{stage}")
    rows = len(next(iter(train.features.values())))
    batch_size = options.batch_size or (256 if rows >= LARGE else 64)
    model.compile(
        keras.optimizers.Adam(options.learning_rate),
        loss={name: "sparse_categorical_crossentropy" for name in outputs},
        jit_compile=rows >= LARGE,
    )
    what = "heads" if stage == "stage1" else "classifiers, rebalanced"
    progress = EpochBar(what, options.epochs, options.progress)
    targets, weights = targets_of(heads, train.classes, class_weights)
    checked = targets_of(heads, validation.classes, class_weights)
    history = model.fit(
        dict(train.features),
        targets,
        sample_weight=weights,
        validation_data=(dict(validation.features), *checked),
        epochs=options.epochs,
        batch_size=batch_size,
        verbose=0,
        callbacks=[
            keras.callbacks.BackupAndRestore(
                str(run_dir / f"{stage}-backup"),
                save_freq=BACKUP_EVERY * -(-rows // batch_size),
            ),
            keras.callbacks.EarlyStopping(
                "val_loss", patience=options.patience, restore_best_weights=True
            ),
            progress,
        ],
    )
    # Epoch numbers count from the start of the stage, also when it resumed from a backup.
    epochs = history.epoch[-1] + 1 if history.epoch else 0
    heads_model.save_weights(done)
    record.write_text(json.dumps({"epochs": epochs}))
    shutil.rmtree(run_dir / f"{stage}-backup", ignore_errors=True)
    return epochs


def targets_of(
    heads: Sequence[HeadClasses],
    classes_of: Mapping[str, npt.NDArray[np.int64]],
    class_weights: Mapping[str, npt.NDArray[np.float64]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each head's classes and sample weights (1 without class weights); a row without a label
    weighs nothing."""
    targets: dict[str, Any] = {}
    weights: dict[str, Any] = {}
    for head in heads:
        classes = classes_of[head.head]
        labelled = classes != MISSING
        name = probabilities_name(head.head)
        targets[name] = np.where(labelled, classes, 0)
        weight = np.ones(len(head.classes)) if class_weights is None else class_weights[head.head]
        weights[name] = np.where(labelled, weight[np.maximum(classes, 0)], 0.0)
    return targets, weights


def _imbalance(classes: npt.NDArray[np.int64], count: int) -> float:
    counts = np.bincount(classes[classes != MISSING], minlength=count)
    return float(counts.max() / max(1, counts.min()))


def _class_weights(classes: npt.NDArray[np.int64], count: int) -> npt.NDArray[np.float64]:
    counts = np.bincount(classes[classes != MISSING], minlength=count).astype(np.float64)
    weights: npt.NDArray[np.float64] = counts.sum() / (count * np.maximum(counts, 1.0))
    return np.minimum(weights, MAX_CLASS_WEIGHT)


class EpochBar(keras.callbacks.Callback):  # type: ignore[misc]  # keras has no type information
    def __init__(self, what: str, epochs: int, enabled: bool) -> None:
        super().__init__()
        self._bar = Progress(
            TextColumn(f"training {what}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("epochs  validation loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=not enabled,
        )
        self._task = self._bar.add_task(what, total=epochs, loss="-")

    def on_train_begin(self, logs: Mapping[str, float] | None = None) -> None:
        self._bar.start()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        loss = (logs or {}).get("val_loss")
        self._bar.update(self._task, completed=epoch + 1, loss=f"{loss:.3f}" if loss else "-")

    def on_train_end(self, logs: Mapping[str, float] | None = None) -> None:
        self._bar.stop()
