"""The one place that names topics, the index, its alias and the connector."""

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
PAINTINGS_INDEX_PATTERN: Final = "paintings-*"
PAINTINGS_TEMPLATE: Final = "paintings"
INITIAL_PAINTINGS_INDEX: Final = "paintings-v1"

SINK_CONNECTOR: Final = "paintings-elasticsearch-sink"
