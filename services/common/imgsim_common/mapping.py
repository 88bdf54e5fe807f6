"""Builds the `paintings` index template from the list of representations.

No hand-written mapping JSON exists anywhere: the native launcher, docker-compose's init step and
the tests all install what `index_template()` returns.
"""

from collections.abc import Sequence
from typing import Any, Literal

from imgsim_common.model_card import ModelCard
from imgsim_common.names import PAINTINGS_INDEX_PATTERN
from imgsim_common.representations import (
    MAX_DIMS,
    METRICS,
    REPRESENTATIONS,
    VECTORS_FIELD,
    Representation,
)

# `flat` and `int8_flat` search exactly (brute force); the hnsw kinds are approximate and fast.
IndexOptions = Literal["hnsw", "int8_hnsw", "int4_hnsw", "flat", "int8_flat"]

# The mapping's `_meta` key under which the product keeps what it knows about the index.
META_KEY = "imgsim"

KEYWORD_METADATA = ("artist", "style", "genre", "date", "source", "artist_group")


def _vector_fields(representation: Representation, index_options: IndexOptions) -> dict[str, Any]:
    if not 0 < representation.dims <= MAX_DIMS:
        raise ValueError(
            f"representation {representation.name!r} has {representation.dims} dims; "
            f"Elasticsearch accepts 1..{MAX_DIMS}"
        )
    return {
        "dynamic": "strict",
        "properties": {
            metric.value: {
                "type": "dense_vector",
                "element_type": "float",
                "dims": representation.dims,
                "index": True,
                "similarity": metric.es_similarity,
                "index_options": {"type": index_options},
            }
            for metric in METRICS
        },
    }


def mappings(
    representations: Sequence[Representation] = REPRESENTATIONS,
    index_options: IndexOptions = "int8_hnsw",
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {name: {"type": "keyword"} for name in KEYWORD_METADATA}
    metadata["title"] = {
        "type": "keyword",
        "ignore_above": 1024,
        "fields": {"text": {"type": "text"}},
    }
    metadata["year"] = {"type": "integer"}
    body: dict[str, Any] = {} if meta is None else {"_meta": meta}
    return body | {
        # Vectors are indexed, not kept in _source: they made ~99% of it, and every hit's fetch
        # parsed them. They are read back from doc values (`imgsim_common.doc_values`).
        "_source": {"excludes": [VECTORS_FIELD]},
        # A record with a field nobody mapped is an error that goes to the dead-letter topic,
        # not a silent new field; only `metadata` may carry extra CSV columns.
        "dynamic": "strict",
        "properties": {
            "id": {"type": "keyword"},
            "path": {"type": "keyword"},
            "sha1": {"type": "keyword"},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "model": {"properties": {"name": {"type": "keyword"}, "version": {"type": "keyword"}}},
            "metadata": {
                "dynamic": True,
                "properties": metadata,
            },
            VECTORS_FIELD: {
                "dynamic": "strict",
                "properties": {r.name: _vector_fields(r, index_options) for r in representations},
            },
        },
        "dynamic_templates": [
            {
                "metadata_strings_as_keywords": {
                    "path_match": "metadata.*",
                    "match_mapping_type": "string",
                    "mapping": {"type": "keyword", "ignore_above": 1024},
                }
            }
        ],
    }


def model_index(
    card: ModelCard,
    shards: int = 1,
    replicas: int = 0,
    index_options: IndexOptions = "int8_hnsw",
) -> dict[str, Any]:
    """The body of `PUT <index>` for a model version's own index, mapped from its card.

    The card rides in the mapping's `_meta` (`imgsim.model_card`): the search API learns from it
    which representations the index behind the alias holds and which model made them.
    """
    return {
        "settings": {"number_of_shards": shards, "number_of_replicas": replicas},
        "mappings": mappings(
            card.representation_list(),
            index_options,
            meta={META_KEY: {"model_card": card.model_dump(mode="json")}},
        ),
    }


def index_template(
    shards: int = 1,
    replicas: int = 0,
    representations: Sequence[Representation] = REPRESENTATIONS,
    index_options: IndexOptions = "int8_hnsw",
) -> dict[str, Any]:
    """The body of `PUT _index_template/paintings` for every `paintings-*` index."""
    return {
        "index_patterns": [PAINTINGS_INDEX_PATTERN],
        "priority": 100,
        "template": {
            "settings": {"number_of_shards": shards, "number_of_replicas": replicas},
            "mappings": mappings(representations, index_options),
        },
    }
