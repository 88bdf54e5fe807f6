"""Similarity searches against Elasticsearch: a painting's stored vectors, and one knn search per
representation, run concurrently, each answered as a result block as soon as it finishes."""

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from elasticsearch import AsyncElasticsearch
from imgsim_common import similar
from imgsim_common.doc_values import hit_vectors, vector_lookup
from imgsim_common.representations import VECTORS_FIELD, Metric, Representation, vector_field

from imgsim_search_api.errors import RequestError
from imgsim_search_api.exact_fields import ExactFields
from imgsim_search_api.knn import Filters, capped, knn_body
from imgsim_search_api.settings import SearchApiSettings

# Which field each vector field's exact search reads, per index searched (from its mapping).
exact_fields = ExactFields()


@dataclass(frozen=True)
class ResultBlock:
    representation: str
    metric: str
    hits: list[dict[str, Any]]
    took_ms: float

    def to_json(self) -> dict[str, Any]:
        return {
            "representation": self.representation,
            "metric": self.metric,
            "took_ms": round(self.took_ms, 1),
            "hits": self.hits,
        }


async def search_block(
    es: AsyncElasticsearch,
    index: str,
    representation: Representation,
    metric: Metric,
    body: dict[str, Any],
    exclude_ids: Collection[str] = (),
    k: int | None = None,
    exact: bool = False,
    per_artist: int | None = None,
) -> ResultBlock:
    """One knn search; `exclude_ids` are dropped from its hits, which are then cut to `k`
    (an exact search's ties broken by id), at most `per_artist` by one artist."""
    started = time.perf_counter()
    response = await es.search(index=index, body=body)
    hits = kept_hits(response["hits"]["hits"], exclude_ids, k, exact, per_artist)
    elapsed = (time.perf_counter() - started) * 1000
    return ResultBlock(representation.name, metric.value, hits, elapsed)


def kept_hits(
    found: list[dict[str, Any]],
    exclude_ids: Collection[str],
    k: int | None,
    exact: bool,
    per_artist: int | None,
) -> list[dict[str, Any]]:
    """A search's hits as the API answers them: without `exclude_ids`, the first `k` (an exact
    search's ties broken by id), at most `per_artist` by one artist."""
    keep = similar.exact_neighbours if exact else similar.neighbours
    kept = capped(keep(found, exclude_ids, len(found)), len(found) if k is None else k, per_artist)
    return [{"id": hit["_id"], "score": hit["_score"], **hit.get("_source", {})} for hit in kept]


async def stored_vectors(
    es: AsyncElasticsearch,
    index: str,
    painting_id: str,
    representations: Sequence[Representation],
    metric: Metric,
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """The painting's metadata and its vectors for these representations; 404 and 409 as due."""
    fields = [vector_field(r.name, metric) for r in representations]
    response = await es.search(index=index, body=vector_lookup(painting_id, fields, ["metadata"]))
    hits = response["hits"]["hits"]
    if not hits:
        raise RequestError(404, f"no painting {painting_id!r}")
    stored = hit_vectors(hits[0])
    vectors: dict[str, list[float]] = {}
    for representation, name in zip(representations, fields, strict=True):
        vector = stored.get(name)
        if vector is None:
            raise RequestError(
                409,
                f"painting {painting_id!r} has no {representation.name!r} vector "
                "(indexed by an older model?)",
            )
        vectors[representation.name] = vector
    return hits[0].get("_source", {}).get("metadata", {}), vectors


async def painting_with_vectors(
    es: AsyncElasticsearch,
    index: str,
    painting_id: str,
    representations: Sequence[Representation],
    metrics_of: Callable[[str], Sequence[Metric]],
) -> dict[str, Any]:
    """The painting as GET /paintings/{id} shows it, with `vectors`: name -> its vector, for each
    of these representations it has (a painting of an older model may lack some)."""
    fields: dict[str, str] = {}
    for representation in representations:
        # The l2 field holds the vector as it was sent; a cosine field may hold it normalised.
        metrics = sorted(metrics_of(representation.name), key=lambda m: m != Metric.L2)
        fields[vector_field(representation.name, metrics[0])] = representation.name
    body = vector_lookup(painting_id, list(fields))
    body["_source"] = {"excludes": [VECTORS_FIELD]}
    response = await es.search(index=index, body=body)
    hits = response["hits"]["hits"]
    if not hits:
        raise RequestError(404, f"no painting {painting_id!r}")
    stored = hit_vectors(hits[0])
    vectors = {name: stored[field] for field, name in fields.items() if field in stored}
    return {"id": hits[0]["_id"], **hits[0].get("_source", {}), "vectors": vectors}


async def as_completed_blocks(
    es: AsyncElasticsearch,
    index: str,
    bodies: Sequence[tuple[Representation, Metric, dict[str, Any]]],
    exclude_ids: Collection[str] = (),
    k: int | None = None,
    exact: bool = False,
    per_artist: int | None = None,
) -> AsyncGenerator[ResultBlock, None]:
    """Runs the queries concurrently and yields each block as soon as it is ready.

    Leaving the generator early (a client that went away) cancels the queries still running.
    """
    tasks = [
        asyncio.ensure_future(
            search_block(es, index, representation, metric, body, exclude_ids, k, exact, per_artist)
        )
        for representation, metric, body in bodies
    ]
    try:
        for next_done in asyncio.as_completed(tasks):
            yield await next_done
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def similar_blocks(
    es: AsyncElasticsearch,
    index: str,
    settings: SearchApiSettings,
    vectors: Mapping[str, Sequence[float]],
    representations: Sequence[Representation],
    metric: Metric,
    k: int,
    filters: Filters,
    exact: bool = False,
) -> AsyncGenerator[ResultBlock, None]:
    """One knn query per representation on `index`, run concurrently; blocks as they finish.
    A bad vector is a RequestError here, before any search runs."""
    bodies = [
        (r, metric, knn_body(r, metric, vectors[r.name], k, filters, settings, exact))
        for r in representations
    ]
    excluded = frozenset(filters.exclude_ids)
    if not exact:
        return as_completed_blocks(es, index, bodies, excluded, k, False, filters.per_artist)

    async def exact_blocks() -> AsyncGenerator[ResultBlock, None]:
        fields = await exact_fields.of(es, index, settings.index_model_ttl_s)
        exact_bodies = [
            (r, metric, knn_body(r, metric, vectors[r.name], k, filters, settings, True, field))
            for r in representations
            for field in [fields.get(vector_field(r.name, metric))]
        ]
        blocks = as_completed_blocks(es, index, exact_bodies, excluded, k, True, filters.per_artist)
        # Closed with this generator: a client that went away cancels the searches.
        async with contextlib.aclosing(blocks):
            async for block in blocks:
                yield block

    return exact_blocks()
