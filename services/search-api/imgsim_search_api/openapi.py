"""The API's OpenAPI 3.1 document, served at `/openapi.json`.

Built here rather than parsed from docstrings, so that every list it names (metrics, filters,
thumbnail sizes, bounds) comes from the same constants the handlers check against; a test
compares its paths with the app's routes.

Representation names are the exception: they follow the model of the index behind the alias,
which can change while the API runs (a model swap). The document gives their pattern and points
at GET /representations rather than an enum, which a client generated from it would keep after
the names had changed.
"""

from typing import Any

from imgsim_common import contract
from imgsim_common.representations import METRICS

from imgsim_search_api import browse, files, openapi_bounds, openapi_links, parameters
from imgsim_search_api.openapi_bounds import FLAG, TEXT
from imgsim_search_api.openapi_schemas import LISTED, schemas
from imgsim_search_api.settings import SearchApiSettings
from imgsim_search_api.streaming import NDJSON, SSE

JSON = "application/json"


def _param(name: str, where: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {"name": name, "in": where, "schema": schema, "description": text}


def _error(text: str) -> dict[str, Any]:
    return {
        "description": text,
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok(text: str, schema: str, *media_types: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {"200": {"description": text, "content": {m: {"schema": ref} for m in media_types}}}


# Longer than the record contract lets an id be, or with a NUL: no painting has it (404).
PAINTING_ID = _param(
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
UNAVAILABLE = _error("Elasticsearch unreachable or the index missing (with `Retry-After`)")
BAD_REQUEST = _error("a parameter out of its list or bounds; the valid values are listed")
NOT_FOUND = _error("no painting with that id")
IF_NONE_MATCH = _param(
    "If-None-Match", "header", {"type": "string"}, "the `ETag` of the copy the client holds"
)
NOT_MODIFIED = {"description": "the copy the client holds is current (`If-None-Match`)"}
BODY_TOO_LARGE = ("413", f"a body larger than {parameters.MAX_JSON_BODY_BYTES} bytes")
FILE_MISSING = _error(
    "no painting with that id, or its file is missing or outside the image root "
    "(`reason`: missing, outside_root)"
)
FILE_UNREADABLE = _error(
    "the painting's file cannot be read or is not an image in a format the collection takes "
    "(`reason`: unreadable, not_an_image, corrupt, too_many_pixels)"
)
CHECKER_AWAY = _error(
    "the consistency checker cannot be reached (`error`, `reason`, `hint`; with `Retry-After`)"
)
CHECKER_WRONG = _error("SEARCH_API_CHECKER_URL answered, but not as the consistency checker")
CHECKER_OFF = _error("no consistency checker configured (SEARCH_API_CHECKER_URL is empty)")


def _ingestion(summary: str, *statuses: tuple[str, str]) -> dict[str, Any]:
    """A route that relays the consistency checker's answer as it came."""
    answers = {s: {"description": text, "content": {JSON: {}}} for s, text in statuses}
    errors = {"404": CHECKER_OFF, "502": CHECKER_WRONG}
    # A 503 of the checker's own (a report) is described by the route with the other 503.
    return {"get": {"summary": summary, "responses": errors | {"503": CHECKER_AWAY} | answers}}


def _similar_responses(*extra: tuple[str, str]) -> dict[str, Any]:
    responses = _ok(
        "JSON, or a stream when `Accept` asks for NDJSON or Server-Sent Events: the query first, "
        "then one block per representation as each search finishes",
        "SimilarResults",
        JSON,
        NDJSON,
        SSE,
    )
    responses |= {"400": BAD_REQUEST, "503": UNAVAILABLE}
    responses |= {status: _error(text) for status, text in extra}
    return responses


MODEL_CONFLICT = (
    "409",
    "the index holds vectors of another model than upload search runs, or vectors it does not "
    "produce: `error` names both models; `index`, `index_model` and `upload_model` say them",
)


def _search_params(settings: SearchApiSettings) -> list[dict[str, Any]]:
    return [
        _param(
            "representation",
            "query",
            {"type": "string", "default": "all"},
            f"one of {LISTED}, several joined by commas, or all",
        ),
        _param(
            "metric",
            "query",
            {"type": "string", "enum": [m.value for m in METRICS], "default": "cosine"},
            "cosine or L2 similarity",
        ),
        _param(
            "k",
            "query",
            openapi_bounds.k_range(settings),
            f"neighbours per representation (default {settings.default_k})",
        ),
        *(
            _param(name, "query", TEXT, f"only paintings with this {name}")
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


def _listing_filters() -> list[dict[str, Any]]:
    return [
        *(
            _param(
                n,
                "query",
                {"type": "string", "maxLength": parameters.MAX_FILTER_LENGTH},
                f"this {n} in any case and accents, or the start of it or of one of its words",
            )
            for n in parameters.FILTER_FIELDS
        ),
        _param("year_from", "query", YEAR, "earliest year"),
        _param("year_to", "query", YEAR, "latest year"),
        _param(
            "q",
            "query",
            {"type": "string", "maxLength": parameters.MAX_FILTER_LENGTH},
            "words in the title, or the start of each word typed, in any case and accents",
        ),
    ]


def _page(summary: str, last: dict[str, Any]) -> dict[str, Any]:
    """A browsing endpoint: the listing filters, a page size and one parameter of its own."""
    size = _param(
        "size",
        "query",
        {"type": "integer", "minimum": 1, "maximum": browse.MAX_PAGE_SIZE},
        f"page size (default {browse.DEFAULT_PAGE_SIZE})",
    )
    return {
        "get": {
            "summary": summary,
            "parameters": [*_listing_filters(), size, last],
            "responses": _ok("a page of paintings", "Page", JSON)
            | {"400": BAD_REQUEST, "503": UNAVAILABLE},
        }
    }


def document(settings: SearchApiSettings) -> dict[str, Any]:
    # What a search by an uploaded image may answer besides a search's own (POST /similar/upload,
    # and POST /similar/blend as a form).
    uploads = (
        MODEL_CONFLICT,
        (
            "404",
            "upload search is switched off (no SEARCH_API_EMBEDDING_URL)",
        ),
        (
            "413",
            f"larger than {settings.max_upload_bytes} bytes or {settings.max_upload_pixels} pixels",
        ),
        (
            "408",
            f"the body did not arrive within {settings.upload_read_timeout_s:g} s "
            "(SEARCH_API_UPLOAD_READ_TIMEOUT_S)",
        ),
        ("422", "not a decodable image: `reason` says why, as ingestion would"),
        (
            "429",
            f"more than {settings.max_concurrent_uploads} uploads at once "
            "(SEARCH_API_MAX_CONCURRENT_UPLOADS), answered before the body is "
            "read: try again after `Retry-After` seconds",
        ),
        ("502", "the embedding endpoint answered something else than vectors"),
        (
            "503",
            "Elasticsearch unreachable, or no vectorizer answers at "
            "SEARCH_API_EMBEDDING_URL (with `Retry-After`)",
        ),
    )
    search = _search_params(settings)
    flag = FLAG
    described: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "imgsim search API",
            "version": "1",
            "description": "Similar paintings by several CNN representations, cosine or L2.",
        },
        "paths": {
            "/paintings": _page(
                "A filtered listing, paged with a cursor (search_after)",
                _param(
                    "after",
                    "query",
                    {"type": "string"},
                    "the last page's `next`: a cursor this API gave out, opaque; any other is a "
                    f"400 ({browse.NOT_GIVEN_OUT!r})",
                ),
            ),
            "/random": _page(
                "A random sample, repeatable with a seed",
                _param("seed", "query", {"type": "string"}, "same seed, same sample"),
            ),
            "/paintings/{painting_id}": {
                "get": {
                    "summary": "One painting's metadata, and its vectors when asked",
                    "parameters": [
                        PAINTING_ID,
                        _param(
                            "vectors",
                            "query",
                            {"type": "string", "default": "false"},
                            "true (or all) adds `vectors`: representation name -> the painting's "
                            f"vector, for each of {LISTED} the painting has; or some of those "
                            "names, joined by commas; false (the default) leaves them out",
                        ),
                    ],
                    "responses": _ok("the painting", "Painting", JSON)
                    | {"400": BAD_REQUEST, "404": NOT_FOUND, "503": UNAVAILABLE},
                }
            },
            "/images/{painting_id}": {
                "get": {
                    "summary": "The original file (ETag, Cache-Control; 304 on If-None-Match)",
                    "parameters": [PAINTING_ID, IF_NONE_MATCH],
                    "responses": {
                        "200": {"description": "the image file"},
                        "304": NOT_MODIFIED,
                        "404": FILE_MISSING,
                        "422": FILE_UNREADABLE,
                        "503": UNAVAILABLE,
                    },
                }
            },
            "/thumbnails/{painting_id}": {
                "get": {
                    "summary": "A cached JPEG thumbnail (ETag, Cache-Control)",
                    "parameters": [
                        PAINTING_ID,
                        _param(
                            "size",
                            "query",
                            {
                                "type": "integer",
                                "enum": list(files.THUMBNAIL_SIZES),
                                "default": 256,
                            },
                            "the longer side, in pixels",
                        ),
                        IF_NONE_MATCH,
                    ],
                    "responses": {
                        "200": {"description": "a JPEG", "content": {"image/jpeg": {}}},
                        "304": NOT_MODIFIED,
                        "400": BAD_REQUEST,
                        "404": FILE_MISSING,
                        "422": FILE_UNREADABLE,
                        "503": UNAVAILABLE,
                    },
                }
            },
            "/similar/{painting_id}": {
                "get": {
                    "summary": "Paintings similar to a stored one, which is left out",
                    "parameters": [
                        PAINTING_ID,
                        *search,
                        _param("exact", "query", flag, "look at every candidate allowed"),
                        _param("same_style", "query", flag, "only the painting's style"),
                        _param("exclude_artist", "query", flag, "leave out the painting's artist"),
                        openapi_bounds.per_artist(settings),
                    ],
                    "responses": _similar_responses(
                        ("404", "no painting with that id"),
                        ("409", "the painting has no vector for that representation"),
                    ),
                }
            },
            "/similar": {
                "post": {
                    "summary": "Paintings similar to a vector",
                    "requestBody": {
                        "required": True,
                        "content": {JSON: {"schema": {"$ref": "#/components/schemas/VectorQuery"}}},
                    },
                    "responses": _similar_responses(BODY_TOO_LARGE),
                }
            },
            "/similar/blend": {
                "post": {
                    "summary": 'Paintings ranked by a weighted blend of several searches ("the '
                    'style of this painting with the subject of that one"), run as one '
                    "Elasticsearch search with a boosted knn clause each; the paintings searched "
                    "by are left out",
                    "requestBody": {
                        "required": True,
                        "content": {
                            JSON: {"schema": {"$ref": "#/components/schemas/BlendQuery"}},
                            # With an uploaded image, which `upload` clauses search by.
                            "multipart/form-data": {
                                "encoding": {"query": {"contentType": JSON}},
                                "schema": {
                                    "type": "object",
                                    "required": ["query", "image"],
                                    "properties": {
                                        # A part of its own type: JSON text, not a string.
                                        "query": {"$ref": "#/components/schemas/BlendFormQuery"},
                                        "image": {"type": "string", "format": "binary"},
                                    },
                                },
                            },
                        },
                    },
                    "responses": _similar_responses(
                        (
                            "413",
                            f"{BODY_TOO_LARGE[1]}; a form: larger than "
                            f"{settings.max_upload_bytes} bytes, or an image of more than "
                            f"{settings.max_upload_pixels} pixels",
                        ),
                        (
                            "404",
                            "a clause names no painting (`error` names it), or a form's "
                            "upload while upload search is switched off",
                        ),
                        (
                            "409",
                            "a clause's painting has no vector for its representation, or the "
                            "upload's model is not the index's",
                        ),
                        *[u for u in uploads if u[0] not in ("404", "409", "413")],
                    ),
                }
            },
            "/similar/upload": {
                "post": {
                    "summary": "Paintings similar to an uploaded image, vectorized by the "
                    "vectorizer's embedding endpoint with the collection's model",
                    "parameters": [
                        *search,
                        _param("exact", "query", flag, "look at every candidate allowed"),
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "image/*": {},
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["image"],
                                    "properties": {"image": {"type": "string", "format": "binary"}},
                                }
                            },
                        },
                    },
                    "responses": _similar_responses(*uploads),
                }
            },
            "/representations": {
                "get": {
                    "summary": "The representations and metrics of the index behind the alias, "
                    "and its model: they follow the alias within seconds of a model swap",
                    "responses": _ok("the lists", "Representations", JSON) | {"503": UNAVAILABLE},
                }
            },
            "/healthz": {"get": {"summary": "Alive", "responses": {"200": {"description": "ok"}}}},
            "/readyz": {
                "get": {
                    "summary": "Elasticsearch reachable and the index there and understood "
                    "(`index`: the alias, `serving`: the index behind it, `model`; `problem`: "
                    "why what it holds could not be learned again)",
                    "responses": {"200": {"description": "ready"}, "503": UNAVAILABLE},
                }
            },
            "/ingestion/health": _ingestion(
                "The consistency checker's report: overall and per-leg state and reason, lag, "
                "ingest rate, components and the last reconciliation",
                ("200", "the report; overall state OK or WARN"),
                (
                    "503",
                    "the report (it has a `state`) when the state is REWIND, STALL, STOP or ERR; "
                    "else the checker cannot be reached",
                ),
            ),
            "/ingestion/history": _ingestion(
                "State, lag and ingest rate per leg at each of the checker's polls of the last "
                "10 minutes",
                ("200", "`{interval_s, points: [{t, state, legs}]}`"),
            ),
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics: requests and latency by route",
                    "responses": {"200": {"description": "text exposition format"}},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1", "content": {JSON: {}}}},
                }
            },
        },
        "components": {"schemas": openapi_bounds.bounded_bodies(schemas(), settings)},
    }
    return openapi_links.linked(described)
