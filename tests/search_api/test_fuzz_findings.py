"""What fuzzing the API from its OpenAPI document (tests/faults/test_api_fuzz.py) found, each kept
as a small test: answers that were a server error (some Starlette's plain-text page) or a refusal
of a request the document calls valid."""

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from imgsim_common.representations import REPRESENTATIONS, by_name
from imgsim_search_api import browse, files, parameters
from imgsim_search_api.app import create_app
from imgsim_search_api.errors import RequestError
from imgsim_search_api.settings import SearchApiSettings
from starlette.applications import Starlette

from tests.search_api.fixtures import ApiServer, watching

SETTINGS = SearchApiSettings(upload_enabled=False, max_k=100)
STYLE = by_name("style")


def asked(
    ask: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]],
    prepare: Callable[[Starlette], None] = lambda app: None,
) -> httpx.Response:
    """The app's answer without Elasticsearch (the index's model from a stand-in)."""
    app = create_app(SETTINGS)

    async def run() -> httpx.Response:
        # Starlette raises a server error again once its answer is sent: the answer is the test's.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://api") as client,
        ):
            app.state.index_watch = watching()
            prepare(app)
            return await ask(client)

    return asyncio.run(run())


def vector_query(vector: list[Any], metric: str = "cosine") -> dict[str, Any]:
    return {"representation": "style", "vector": vector, "metric": metric}


@pytest.mark.parametrize(
    "vector",
    [
        [1.7976931348623157e308] + [1.0] * (STYLE.dims - 1),  # Infinity as a 32-bit float
        [1e20] * STYLE.dims,  # finite, but its squares' sum is not
        [10**400] + [1] * (STYLE.dims - 1),  # an integer no float holds
    ],
    ids=["float64-max", "square-overflow", "huge-integer"],
)
def test_numbers_too_large_for_the_index_are_a_400(vector: list[Any]) -> None:
    # They were passed on, and Elasticsearch's refusal answered 500 "internal error".
    for metric in ("cosine", "l2"):
        with pytest.raises(RequestError) as refused:
            parameters.parse_vector_query(vector_query(vector, metric), SETTINGS, REPRESENTATIONS)
        assert refused.value.status == 400 and "1e+15" in refused.value.message


def test_a_vector_of_numbers_that_are_zero_as_32_bit_floats_has_no_direction() -> None:
    # 1e-30 is no zero, but its square is as a 32-bit float: Elasticsearch found no magnitude.
    tiny = [1e-30] + [0.0] * (STYLE.dims - 1)
    with pytest.raises(RequestError) as refused:
        parameters.parse_vector_query(vector_query(tiny), SETTINGS, REPRESENTATIONS)
    assert refused.value.status == 400 and "no direction" in refused.value.message

    small = [parameters.MIN_DIRECTION] + [0.0] * (STYLE.dims - 1)
    assert parameters.parse_vector_query(vector_query(small), SETTINGS, REPRESENTATIONS)
    assert parameters.parse_vector_query(vector_query(tiny, "l2"), SETTINGS, REPRESENTATIONS)


def test_a_whole_number_written_with_a_fraction_is_an_integer() -> None:
    # JSON Schema's integer 1.0 was refused: "k must be an integer, got 1.0".
    assert parameters.body_k(1.0, SETTINGS) == 1
    assert parameters.parse_per_artist(2.0, SETTINGS) == 2
    with pytest.raises(RequestError):
        parameters.body_k(1.5, SETTINGS)


@pytest.mark.parametrize("text", ["²", "٣", "+5", " 5", "1_0", "5\n"])
def test_integers_are_ascii_digits_only(text: str) -> None:
    # "²" passed str.isdigit() and then failed int(): a 500 for GET /thumbnails/x?size=².
    with pytest.raises(RequestError) as refused:
        files.thumbnail_size(text)
    assert refused.value.status == 400
    for parse in (
        lambda: parameters.parse_bounded("k", text, 10, 100),
        lambda: browse.filter_query({"year_from": text}),
    ):
        with pytest.raises(RequestError) as refused:
            parse()
        assert refused.value.status == 400


def test_the_document_s_integer_pattern_is_what_the_api_takes() -> None:
    for maximum in (1, 9, 10, 42, 100, 250, 1000, 4096):
        pattern = re.compile(parameters.integers_up_to(maximum))
        for n in range(0, 1200):
            for text in (str(n), f"00{n}"):
                taken = 1 <= n <= maximum
                assert bool(pattern.fullmatch(text)) == taken, (maximum, text)
                if taken:
                    assert parameters.parse_bounded("k", text, 1, maximum) == n


@pytest.mark.parametrize("path", ["/paintings/%0A", "/paintings/", "/similar/%0A"])
def test_an_empty_painting_id_names_no_painting(path: str) -> None:
    # The route's pattern cuts a final newline: the id was "", which Elasticsearch's client
    # refuses with a ValueError, answered by Starlette's plain-text "Internal Server Error".
    response = asked(lambda client: client.get(path))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert "no painting" in response.json()["error"]


def test_an_unexpected_error_is_the_api_s_json_error() -> None:
    class Broken:
        async def get(self, **kwargs: Any) -> Any:
            raise ValueError("a bug")

        async def close(self) -> None:
            pass

    def broken_client(app: Starlette) -> None:
        app.state.es = Broken()

    response = asked(lambda client: client.get("/paintings/a.jpg"), broken_client)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": "internal error"}


def test_a_json_body_is_bounded_and_parsed_safely() -> None:
    large = b'{"vector": [' + b"0.1," * (parameters.MAX_JSON_BODY_BYTES // 4) + b"0.1]}"
    too_large = asked(lambda client: client.post("/similar", content=large))
    assert too_large.status_code == 413
    assert too_large.json()["error"].startswith("the body is larger than")

    # Nested deeper than Python's recursion limit: RecursionError, not ValueError.
    nested = asked(lambda client: client.post("/similar", content=b"[" * 100_000))
    assert nested.status_code == 400
    assert nested.json() == {"error": "the body must be JSON"}


@pytest.mark.parametrize("values", [[1, 2], [{"x": 1}], [["a"]], [12], [None], []])
def test_a_made_up_cursor_of_the_right_encoding_is_refused_too(values: list[Any]) -> None:
    # Base64 JSON like the API's own, but not one id: Elasticsearch refused some (its 400 was
    # answered 500 "internal error") and paged others by values no listing sorts by.
    with pytest.raises(RequestError) as refused:
        browse.decode_cursor(browse.encode_cursor(values))
    assert refused.value.status == 400 and refused.value.message == browse.NOT_GIVEN_OUT
    assert browse.decode_cursor(browse.encode_cursor(["collection/a.jpg"])) == ["collection/a.jpg"]


@pytest.mark.integration
def test_a_made_up_cursor_is_a_400_from_the_api(api: ApiServer) -> None:
    for values in ([1, 2], [{"x": 1}]):
        after = browse.encode_cursor(values)
        response = httpx.get(f"{api.url}/paintings", params={"after": after}, timeout=10)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == browse.NOT_GIVEN_OUT
    first = httpx.get(f"{api.url}/paintings", params={"size": 5}, timeout=10).json()
    following = httpx.get(f"{api.url}/paintings", params={"size": 5, "after": first["next"]})
    assert following.status_code == 200
    assert following.json()["paintings"][0]["id"] > first["paintings"][-1]["id"]
