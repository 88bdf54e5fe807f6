"""The OpenAPI document the service serves: valid OpenAPI 3.1, one entry for every route and
method, and the lists it names taken from the lists the API checks against."""

import asyncio
import re
from typing import Any

import httpx
from imgsim_common.representations import METRICS, NAME_PATTERN
from imgsim_search_api import parameters
from imgsim_search_api.app import create_app
from imgsim_search_api.settings import SearchApiSettings
from openapi_spec_validator import validate
from starlette.routing import Route

SETTINGS = SearchApiSettings(upload_enabled=False, max_k=50)


def served() -> tuple[dict[str, Any], Any]:
    app = create_app(SETTINGS)

    async def get() -> httpx.Response:
        # The document needs no Elasticsearch: no lifespan, no client.
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.get("/openapi.json")

    response = asyncio.run(get())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json(), app


def test_the_document_is_valid_openapi() -> None:
    document, _ = served()
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_every_route_and_method_is_documented_and_nothing_else() -> None:
    document, app = served()
    routes = {
        (re.sub(r"\{(\w+):path\}", r"{\1}", route.path), method.lower())
        for route in app.routes
        if isinstance(route, Route) and route.path != "/"  # the gallery page itself
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == routes


def test_lists_and_bounds_come_from_the_api_s_own() -> None:
    document, _ = served()
    parameters = {
        p["name"]: p for p in document["paths"]["/similar/{painting_id}"]["get"]["parameters"]
    }
    assert parameters["metric"]["schema"]["enum"] == [m.value for m in METRICS]
    assert parameters["k"]["schema"]["maximum"] == 50


def test_representation_names_are_not_fixed_but_point_at_the_live_list() -> None:
    # They follow the model of the index behind the alias, which changes while the API runs: an
    # enum would be baked into clients generated from the document.
    document, _ = served()
    schemas = document["components"]["schemas"]
    search = document["paths"]["/similar/{painting_id}"]["get"]["parameters"]
    (representation,) = [p for p in search if p["name"] == "representation"]
    upload = document["paths"]["/similar/upload"]["post"]

    assert "GET /representations" in representation["description"]
    for schema in (schemas["Block"], schemas["VectorQuery"]):
        named = schema["properties"]["representation"]
        assert "enum" not in named and named["pattern"] == NAME_PATTERN
    assert (
        "GET /representations"
        in schemas["VectorQuery"]["properties"]["representation"]["description"]
    )
    assert "representations" in schemas["Representations"]["required"]
    assert "409" in upload["responses"]


def test_a_painting_s_vectors_are_documented_as_an_option() -> None:
    document, _ = served()
    painting = document["paths"]["/paintings/{painting_id}"]["get"]

    (option,) = [p for p in painting["parameters"] if p["name"] == "vectors"]
    assert option["schema"]["default"] == "false"
    assert "vectors" in document["components"]["schemas"]["Painting"]["properties"]
    assert "400" in painting["responses"]


def test_the_vector_query_documents_the_fields_and_filters_the_api_takes() -> None:
    document, _ = served()
    schema = document["components"]["schemas"]["VectorQuery"]

    assert list(schema["properties"]) == list(parameters.VECTOR_QUERY_FIELDS)
    assert list(schema["properties"]["filters"]["properties"]) == list(parameters.FILTER_FIELDS)
    assert schema["additionalProperties"] is False
