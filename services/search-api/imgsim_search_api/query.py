"""Similarity queries: request parameters checked against the lists they name, and the knn
bodies built from them. Values only ever travel as JSON values, never as query or script text."""

import asyncio
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import AsyncElasticsearch
from imgsim_common.representations import (
    METRICS,
    REPRESENTATIONS,
    VECTORS_FIELD,
    Metric,
    Representation,
    vector_field,
)
from imgsim_common.stored import hit_vectors, vector_lookup

from imgsim_search_api.settings import SearchApiSettings

MAX_NUM_CANDIDATES = 10_000
FILTER_FIELDS = ("artist", "style", "genre")


class RequestError(Exception):
    """A request the API refuses, with the HTTP status that says why."""

    def __init__(self, status: int, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


def parse_representations(text: str | None) -> list[Representation]:
    if text is None or text == "all":
        return list(REPRESENTATIONS)
    known = {r.name: r for r in REPRESENTATIONS}
    chosen: list[Representation] = []
    for name in (part.strip() for part in text.split(",")):
        if name not in known:
            raise RequestError(400, f"unknown representation {name!r}", valid=[*known, "all"])
        if known[name] not in chosen:
            chosen.append(known[name])
    return chosen


def parse_metric(text: str | None) -> Metric:
    if text is None:
        return Metric.COSINE
    try:
        return Metric(text)
    except ValueError:
        raise RequestError(
            400, f"unknown metric {text!r}", valid=[m.value for m in METRICS]
        ) from None


def parse_bounded(name: str, text: str | None, default: int, maximum: int) -> int:
    """An integer parameter from 1 to `maximum`; `default` when it is absent."""
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise RequestError(400, f"{name} must be an integer, got {text!r}") from None
    if not 1 <= value <= maximum:
        raise RequestError(400, f"{name} must be between 1 and {maximum}, got {value}")
    return value


def parse_k(text: str | None, settings: SearchApiSettings) -> int:
    return parse_bounded("k", text, settings.default_k, settings.max_k)


def parse_flag(name: str, text: str | None) -> bool:
    if text is None:
        return False
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise RequestError(400, f"{name} must be true or false, got {text!r}")


@dataclass(frozen=True)
class Filters:
    equal: Mapping[str, str] = field(default_factory=dict)
    exclude: Mapping[str, str] = field(default_factory=dict)
    # Left out of the results by asking for that many more neighbours and dropping them, not by
    # a filter: a filtered knn search took Elasticsearch ~25% longer on the 75,000-painting index.
    exclude_ids: Sequence[str] = ()

    def clause(self) -> dict[str, Any] | None:
        must = [{"term": {f"metadata.{k}": v}} for k, v in self.equal.items()]
        must_not = [{"term": {f"metadata.{k}": v}} for k, v in self.exclude.items()]
        if not must and not must_not:
            return None
        return {"bool": {"filter": must, "must_not": must_not}}


def parse_filters(params: Mapping[str, str]) -> dict[str, str]:
    return {name: params[name] for name in FILTER_FIELDS if params.get(name)}


def knn_body(
    representation: Representation,
    metric: Metric,
    vector: Sequence[float],
    k: int,
    filters: Filters,
    settings: SearchApiSettings,
    exact: bool = False,
) -> dict[str, Any]:
    if len(vector) != representation.dims:
        raise RequestError(
            400,
            f"a {representation.name!r} vector has {representation.dims} dimensions, "
            f"got {len(vector)}",
        )
    fetch = k + len(filters.exclude_ids)
    candidates = MAX_NUM_CANDIDATES if exact else max(100, k * settings.num_candidates_factor)
    knn: dict[str, Any] = {
        "field": vector_field(representation.name, metric),
        "query_vector": list(vector),
        "k": fetch,
        "num_candidates": min(MAX_NUM_CANDIDATES, max(candidates, fetch)),
    }
    clause = filters.clause()
    if clause is not None:
        knn["filter"] = clause
    # Indices made before vectors left _source still hold them there: never send them back.
    return {"knn": knn, "size": fetch, "_source": {"excludes": [VECTORS_FIELD]}}


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
) -> ResultBlock:
    """One knn search; `exclude_ids` are dropped from its hits, which are then cut to `k`."""
    started = time.perf_counter()
    response = await es.search(index=index, body=body)
    hits = [
        {"id": hit["_id"], "score": hit["_score"], **hit.get("_source", {})}
        for hit in response["hits"]["hits"]
        if hit["_id"] not in exclude_ids
    ][:k]
    elapsed = (time.perf_counter() - started) * 1000
    return ResultBlock(representation.name, metric.value, hits, elapsed)


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


async def as_completed_blocks(
    es: AsyncElasticsearch,
    index: str,
    bodies: Sequence[tuple[Representation, Metric, dict[str, Any]]],
    exclude_ids: Collection[str] = (),
    k: int | None = None,
) -> Any:
    """Runs the queries concurrently and yields each block as soon as it is ready.

    Leaving the generator early (a client that went away) cancels the queries still running.
    """
    tasks = [
        asyncio.ensure_future(search_block(es, index, representation, metric, body, exclude_ids, k))
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
    settings: SearchApiSettings,
    vectors: Mapping[str, Sequence[float]],
    representations: Sequence[Representation],
    metric: Metric,
    k: int,
    filters: Filters,
    exact: bool = False,
) -> Any:
    """One knn query per representation, run concurrently; blocks as they finish."""
    bodies = [
        (r, metric, knn_body(r, metric, vectors[r.name], k, filters, settings, exact))
        for r in representations
    ]
    return as_completed_blocks(es, settings.index, bodies, frozenset(filters.exclude_ids), k)
