"""Starlette's own refusals come in the API's JSON shape, as every documented error does."""

import asyncio

import httpx
from imgsim_search_api.app import create_app
from imgsim_search_api.settings import SearchApiSettings

from tests.search_api.fixtures import watching


def test_no_route_a_wrong_method_and_a_broken_form_answer_json() -> None:
    app = create_app(SearchApiSettings(embedding_url="http://127.0.0.1:9"))

    async def ask() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://api") as client,
        ):
            # What the index holds, without Elasticsearch: the form is read after it is known.
            app.state.index_watch = watching()
            return [
                # A newline in an id: no route's pattern matches it.
                await client.get("/paintings/a%0Ab"),
                await client.delete("/similar"),
                await client.post(
                    "/similar/upload",
                    content=b"--a2\r\n[]--a2--\r\n",
                    headers={"content-type": "multipart/form-data; boundary=a2"},
                ),
            ]

    missing, wrong, broken = asyncio.run(ask())
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json"
    assert missing.json() == {"error": "Not Found"}
    assert wrong.status_code == 405
    assert wrong.json() == {"error": "Method Not Allowed"}
    assert "POST" in wrong.headers["allow"]
    assert broken.status_code == 400
    assert broken.headers["content-type"] == "application/json"
    assert "error" in broken.json()
