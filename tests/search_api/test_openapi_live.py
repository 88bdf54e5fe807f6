"""The OpenAPI document as served for the index behind the alias: each representation's name and
exact vector length, the limits the API checks, and links between the operations; a body is
valid by it exactly when the API takes it."""

import asyncio
import re
from typing import Any

import httpx
import pytest
from imgsim_common.representations import REPRESENTATIONS, by_name
from imgsim_search_api import parameters
from imgsim_search_api.app import create_app
from imgsim_search_api.errors import RequestError
from imgsim_search_api.index_watch import IndexWatch
from imgsim_search_api.settings import SearchApiSettings
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.search_api.fixtures import watching

SETTINGS = SearchApiSettings(upload_enabled=False, max_k=50)


def served(watch: IndexWatch | None) -> dict[str, Any]:
    app = create_app(SETTINGS)

    async def get() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://api") as client,
        ):
            app.state.index_watch = watch
            response = await client.get("/openapi.json")
            assert response.status_code == 200
            document: dict[str, Any] = response.json()
            return document

    return asyncio.run(get())


def schema_of(document: dict[str, Any], name: str) -> Draft202012Validator:
    registry: Registry[Any] = Registry().with_resource(
        "urn:api", Resource.from_contents(document, DRAFT202012)
    )
    return Draft202012Validator({"$ref": f"urn:api#/components/schemas/{name}"}, registry=registry)


def query_parameter(document: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name
    ]
    assert len(found) == 1, found
    return found[0]


def test_each_representation_is_stated_with_its_vector_length() -> None:
    document = served(watching())
    validate(document)
    branches = document["components"]["schemas"]["VectorQuery"]["oneOf"]
    stated = {
        b["properties"]["representation"]["const"]: (
            b["properties"]["vector"]["minItems"],
            b["properties"]["vector"]["maxItems"],
        )
        for b in branches
    }
    assert stated == {r.name: (r.dims, r.dims) for r in REPRESENTATIONS}


def test_a_vector_query_is_valid_by_the_document_exactly_when_the_api_takes_it() -> None:
    valid = schema_of(served(watching()), "VectorQuery")
    mid = 112
    bodies: list[dict[str, Any]] = [
        {"representation": "mid", "vector": [0.5] * mid},
        {"representation": "mid", "vector": [0.5] * mid, "k": "7", "metric": None},
        {"representation": "mid", "vector": [0.0] * mid, "metric": "l2"},
        {"representation": "mid", "vector": [1e-30] + [0.0] * (mid - 1), "metric": "l2"},
        {"representation": "mid", "vector": [0.0] * mid},  # cosine: no direction
        {"representation": "mid", "vector": [1e-30] + [0.0] * (mid - 1)},
        {"representation": "mid", "vector": [0.5] * (mid - 1)},  # one short
        {"representation": "style", "vector": [0.5] * mid},  # style is 256 long
        {"representation": "mid", "vector": [2e15] * mid},
        {"representation": "mid", "vector": [0.5] * mid, "k": 51},
        {"representation": "mid", "vector": [0.5] * mid, "k": "051"},
        {"representation": "mid", "vector": [0.5] * mid, "filters": {"artist": "x" * 201}},
        {"representation": "all", "vector": [0.5] * mid},
    ]
    for body in bodies:
        try:
            parameters.parse_vector_query(body, SETTINGS, REPRESENTATIONS)
            taken = True
        except RequestError:
            taken = False
        # Its length is checked as the search is built (knn.py).
        if taken and len(body["vector"]) != by_name(body["representation"]).dims:
            taken = False
        assert valid.is_valid(body) == taken, body


@pytest.mark.parametrize(
    ("name", "taken", "refused"),
    [
        ("representation", ["all", "global", " mid , style", "global,global"], ["", "ALL", "x"]),
        ("vectors", ["TRUE", "no", "0", "all", "mid,style"], ["", "All", "mid,", "maybe"]),
    ],
)
def test_the_names_a_query_string_takes_are_the_index_s(
    name: str, taken: list[str], refused: list[str]
) -> None:
    document = served(watching())
    path = "/similar/{painting_id}" if name == "representation" else "/paintings/{painting_id}"
    pattern = re.compile(query_parameter(document, path, name)["schema"]["pattern"])
    parse = (
        parameters.parse_representations
        if name == "representation"
        else parameters.parse_vectors_option
    )
    for text in taken:
        assert pattern.search(text), text
        parse(text, REPRESENTATIONS)
    for text in refused:
        assert not pattern.search(text), text
        with pytest.raises(RequestError):
            parse(text, REPRESENTATIONS)


def test_without_the_index_the_names_are_a_pattern_and_a_pointer() -> None:
    document = served(None)
    validate(document)
    assert "oneOf" not in document["components"]["schemas"]["VectorQuery"]
    representation = query_parameter(document, "/similar/{painting_id}", "representation")
    assert "GET /representations" in representation["description"]


def test_listed_painting_ids_link_to_the_operations_that_take_one() -> None:
    document = served(watching())
    operations = [op for item in document["paths"].values() for op in item.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    links = document["paths"]["/paintings"]["get"]["responses"]["200"]["links"]
    assert links["getThumbnail"]["parameters"] == {"painting_id": "$response.body#/paintings/0/id"}
    assert links["nextPage"]["parameters"] == {"after": "$response.body#/next"}
    blend = document["paths"]["/paintings/{painting_id}"]["get"]["responses"]["200"]["links"]
    (clause,) = blend["blendByIt"]["requestBody"]["clauses"]
    assert schema_of(document, "BlendQuery").is_valid(
        {"clauses": [clause | {"painting": "collection/a.jpg"}]}
    )
