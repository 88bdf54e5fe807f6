"""`imgsim evaluate --classify`: each head's accuracy on the queries, from a saved model run
over their images. The model here is tiny and its answers known: warm when red outweighs blue."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from imgsim_cli.evaluate_classify import MISSING, accuracy, class_indices, classify
from imgsim_cli.evaluate_set import labelled_set
from imgsim_cli.main import main
from imgsim_common.model_card import Head, HeadClass, ModelCard, RepresentationCard
from imgsim_vision.model import weights_version
from PIL import Image

from tests.cli.evaluate_fake_api import STYLES, FakeApi, collection, write_set
from tests.support import serving

pytestmark = pytest.mark.slow  # TensorFlow loads

SIZE = 16


def head(classes: tuple[str, ...] = ("warm", "cool"), other: str | None = None) -> Head:
    listed = [
        HeadClass(name=n, train=3, validation=3) for n in (*classes, *([other] * bool(other)))
    ]
    return Head(
        name="style",
        column="style",
        classes=listed,
        min_count=2,
        grouped=["lukewarm"] if other else [],
        other_class=other,
        accuracy=0.75,
        balanced_accuracy=0.7,
    )


def save_tiny_model(folder: Path, classes: tuple[str, ...] = ("warm", "cool")) -> None:
    """Two classes: warm (the first) when red outweighs blue. Three: the strongest channel's."""
    pixels = keras.Input((SIZE, SIZE, 3), name="pixels")
    colour = keras.layers.GlobalAveragePooling2D(name="colour_pool")(pixels)
    probabilities = keras.layers.Dense(len(classes), activation="softmax", name="style_classifier")
    outputs = {
        "colour": keras.layers.Identity(name="colour")(colour),
        "style_probabilities": probabilities(colour),
    }
    model = keras.Model(pixels, outputs)
    weights = np.array([[1, -1], [0, 0], [-1, 1]]) if len(classes) == 2 else np.eye(3)
    probabilities.set_weights([weights * 0.1, np.zeros(len(classes))])
    model.save(folder / "model.keras")
    ModelCard(
        name="tiny",
        version=weights_version(model),
        backbone="Tiny",
        input_size=SIZE,
        weights="random",
        representations=[
            RepresentationCard(name="colour", dims=3, description="mean colour", source="trained")
        ],
        heads=[head(classes)],
    ).save(folder)


def test_labels_become_the_heads_classes_as_training_makes_them() -> None:
    rows = [{"style": "warm"}, {"style": "cool"}, {"style": "lukewarm"}, {"title": "x"}]

    assert class_indices(head(), rows).tolist() == [0, 1, MISSING, MISSING]
    # With an other class, a label the head does not list is counted as it.
    assert class_indices(head(other="other"), rows).tolist() == [0, 1, 2, MISSING]


def test_accuracy_and_balanced_accuracy_of_the_labelled() -> None:
    predicted = np.array([0, 0, 0, 1, 1, 0])
    truth = np.array([0, 0, 1, 1, MISSING, MISSING])

    measured = accuracy(predicted, truth)

    assert measured["accuracy"] == 0.75
    # Class 0: 2 of 2; class 1: 1 of 2.
    assert measured["balanced_accuracy"] == 0.75
    assert measured["paintings"] == 4
    assert accuracy(predicted[:2], np.array([MISSING, MISSING]))["accuracy"] is None


# Keras saving a TensorFlow variable calls np.array(variable), which numpy 2 warns about.
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
def test_the_saved_model_classifies_the_query_images(tmp_path: Path) -> None:
    model_dir, images = tmp_path / "model", tmp_path / "images"
    model_dir.mkdir()
    images.mkdir()
    save_tiny_model(model_dir)
    colours = {"red": (200, 40, 30), "blue": (30, 40, 200)}
    # Three red paintings called warm, two blue ones cool and one blue one warm (a miss).
    labels = [("red", "warm")] * 3 + [("blue", "cool")] * 2 + [("blue", "warm")]
    rows: dict[str, dict[str, object]] = {}
    for n, (colour, style) in enumerate(labels):
        Image.new("RGB", (40, 30), colours[colour]).save(images / f"{n}.png")
        rows[f"{n}.png"] = {"style": style, "in_train": "false"}
    (images / "broken.png").write_bytes(b"no image")
    rows["broken.png"] = {"style": "warm", "in_train": "false"}
    labelled = labelled_set(rows, images=7)

    heads, rejected = classify(model_dir, images, labelled, labelled.queries)

    assert rejected == 1
    (measured,) = heads
    assert measured["paintings"] == 6
    assert measured["accuracy"] == pytest.approx(5 / 6)
    # Warm: 3 of 4 right; cool: 2 of 2.
    assert measured["balanced_accuracy"] == pytest.approx((3 / 4 + 1) / 2)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
def test_evaluate_reports_the_cards_accuracy_and_the_measured_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir, images = tmp_path / "model", tmp_path / "images"
    model_dir.mkdir()
    images.mkdir()
    save_tiny_model(model_dir, STYLES)
    paintings = collection()
    metadata = write_set(images, paintings)
    report = tmp_path / "report.json"
    # The class of the strongest channel of each held-out painting's colour.
    held_out = [p for p in paintings if not p.in_train]
    right = [STYLES[int(np.argmax(p.colour))] == p.style for p in held_out]

    with serving(FakeApi(paintings).app()) as url:
        code = main(
            ["evaluate", "--images", str(images), "--metadata", str(metadata), "--api", url,
             "--model", str(model_dir), "--classify", "--robustness", "0", "--no-progress",
             "--json", str(report)]
        )  # fmt: skip

    assert code == 0
    figures = json.loads(report.read_text())
    assert figures["heads"][0]["accuracy"] == 0.75  # the card's
    (measured,) = figures["classified"]
    assert measured["paintings"] == len(held_out)
    assert measured["accuracy"] == pytest.approx(sum(right) / len(right))
    assert "accuracy on queries" in capsys.readouterr().out


def test_classify_needs_the_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["evaluate", "--images", str(tmp_path), "--metadata", "x.csv", "--classify"])

    assert code == 2
    assert "--model" in capsys.readouterr().err
