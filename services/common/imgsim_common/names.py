"""The one place that names topics, the index, its alias and the connector."""

from dataclasses import dataclass
from typing import Final

IMAGE_PATHS_TOPIC: Final = "image-paths"
PAINTINGS_TOPIC: Final = "paintings"
# Inputs the vectorizer cannot turn into a vector record, each with the reason.
IMAGE_PATHS_DLQ_TOPIC: Final = "image-paths-dlq"
# Records the Elasticsearch sink could not index, with Connect's error headers.
PAINTINGS_DLQ_TOPIC: Final = "paintings-dlq"

# Searches and the sink go through the alias, so that a new model version can be indexed into
# a new concrete index beside the old one and swapped in atomically.
PAINTINGS_ALIAS: Final = "paintings"
# The template maps the base pipeline's indexes; a model version's index is created with the
# mapping built from its card, which no template must add fields to.
PAINTINGS_INDEX_PATTERN: Final = "paintings-v*"
PAINTINGS_TEMPLATE: Final = "paintings"
INITIAL_PAINTINGS_INDEX: Final = "paintings-v1"

SINK_CONNECTOR: Final = "paintings-elasticsearch-sink"
VECTORIZER_GROUP: Final = "imgsim-vectorizer"


@dataclass(frozen=True)
class ModelPipeline:
    """What carries one model version's vectors: a topic, a sink connector, an index.

    Each trained model version writes to a topic of its own, drained by a connector of its own
    into an index of its own, so that records of two versions never meet; the `paintings` alias
    points at the one searched. The base pipeline (`make up`, the backbone without trained
    heads) keeps the names it always had.
    """

    version: str | None
    topic: str
    index: str
    connector: str
    consumer_group: str
    sink_dead_letter_topic: str


BASE_PIPELINE: Final = ModelPipeline(
    None,
    PAINTINGS_TOPIC,
    INITIAL_PAINTINGS_INDEX,
    SINK_CONNECTOR,
    VECTORIZER_GROUP,
    PAINTINGS_DLQ_TOPIC,
)


MODEL_PIPELINE_PREFIX: Final = "paintings-model-"


def model_pipeline(version: str | None) -> ModelPipeline:
    if version is None:
        return BASE_PIPELINE
    name = f"{MODEL_PIPELINE_PREFIX}{version}"
    return ModelPipeline(
        version, name, name, f"{name}-sink", f"{VECTORIZER_GROUP}-{version}", f"{name}-dlq"
    )


def pipeline_of_index(index: str) -> ModelPipeline | None:
    """The pipeline of the model version whose index this is; None for any other index (the
    base pipeline's, or one a user made)."""
    version = index.removeprefix(MODEL_PIPELINE_PREFIX)
    if version == index or not version:
        return None
    return model_pipeline(version)
