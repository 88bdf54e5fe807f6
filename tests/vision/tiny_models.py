"""A tiny Keras backbone with the taps the model reads, for tests that need a real network fast."""

import keras
from imgsim_vision.model import BackboneSpec, Tap

TAPS = {
    "global": Tap(None, "pool"),
    "mid": Tap("middle", "pool"),
    "style": Tap("early", "gram"),
}


def tiny_backbone(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    pixels = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(pixels)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="early")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu", name="middle")(x)
    x = keras.layers.Conv2D(24, 3, strides=2, name="late")(x)
    return keras.Model(pixels, x, name="tiny")


def texture_backbone(seed: int = 0) -> keras.Model:
    """The tiny backbone with each image's channels standardised first: its random filters then
    see texture rather than the colours, which the test paintings draw at random."""
    keras.utils.set_random_seed(seed)
    pixels = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(pixels)
    x = keras.layers.LayerNormalization(axis=(1, 2), name="contrast")(x)
    x = keras.layers.Conv2D(16, 3, activation="relu", name="early")(x)
    x = keras.layers.Conv2D(32, 3, strides=2, activation="relu", name="middle")(x)
    x = keras.layers.Conv2D(48, 3, strides=2, name="late")(x)
    return keras.Model(pixels, x, name="tiny_texture")


def tiny_spec(name: str = "Tiny") -> BackboneSpec:
    """The texture backbone as the backbones are described, for code that takes a spec."""
    return BackboneSpec(name, 32, lambda weights: texture_backbone(), TAPS)
