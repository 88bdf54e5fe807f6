"""Vector representations: names, dimensions and the metrics searched.

Which representations exist is the model's business: its card (`imgsim_common.model_card`)
lists them, the vectorizer produces exactly those, the index of the model version gets one
`dense_vector` field per representation and metric, and the search API validates names against
the index it searches. `REPRESENTATIONS` are the backbone's own three, which every model has.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Metric(StrEnum):
    COSINE = "cosine"
    L2 = "l2"

    @property
    def es_similarity(self) -> str:
        return _ES_SIMILARITY[self]


_ES_SIMILARITY: Final = {Metric.COSINE: "cosine", Metric.L2: "l2_norm"}


@dataclass(frozen=True)
class Representation:
    name: str
    dims: int
    description: str


# Dimensions follow the default backbone (MobileNetV3Large): 960 channels in the last
# convolutional block, 112 in the block used for the mid-level vector; the style vector is a
# Gram matrix of an early block projected to a fixed size.
REPRESENTATIONS: Final[tuple[Representation, ...]] = (
    Representation("global", 960, "pooled last convolutional block: what is depicted"),
    Representation("mid", 112, "pooled mid-level block: texture and brushwork"),
    Representation("style", 256, "reduced Gram matrix of an early block: colour and stroke style"),
)

METRICS: Final[tuple[Metric, ...]] = tuple(Metric)

# Elasticsearch refuses dense_vector fields wider than this.
MAX_DIMS: Final = 4096

VECTORS_FIELD: Final = "vectors"
# A representation's name is a field name in the index (`vectors.<name>.<metric>`).
NAME_PATTERN: Final = r"^[a-z][a-z0-9_]{0,63}$"


def by_name(
    name: str, representations: Sequence[Representation] = REPRESENTATIONS
) -> Representation:
    for representation in representations:
        if representation.name == name:
            return representation
    valid = ", ".join(r.name for r in representations)
    raise KeyError(f"unknown representation {name!r}; valid representations: {valid}")


def vector_field(name: str, metric: Metric) -> str:
    """The indexed field that holds representation `name` for `metric`."""
    return f"{VECTORS_FIELD}.{name}.{metric.value}"
