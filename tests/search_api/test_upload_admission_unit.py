"""The upload bound without servers: the app's handler refuses past the bound without reading a
byte of the body, frees its slot whatever becomes of an upload, and the OpenAPI document and
the settings say so."""

import asyncio
from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest
from imgsim_search_api import admission
from imgsim_search_api.admission import UploadAdmission
from imgsim_search_api.app import create_app
from imgsim_search_api.embedding_client import EmbeddingClient
from imgsim_search_api.errors import RequestError
from imgsim_search_api.settings import SearchApiSettings
from openapi_spec_validator import validate
from pydantic import ValidationError

from tests.search_api.fixtures import watching


def test_a_slot_is_freed_however_the_upload_ends() -> None:
    bound = UploadAdmission(2)
    with bound.slot(), bound.slot():
        assert bound.in_flight == 2
        with pytest.raises(RequestError) as refused, bound.slot():
            pass
        assert refused.value.status == 429
        assert refused.value.details["retry_after_s"] == admission.RETRY_AFTER_S
    assert bound.in_flight == 0
    with pytest.raises(ValueError), bound.slot():
        raise ValueError("the vectorizer failed")
    assert bound.in_flight == 0


class Gate:
    """An embedding endpoint (an httpx transport) that holds every request until opened, then
    answers 503: the test needs no Elasticsearch, since nothing gets past the vectorizer."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.arrived = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.arrived += 1
        await self.open.wait()
        return httpx.Response(503, json={"error": "busy", "reason": "busy"})


def _upload_scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
    """The ASGI scope of a JPEG posted to /similar/upload, with these extra headers."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/similar/upload",
        "raw_path": b"/similar/upload",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"image/jpeg"), *headers],
        "server": ("api", 80),
        "client": ("127.0.0.1", 5000),
        "state": {},
    }


async def _call(app: Any, body_parts: int = 3) -> tuple[int, dict[str, str], int]:
    """POST /similar/upload straight through ASGI: status, headers, body parts the app read."""
    read = 0
    answer: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b"x" * 1000, "more_body": read < body_parts}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}

    await app(_upload_scope((b"content-length", b"3000")), receive, send)
    return answer["status"], answer["headers"], read


def test_past_the_bound_the_handler_answers_429_without_reading_the_body() -> None:
    async def scenario() -> None:
        settings = SearchApiSettings(embedding_url="http://vectorizer", max_concurrent_uploads=2)
        app = create_app(settings)
        gate = Gate()
        app.state.settings = settings
        app.state.index_watch = watching()
        app.state.es = None  # nothing gets past the vectorizer to a search
        app.state.embeddings = EmbeddingClient(
            settings.embedding_url, 5, transport=httpx.MockTransport(gate.handle)
        )
        held = [asyncio.create_task(_call(app)) for _ in range(2)]
        while gate.arrived < 2:
            await asyncio.sleep(0.01)

        status, headers, read = await _call(app)

        assert (status, read) == (429, 0)
        assert headers["retry-after"] == str(admission.RETRY_AFTER_S)
        gate.open.set()
        assert [(await task)[0] for task in held] == [503, 503]
        # Both slots are free again: the next upload is read and sent to the vectorizer.
        status, _, read = await _call(app)
        assert (status, read, gate.arrived) == (503, 3, 3)
        await app.state.embeddings.aclose()

    asyncio.run(scenario())


def test_the_openapi_document_lists_the_429_with_the_bound() -> None:
    settings = SearchApiSettings(upload_enabled=False, max_concurrent_uploads=3)
    app = create_app(settings)

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.get("/openapi.json")

    document = asyncio.run(get()).json()
    validate(document)
    refused = document["paths"]["/similar/upload"]["post"]["responses"]["429"]
    assert "3 uploads at once" in refused["description"]
    assert "Retry-After" in refused["description"]
    assert "429" not in document["paths"]["/similar"]["post"]["responses"]


def test_the_bound_is_a_setting_with_a_default_and_must_be_positive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert SearchApiSettings().max_concurrent_uploads == 2
    monkeypatch.setenv("SEARCH_API_MAX_CONCURRENT_UPLOADS", "5")
    assert SearchApiSettings().max_concurrent_uploads == 5
    monkeypatch.setenv("SEARCH_API_MAX_CONCURRENT_UPLOADS", "0")
    with pytest.raises(ValidationError, match="max_concurrent_uploads"):
        SearchApiSettings()


def test_a_body_that_trickles_past_the_deadline_is_a_408_and_frees_its_slot() -> None:
    async def scenario() -> None:
        settings = SearchApiSettings(
            embedding_url="http://vectorizer", max_concurrent_uploads=1, upload_read_timeout_s=0.2
        )
        app = create_app(settings)
        app.state.settings = settings
        app.state.index_watch = watching()
        app.state.es = None
        app.state.embeddings = EmbeddingClient(
            settings.embedding_url, 5, transport=httpx.MockTransport(Gate().handle)
        )
        answer: dict[str, Any] = {}

        async def trickle() -> dict[str, Any]:
            await asyncio.sleep(0.1)  # one byte a while, for ever
            return {"type": "http.request", "body": b"x", "more_body": True}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]

        await asyncio.wait_for(app(_upload_scope(), trickle, send), timeout=5)
        assert answer["status"] == 408
        assert app.state.upload_admission.in_flight == 0
        await app.state.embeddings.aclose()

    asyncio.run(scenario())
