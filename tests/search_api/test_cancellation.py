"""Leaving a result stream early cancels the queries still running (a stand-in Elasticsearch
whose queries can be held open)."""

import asyncio
from typing import Any

from imgsim_common.representations import REPRESENTATIONS, Metric
from imgsim_search_api.query import as_completed_blocks


class HeldElasticsearch:
    """Answers the `global` query at once and holds every other until cancelled."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []

    async def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        field = body["knn"]["field"]
        if field.startswith("vectors.global"):
            return {"hits": {"hits": [{"_id": "a", "_score": 1.0, "_source": {}}]}}
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.append(field)
            raise
        raise AssertionError("unreachable")


def test_closing_the_stream_after_the_first_block_cancels_the_other_queries() -> None:
    es = HeldElasticsearch()
    bodies = [
        (r, Metric.COSINE, {"knn": {"field": f"vectors.{r.name}.cosine"}}) for r in REPRESENTATIONS
    ]

    async def client_that_leaves() -> tuple[str, list[str]]:
        blocks = as_completed_blocks(es, "paintings", bodies)  # type: ignore[arg-type]
        first = await anext(blocks)
        await blocks.aclose()  # what Starlette does when the client disconnects
        # Read at once: asyncio.run would cancel leftovers itself when it ends.
        return str(first.representation), sorted(es.cancelled)

    first, cancelled = asyncio.run(client_that_leaves())

    assert first == "global"
    assert cancelled == ["vectors.mid.cosine", "vectors.style.cosine"]
