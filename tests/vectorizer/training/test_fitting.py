"""Fitting the heads on features: rebalancing touches the classifiers, never the embeddings."""

from pathlib import Path

import keras
import numpy as np
import pytest
from imgsim_vectorizer.training import fitting, heads
from imgsim_vectorizer.training.classes import MISSING, HeadClasses
from imgsim_vectorizer.training.fitting import FitOptions, Labelled, fit

DIMS = {"global": 12, "mid": 6}


def head(name: str, count: int) -> HeadClasses:
    return HeadClasses(name, name, tuple(f"{name}{i}" for i in range(count)), (), None, 1)


def labelled(counts: list[int], seed: int, genre_missing: int = 0) -> Labelled:
    """Features that give the class away (its one-hot in the first dims) plus noise, at ~1e-9:
    the scale of an untrained backbone's activations."""
    rng = np.random.default_rng(seed)
    style = np.repeat(np.arange(len(counts)), counts)
    rows = len(style)
    found = {name: rng.normal(size=(rows, dims)).astype(np.float32) for name, dims in DIMS.items()}
    found["global"][np.arange(rows), style] += 3
    genre = style % 2
    genre[:genre_missing] = MISSING
    return Labelled(
        {name: values * 1e-9 for name, values in found.items()}, {"style": style, "genre": genre}
    )


def build(classes: list[HeadClasses], train: Labelled) -> keras.Model:
    keras.utils.set_random_seed(0)
    return heads.build_heads(DIMS, classes, train.features)


def weights_of(model: keras.Model, layer: str) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.get_layer(layer).get_weights()]


@pytest.mark.slow
def test_rebalancing_retrains_the_classifiers_alone(tmp_path: Path) -> None:
    classes = [head("genre", 2), head("style", 4)]
    train, validation = labelled([60, 30, 10, 4], 0, genre_missing=5), labelled([5] * 4, 1)
    model = build(classes, train)

    fitted = fit(model, classes, train, validation, tmp_path, FitOptions(20, progress=False))

    assert fitted.rebalanced.startswith("decoupled classifier retraining")
    assert "style 15:1" in fitted.rebalanced
    first_stage = build(classes, train)
    first_stage.load_weights(tmp_path / "stage1.weights.h5")
    for layer in ("trained_shared", "trained_genre", "trained_style", "global_standardization"):
        for now, then in zip(weights_of(model, layer), weights_of(first_stage, layer), strict=True):
            assert np.array_equal(now, then), f"{layer} changed in stage 2"
    for layer in ("genre_classifier", "style_classifier"):
        now, then = weights_of(model, layer)[0], weights_of(first_stage, layer)[0]
        assert not np.array_equal(now, then), f"{layer} was not retrained"
    predicted = model.predict(dict(validation.features), verbose=0)["style_probabilities"]
    assert (predicted.argmax(axis=1) == validation.classes["style"]).mean() >= 0.75


def test_balanced_classes_are_not_rebalanced(tmp_path: Path) -> None:
    classes = [head("genre", 2), head("style", 2)]
    train, validation = labelled([20, 20], 0), labelled([5, 5], 1)

    fitted = fit(
        build(classes, train), classes, train, validation, tmp_path, FitOptions(5, progress=False)
    )

    assert fitted.rebalanced.startswith("not rebalanced")
    assert not (tmp_path / "stage2.weights.h5").exists()


def test_a_finished_stage_is_read_back_instead_of_trained_again(tmp_path: Path) -> None:
    classes = [head("genre", 2), head("style", 2)]
    train, validation = labelled([20, 20], 0), labelled([5, 5], 1)
    first = build(classes, train)
    fitted = fit(first, classes, train, validation, tmp_path, FitOptions(5, progress=False))

    again = build(classes, train)
    refitted = fit(again, classes, train, validation, tmp_path, FitOptions(5, progress=False))

    assert refitted == fitted
    for now, then in zip(again.get_weights(), first.get_weights(), strict=True):
        assert np.array_equal(now, then)


def test_the_standardised_features_are_of_unit_scale() -> None:
    train = labelled([10] * 3, 0)
    model = build([head("genre", 2), head("style", 3)], train)
    standardised = keras.Model(model.input, model.get_layer("global_standardization").output)

    values = np.asarray(standardised.predict(dict(train.features), verbose=0))

    np.testing.assert_allclose(values.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(values.std(axis=0), 1, rtol=1e-3)


def test_a_stage_stopped_midway_resumes_from_its_last_backup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    classes = [head("genre", 2), head("style", 2)]
    train, validation = labelled([20, 20], 0), labelled([5, 5], 1)
    options = FitOptions(12, patience=100, progress=False)
    epochs_run: list[int] = []
    stop_at = [7]

    def on_epoch_end(self: object, epoch: int, logs: object = None) -> None:
        epochs_run.append(epoch)
        if epoch == stop_at[0]:
            raise KeyboardInterrupt

    monkeypatch.setattr(fitting.EpochBar, "on_epoch_end", on_epoch_end)
    with pytest.raises(KeyboardInterrupt):
        fit(build(classes, train), classes, train, validation, tmp_path, options)
    stop_at[0] = -1

    fitted = fit(build(classes, train), classes, train, validation, tmp_path, options)

    # A backup every 5 epochs (taken in the last batch of epoch 4): the run stopped in epoch 7
    # goes on from epoch 4.
    assert epochs_run == [0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7, 8, 9, 10, 11]
    assert fitted.epochs == 12
    assert not (tmp_path / "stage1-backup").exists(), "the backup goes once the stage is done"
