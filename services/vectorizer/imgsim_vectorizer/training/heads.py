"""The trained part of the model: embedding layers and classifiers on the backbone's features.

Each backbone representation is standardised (an untrained backbone's activations are ~1e-9 and
differ in scale by orders of magnitude between layers), the three are concatenated, and a shared
linear embedding layer follows; each head then has a linear embedding layer of its own and a
softmax classifier. The linear layers' outputs are the representations the vectors come from
(before the activation, so they are not cut off at zero). `assemble` puts the heads on the
backbone: one model from pixels to every representation and every head's probabilities.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Final

import keras
import numpy as np
import numpy.typing as npt
from imgsim_common.model_card import RepresentationCard
from imgsim_vision import layout
from imgsim_vision.layers import Standardization
from imgsim_vision.layout import ColourLayout

from imgsim_vectorizer.training.classes import HeadClasses

EMBEDDING_WIDTH: Final = 512
DROPOUT: Final = 0.3
SHARED: Final = "trained_shared"

_DESCRIPTIONS: Final = {
    "genre": "learned from genre labels: subject and composition",
    "style": "learned from style labels: technique, brushwork and palette",
    "artist": "learned from artist labels: an artist's hand",
}


def embedding_name(head: str) -> str:
    return f"trained_{head}"


def probabilities_name(head: str) -> str:
    return f"{head}_probabilities"


def classifier_name(head: str) -> str:
    return f"{head}_classifier"


def layout_representation() -> RepresentationCard:
    described = layout.representation()
    return RepresentationCard(
        name=described.name,
        dims=described.dims,
        description=described.description,
        source="pixels",
    )


def trained_representations(heads: Sequence[HeadClasses]) -> list[RepresentationCard]:
    shared = RepresentationCard(
        name=SHARED,
        dims=EMBEDDING_WIDTH,
        description="learned from every head's labels at once: what genre, style"
        + (" and artist" if any(h.head == "artist" for h in heads) else "")
        + " have in common",
        source="trained",
    )
    own = [
        RepresentationCard(
            name=embedding_name(h.head),
            dims=EMBEDDING_WIDTH,
            description=_DESCRIPTIONS.get(h.head, f"learned from {h.column} labels"),
            source="trained",
        )
        for h in heads
    ]
    return [shared, *own]


def build_heads(
    feature_dims: Mapping[str, int],
    heads: Sequence[HeadClasses],
    training_features: Mapping[str, npt.NDArray[np.float32]] | None,
) -> keras.Model:
    """Features -> the trained representations and each head's probabilities.

    With `training_features`, each input is standardised by their statistics first (a frozen
    backbone's features); without, the inputs are taken as they are (a tower's, which its own
    batch normalisation keeps at a sound scale while it trains).
    """
    inputs = {name: keras.Input((dims,), name=name) for name, dims in feature_dims.items()}
    standardised = []
    for name, tensor in inputs.items():
        if training_features is None:
            standardised.append(tensor)
            continue
        layer = Standardization(feature_dims[name], name=f"{name}_standardization")
        layer.adapt_to(training_features[name])
        standardised.append(layer(tensor))
    joined = (
        keras.layers.Concatenate(name="backbone_features")(standardised)
        if len(standardised) > 1
        else standardised[0]
    )
    shared = keras.layers.Dense(EMBEDDING_WIDTH, name=SHARED)(joined)
    outputs: dict[str, Any] = {SHARED: shared}
    hidden = _activated(shared, SHARED)
    for head in heads:
        embedding = keras.layers.Dense(EMBEDDING_WIDTH, name=embedding_name(head.head))(hidden)
        outputs[embedding_name(head.head)] = embedding
        probabilities = keras.layers.Dense(
            len(head.classes), activation="softmax", name=classifier_name(head.head)
        )(_activated(embedding, head.head))
        outputs[probabilities_name(head.head)] = probabilities
    return keras.Model(inputs, outputs, name="heads")


def _activated(tensor: Any, name: str) -> Any:
    active = keras.layers.Activation("relu", name=f"{name}_relu")(tensor)
    return keras.layers.Dropout(DROPOUT, name=f"{name}_dropout")(active)


def classifiers_only(heads_model: keras.Model, heads: Sequence[HeadClasses]) -> keras.Model:
    """The same layers, with only the softmax classifiers left trainable (and re-initialised):
    decoupled classifier retraining (Kang et al., 2020) rebalances the classifiers on the
    embeddings learned without rebalancing."""
    classifiers = {classifier_name(h.head) for h in heads}
    for layer in heads_model.layers:
        layer.trainable = layer.name in classifiers
        if layer.name in classifiers:
            kernel, bias = layer.get_weights()
            fresh = keras.initializers.GlorotUniform(seed=len(layer.name))(kernel.shape)
            layer.set_weights([np.asarray(fresh), np.zeros_like(bias)])
    return heads_model


def assemble(
    extractor: keras.Model, heads_model: keras.Model, name: str, tower: keras.Model | None = None
) -> keras.Model:
    """Pixels -> the backbone's representations, the trained ones, the colour layout and the
    probabilities; the heads read the backbone's features, or with a tower, the tower's features
    of the pixels."""
    features = extractor.output
    (pixels,) = extractor.inputs
    if tower is None:
        trained = heads_model({key: features[key] for key in heads_model.input})
    else:
        trained = heads_model({tower.name: tower(pixels)})
    outputs = dict(features)
    outputs[layout.NAME] = ColourLayout(name=layout.NAME)(pixels)
    for key, tensor in trained.items():
        outputs[key] = keras.layers.Identity(name=key)(tensor)
    return keras.Model(extractor.inputs, outputs, name=name)
