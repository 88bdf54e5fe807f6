"""Parameter checks, in the query string and in POST /similar's body: a wrong value is a 400
that gives the valid values, never a 500. Without Elasticsearch (a stand-in answers)."""

import asyncio
import dataclasses
from typing import Any

import httpx
import pytest
from imgsim_common.representations import REPRESENTATIONS, Metric, by_name
from imgsim_search_api import parameters
from imgsim_search_api.app import create_app
from imgsim_search_api.errors import RequestError
from imgsim_search_api.folding import word_start_query
from imgsim_search_api.settings import SearchApiSettings
from starlette.requests import Request

from tests.search_api.fixtures import watching

SETTINGS = SearchApiSettings(upload_enabled=False)
GLOBAL = by_name("global")


def test_representations_by_name_list_or_all() -> None:
    assert parameters.parse_representations(None, REPRESENTATIONS) == list(REPRESENTATIONS)
    assert [
        r.name for r in parameters.parse_representations("style,global,style", REPRESENTATIONS)
    ] == [
        "style",
        "global",
    ]


def test_all_names_every_representation_and_only_all_does() -> None:
    # Built at run time, as a query string's value is: not the interned literal.
    assert parameters.parse_representations("".join(["a", "ll"]), REPRESENTATIONS) == list(
        REPRESENTATIONS
    )
    for text in ("abstract", "al", "All"):
        with pytest.raises(RequestError, match="unknown representation"):
            parameters.parse_representations(text, REPRESENTATIONS)


def test_an_unknown_representation_lists_the_valid_ones() -> None:
    with pytest.raises(RequestError) as refused:
        parameters.parse_representations("global,colour", REPRESENTATIONS)

    assert refused.value.status == 400
    assert refused.value.details["valid"] == ["global", "mid", "style", "all"]


@pytest.mark.parametrize("text", ["0", "101", "-3", "ten", "1.5"])
def test_k_out_of_bounds_or_not_a_number_is_refused(text: str) -> None:
    with pytest.raises(RequestError, match="k must"):
        parameters.parse_k(text, SETTINGS)


K_SETTINGS = SearchApiSettings(upload_enabled=False, default_k=7, max_k=50)


@pytest.mark.parametrize(("text", "k"), [("1", 1), ("50", 50), (None, 7)])
def test_k_bounds_are_inclusive_and_absent_means_the_default(text: str | None, k: int) -> None:
    assert parameters.parse_k(text, K_SETTINGS) == k


def test_k_that_is_not_a_number_is_a_400() -> None:
    with pytest.raises(RequestError, match="k must be an integer, got 'ten'") as refused:
        parameters.parse_k("ten", K_SETTINGS)
    assert refused.value.status == 400


def test_k_out_of_bounds_says_the_bounds() -> None:
    with pytest.raises(RequestError, match="k must be between 1 and 50, got 51") as refused:
        parameters.parse_k("51", K_SETTINGS)
    assert refused.value.status == 400


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, False),
        ("1", True),
        ("true", True),
        ("True", True),
        ("YES", True),
        ("0", False),
        ("false", False),
        ("No", False),
    ],
)
def test_flags_read_the_usual_spellings(text: str | None, expected: bool) -> None:
    assert parameters.parse_flag("exact", text) is expected


@pytest.mark.parametrize("text", ["", "2", "on", "truthy"])
def test_a_flag_that_is_neither_true_nor_false_is_a_400(text: str) -> None:
    with pytest.raises(RequestError, match=f"same_style must be true or false, got '{text}'") as e:
        parameters.parse_flag("same_style", text)
    assert e.value.status == 400


def test_metric_defaults_to_cosine_and_an_unknown_one_lists_the_valid_ones() -> None:
    assert parameters.parse_metric(None) == Metric.COSINE
    assert parameters.parse_metric("l2") == Metric.L2
    with pytest.raises(RequestError) as refused:
        parameters.parse_metric("L2")
    assert refused.value.status == 400
    assert refused.value.details["valid"] == ["cosine", "l2"]


def test_filters_keep_only_the_known_fields_that_have_a_value() -> None:
    params = {"artist": "Monet", "style": "", "genre": "landscape", "title": "Water Lilies"}

    assert parameters.parse_filters(params) == {"artist": "Monet", "genre": "landscape"}


class RecordingElasticsearch:
    """Answers every knn search with one hit and keeps the bodies it was sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(body)
        return {"hits": {"hits": [{"_id": "a.jpg", "_score": 0.9, "_source": {}}]}}


def post_similar(**request: Any) -> tuple[httpx.Response, RecordingElasticsearch]:
    app = create_app(SETTINGS)
    es = RecordingElasticsearch()
    app.state.es, app.state.settings = es, SETTINGS
    app.state.index_watch = watching()

    async def post() -> httpx.Response:
        # An exception the app lets out is the 500 a client would get.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.post("/similar", **request)

    return asyncio.run(post()), es


VECTOR = [0.25] * GLOBAL.dims
NAMES = [r.name for r in REPRESENTATIONS]
FILTERS = list(parameters.FILTER_FIELDS)
FIELDS = list(parameters.VECTOR_QUERY_FIELDS)


def query(**fields: Any) -> dict[str, Any]:
    return {"representation": "global", "vector": VECTOR, **fields}


@pytest.mark.parametrize(
    ("body", "text", "valid"),
    [
        (query(representation="all"), "one representation", NAMES),
        (query(representation="global,mid"), "one representation", NAMES),
        (query(representation=["global"]), "one representation", NAMES),
        ({"vector": VECTOR}, "needs the vector's representation", NAMES),
        (query(filters=["Monet"]), "filters must be an object", FILTERS),
        (query(filters=[None, None]), "filters must be an object", FILTERS),
        (query(filters="Monet"), "filters must be an object", FILTERS),
        (query(filters={"colour": "red"}), "unknown filter 'colour'", FILTERS),
        (query(filters={"artist": ["Monet"]}), "must be a string", None),
        (query(metric=["l2"]), "unknown metric", ["cosine", "l2"]),
        (query(metric="manhattan"), "unknown metric", ["cosine", "l2"]),
        (query(k=True), "k must be an integer", None),
        (query(k=2.5), "k must be an integer, got 2.5", None),
        (query(k=0), "k must be between 1 and", None),
        (query(colour="red"), "unknown field 'colour'", FIELDS),
        # The first unknown name, in order.
        (query(size=3, colour="red"), "unknown field 'colour'", FIELDS),
        (query(filters={"title": "x", "colour": "red"}), "unknown filter 'colour'", FILTERS),
        (query(vector=[True] * GLOBAL.dims), "list of finite numbers", None),
        (query(vector="0.25"), "list of finite numbers", None),
        ({"representation": "global"}, "needs the vector", None),
        (query(vector=[0.5, 0.5]), "960 dimensions", None),
        (["global", VECTOR], "must be an object", FIELDS),
    ],
)
def test_a_wrong_body_is_a_400_with_the_valid_values(
    body: Any, text: str, valid: list[str] | None
) -> None:
    response, es = post_similar(json=body)

    assert response.status_code == 400, response.text
    assert text in response.json()["error"]
    if valid is not None:
        assert response.json()["valid"] == valid
    assert es.bodies == []


def test_a_vector_with_a_value_elasticsearch_cannot_take_is_refused() -> None:
    # Python's JSON reader takes Infinity and NaN, which Elasticsearch refuses.
    numbers = ", ".join(["0.25"] * (GLOBAL.dims - 1) + ["Infinity"])
    text = f'{{"representation": "global", "vector": [{numbers}]}}'

    response, es = post_similar(content=text, headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert "finite" in response.json()["error"]
    assert es.bodies == []


def test_a_right_body_searches_with_its_filters_metric_and_k() -> None:
    filters = {"style": "Realism", "artist": None, "genre": ""}  # no value: no filter

    response, es = post_similar(json=query(metric="l2", k=3, filters=filters))

    assert response.status_code == 200, response.text
    (body,) = es.bodies
    assert body["knn"]["field"] == "vectors.global.l2"
    assert body["knn"]["k"] == 3 and body["size"] == 3
    assert body["knn"]["filter"]["bool"] == {
        "filter": [word_start_query("metadata.style", "Realism")],
        "must_not": [],
    }
    assert response.json()["results"][0]["hits"] == [{"id": "a.jpg", "score": 0.9}]


def test_k_may_come_as_a_string_and_defaults_to_the_setting() -> None:
    mid = [1] * by_name("mid").dims

    as_text, es_text = post_similar(json={"representation": "mid", "vector": mid, "k": "4"})
    absent, es_absent = post_similar(json={"representation": "mid", "vector": mid})

    assert as_text.status_code == absent.status_code == 200
    assert es_text.bodies[0]["knn"]["k"] == 4
    assert es_absent.bodies[0]["knn"]["k"] == SETTINGS.default_k
    assert "filter" not in es_absent.bodies[0]["knn"]


def test_a_vector_query_cannot_be_changed_once_checked() -> None:
    asked = parameters.parse_vector_query(query(), SETTINGS, REPRESENTATIONS)

    with pytest.raises(dataclasses.FrozenInstanceError):
        asked.k = 1000  # type: ignore[misc]


def test_a_cap_per_artist_is_one_to_max_k_and_absent_or_empty_is_none() -> None:
    # 0 would cap every artist to nothing: a page of only paintings without an artist.
    for value in (0, "0", 51, -1, "many", True, 1.5, [1]):
        with pytest.raises(RequestError, match="per_artist must") as refused:
            parameters.parse_per_artist(value, K_SETTINGS)
        assert refused.value.status == 400
    assert [parameters.parse_per_artist(v, K_SETTINGS) for v in (1, "2", 3.0, 50)] == [1, 2, 3, 50]
    assert parameters.parse_per_artist(None, K_SETTINGS) is None
    assert parameters.parse_per_artist("", K_SETTINGS) is None


def test_a_filter_of_200_characters_is_taken_and_one_more_is_a_400() -> None:
    assert parameters.parse_filters({"artist": "a" * 200}) == {"artist": "a" * 200}
    with pytest.raises(RequestError, match="artist is longer than 200 characters") as refused:
        parameters.parse_filters({"artist": "a" * 201})
    assert refused.value.status == 400


def test_an_integer_of_100_characters_is_read_and_a_longer_one_is_not() -> None:
    # The length is bounded before int() reads it: a huge string of digits costs it seconds.
    assert parameters.parse_k("5".rjust(100, "0"), K_SETTINGS) == 5
    with pytest.raises(RequestError, match="k must be an integer"):
        parameters.parse_k("5".rjust(101, "0"), K_SETTINGS)


def test_the_vectors_option_is_none_every_one_or_names() -> None:
    every = list(REPRESENTATIONS)
    for text, expected in ((None, []), ("false", []), ("No", []), ("TRUE", every), ("1", every)):
        assert parameters.parse_vectors_option(text, REPRESENTATIONS) == expected
    assert parameters.parse_vectors_option("global", REPRESENTATIONS) == [GLOBAL]
    with pytest.raises(RequestError, match="vectors: unknown representation") as refused:
        parameters.parse_vectors_option("colour", REPRESENTATIONS)
    assert refused.value.status == 400
    assert refused.value.details["valid"][-1] == "true"


def test_a_representation_not_mapped_for_the_metric_is_a_400_naming_the_ones_it_is() -> None:
    only_l2 = {"global": [Metric.L2]}
    parameters.require_mapped([GLOBAL], Metric.L2, only_l2.__getitem__)
    with pytest.raises(RequestError, match="for l2 only, not cosine") as refused:
        parameters.require_mapped([GLOBAL], Metric.COSINE, only_l2.__getitem__)
    assert (refused.value.status, refused.value.details["valid"]) == (400, [Metric.L2])


def test_a_painting_id_at_the_contract_s_limit_is_read_and_a_longer_or_nul_one_is_a_404() -> None:
    def asked(painting_id: str) -> str:
        request = Request({"type": "http", "path_params": {"painting_id": painting_id}})
        return parameters.painting_id(request)

    assert asked("p" * 512) == "p" * 512
    for painting_id in ("p" * 513, "a\x00b", ""):
        with pytest.raises(RequestError, match="no painting") as refused:
            asked(painting_id)
        assert refused.value.status == 404
