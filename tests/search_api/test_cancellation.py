"""Leaving a result stream early cancels the queries still running: in-process with a stand-in
Elasticsearch whose queries can be held open, and over real connections, from an HTTP client
through a uvicorn server to the real Elasticsearch behind a forwarder that holds queries. The
real-stack test also shows each stream (NDJSON and SSE) delivering its first block while the
other queries have not even reached Elasticsearch."""

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from imgsim_common.representations import REPRESENTATIONS, Metric
from imgsim_search_api.query import as_completed_blocks
from imgsim_stack.settings import StackSettings

from tests.search_api.fixtures import SearchIndex, start_api
from tests.search_api.forwarder import Forwarder
from tests.support import eventually


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


def head_and_first_block(lines: Iterator[str], media_type: str) -> tuple[Any, Any]:
    """The query description and the first result block, read line by line as they arrive."""
    if media_type == "application/x-ndjson":
        return json.loads(next(lines))["query"], json.loads(next(lines))
    data = [json.loads(line.removeprefix("data: ")) for line in _first_data_lines(lines, 2)]
    return data[0], data[1]


def _first_data_lines(lines: Iterator[str], count: int) -> list[str]:
    found: list[str] = []
    while len(found) < count:
        line = next(lines)
        if line.startswith("data: "):
            found.append(line)
    return found


@pytest.mark.integration
@pytest.mark.parametrize("media_type", ["application/x-ndjson", "text/event-stream"])
def test_the_first_block_comes_while_the_others_are_held_and_leaving_abandons_them(
    stack: StackSettings, search_index: SearchIndex, media_type: str
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
            headers={"accept": media_type},
            timeout=30,
        ) as response:
            # Kept in a name: a line iterator that is collected closes the response, and with it
            # the connection.
            lines = response.iter_lines()
            head, first = head_and_first_block(lines, media_type)
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
    assert response.headers["content-type"].startswith(media_type)
    assert "id" in head and first["representation"] == "global" and first["hits"]
    assert open_while_reading == [True] * len(HELD)
    assert sorted(str(held_representation(held.request)) for held in forwarder.held) == sorted(HELD)
    assert all(held.closed_at is not None and held.closed_at - left < 3 for held in forwarder.held)
    assert after.status_code == 200 and after.json()["results"][0]["hits"]
