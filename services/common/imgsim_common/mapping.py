"""Builds the `paintings` index template from the list of representations.

No hand-written mapping JSON exists anywhere: the native launcher, docker-compose's init step and
the tests all install what `index_template()` returns.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from imgsim_common.model_card import ModelCard
from imgsim_common.names import PAINTINGS_INDEX_PATTERN
from imgsim_common.representations import (
    MAX_DIMS,
    METRICS,
    REPRESENTATIONS,
    VECTORS_FIELD,
    Metric,
    Representation,
)

# `flat` searches exactly (brute force over the float vectors); `int8_flat` scores all vectors,
# but quantized; the hnsw kinds are approximate and fast.
IndexOptions = Literal["hnsw", "int8_hnsw", "int4_hnsw", "flat", "int8_flat"]
INDEX_OPTIONS: Final[tuple[IndexOptions, ...]] = get_args(IndexOptions)

# The mapping's `_meta` key under which the product keeps what it knows about the index.
META_KEY = "imgsim"

KEYWORD_METADATA = ("artist", "style", "genre", "date", "source", "artist_group")

# An exact search (`exact=true`) reads `vectors.<name>.<metric>_exact`: the same vector in a
# `flat` float field, i.e. brute force over the vectors as sent. Nothing else is exact without
# Painless: a quantized field scores its quantized vectors, and rescoring with the floats
# (`rescore_vector`) only reorders the at most 10 x k candidates a graph or quantized search
# found. Elasticsearch copies no vector into a second field (no copy_to, no multi-field for
# dense_vector), so the sink writes it (`sink_vector_fields`).
EXACT_SUFFIX: Final = "_exact"


@dataclass(frozen=True)
class VectorIndex:
    """How the vector fields are indexed: the `index_options` kind, the HNSW graph's `m` and
    `ef_construction` (None: Elasticsearch's own defaults, 16 and 100), and whether a float
    `flat` copy of each field serves exact searches. A `flat` index is exact itself and gets
    no copy."""

    kind: IndexOptions = "int8_hnsw"
    m: int | None = None
    ef_construction: int | None = None
    exact_copies: bool = True

    def __post_init__(self) -> None:
        if self.kind not in INDEX_OPTIONS:
            raise ValueError(f"unknown index_options {self.kind!r}; valid: {INDEX_OPTIONS}")
        if self.m is not None and not 2 <= self.m <= 512:
            raise ValueError(f"m must be between 2 and 512, got {self.m}")
        if self.ef_construction is not None and not 2 <= self.ef_construction <= 3200:
            raise ValueError(
                f"ef_construction must be between 2 and 3200, got {self.ef_construction}"
            )

    @property
    def copies(self) -> bool:
        return self.exact_copies and self.kind != "flat"

    def options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"type": self.kind}
        if self.kind.endswith("hnsw"):
            # Only graphs have these; Elasticsearch refuses them on a flat kind.
            if self.m is not None:
                options["m"] = self.m
            if self.ef_construction is not None:
                options["ef_construction"] = self.ef_construction
        return options


def exact_field(field: str) -> str:
    """The field an exact search reads for the indexed `field` (`vectors.<name>.<metric>`)."""
    return field + EXACT_SUFFIX


def sink_vector_fields(index: "VectorIndex | IndexOptions" = "int8_hnsw") -> tuple[str, ...]:
    """The sub-fields of `vectors.<name>` the sink fills with the representation's vector
    (its VectorsByMetric transform's `metrics`): one per metric, and the exact copies."""
    vector_index = _vector_index(index)
    names = tuple(m.value for m in METRICS)
    return names + tuple(exact_field(n) for n in names) if vector_index.copies else names


def _vector_index(index: "VectorIndex | IndexOptions") -> VectorIndex:
    return index if isinstance(index, VectorIndex) else VectorIndex(index)


def _vector_fields(representation: Representation, index: VectorIndex) -> dict[str, Any]:
    if not 0 < representation.dims <= MAX_DIMS:
        raise ValueError(
            f"representation {representation.name!r} has {representation.dims} dims; "
            f"Elasticsearch accepts 1..{MAX_DIMS}"
        )

    def field(metric: Metric, options: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "dense_vector",
            "element_type": "float",
            "dims": representation.dims,
            "index": True,
            "similarity": metric.es_similarity,
            "index_options": options,
        }

    fields = {metric.value: field(metric, index.options()) for metric in METRICS}
    if index.copies:
        fields |= {exact_field(m.value): field(m, {"type": "flat"}) for m in METRICS}
    return {"dynamic": "strict", "properties": fields}


def mappings(
    representations: Sequence[Representation] = REPRESENTATIONS,
    index_options: VectorIndex | IndexOptions = "int8_hnsw",
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    vector_index = _vector_index(index_options)
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
                "properties": {r.name: _vector_fields(r, vector_index) for r in representations},
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
    index_options: VectorIndex | IndexOptions = "int8_hnsw",
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
    index_options: VectorIndex | IndexOptions = "int8_hnsw",
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
