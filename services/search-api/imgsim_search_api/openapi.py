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

from imgsim_search_api import browse, files, openapi_bounds, openapi_links
from imgsim_search_api.openapi_bounds import FLAG
from imgsim_search_api.openapi_parts import (
    BAD_REQUEST,
    BODY_TOO_LARGE,
    FILE_MISSING,
    FILE_UNREADABLE,
    IF_NONE_MATCH,
    JSON,
    MODEL_CONFLICT,
    NOT_FOUND,
    NOT_MODIFIED,
    PAINTING_ID,
    UNAVAILABLE,
    ingestion_operation,
    ok,
    page_operation,
    param,
    search_params,
    similar_responses,
)
from imgsim_search_api.openapi_schemas import LISTED, schemas
from imgsim_search_api.settings import SearchApiSettings


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
    search = search_params(settings)
    flag = FLAG
    described: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "imgsim search API",
            "version": "1",
            "description": "Similar paintings by several CNN representations, cosine or L2.",
        },
        "paths": {
            "/paintings": page_operation(
                "A filtered listing, paged with a cursor (search_after)",
                param(
                    "after",
                    "query",
                    {"type": "string"},
                    "the last page's `next`: a cursor this API gave out, opaque; any other is a "
                    f"400 ({browse.NOT_GIVEN_OUT!r})",
                ),
            ),
            "/random": page_operation(
                "A random sample, repeatable with a seed",
                param("seed", "query", {"type": "string"}, "same seed, same sample"),
            ),
            "/paintings/{painting_id}": {
                "get": {
                    "summary": "One painting's metadata, and its vectors when asked",
                    "parameters": [
                        PAINTING_ID,
                        param(
                            "vectors",
                            "query",
                            {"type": "string", "default": "false"},
                            "true (or all) adds `vectors`: representation name -> the painting's "
                            f"vector, for each of {LISTED} the painting has; or some of those "
                            "names, joined by commas; false (the default) leaves them out",
                        ),
                    ],
                    "responses": ok("the painting", "Painting", JSON)
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
                        param(
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
                        param("exact", "query", flag, "look at every candidate allowed"),
                        param("same_style", "query", flag, "only the painting's style"),
                        param("exclude_artist", "query", flag, "leave out the painting's artist"),
                        openapi_bounds.per_artist(settings),
                    ],
                    "responses": similar_responses(
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
                    "responses": similar_responses(BODY_TOO_LARGE),
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
                    "responses": similar_responses(
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
                        param("exact", "query", flag, "look at every candidate allowed"),
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
                    "responses": similar_responses(*uploads),
                }
            },
            "/representations": {
                "get": {
                    "summary": "The representations and metrics of the index behind the alias, "
                    "and its model: they follow the alias within seconds of a model swap",
                    "responses": ok("the lists", "Representations", JSON) | {"503": UNAVAILABLE},
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
            "/ingestion/health": ingestion_operation(
                "The consistency checker's report: overall and per-leg state and reason, lag, "
                "ingest rate, components and the last reconciliation",
                ("200", "the report; overall state OK or WARN"),
                (
                    "503",
                    "the report (it has a `state`) when the state is REWIND, STALL, STOP or ERR; "
                    "else the checker cannot be reached",
                ),
            ),
            "/ingestion/history": ingestion_operation(
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
