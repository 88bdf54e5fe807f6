"""The CNN that turns a batch of images into several representations in one forward pass.

Every representation taps one layer of the backbone: `pool` averages its feature map over space
(what and how it is painted, depending on depth); `gram` takes the channel correlations (Gatys et
al.'s style statistics) as the upper triangle of the Gram matrix. When a tap's width differs from
the representation's dimensions in `imgsim_common.representations`, a fixed random projection
(seeded by the representation's name, so every worker computes the same vectors) maps it there.
Preprocessing is part of the graph: the model takes RGB pixels in 0..255.
"""

import hashlib
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import keras
import numpy as np
from imgsim_common.records import ModelInfo
from imgsim_common.representations import REPRESENTATIONS, Representation

TapKind = Literal["pool", "gram"]


@dataclass(frozen=True)
class Tap:
    layer: str | None  # None: the backbone's output
    kind: TapKind


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    input_size: int
    build: Callable[[str | None], keras.Model]
    taps: Mapping[str, Tap]


def _mobilenet_v3_large(weights: str | None) -> keras.Model:
    return keras.applications.MobileNetV3Large(
        input_shape=(224, 224, 3), include_top=False, weights=weights, include_preprocessing=True
    )


def _xception(weights: str | None) -> keras.Model:
    pixels = keras.Input((299, 299, 3), name="pixels")
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="xception_preprocess")(pixels)
    base = keras.applications.Xception(include_top=False, weights=weights, input_tensor=scaled)
    return keras.Model(pixels, base.output, name="xception")


BACKBONES: Mapping[str, BackboneSpec] = {
    "MobileNetV3Large": BackboneSpec(
        "MobileNetV3Large",
        224,
        _mobilenet_v3_large,
        {
            "global": Tap(None, "pool"),
            "mid": Tap("expanded_conv_11_add", "pool"),
            "style": Tap("expanded_conv_5_add", "gram"),
        },
    ),
    # The original proof of concept's backbone: ~5.5 images/s on 2 cores.
    "Xception": BackboneSpec(
        "Xception",
        299,
        _xception,
        {
            "global": Tap(None, "pool"),
            "mid": Tap("block4_sepconv2_bn", "pool"),
            "style": Tap("block2_sepconv2_bn", "gram"),
        },
    ),
}


def _find_layer(model: keras.Model, name: str) -> keras.layers.Layer:
    try:
        return model.get_layer(name)
    except ValueError as e:
        raise ValueError(f"the model has no layer {name!r} to take a representation from") from e


def projection(representation: Representation, width: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    """A fixed Gaussian projection width -> dims; the same on every machine for a name."""
    rng = np.random.default_rng(zlib.crc32(representation.name.encode()))
    matrix = rng.standard_normal((width, representation.dims)) / np.sqrt(representation.dims)
    projected: np.ndarray[Any, np.dtype[np.float32]] = matrix.astype(np.float32)
    return projected


class _Gram(keras.layers.Layer):  # type: ignore[misc]  # keras has no type information
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


def build_extractor(
    base: keras.Model,
    taps: Mapping[str, Tap],
    representations: tuple[Representation, ...] = REPRESENTATIONS,
) -> keras.Model:
    """One model, one forward pass, one output per representation: (batch, dims) float32."""
    outputs: dict[str, Any] = {}
    for representation in representations:
        tap = taps[representation.name]
        features = base.output if tap.layer is None else _find_layer(base, tap.layer).output
        name = representation.name
        if tap.kind == "pool":
            vector = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(features)
        else:
            vector = _Gram(name=f"{name}_gram")(features)
        width = int(vector.shape[-1])
        if width != representation.dims:
            dense = keras.layers.Dense(
                representation.dims, use_bias=False, trainable=False, name=f"{name}_projection"
            )
            vector = dense(vector)
            dense.set_weights([projection(representation, width)])
        outputs[name] = keras.layers.Identity(name=name)(vector)
    return keras.Model(base.inputs, outputs, name=f"{base.name}_extractor")


def weights_version(model: keras.Model) -> str:
    """Identifies the weights: two workers with the same version compute the same vectors."""
    digest = hashlib.sha1()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class LoadedModel:
    extractor: keras.Model
    info: ModelInfo
    input_size: int


def load(backbone: str, weights: str, model_path: Path | None = None) -> LoadedModel:
    spec = BACKBONES[backbone]
    if model_path is not None:
        # A fine-tuned genre/style model: its backbone (a nested model holding the tapped
        # layers) carries the tuned weights; the classification heads are not needed here.
        trained = keras.models.load_model(model_path, compile=False)
        base = _nested_backbone(trained, spec)
        name = f"{spec.name}:{model_path.stem}"
    else:
        if weights == "random":
            # Seeded, so that every process (workers, the search API) draws the same weights.
            keras.utils.set_random_seed(0)
        base = spec.build(_keras_weights(weights))
        name = spec.name
    extractor = build_extractor(base, spec.taps)
    info = ModelInfo(name=name, version=weights_version(extractor))
    return LoadedModel(extractor, info, spec.input_size)


def _keras_weights(weights: str) -> str | None:
    if weights == "random":
        return None
    if weights == "imagenet":
        return "imagenet"
    if not Path(weights).is_file():
        raise FileNotFoundError(f"weights file {weights} does not exist")
    return weights


def _nested_backbone(model: keras.Model, spec: BackboneSpec) -> keras.Model:
    wanted = {tap.layer for tap in spec.taps.values() if tap.layer is not None}
    candidates = [model, *(layer for layer in model.layers if isinstance(layer, keras.Model))]
    for candidate in candidates:
        names = {layer.name for layer in candidate.layers}
        if wanted <= names:
            return candidate
    raise ValueError(f"no part of the saved model has the {spec.name} layers {sorted(wanted)}")
