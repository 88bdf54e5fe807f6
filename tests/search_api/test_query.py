"""Result blocks from knn searches, against a stand-in Elasticsearch: the painting searched by is
dropped, the rest cut to k, and only the hits' own fields are passed on."""

import asyncio
from typing import Any

from imgsim_common.representations import Metric, by_name
from imgsim_search_api import query
from imgsim_search_api.knn import Filters
from imgsim_search_api.settings import SearchApiSettings


class StandInElasticsearch:
    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.bodies: list[dict[str, Any]] = []

    async def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(body)
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
            client, settings, vectors, representations, Metric.L2, k, filters
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


def test_a_block_as_json_rounds_its_time() -> None:
    block = query.ResultBlock("mid", "cosine", [{"id": "a"}], 12.345)

    assert block.to_json() == {
        "representation": "mid",
        "metric": "cosine",
        "took_ms": 12.3,
        "hits": [{"id": "a"}],
    }
