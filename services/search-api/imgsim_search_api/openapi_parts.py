"""The pieces the OpenAPI document (openapi.py) is built of: parameters, errors and the
responses several operations share, each worded once."""

from typing import Any

from imgsim_common import contract
from imgsim_common.representations import METRICS

from imgsim_search_api import browse, openapi_bounds, parameters
from imgsim_search_api.openapi_bounds import TEXT
from imgsim_search_api.openapi_schemas import LISTED
from imgsim_search_api.settings import SearchApiSettings
from imgsim_search_api.streaming import NDJSON, SSE

JSON = "application/json"


def param(name: str, where: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {"name": name, "in": where, "schema": schema, "description": text}


def error(text: str) -> dict[str, Any]:
    return {
        "description": text,
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def ok(text: str, schema: str, *media_types: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {"200": {"description": text, "content": {m: {"schema": ref} for m in media_types}}}


# Longer than the record contract lets an id be, or with a NUL: no painting has it (404).
PAINTING_ID = param(
    "painting_id",
    "path",
    {
        "type": "string",
        "minLength": 1,
        "maxLength": contract.MAX_ID_LENGTH,
        "pattern": "^[^\\x00]*$",
    },
    "the image path under the root",
)
PAINTING_ID["required"] = True
UNAVAILABLE = error("Elasticsearch unreachable or the index missing (with `Retry-After`)")
BAD_REQUEST = error("a parameter out of its list or bounds; the valid values are listed")
NOT_FOUND = error("no painting with that id")
IF_NONE_MATCH = param(
    "If-None-Match", "header", {"type": "string"}, "the `ETag` of the copy the client holds"
)
NOT_MODIFIED = {"description": "the copy the client holds is current (`If-None-Match`)"}
BODY_TOO_LARGE = ("413", f"a body larger than {parameters.MAX_JSON_BODY_BYTES} bytes")
FILE_MISSING = error(
    "no painting with that id, or its file is missing or outside the image root "
    "(`reason`: missing, outside_root)"
)
FILE_UNREADABLE = error(
    "the painting's file cannot be read or is not an image in a format the collection takes "
    "(`reason`: unreadable, not_an_image, corrupt, too_many_pixels)"
)
CHECKER_AWAY = error(
    "the consistency checker cannot be reached (`error`, `reason`, `hint`; with `Retry-After`)"
)
CHECKER_WRONG = error("SEARCH_API_CHECKER_URL answered, but not as the consistency checker")
CHECKER_OFF = error("no consistency checker configured (SEARCH_API_CHECKER_URL is empty)")


def ingestion_operation(summary: str, *statuses: tuple[str, str]) -> dict[str, Any]:
    """A route that relays the consistency checker's answer as it came."""
    answers = {s: {"description": text, "content": {JSON: {}}} for s, text in statuses}
    errors = {"404": CHECKER_OFF, "502": CHECKER_WRONG}
    # A 503 of the checker's own (a report) is described by the route with the other 503.
    return {"get": {"summary": summary, "responses": errors | {"503": CHECKER_AWAY} | answers}}


def similar_responses(*extra: tuple[str, str]) -> dict[str, Any]:
    responses = ok(
        "JSON, or a stream when `Accept` asks for NDJSON or Server-Sent Events: the query first, "
        "then one block per representation as each search finishes",
        "SimilarResults",
        JSON,
        NDJSON,
        SSE,
    )
    responses |= {"400": BAD_REQUEST, "503": UNAVAILABLE}
    responses |= {status: error(text) for status, text in extra}
    return responses


MODEL_CONFLICT = (
    "409",
    "the index holds vectors of another model than upload search runs, or vectors it does not "
    "produce: `error` names both models; `index`, `index_model` and `upload_model` say them",
)


def search_params(settings: SearchApiSettings) -> list[dict[str, Any]]:
    return [
        param(
            "representation",
            "query",
            {"type": "string", "default": "all"},
            f"one of {LISTED}, several joined by commas, or all",
        ),
        param(
            "metric",
            "query",
            {"type": "string", "enum": [m.value for m in METRICS], "default": "cosine"},
            "cosine or L2 similarity",
        ),
        param(
            "k",
            "query",
            openapi_bounds.k_range(settings),
            f"neighbours per representation (default {settings.default_k})",
        ),
        *(
            param(name, "query", TEXT, f"only paintings with this {name}")
            for name in parameters.FILTER_FIELDS
        ),
    ]


YEAR = {
    "anyOf": [
        {"type": "integer", "minimum": browse.YEARS.start, "maximum": browse.YEARS.stop - 1},
        # What a form's empty field sends: no bound, as for every other filter.
        {"type": "string", "maxLength": 0},
    ]
}


def listing_filters() -> list[dict[str, Any]]:
    return [
        *(
            param(
                n,
                "query",
                {"type": "string", "maxLength": parameters.MAX_FILTER_LENGTH},
                f"this {n} in any case and accents, or the start of it or of one of its words",
            )
            for n in parameters.FILTER_FIELDS
        ),
        param("year_from", "query", YEAR, "earliest year"),
        param("year_to", "query", YEAR, "latest year"),
        param(
            "q",
            "query",
            {"type": "string", "maxLength": parameters.MAX_FILTER_LENGTH},
            "words in the title, or the start of each word typed, in any case and accents",
        ),
    ]


def page_operation(summary: str, last: dict[str, Any]) -> dict[str, Any]:
    """A browsing endpoint: the listing filters, a page size and one parameter of its own."""
    size = param(
        "size",
        "query",
        {"type": "integer", "minimum": 1, "maximum": browse.MAX_PAGE_SIZE},
        f"page size (default {browse.DEFAULT_PAGE_SIZE})",
    )
    return {
        "get": {
            "summary": summary,
            "parameters": [*listing_filters(), size, last],
            "responses": ok("a page of paintings", "Page", JSON)
            | {"400": BAD_REQUEST, "503": UNAVAILABLE},
        }
    }
