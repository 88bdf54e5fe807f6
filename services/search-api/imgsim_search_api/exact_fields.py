"""Which field an exact search reads, as the searched index's mapping says.

An index mapped with exact copies (`imgsim_common.mapping.VectorIndex.exact_copies`) has a float
`flat` field `vectors.<name>.<metric>_exact` beside each vector field; an index whose vector
fields are `flat` themselves is exact as it is. Other indices (made before the copies, or
without them) have no exact field: their exact search is approximate, at its most thorough.
"""

import time
from collections.abc import Mapping
from typing import Any

from elasticsearch import AsyncElasticsearch
from imgsim_common.mapping import EXACT_SUFFIX
from imgsim_common.representations import VECTORS_FIELD


def exact_fields_of(mappings: Mapping[str, Any]) -> dict[str, str]:
    """Vector field -> the field its exact search reads, for one index's mappings."""
    found: dict[str, str] = {}
    representations = mappings.get("properties", {}).get(VECTORS_FIELD, {}).get("properties", {})
    for name, representation in representations.items():
        fields = representation.get("properties", {})
        for metric, field in fields.items():
            if field.get("type") != "dense_vector" or metric.endswith(EXACT_SUFFIX):
                continue
            path = f"{VECTORS_FIELD}.{name}.{metric}"
            copy = fields.get(metric + EXACT_SUFFIX, {})
            if copy.get("type") == "dense_vector" and _kind(copy) == "flat":
                found[path] = path + EXACT_SUFFIX
            elif _kind(field) == "flat":
                found[path] = path
    return found


def _kind(field: Mapping[str, Any]) -> object:
    return field.get("index_options", {}).get("type")


class ExactFields:
    """The answer per index (or alias), asked again once it is `ttl_s` old: an alias may move
    to an index mapped otherwise."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[float, dict[str, str]]] = {}

    async def of(self, es: AsyncElasticsearch, index: str, ttl_s: float) -> dict[str, str]:
        known = self._known.get(index)
        if known is not None and time.monotonic() - known[0] < ttl_s:
            return known[1]
        answer = await es.indices.get_mapping(index=index)
        per_index = [exact_fields_of(body.get("mappings", {})) for body in answer.values()]
        # Behind an alias over several indices, a field is exact only where every index is.
        fields = {
            field: exact
            for field, exact in (per_index[0] if per_index else {}).items()
            if all(other.get(field) == exact for other in per_index[1:])
        }
        copies = {field: exact for field, exact in fields.items() if exact != field}
        if copies:
            answer = await es.search(index=index, body=lacking_copies(copies))
            lacking = answer["aggregations"]["lacking"]["buckets"]
            fields = {f: e for f, e in fields.items() if not lacking.get(f, {}).get("doc_count")}
        self._known[index] = (time.monotonic(), fields)
        return fields


def lacking_copies(copies: Mapping[str, str]) -> dict[str, Any]:
    """One search counting, per vector field, the paintings that have it but not its copy."""
    return {
        "size": 0,
        "aggs": {
            "lacking": {
                "filters": {
                    "filters": {
                        field: {
                            "bool": {
                                "filter": [{"exists": {"field": field}}],
                                "must_not": [{"exists": {"field": copy}}],
                            }
                        }
                        for field, copy in copies.items()
                    }
                }
            }
        },
    }
