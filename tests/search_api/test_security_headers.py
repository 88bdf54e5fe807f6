"""Every response of the API and the gallery carries the Content-Security-Policy, nosniff and the
referrer policy, streams keep streaming through the middleware, and CORS is off unless origins
are configured. In process, without Elasticsearch."""

import asyncio
from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest
from imgsim_search_api.app import create_app
from imgsim_search_api.security_headers import CONTENT_SECURITY_POLICY, SecurityHeaders
from imgsim_search_api.settings import SearchApiSettings
from pydantic import ValidationError
from starlette.applications import Starlette

from tests.search_api.fixtures import watching

OFF = SearchApiSettings(upload_enabled=False)


def _get(app: Starlette, path: str, method: str = "GET", **kwargs: Any) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(call())


def _secured(response: httpx.Response) -> None:
    policy = response.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
    assert directives["default-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"] and directives["form-action"] == ["'self'"]
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert len(response.headers.get_list("content-security-policy")) == 1


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 200),  # the gallery
        ("/static/gallery.js", 200),
        ("/static/gallery.css", 200),
        ("/openapi.json", 200),
        ("/healthz", 200),
        ("/metrics", 200),
        ("/no/such/route", 404),
        ("/similar", 405),  # GET on a POST route
        ("/similar/x.jpg?metric=manhattan", 400),  # an error answered by the API's handler
    ],
)
def test_every_response_carries_the_security_headers(path: str, status: int) -> None:
    app = create_app(OFF)
    # What the lifespan would set, with stand-ins: no request here reaches Elasticsearch.
    app.state.settings, app.state.es, app.state.index_watch = OFF, None, watching()
    response = _get(app, path)
    assert response.status_code == status
    _secured(response)


class _Broken:
    """An index watch that fails as nothing expects: a defect, for the last resort to answer."""

    async def current(self) -> None:
        raise RuntimeError("secret detail of a defect")


def test_an_unexpected_error_is_the_api_s_json_500_with_the_headers() -> None:
    app = create_app(OFF)
    app.state.settings, app.state.es, app.state.index_watch = OFF, None, _Broken()

    response = _get(app, "/representations")

    assert response.status_code == 500
    assert response.json() == {"error": "internal error"}
    assert "secret detail" not in response.text
    _secured(response)


def test_the_gallery_page_has_no_inline_script_or_style_for_the_policy_to_block() -> None:
    page = _get(create_app(OFF), "/").text
    assert "<script>" not in page and "<style" not in page and " style=" not in page
    assert 'src="/static/gallery.js"' in page


def test_a_stream_passes_through_block_by_block() -> None:
    """Each body message reaches the server as the app sends it, not gathered at the end."""

    async def scenario() -> None:
        second_may_go = asyncio.Event()
        sent: list[MutableMapping[str, Any]] = []

        async def streaming_app(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"one\n", "more_body": True})
            await second_may_go.wait()
            await send({"type": "http.response.body", "body": b"two\n", "more_body": False})

        async def server_send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)
            if message.get("body") == b"one\n":
                second_may_go.set()  # only once the first block is out

        async def receive() -> dict[str, Any]:
            return {"type": "http.disconnect"}

        await asyncio.wait_for(
            SecurityHeaders(streaming_app)({"type": "http"}, receive, server_send), 5
        )
        assert [m.get("body") for m in sent] == [None, b"one\n", b"two\n"]
        assert (b"x-content-type-options", b"nosniff") in sent[0]["headers"]
        assert (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()) in sent[0]["headers"]

    asyncio.run(scenario())


def test_cors_is_off_by_default() -> None:
    app = create_app(OFF)
    response = _get(app, "/healthz", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in response.headers
    preflight = _get(
        app,
        "/similar",
        method="OPTIONS",
        headers={
            "Origin": "https://elsewhere.example",
            "Access-Control-Request-Method": "POST",
        },
    )
    assert preflight.status_code == 405
    assert "access-control-allow-origin" not in preflight.headers


def test_configured_origins_alone_may_read_the_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCH_API_CORS_ORIGINS", "https://gallery.example, http://127.0.0.1:3000/")
    app = create_app(SearchApiSettings(upload_enabled=False))
    allowed = _get(app, "/healthz", headers={"Origin": "http://127.0.0.1:3000"})
    assert allowed.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"
    assert "retry-after" in allowed.headers["access-control-expose-headers"].lower()
    _secured(allowed)
    other = _get(app, "/healthz", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = _get(
        app,
        "/similar",
        method="OPTIONS",
        headers={"Origin": "https://gallery.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://gallery.example"
    _secured(preflight)


@pytest.mark.parametrize("origins", ["gallery.example", "ftp://gallery.example", "https://a/b"])
def test_a_cors_origin_that_is_not_an_origin_is_refused_at_start_up(origins: str) -> None:
    with pytest.raises(ValidationError, match="is not an origin"):
        SearchApiSettings(cors_origins=origins)
