"""A tiny Keras backbone with the taps the model reads, for tests that need a real network fast."""

import keras
from imgsim_vision.model import Tap

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
