"""The OpenAPI document the service serves: valid OpenAPI 3.1, one entry for every route and
method, and the lists it names taken from the lists the API checks against."""

import asyncio
import re
from typing import Any

import httpx
from imgsim_common.representations import METRICS, REPRESENTATIONS
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
    assert all(r.name in parameters["representation"]["description"] for r in REPRESENTATIONS)
    block = document["components"]["schemas"]["Block"]["properties"]
    assert block["representation"]["enum"] == [r.name for r in REPRESENTATIONS]


def test_the_vector_query_documents_the_fields_and_filters_the_api_takes() -> None:
    document, _ = served()
    schema = document["components"]["schemas"]["VectorQuery"]

    assert list(schema["properties"]) == list(parameters.VECTOR_QUERY_FIELDS)
    assert list(schema["properties"]["filters"]["properties"]) == list(parameters.FILTER_FIELDS)
    assert schema["additionalProperties"] is False
