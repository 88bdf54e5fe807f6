"""The first result block is flushed before the others are ready: checked at the ASGI level
with a stand-in Elasticsearch that holds the other queries until the first block has gone out."""

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

from imgsim_common.representations import by_name
from imgsim_search_api.app import create_app
from imgsim_search_api.settings import SearchApiSettings

from tests.search_api.fixtures import watching


class HeldElasticsearch:
    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        if "knn" not in body:  # the painting's own vectors, from doc values
            (painting_id,) = body["query"]["ids"]["values"]
            fields = {f: [[0.5] * vector_field_dims(f)] for f in body["docvalue_fields"]}
            return {"hits": {"hits": [{"_id": painting_id, "_source": {}, "fields": fields}]}}
        if not body["knn"]["field"].startswith("vectors.global"):
            await self.release.wait()
        return {"hits": {"hits": [{"_id": body["knn"]["field"], "_score": 1.0}]}}


def vector_field_dims(field: str) -> int:
    return by_name(field.split(".")[1]).dims


def _stream(accept: bytes) -> list[bytes]:
    app = create_app(SearchApiSettings())
    es = HeldElasticsearch()
    app.state.es, app.state.settings = es, SearchApiSettings()
    app.state.index_watch = watching()
    chunks: list[bytes] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/similar/a.jpg",
        "raw_path": b"/similar/a.jpg",
        "query_string": b"representation=all",
        "headers": [(b"accept", accept)],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "app": app,
    }

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # the client never disconnects here
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            chunks.append(message["body"])
            if any(b"vectors.global" in chunk for chunk in chunks):
                es.release.set()  # only once the first block is out do the others answer

    async def run() -> None:
        await asyncio.wait_for(app(scope, receive, send), timeout=10)

    asyncio.run(run())
    return chunks


def test_ndjson_sends_the_first_block_before_the_others_exist() -> None:
    chunks = _stream(b"application/x-ndjson")

    blocks = [json.loads(chunk) for chunk in chunks]
    assert "query" in blocks[0]
    assert blocks[1]["representation"] == "global"
    assert sorted(block["representation"] for block in blocks[1:]) == ["global", "mid", "style"]


def test_sse_sends_the_first_result_event_before_the_others_exist() -> None:
    chunks = _stream(b"text/event-stream")

    assert chunks[0].startswith(b"event: query")
    assert chunks[1].startswith(b"event: result") and b"global" in chunks[1]
    assert chunks[-1].startswith(b"event: end")
