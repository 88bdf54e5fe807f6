"""Loading a saved model folder: the model, its card, and the check that the two belong together.

The folders here hold a tiny extractor and a card written for it, as `imgsim train` writes them
(the training tests load what training saves).
"""

from pathlib import Path

import keras
import numpy as np
import pytest
from imgsim_common.model_card import CARD_FILE, MODEL_FILE, ModelCard, backbone_card
from imgsim_common.representations import REPRESENTATIONS
from imgsim_vision import model
from imgsim_vision.layers import Standardization
from imgsim_vision.model import CardMismatchError, build_extractor, load_trained, weights_version

from tests.vision.tiny_models import TAPS, tiny_backbone, tiny_spec


def save_folder(tmp_path: Path, extractor: keras.Model, card: ModelCard) -> Path:
    folder = tmp_path / f"{card.name}-{card.version}"
    folder.mkdir()
    extractor.save(folder / MODEL_FILE)
    card.save(folder)
    return folder


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    extractor = build_extractor(tiny_backbone(), TAPS)
    card = backbone_card("Tiny", 32, "random", weights_version(extractor))
    return save_folder(tmp_path, extractor, card)


def test_a_saved_folder_loads_with_its_card(saved: Path) -> None:
    for path in (saved, saved / CARD_FILE, saved / MODEL_FILE):
        loaded = model.load("MobileNetV3Large", "imagenet", path)

        assert loaded.card == ModelCard.load(saved)
        assert loaded.info == loaded.card.info
        assert loaded.input_size == 32


def test_the_gram_layer_loads_without_custom_objects(saved: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3)).astype(np.float32)
    expected = build_extractor(tiny_backbone(), TAPS).predict_on_batch(pixels)

    reloaded = keras.models.load_model(saved / MODEL_FILE, compile=False)

    for name, vectors in reloaded.predict_on_batch(pixels).items():
        assert np.array_equal(np.asarray(vectors), np.asarray(expected[name])), name


def test_a_card_of_another_version_is_refused(saved: Path) -> None:
    card = ModelCard.load(saved)
    card.model_copy(update={"version": "0123456789ab"}).save(saved)

    with pytest.raises(CardMismatchError, match="card does not match the model.*0123456789ab"):
        load_trained(saved)


def test_a_model_replaced_under_its_card_is_refused(saved: Path) -> None:
    other = build_extractor(tiny_backbone(seed=1), TAPS)
    other.save(saved / MODEL_FILE)

    with pytest.raises(CardMismatchError, match="the weights hash to"):
        load_trained(saved)


def test_a_card_naming_a_representation_the_model_lacks_is_refused(saved: Path) -> None:
    card = ModelCard.load(saved)
    extra = card.representations[0].model_copy(update={"name": "trained_style"})
    card.model_copy(update={"representations": [*card.representations, extra]}).save(saved)

    with pytest.raises(CardMismatchError, match=r"no output for the representations \['trained"):
        load_trained(saved)


def test_a_folder_without_its_card_is_refused(saved: Path) -> None:
    (saved / CARD_FILE).unlink()

    with pytest.raises(FileNotFoundError, match="card.json missing"):
        load_trained(saved)


def test_a_backbone_used_as_it_is_has_the_card_of_its_three_representations() -> None:
    loaded = model.load_backbone(tiny_spec(), "random")

    assert loaded.card == backbone_card("Tiny", 32, "random", weights_version(loaded.extractor))
    assert [r.name for r in loaded.card.representations] == [r.name for r in REPRESENTATIONS]
    assert model.load_backbone(tiny_spec(), "random").info == loaded.info, "seeded"


def test_imagenet_weights_are_found_only_where_keras_caches_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = model.BACKBONES["Xception"]
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert spec.imagenet_file is not None
    assert model.imagenet_weights_file(spec) is None
    assert model.imagenet_weights_file(tiny_spec()) is None

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / spec.imagenet_file).write_bytes(b"weights")

    assert model.imagenet_weights_file(spec) == tmp_path / "models" / spec.imagenet_file


@pytest.mark.parametrize("scale", [1e-11, 1e-3, 1.0])
def test_standardisation_makes_features_of_any_scale_unit_sized(scale: float) -> None:
    # An untrained backbone's features are ~1e-11 (global) to ~1e-7 (style).
    rng = np.random.default_rng(0)
    features = (rng.normal(size=(200, 3)) * [1, 3, 0.5] + 2) * scale
    layer = Standardization(3)

    layer.adapt_to(features.astype(np.float32))

    values = np.asarray(layer(features.astype(np.float32)))
    np.testing.assert_allclose(values.std(axis=0), 1, rtol=1e-3)
    np.testing.assert_allclose(values.mean(axis=0), 0, atol=1e-3)


def test_standardisation_leaves_out_constants_and_does_not_blow_up_rare_units() -> None:
    rng = np.random.default_rng(0)
    features = np.zeros((200, 4), np.float32)
    features[:, :2] = rng.normal(size=(200, 2))
    features[:, 2] = 7.0  # never varies
    features[0, 3] = 1e-4  # a unit that fired once, barely

    layer = Standardization(4)
    layer.adapt_to(features)

    fired = np.array([[0, 0, 7.0, 1.0]], np.float32)  # a new painting fires it fully
    values = np.asarray(layer(fired))
    assert values[0, 2] == 0, "a feature that never varied carries nothing"
    assert abs(values[0, 3]) < 1000, "scaled like a typical feature at most, not by 1/std"
