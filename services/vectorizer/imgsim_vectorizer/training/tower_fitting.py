"""Training the tower and the heads together from the pixels, resumably.

The whole model (tower, shared embedding, each head's embedding and classifier) learns from
augmented crops with the multi-task loss, its labels smoothed by 0.1 and its weights decayed
(AdamW): on two sample sets the two together lifted precision@10 same-style of held-out
paintings from 0.917 and 0.876 to 0.949 and 0.946. The learning rate follows a cosine from its
start to zero over the epochs asked for. It stops early when the loss on the whole validation
images (as the vectorizer will see them) stops falling, keeping its best epoch. Stage 2 is the
frozen-backbone path's own (`fitting.rebalance`) on the trained tower's features of the whole
images: the classifiers alone are retrained with class-balanced weights, the embeddings stay.

The stage's state lives in the run's folder: Keras's BackupAndRestore checkpoint while it runs
(each epoch: an epoch costs seconds, a checkpoint of this small model a few milliseconds), its
final weights once it is done, so a run started again goes on where it stopped.
"""

import json
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import keras
import numpy as np
import numpy.typing as npt

from imgsim_vectorizer.training.augmentation import Augmentation, Batches, Images, Pixels
from imgsim_vectorizer.training.classes import HeadClasses
from imgsim_vectorizer.training.fitting import EpochBar, FitOptions, Labelled, rebalance, targets_of
from imgsim_vectorizer.training.heads import probabilities_name
from imgsim_vectorizer.training.tower import TOWER, on_tower, probabilities_only

# An epoch shows every training painting at least once and at least this many crops: on a small
# set one pass is too few steps for the learning rate's schedule to mean anything.
MIN_EPOCH_CROPS: Final = 1000
# The loss that stops training early is measured on at most this many validation paintings (drawn
# at random, seeded): on a large set, measuring every one of them each epoch would cost as much
# as the epoch's training. The card's accuracy is measured on all of them.
MAX_STOPPING_PAINTINGS: Final = 1000
STAGE: Final = "tower"

Features = npt.NDArray[np.float32]


@dataclass(frozen=True)
class TowerOptions:
    epochs: int = 30
    batch_size: int = 32
    patience: int = 15
    learning_rate: float = 2e-3
    label_smoothing: float = 0.1
    weight_decay: float = 0.05  # AdamW's, decoupled from the gradient
    augmentation: Augmentation = Augmentation(crops=(112,))
    seed: int = 0
    progress: bool = True


@dataclass(frozen=True)
class PixelsLabelled:
    pixels: Pixels  # (paintings, size, size, 3) uint8, shared by the splits
    rows: npt.NDArray[np.int64]  # this split's paintings: their rows of `pixels`
    classes: Mapping[str, npt.NDArray[np.int64]]  # head -> class index per painting


@dataclass(frozen=True)
class TowerFitted:
    epochs: int
    crops_per_painting: int  # of the stage's epochs
    rebalanced: str
    train: Labelled  # the trained tower's features of the whole images, with their classes
    validation: Labelled


def fit_tower(
    tower: keras.Model,
    heads_model: keras.Model,
    heads: Sequence[HeadClasses],
    train: PixelsLabelled,
    validation: PixelsLabelled,
    run_dir: Path,
    options: TowerOptions,
) -> TowerFitted:
    run_dir.mkdir(parents=True, exist_ok=True)
    model = on_tower(tower, heads_model)
    repeat = max(1, -(-MIN_EPOCH_CROPS // len(train.rows)))
    epochs = _stage1(model, heads, train, validation, run_dir, repeat, options)
    train_features = Labelled({TOWER: features_of(tower, train)}, train.classes)
    validation_features = Labelled({TOWER: features_of(tower, validation)}, validation.classes)
    rebalanced = rebalance(
        heads_model,
        heads,
        train_features,
        validation_features,
        run_dir,
        FitOptions(epochs=60, patience=8, progress=options.progress),
    )
    return TowerFitted(epochs, epochs * repeat, rebalanced, train_features, validation_features)


def features_of(tower: keras.Model, data: PixelsLabelled, batch_size: int = 64) -> Features:
    """The tower's features of whole images, a batch at a time (a large set stays uint8)."""
    parts = [
        np.asarray(tower.predict_on_batch(images)) for images in _whole_images(data, batch_size)
    ]
    features: Features = np.concatenate(parts).astype(np.float32)
    return features


def _stage1(
    model: keras.Model,
    heads: Sequence[HeadClasses],
    train: PixelsLabelled,
    validation: PixelsLabelled,
    run_dir: Path,
    repeat: int,
    options: TowerOptions,
) -> int:
    done = run_dir / f"{STAGE}.weights.h5"
    record = run_dir / f"{STAGE}.json"
    if done.is_file() and record.is_file():
        model.load_weights(done)
        epochs: int = json.loads(record.read_text())["epochs"]
        return epochs
    names = [probabilities_name(h.head) for h in heads]
    trained = probabilities_only(model, names)
    targets, weights = targets_of(heads, train.classes)
    batches = Batches(
        train.pixels,
        train.rows,
        targets,
        weights,
        options.batch_size,
        options.augmentation,
        repeat,
        options.seed,
    )
    schedule = keras.optimizers.schedules.CosineDecay(
        options.learning_rate, options.epochs * len(batches)
    )
    trained.compile(
        keras.optimizers.AdamW(schedule, weight_decay=options.weight_decay),
        loss={
            probabilities_name(h.head): _smoothed(len(h.classes), options.label_smoothing)
            for h in heads
        },
    )
    backup = run_dir / f"{STAGE}-backup"
    history = trained.fit(
        batches,
        validation_data=_Whole(_some(validation, options.seed), heads, options.batch_size * 2),
        epochs=options.epochs,
        verbose=0,
        callbacks=[
            keras.callbacks.BackupAndRestore(str(backup)),
            keras.callbacks.EarlyStopping(
                "val_loss", patience=options.patience, restore_best_weights=True
            ),
            EpochBar("the tower and the heads", options.epochs, options.progress),
        ],
    )
    epochs = history.epoch[-1] + 1 if history.epoch else 0
    model.save_weights(done)
    record.write_text(json.dumps({"epochs": epochs}))
    shutil.rmtree(backup, ignore_errors=True)
    return epochs


def _some(data: PixelsLabelled, seed: int) -> PixelsLabelled:
    if len(data.rows) <= MAX_STOPPING_PAINTINGS:
        return data
    rng = np.random.default_rng(seed)
    kept = np.sort(rng.choice(len(data.rows), MAX_STOPPING_PAINTINGS, replace=False))
    return PixelsLabelled(
        data.pixels, data.rows[kept], {head: c[kept] for head, c in data.classes.items()}
    )


def _smoothed(classes: int, smoothing: float) -> Callable[[Any, Any], Any]:
    """Cross-entropy on class indices with label smoothing, which Keras's sparse one lacks."""

    def loss(indices: Any, probabilities: Any) -> Any:
        ops = keras.ops
        wanted = ops.one_hot(ops.cast(ops.reshape(indices, (-1,)), "int32"), classes)
        return keras.losses.categorical_crossentropy(
            wanted, probabilities, label_smoothing=smoothing
        )

    return loss


def _whole_images(data: PixelsLabelled, batch_size: int) -> Iterator[Images]:
    for start in range(0, len(data.rows), batch_size):
        yield _whole(data, slice(start, start + batch_size))


def _whole(data: PixelsLabelled, rows: slice) -> Images:
    return data.pixels[data.rows[rows]].astype(np.float32)


class _Whole(keras.utils.PyDataset):  # type: ignore[misc]  # keras has no type information
    """The validation paintings whole, a batch at a time, with their targets."""

    def __init__(self, data: PixelsLabelled, heads: Sequence[HeadClasses], batch_size: int) -> None:
        super().__init__()
        self.data = data
        self.targets, self.weights = targets_of(heads, data.classes)
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.data.rows) // self.batch_size)

    def __getitem__(self, index: int) -> tuple[Images, dict[str, Any], dict[str, Any]]:
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return (
            _whole(self.data, rows),
            {name: values[rows] for name, values in self.targets.items()},
            {name: values[rows] for name, values in self.weights.items()},
        )
