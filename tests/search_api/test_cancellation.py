"""Leaving a result stream early cancels the queries still running: in-process with a stand-in
Elasticsearch whose queries can be held open, and over real connections, from an HTTP client
through a uvicorn server to the real Elasticsearch behind a forwarder that holds queries."""

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from imgsim_common.representations import REPRESENTATIONS, Metric
from imgsim_search_api.query import as_completed_blocks
from imgsim_stack.settings import StackSettings

from tests.integration.fixtures import eventually
from tests.search_api.fixtures import Forwarder, SearchIndex, start_api


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


HELD = ("mid", "style")


def held_representation(request: bytes) -> str | None:
    """The representation of a knn search for `mid` or `style`; None for any other request."""
    if b"/_search" not in request.split(b"\r\n", 1)[0] or b'"knn"' not in request:
        return None  # the painting's own vectors are read with a plain search first
    return next((r for r in HELD if f'"field":"vectors.{r}.'.encode() in request), None)


@pytest.mark.integration
def test_a_client_leaving_the_stream_makes_the_api_abandon_the_elasticsearch_queries(
    stack: StackSettings, search_index: SearchIndex
) -> None:
    forwarder = Forwarder(
        stack.elasticsearch, hold=lambda request: held_representation(request) is not None
    )
    forwarder.on()
    # A request timeout far beyond the test's waits: only the client leaving can end a held query.
    server = start_api(forwarder.url, search_index.name, request_timeout_s=60)
    url = f"{server.url}/similar/collection/painting-007.jpg"
    try:
        with httpx.stream(
            "GET",
            url,
            params={"representation": "all"},
            headers={"accept": "application/x-ndjson"},
            timeout=30,
        ) as response:
            lines = response.iter_lines()
            head, first = json.loads(next(lines)), json.loads(next(lines))
            eventually(lambda: len(forwarder.held) == len(HELD), 10, "the other queries held")
            time.sleep(1)  # the client is still there: nothing may abandon the held queries
            open_while_reading = [held.closed_at is None for held in forwarder.held]
        left = time.monotonic()  # leaving the block closed the connection
        eventually(
            lambda: all(held.closed_at is not None for held in forwarder.held),
            10,
            "the API closing the held queries' connections",
        )
        after = httpx.get(url, params={"representation": "global"}, timeout=30)
    finally:
        server.stop()
        forwarder.off()

    assert response.status_code == 200
    assert "query" in head and first["representation"] == "global" and first["hits"]
    assert open_while_reading == [True] * len(HELD)
    assert sorted(str(held_representation(held.request)) for held in forwarder.held) == sorted(HELD)
    assert all(held.closed_at is not None and held.closed_at - left < 3 for held in forwarder.held)
    assert after.status_code == 200 and after.json()["results"][0]["hits"]
