"""The model's own Keras layers, registered so that a saved model loads without custom objects.

`keras.models.load_model` finds a registered class by its name in the saved config; importing
`imgsim_vision.model` (which imports this module and `imgsim_vision.layout`) is all a loader needs.
"""

from typing import Any

import keras
import numpy as np
import numpy.typing as npt

PACKAGE = "imgsim"


@keras.saving.register_keras_serializable(package=PACKAGE)
class Gram(keras.layers.Layer):  # type: ignore[misc]  # keras has no type information
    """Upper triangle of the channel Gram matrix, normalised by the number of positions."""

    def call(self, features: Any) -> Any:
        ops = keras.ops
        shape = ops.shape(features)
        flat = ops.reshape(features, (shape[0], -1, shape[3]))
        gram = ops.einsum("bpc,bpd->bcd", flat, flat) / ops.cast(shape[1] * shape[2], "float32")
        channels = int(features.shape[-1])
        rows, cols = np.triu_indices(channels)
        return ops.take(
            ops.reshape(gram, (-1, channels * channels)), rows * channels + cols, axis=1
        )

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        channels = int(input_shape[-1] or 0)
        return (input_shape[0], channels * (channels + 1) // 2)


@keras.saving.register_keras_serializable(package=PACKAGE)
class Standardization(keras.layers.Layer):  # type: ignore[misc]
    """(x - mean) * inverse_std, with both fixed from training features.

    Not `keras.layers.Normalization`: that one divides by max(std, 1e-7), and an untrained
    backbone's activations are ~1e-9, so it would leave them ~1e-2 instead of ~1. A feature that
    does not vary in training gets an inverse of 0: it carries nothing, and must not blow up.
    """

    def __init__(self, width: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.width = width
        self.mean = self.add_weight(
            shape=(width,), initializer="zeros", trainable=False, name="mean"
        )
        self.inverse_std = self.add_weight(
            shape=(width,), initializer="ones", trainable=False, name="inverse_std"
        )

    def adapt_to(self, features: npt.NDArray[np.float32]) -> None:
        values = features.astype(np.float64)
        mean = values.mean(axis=0)
        std = values.std(axis=0)
        # Relative to the features' own scale: an absolute floor would be wrong at every scale.
        varies = std > max(float(std.max()) * 1e-6, float(np.finfo(np.float32).tiny))
        # A feature that barely varied in training (a unit that fired for one painting) is not
        # scaled up beyond a typical one: on new paintings it would swamp the others.
        floor = 0.01 * float(np.median(std[varies])) if varies.any() else 1.0
        inverse = np.where(varies, 1.0 / np.maximum(std, floor), 0.0)
        self.mean.assign(mean.astype(np.float32))
        self.inverse_std.assign(inverse.astype(np.float32))

    def call(self, features: Any) -> Any:
        return (features - self.mean) * self.inverse_std

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        return {**config, "width": self.width}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ChannelStandardization(keras.layers.Layer):  # type: ignore[misc]
    """Each image's channels standardised over its own pixels: (x - mean) / sqrt(var + eps).

    What follows sees the image's texture and layout, not its palette or its exposure: a network
    trained from scratch on a few hundred paintings would otherwise learn the colours of the
    artists it saw. Unlike `keras.layers.LayerNormalization(axis=(1, 2))` it has no weights, so
    it takes images of any size (training crops, the whole image at inference).
    """

    def __init__(self, epsilon: float = 1e-3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, images: Any) -> Any:
        ops = keras.ops
        mean = ops.mean(images, axis=(1, 2), keepdims=True)
        variance = ops.mean(ops.square(images - mean), axis=(1, 2), keepdims=True)
        return (images - mean) * ops.rsqrt(variance + self.epsilon)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        return {**config, "epsilon": self.epsilon}
