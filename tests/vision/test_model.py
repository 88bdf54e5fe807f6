"""The feature extractor on a small model built here (no weights are downloaded)."""

import typing

import keras
import numpy as np
import pytest
from imgsim_common.representations import REPRESENTATIONS
from imgsim_vision import model
from imgsim_vision.model import Tap, build_extractor, projection, weights_version
from imgsim_vision.settings import Backbone

from tests.vision.tiny_models import TAPS, tiny_backbone


def test_one_forward_pass_gives_every_representation_at_its_dims() -> None:
    extractor = build_extractor(tiny_backbone(), TAPS)
    pixels = np.random.default_rng(1).integers(0, 256, (5, 32, 32, 3)).astype(np.float32)

    outputs = extractor.predict_on_batch(pixels)

    assert set(outputs) == {r.name for r in REPRESENTATIONS}
    for representation in REPRESENTATIONS:
        vectors = np.asarray(outputs[representation.name])
        assert vectors.shape == (5, representation.dims)
        assert vectors.dtype == np.float32
        assert np.isfinite(vectors).all()


def test_style_is_the_gram_matrix_of_the_tapped_layer() -> None:
    base = tiny_backbone()
    extractor = build_extractor(base, TAPS)
    pixels = np.random.default_rng(2).integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    early = keras.Model(base.inputs, base.get_layer("early").output).predict_on_batch(pixels)

    features = early.reshape(2, -1, 8)
    gram = np.einsum("bpc,bpd->bcd", features, features) / features.shape[1]
    rows, cols = np.triu_indices(8)
    expected = gram[:, rows, cols] @ projection(REPRESENTATIONS[2], 36)

    actual = np.asarray(extractor.predict_on_batch(pixels)["style"])
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


def test_projection_is_the_same_for_every_worker_and_differs_by_name() -> None:
    first = projection(REPRESENTATIONS[0], 24)

    assert np.array_equal(first, projection(REPRESENTATIONS[0], 24))
    assert not np.array_equal(first[:, :100], projection(REPRESENTATIONS[1], 24)[:, :100])


def test_weights_version_follows_the_weights() -> None:
    assert weights_version(tiny_backbone(0)) == weights_version(tiny_backbone(0))
    assert weights_version(tiny_backbone(0)) != weights_version(tiny_backbone(1))


def test_a_tap_on_a_missing_layer_is_named() -> None:
    with pytest.raises(ValueError, match="no layer 'nowhere'"):
        build_extractor(tiny_backbone(), {**TAPS, "mid": Tap("nowhere", "pool")})


def test_the_backbone_setting_offers_exactly_the_backbones_there_are() -> None:
    assert set(typing.get_args(Backbone)) == set(model.BACKBONES)
