"""Training the tower with the heads from the pixels: it learns, resumes, then rebalances."""

from pathlib import Path

import keras
import numpy as np
import pytest
from imgsim_vectorizer.training import fitting, heads, tower_fitting
from imgsim_vectorizer.training.augmentation import Augmentation
from imgsim_vectorizer.training.classes import HeadClasses
from imgsim_vectorizer.training.tower import TOWER, TowerShape, build_tower
from imgsim_vectorizer.training.tower_fitting import PixelsLabelled, TowerOptions, fit_tower

pytestmark = pytest.mark.slow  # about twenty seconds: Keras traces each model anew

SHAPE = TowerShape(widths=(8, 16))
SIZE = 16


def head(name: str, count: int) -> HeadClasses:
    return HeadClasses(name, name, tuple(f"{name}{i}" for i in range(count)), (), None, 1)


def painted(counts: list[int], seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Style 0 is vertical stripes, style 1 horizontal ones, each in random colours; the genre is
    whether the stripes are fine or broad."""
    rng = np.random.default_rng(seed)
    style = np.repeat(np.arange(len(counts)), counts)
    genre = rng.integers(0, 2, len(style))
    pixels = np.empty((len(style), SIZE, SIZE, 3), np.uint8)
    line = np.arange(SIZE)
    for row, (s, g) in enumerate(zip(style, genre, strict=True)):
        stripes = ((line // (2 if g else 4)) % 2).astype(np.float64)
        pattern = np.tile(stripes, (SIZE, 1)) if s == 0 else np.tile(stripes[:, None], (1, SIZE))
        low, high = rng.uniform(0, 120, 3), rng.uniform(135, 255, 3)
        pixels[row] = (low + pattern[..., None] * (high - low)).astype(np.uint8)
    return pixels, {"style": style, "genre": genre}


def split(counts: list[int], seed: int) -> PixelsLabelled:
    pixels, classes = painted(counts, seed)
    return PixelsLabelled(pixels, np.arange(len(pixels)), classes)


def models(classes: list[HeadClasses]) -> tuple[keras.Model, keras.Model]:
    keras.utils.set_random_seed(0)
    return build_tower(SHAPE), heads.build_heads({TOWER: SHAPE.features}, classes, None)


OPTIONS = TowerOptions(epochs=6, patience=100, augmentation=Augmentation((12,)), progress=False)


def test_the_tower_learns_resumes_where_it_stopped_and_rebalances(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tower_fitting, "MIN_EPOCH_CROPS", 64)
    classes = [head("genre", 2), head("style", 2)]
    train, validation = split([40, 8], 0), split([10, 10], 1)
    epochs_run: list[int] = []
    stop_at = [3]

    def on_epoch_end(self: object, epoch: int, logs: object = None) -> None:
        epochs_run.append(epoch)
        if epoch == stop_at[0]:
            raise KeyboardInterrupt

    monkeypatch.setattr(fitting.EpochBar, "on_epoch_end", on_epoch_end)
    with pytest.raises(KeyboardInterrupt):
        fit_tower(*models(classes), classes, train, validation, tmp_path, OPTIONS)
    stop_at[0] = -1

    tower, heads_model = models(classes)
    fitted = fit_tower(tower, heads_model, classes, train, validation, tmp_path, OPTIONS)

    # A backup at the end of every epoch: the run stopped after epoch 3 goes on from epoch 4.
    assert epochs_run[:6] == [0, 1, 2, 3, 4, 5]
    assert fitted.epochs == 6 and fitted.crops_per_painting == 6 * 2
    assert not (tmp_path / "tower-backup").exists(), "the backup goes once the stage is done"
    assert fitted.rebalanced.startswith("decoupled classifier retraining"), "style is 5:1"
    assert (tmp_path / "stage2.weights.h5").is_file()
    assert fitted.validation.features[TOWER].shape == (20, SHAPE.features)
    found = heads_model.predict({TOWER: fitted.validation.features[TOWER]}, verbose=0)
    right = found["style_probabilities"].argmax(axis=1) == validation.classes["style"]
    assert right.mean() >= 0.8, "stripes' direction is learned whatever their colours"


def test_a_finished_stage_is_read_back_not_trained_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    classes = [head("genre", 2), head("style", 2)]
    train, validation = split([10, 10], 0), split([4, 4], 1)
    options = TowerOptions(epochs=2, augmentation=Augmentation((12,)), progress=False)
    first = fit_tower(*models(classes), classes, train, validation, tmp_path, options)
    tower, heads_model = models(classes)

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained again")

    monkeypatch.setattr(keras.Model, "fit", never)
    again = fit_tower(tower, heads_model, classes, train, validation, tmp_path, options)

    assert again.epochs == first.epochs
    assert np.array_equal(again.validation.features[TOWER], first.validation.features[TOWER])
