"""The CNN that turns a batch of images into several representations in one forward pass.

Every representation taps one layer of the backbone: `pool` averages its feature map over space
(what and how it is painted, depending on depth); `gram` takes the channel correlations (Gatys et
al.'s style statistics) as the upper triangle of the Gram matrix. When a tap's width differs from
the representation's dimensions in `imgsim_common.representations`, a fixed random projection
(seeded by the representation's name, so every worker computes the same vectors) maps it there.
Preprocessing is part of the graph: the model takes RGB pixels in 0..255.

A model is either a backbone used as it is, or a model that `imgsim train` saved in a folder with
its card (`card.json` beside `model.keras`); either way `load` returns it with its card.
"""

import hashlib
import os
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import keras
import numpy as np
from imgsim_common.model_card import ModelCard, backbone_card
from imgsim_common.records import ModelInfo
from imgsim_common.representations import REPRESENTATIONS, Representation

# Importing `layout` registers its layer, which trained models hold, for loading.
from imgsim_vision import layout  # noqa: F401
from imgsim_vision.layers import Gram
from imgsim_vision.settings import model_files

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
    # The file Keras caches the backbone's ImageNet weights (without the top) as.
    imagenet_file: str | None = None


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
        "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
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
        "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
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
            vector = Gram(name=f"{name}_gram")(features)
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
    card: ModelCard

    @property
    def info(self) -> ModelInfo:
        return self.card.info

    @property
    def input_size(self) -> int:
        return self.card.input_size


class CardMismatchError(ValueError):
    pass


def load(backbone: str, weights: str, model_path: Path | None = None) -> LoadedModel:
    """A trained model from its folder when `model_path` is set, else the backbone as it is."""
    if model_path is not None:
        return load_trained(model_path)
    return load_backbone(BACKBONES[backbone], weights)


def load_backbone(spec: BackboneSpec, weights: str) -> LoadedModel:
    if weights == "random":
        # Seeded, so that every process (workers, the search API, training) draws the same
        # weights: the untrained model has one version everywhere.
        keras.utils.set_random_seed(0)
    extractor = build_extractor(spec.build(_keras_weights(weights)), spec.taps)
    card = backbone_card(spec.name, spec.input_size, weights, weights_version(extractor))
    return LoadedModel(extractor, card)


def load_trained(path: Path) -> LoadedModel:
    """The model `imgsim train` saved; `path` is its folder, its card or its model file."""
    model_file, card_file = model_files(path)
    card = ModelCard.load(card_file)
    extractor = keras.models.load_model(model_file, compile=False)
    version = weights_version(extractor)
    if version != card.version:
        raise CardMismatchError(
            f"the card does not match the model in {model_file.parent}: the card says version "
            f"{card.version}, the weights hash to {version} (was one of the files replaced?)"
        )
    size = extractor.input_shape[1]
    if size != card.input_size:
        raise CardMismatchError(
            f"the card does not match the model in {model_file.parent}: the card says input "
            f"size {card.input_size}, the model takes {size}"
        )
    outputs = set(extractor.output) if isinstance(extractor.output, dict) else set()
    missing = [r.name for r in card.representations if r.name not in outputs]
    if missing:
        raise CardMismatchError(
            f"the card does not match the model in {model_file.parent}: the model has no output "
            f"for the representations {missing} (its outputs: {sorted(outputs)})"
        )
    return LoadedModel(extractor, card)


def imagenet_weights_file(spec: BackboneSpec) -> Path | None:
    """Where Keras has cached the backbone's ImageNet weights, if it has; never downloads."""
    if spec.imagenet_file is None:
        return None
    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    # Keras falls back to /tmp/.keras when its home is not writable.
    for root in (home, Path("/tmp/.keras")):
        if (root / "models" / spec.imagenet_file).is_file():
            return root / "models" / spec.imagenet_file
    return None


def _keras_weights(weights: str) -> str | None:
    if weights == "random":
        return None
    if weights == "imagenet":
        return "imagenet"
    if not Path(weights).is_file():
        raise FileNotFoundError(f"weights file {weights} does not exist")
    return weights
