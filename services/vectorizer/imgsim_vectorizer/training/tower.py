"""A convolutional tower trained from the pixels, for when the backbone's weights are random.

A frozen backbone with random weights gives the heads little to learn from (on the sample set,
its features told 8 styles apart 36% of the time). The tower is a small network of its own,
trained end to end with the heads on crops of the paintings: each image's channels standardised
(palettes say nothing of a painting's technique, and a network trained from scratch on a few
hundred paintings would otherwise learn the colours of the artists it saw), then blocks of a
strided 3x3 convolution, batch normalisation and ReLU, averaged over space. Being fully
convolutional, it trains on crops and reads the whole image at inference.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import keras
from imgsim_vision.layers import ChannelStandardization

TOWER: Final = "tower"
# Batch normalisation's moving statistics follow the weights within an epoch or two: with Keras's
# default momentum (0.99) they lagged the fast-changing weights of a tower trained from scratch,
# and the model sat at chance on validation images.
MOMENTUM: Final = 0.9


@dataclass(frozen=True)
class TowerShape:
    widths: tuple[int, ...] = (24, 48, 96, 128, 192)  # channels of each block; each halves the side

    @property
    def features(self) -> int:
        return self.widths[-1]


def build_tower(shape: TowerShape) -> keras.Model:
    """Pixels (0..255, any size) -> the tower's features, one vector per image."""
    pixels = keras.Input((None, None, 3), name="tower_pixels")
    x: Any = ChannelStandardization(name="tower_contrast")(pixels)
    for block, width in enumerate(shape.widths, start=1):
        x = keras.layers.Conv2D(
            width, 3, strides=2, padding="same", use_bias=False, name=f"tower_conv{block}"
        )(x)
        x = keras.layers.BatchNormalization(momentum=MOMENTUM, name=f"tower_norm{block}")(x)
        x = keras.layers.ReLU(name=f"tower_relu{block}")(x)
    pooled = keras.layers.GlobalAveragePooling2D(name="tower_pool")(x)
    return keras.Model(pixels, pooled, name=TOWER)


def on_tower(tower: keras.Model, heads_model: keras.Model) -> keras.Model:
    """Pixels -> the heads' outputs, the heads reading the tower's features: the model trained
    end to end."""
    pixels = keras.Input((None, None, 3), name="pixels")
    outputs = heads_model({TOWER: tower(pixels)})
    return keras.Model(pixels, outputs, name="tower_and_heads")


def probabilities_only(model: keras.Model, names: Sequence[str]) -> keras.Model:
    """The same layers, with only the probabilities as outputs: what the loss is computed on."""
    return keras.Model(model.input, {name: model.output[name] for name in names})
