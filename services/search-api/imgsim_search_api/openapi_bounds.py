"""The OpenAPI document's bounds: what the settings decide (`k`, `per_artist`) and what the
parameters' parsing enforces (flags, text lengths, vector numbers), stated where `openapi.py` and
`openapi_schemas.py` leave them open, so that a request valid by the document is one the API
takes, and the other way round."""

import copy
from typing import Any

from imgsim_common.representations import METRICS

from imgsim_search_api import parameters
from imgsim_search_api.openapi_live import FLAG_PATTERN
from imgsim_search_api.settings import SearchApiSettings

# A flag in a query string: true or false as a client sends them, or as a form or link does.
FLAG = {
    "anyOf": [{"type": "boolean"}, {"type": "string", "pattern": f"^{FLAG_PATTERN}$"}],
    "default": False,
}
# A filter's value or a title query (`parameters.checked_text`).
TEXT = {"type": "string", "maxLength": parameters.MAX_FILTER_LENGTH}


def per_artist(settings: SearchApiSettings) -> dict[str, Any]:
    return {
        "name": "per_artist",
        "in": "query",
        # Empty, as a form's field sends it: no cap.
        "schema": {"anyOf": [k_range(settings), {"type": "string", "maxLength": 0}]},
        "description": "at most this many results by one artist (diversity); fewer than k may "
        "come back when few artists are near",
    }


def k_range(settings: SearchApiSettings) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": settings.max_k}


def body_k(settings: SearchApiSettings) -> dict[str, Any]:
    """`k` or `per_artist` in a JSON body: a number, or its digits in a string (as a form's field
    gives it); null for the default."""
    digits = {"type": "string", "pattern": f"^{parameters.integers_up_to(settings.max_k)}$"}
    return {"anyOf": [k_range(settings), digits, {"type": "null"}]}


def bounded_bodies(components: dict[str, Any], settings: SearchApiSettings) -> dict[str, Any]:
    """The bodies' bounds that the settings decide (the schemas themselves know no settings)."""
    components["VectorQuery"]["properties"]["k"] = body_k(settings)
    blend_query = components["BlendQuery"]["properties"]
    blend_query["k"] = body_k(settings)
    empty = {"type": "string", "maxLength": 0}
    blend_query["per_artist"] = {"anyOf": [*body_k(settings)["anyOf"], empty]} | {
        "description": blend_query["per_artist"].get("description", "")
    }
    bounded = {"minimum": -parameters.MAX_VECTOR_VALUE, "maximum": parameters.MAX_VECTOR_VALUE}
    clause = components["BlendClause"]["properties"]
    clause["painting"] = clause["painting"] | {"minLength": 1}
    for query in (components["VectorQuery"], components["BlendQuery"]):
        query["properties"]["metric"] = {"enum": [*(m.value for m in METRICS), None]}
        for name in parameters.FILTER_FIELDS:
            query["properties"]["filters"]["properties"][name] = {"anyOf": [TEXT, {"type": "null"}]}
    for vector in (components["VectorQuery"]["properties"]["vector"], clause["vector"]):
        vector["items"] = vector["items"] | bounded
    return blend_form(components)


def blend_form(components: dict[str, Any]) -> dict[str, Any]:
    """A blend as JSON searches by paintings and vectors; as a form (its JSON in the `query`
    part) also by the form's image, which at least one clause then searches by."""
    form = copy.deepcopy(components["BlendQuery"])
    clause = copy.deepcopy(components["BlendClause"])
    clause["properties"].pop("upload", None)
    clause["description"] = "a painting's stored vector or a given one: one of the two"
    components["BlendJsonClause"] = clause
    components["BlendQuery"]["properties"]["clauses"]["items"] = {
        "$ref": "#/components/schemas/BlendJsonClause"
    }
    clauses = form["properties"]["clauses"]
    clauses["contains"] = {"required": ["upload"]}
    clauses["description"] = "at least one searching by the form's image (`upload`)"
    components["BlendFormQuery"] = form
    return components
