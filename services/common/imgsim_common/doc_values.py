"""Reading a painting's vectors back from Elasticsearch.

Vectors are indexed but left out of `_source` (see `mapping.mappings`): parsing ~40 KB of JSON
numbers per hit was most of a search's fetch cost. They come back from doc values instead, as
exact float32 values. The `paintings` topic, compacted and keyed by painting id, stays the record
of truth from which the index can be rebuilt.
"""

from collections.abc import Mapping, Sequence
from typing import Any


def vector_lookup(
    painting_id: str, fields: Sequence[str], source: Sequence[str] = ()
) -> dict[str, Any]:
    """The search body that fetches one painting's vector `fields` (and `source` paths, if any)."""
    return {
        "query": {"ids": {"values": [painting_id]}},
        "size": 1,
        "_source": list(source) if source else False,
        "docvalue_fields": list(fields),
    }


def hit_vectors(hit: Mapping[str, Any]) -> dict[str, list[float]]:
    """Field name -> vector for each vector field the hit holds; a missing one is simply absent."""
    # A dense_vector's doc value comes back as a list holding the one vector.
    return {name: values[0] for name, values in hit.get("fields", {}).items() if values}
