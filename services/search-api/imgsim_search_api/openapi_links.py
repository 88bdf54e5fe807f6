"""The OpenAPI document's operation ids and links: where a response's painting ids and cursor can
be used next (GET /paintings' ids to a painting's metadata, image, thumbnail and neighbours, its
`next` to the following page). A client, or a fuzzer's stateful phase, follows them to real
paintings rather than guessing ids."""

from typing import Any, Final

# (path, method) -> operationId
OPERATION_IDS: Final = {
    ("/paintings", "get"): "listPaintings",
    ("/random", "get"): "randomPaintings",
    ("/paintings/{painting_id}", "get"): "getPainting",
    ("/images/{painting_id}", "get"): "getImage",
    ("/thumbnails/{painting_id}", "get"): "getThumbnail",
    ("/similar/{painting_id}", "get"): "similarToPainting",
    ("/similar", "post"): "similarToVector",
    ("/similar/blend", "post"): "similarBlend",
    ("/similar/upload", "post"): "similarToUpload",
    ("/representations", "get"): "getRepresentations",
    ("/healthz", "get"): "healthz",
    ("/readyz", "get"): "readyz",
    ("/ingestion/health", "get"): "ingestionHealth",
    ("/ingestion/history", "get"): "ingestionHistory",
    ("/metrics", "get"): "metrics",
    ("/openapi.json", "get"): "openapi",
}
# The operations that take a painting id in their path.
BY_PAINTING: Final = ("getPainting", "getImage", "getThumbnail", "similarToPainting")


def _to_painting(pointer: str) -> dict[str, Any]:
    return {
        target: {
            "operationId": target,
            "parameters": {"painting_id": f"$response.body#{pointer}"},
            "description": f"the painting at {pointer}",
        }
        for target in BY_PAINTING
    }


def _links(operation_id: str) -> dict[str, Any]:
    if operation_id == "listPaintings":
        following = {
            "nextPage": {
                "operationId": "listPaintings",
                "parameters": {"after": "$response.body#/next"},
                "description": "the following page",
            }
        }
        return _to_painting("/paintings/0/id") | following
    if operation_id == "randomPaintings":
        return _to_painting("/paintings/0/id")
    if operation_id == "similarToPainting":
        return _to_painting("/results/0/hits/0/id")
    if operation_id in ("getImage", "getThumbnail"):
        again = {
            "painting_id": "$request.path.painting_id",
            "header.If-None-Match": "$response.header.ETag",
        }
        if operation_id == "getThumbnail":
            again["size"] = "$request.query.size"
        return {
            "again": {
                "operationId": operation_id,
                "parameters": again,
                "description": "the same file again, with the copy held: 304",
            }
        }
    return {}


def linked(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with an operationId on every operation and links on the 200 answers."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            operation_id = OPERATION_IDS[(path, method)]
            operation["operationId"] = operation_id
            links = _links(operation_id)
            if links:
                operation["responses"]["200"]["links"] = links
    return document
