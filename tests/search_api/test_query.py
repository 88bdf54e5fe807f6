"""Result blocks from knn searches, against a stand-in Elasticsearch: the painting searched by is
dropped, the rest cut to k, and only the hits' own fields are passed on."""

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest
from imgsim_common.representations import Metric, by_name
from imgsim_search_api import query
from imgsim_search_api.errors import RequestError
from imgsim_search_api.knn import Filters
from imgsim_search_api.settings import SearchApiSettings


class StandInElasticsearch:
    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.bodies: list[dict[str, Any]] = []
        self.indexes: list[str] = []

    async def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(body)
        self.indexes.append(index)
        hits = [
            {"_id": painting_id, "_score": 1 - i / 10, "_source": {"title": painting_id}}
            for i, painting_id in enumerate(self.ids)
        ]
        return {"hits": {"hits": hits}}


def blocks(es: StandInElasticsearch, k: int, filters: Filters) -> list[query.ResultBlock]:
    settings = SearchApiSettings()
    vectors = {name: [0.5] * by_name(name).dims for name in ("global", "style")}
    representations = [by_name("global"), by_name("style")]

    client: Any = es  # the stand-in has the one method used

    async def run() -> list[query.ResultBlock]:
        found = query.similar_blocks(
            client, "paintings-v1", settings, vectors, representations, Metric.L2, k, filters
        )
        return [block async for block in found]

    return asyncio.run(run())


def test_the_painting_searched_by_is_dropped_and_the_rest_cut_to_k() -> None:
    es = StandInElasticsearch(["b", "self", "c", "d"])

    found = blocks(es, 2, Filters(exclude_ids=["self"]))

    assert sorted(block.representation for block in found) == ["global", "style"]
    for block in found:
        assert block.metric == "l2"
        assert block.hits == [
            {"id": "b", "score": 1.0, "title": "b"},
            {"id": "c", "score": 0.8, "title": "c"},
        ]
    # One more neighbour asked for than shown, for the painting left out.
    assert [body["size"] for body in es.bodies] == [3, 3]
    # Approximate unless asked to be exact.
    assert [body["knn"]["num_candidates"] for body in es.bodies] == [100, 100]
    # The index learned behind the alias, not the alias: what was checked is what is searched.
    assert es.indexes == ["paintings-v1", "paintings-v1"]


def test_a_block_as_json_rounds_its_time() -> None:
    block = query.ResultBlock("mid", "cosine", [{"id": "a"}], 12.345)

    assert block.to_json() == {
        "representation": "mid",
        "metric": "cosine",
        "took_ms": 12.3,
        "hits": [{"id": "a"}],
    }


def test_a_block_cannot_be_changed_once_made() -> None:
    block = query.ResultBlock("mid", "cosine", [], 1.0)

    with pytest.raises(dataclasses.FrozenInstanceError):
        block.took_ms = 2.0  # type: ignore[misc]


def test_a_block_times_its_search_in_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    # Started at 0.25 s and done at 0.75: a remainder instead of a difference would show.
    clock: Iterator[float] = iter([0.25, 0.75])
    monkeypatch.setattr(time, "perf_counter", lambda: next(clock))
    client: Any = StandInElasticsearch(["a"])
    mid = by_name("mid")

    block = asyncio.run(query.search_block(client, "paintings", mid, Metric.COSINE, {}))

    assert block.took_ms == 500.0


class StoredElasticsearch:
    """Answers a painting's vector lookup with its doc values, as Elasticsearch does."""

    def __init__(self, hits: list[dict[str, Any]]) -> None:
        self.hits = hits
        self.bodies: list[dict[str, Any]] = []

    async def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(body)
        return {"hits": {"hits": self.hits}}


def stored(hits: list[dict[str, Any]], names: tuple[str, ...]) -> Any:
    client: Any = StoredElasticsearch(hits)
    representations = [by_name(name) for name in names]
    return asyncio.run(
        query.stored_vectors(client, "paintings", "a.jpg", representations, Metric.L2)
    )


def painting_hit(painting_id: str, artist: str, **vectors: list[float]) -> dict[str, Any]:
    return {
        "_id": painting_id,
        "_source": {"metadata": {"artist": artist}},
        "fields": {f"vectors.{name}.l2": [vector] for name, vector in vectors.items()},
    }


def test_a_paintings_stored_vectors_and_metadata_are_read_back() -> None:
    hits = [painting_hit("a.jpg", "Monet", mid=[0.5, 0.25], style=[1.0]), painting_hit("b", "X")]

    metadata, vectors = stored(hits, ("mid", "style"))

    assert metadata == {"artist": "Monet"}
    assert vectors == {"mid": [0.5, 0.25], "style": [1.0]}


def test_an_unknown_painting_is_a_404() -> None:
    with pytest.raises(RequestError, match="no painting 'a.jpg'") as refused:
        stored([], ("mid",))

    assert refused.value.status == 404


def test_a_painting_without_a_representations_vector_is_a_409() -> None:
    with pytest.raises(RequestError, match="has no 'style' vector") as refused:
        stored([painting_hit("a.jpg", "Monet", mid=[0.5])], ("mid", "style"))

    assert refused.value.status == 409


def with_vectors(hits: list[dict[str, Any]], names: tuple[str, ...], cosine_only: str = "") -> Any:
    client: Any = StoredElasticsearch(hits)

    def metrics_of(name: str) -> tuple[Metric, ...]:
        return (Metric.COSINE,) if name == cosine_only else (Metric.COSINE, Metric.L2)

    representations = [by_name(name) for name in names]
    found = asyncio.run(
        query.painting_with_vectors(client, "paintings-v1", "a.jpg", representations, metrics_of)
    )
    return found, client.bodies


def test_a_painting_comes_with_the_vectors_asked_for_that_it_has() -> None:
    hit = painting_hit("a.jpg", "Monet", mid=[0.5, 0.25])
    hit["fields"]["vectors.style.cosine"] = [[1.0, 0.0]]

    found, (body,) = with_vectors([hit], ("global", "mid", "style"), cosine_only="style")

    # The l2 field holds the vector as sent; cosine only where nothing else is mapped.
    assert body["docvalue_fields"] == [
        "vectors.global.l2",
        "vectors.mid.l2",
        "vectors.style.cosine",
    ]
    assert body["_source"] == {"excludes": ["vectors"]}
    # No `global` vector (a painting of an older model): absent, not an error.
    assert found == {
        "id": "a.jpg",
        "metadata": {"artist": "Monet"},
        "vectors": {"mid": [0.5, 0.25], "style": [1.0, 0.0]},
    }


def test_an_unknown_painting_with_vectors_is_a_404() -> None:
    with pytest.raises(RequestError, match="no painting 'a.jpg'") as refused:
        with_vectors([], ("mid",))

    assert refused.value.status == 404


def test_an_exact_search_breaks_ties_by_id_and_an_approximate_one_keeps_its_order() -> None:
    # Tied paintings in Elasticsearch's order (its document numbers, i.e. indexing order).
    found: list[dict[str, Any]] = [
        {"_id": i, "_score": 0.5, "_source": {"path": f"{i}.jpg"}} for i in ("c", "a", "me", "b")
    ]

    exact = query.kept_hits(found, {"me"}, 2, True, None)
    approximate = query.kept_hits(found, {"me"}, 2, False, None)

    assert [(h["id"], h["score"], h["path"]) for h in exact] == [
        ("a", 0.5, "a.jpg"),
        ("b", 0.5, "b.jpg"),
    ]
    assert [h["id"] for h in approximate] == ["c", "a"]
