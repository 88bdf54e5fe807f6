"""Result blocks as NDJSON, Server-Sent Events or one JSON document, chosen by `Accept`."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse

from imgsim_search_api.errors import RequestError
from imgsim_search_api.query import ResultBlock

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"


def negotiate(accept: str | None) -> str:
    accept = accept or ""
    if NDJSON in accept:
        return NDJSON
    if SSE in accept:
        return SSE
    return "application/json"


def _line(payload: dict[str, Any]) -> bytes:
    return orjson.dumps(payload) + b"\n"


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def _failure(error: Exception, failure_of: Callable[[Exception], dict[str, Any]]) -> dict[str, Any]:
    if isinstance(error, RequestError):
        return {"status": error.status, "error": error.message, **error.details}
    return failure_of(error)


async def respond(
    blocks: AsyncIterator[ResultBlock],
    media_type: str,
    failure_of: Callable[[Exception], dict[str, Any]],
    head: dict[str, Any] | None = None,
) -> Response:
    """Streams blocks as they come; plain JSON waits for all of them."""
    if media_type == "application/json":
        results = [block.to_json() async for block in blocks]
        return Response(orjson.dumps({**(head or {}), "results": results}), media_type=media_type)

    async def body() -> AsyncIterator[bytes]:
        # Errors after the first byte can no longer change the status: they become a
        # final error line or event.
        try:
            if media_type == NDJSON:
                if head:
                    yield _line({"query": head})
                async for block in blocks:
                    yield _line(block.to_json())
            else:
                if head:
                    yield _event("query", head)
                async for block in blocks:
                    yield _event("result", block.to_json())
                yield _event("end", {})
        except Exception as error:  # noqa: BLE001 - reported in-band, the stream is ending
            failure = _failure(error, failure_of)
            yield _line({"error": failure}) if media_type == NDJSON else _event("error", failure)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type=media_type, headers=headers)
