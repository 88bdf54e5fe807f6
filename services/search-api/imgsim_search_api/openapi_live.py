"""The OpenAPI document as the index behind the alias makes it: the representation names a request
may give, each one's vector length and the metrics it is mapped for.

`openapi.document` states what the settings alone decide; the names and lengths follow the model
of the index, which can change while the API runs (a model swap). So `/openapi.json` is served
from what the index holds now (`IndexWatch`, no older than SEARCH_API_INDEX_MODEL_TTL_S): POST
/similar's body is one schema per representation with its exact length, a blend clause likewise,
and a query string's names are listed. When what the index holds cannot be learned
(Elasticsearch away), the static document is served: it gives the names' pattern and points at
GET /representations, and every search answers 503 meanwhile.
"""

import copy
import re
from typing import Any

from elasticsearch import ApiError, TransportError
from imgsim_common.representations import Metric
from starlette.requests import Request

from imgsim_search_api import parameters
from imgsim_search_api.errors import RequestError
from imgsim_search_api.index_model import IndexModel
from imgsim_search_api.index_watch import IndexWatch

# A vector of zeros has no direction: cosine refuses it, so a vector searched by cosine holds a
# number at least MIN_DIRECTION in size (`parameters.has_direction`).
DIRECTED = {
    "contains": {
        "anyOf": [
            {"minimum": parameters.MIN_DIRECTION},
            {"maximum": -parameters.MIN_DIRECTION},
        ]
    }
}
# The flags a query string takes, in any case (`parameters.parse_flag`).
FLAG_WORDS = ("true", "false", "yes", "no", "1", "0")


def any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


FLAG_PATTERN = "(?:" + "|".join(any_case(w) for w in FLAG_WORDS) + ")"


def name_list(names: list[str]) -> str:
    """Names joined by commas, each with spaces around it if it likes (`parse_representations`)."""
    one = "(?:" + "|".join(re.escape(n) for n in names) + ")"
    return rf"\s*{one}\s*(?:,\s*{one}\s*)*"


async def served(request: Request, static: dict[str, Any]) -> dict[str, Any]:
    """The document for what the index holds now; `static` when that cannot be learned."""
    watch: IndexWatch | None = getattr(request.app.state, "index_watch", None)
    if watch is None:
        return static
    try:
        known = await watch.current()
    except (RequestError, ApiError, TransportError):
        return static
    cached: tuple[IndexModel, dict[str, Any]] | None = getattr(request.app.state, "openapi", None)
    if cached is None or cached[0] is not known:
        cached = (known, live(static, known))
        request.app.state.openapi = cached
    return cached[1]


def live(static: dict[str, Any], known: IndexModel) -> dict[str, Any]:
    document = copy.deepcopy(static)
    names = [r.name for r in known.representations]
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "query":
                    continue
                if parameter["name"] == "representation":
                    parameter["schema"] = {
                        "type": "string",
                        "pattern": f"^(?:all|{name_list(names)})$",
                        "default": "all",
                    }
                elif parameter["name"] == "vectors":
                    parameter["schema"] = {
                        "type": "string",
                        "pattern": f"^(?:{FLAG_PATTERN}|all|{name_list(names)})$",
                        "default": "false",
                    }
    schemas = document["components"]["schemas"]
    schemas["VectorQuery"] = {
        "oneOf": [_vector_query(schemas["VectorQuery"], known, n) for n in names],
        "description": "one schema per representation the index holds: its name and its "
        "vector's exact length",
    }
    for name in ("BlendClause", "BlendJsonClause"):
        if name in schemas:
            schemas[name] = {
                "oneOf": [_blend_clause(schemas[name], known, n) for n in names],
                "description": schemas[name].get("description", ""),
            }
    for name in ("BlendQuery", "BlendFormQuery"):
        if name in schemas:
            schemas[name] = _blend_query(schemas[name], known)
    painting = document["paths"]["/paintings/{painting_id}"]["get"]["responses"]["200"]
    painting.setdefault("links", {})["blendByIt"] = {
        "operationId": "similarBlend",
        "requestBody": {
            "clauses": [
                {"painting": "$response.body#/id", "representation": known.default_representation}
            ]
        },
        "description": "paintings like it, by the default representation",
        # The body is the link's as it is: a clause of a painting has no vector.
        "x-schemathesis": {"merge_body": False},
    }
    return document


def _sized(vector: dict[str, Any], dims: int) -> dict[str, Any]:
    return vector | {
        "minItems": dims,
        "maxItems": dims,
        "description": f"{dims} numbers, the representation's length",
    }


def _dims(known: IndexModel, name: str) -> int:
    return next(r.dims for r in known.representations if r.name == name)


def _vector_query(base: dict[str, Any], known: IndexModel, name: str) -> dict[str, Any]:
    branch = copy.deepcopy(base)
    properties = branch["properties"]
    properties["representation"] = {"const": name}
    properties["vector"] = _sized(properties["vector"], _dims(known, name))
    mapped = known.metrics_of(name)
    if Metric.COSINE in mapped:
        # Absent or null: cosine.
        properties["metric"] = {"enum": [*(m.value for m in mapped), None]}
        others = [m.value for m in mapped if m is not Metric.COSINE]
        by_cosine = {"properties": {"vector": DIRECTED}}
        if others:
            by_other = {"required": ["metric"], "properties": {"metric": {"enum": others}}}
            branch["anyOf"] = [by_other, by_cosine]
        else:
            branch["allOf"] = [by_cosine]
    else:
        properties["metric"] = {"enum": [m.value for m in mapped]}
        branch["required"] = [*branch["required"], "metric"]
    return branch


def _blend_clause(base: dict[str, Any], known: IndexModel, name: str) -> dict[str, Any]:
    branch = copy.deepcopy(base)
    properties = branch["properties"]
    properties["representation"] = {"const": name}
    properties["vector"] = _sized(properties["vector"], _dims(known, name))
    # What a clause searches by: exactly one of them (a painting, a vector, ...).
    kinds = [k for k in properties if k not in ("representation", "weight")]
    branch["oneOf"] = [{"required": [k]} for k in kinds]
    branch.pop("description", None)
    return branch


def _blend_query(base: dict[str, Any], known: IndexModel) -> dict[str, Any]:
    """Its metric, with the representations mapped for it (a cosine blend's given vectors not all
    zeros), and at least one clause with a weight above 0 (absent: 1)."""
    query = copy.deepcopy(base)
    properties = query["properties"]
    properties["metric"] = {"enum": [*(m.value for m in known.metrics), None]}
    weighed = {
        "contains": {
            "anyOf": [
                {"not": {"required": ["weight"]}},
                {"properties": {"weight": {"exclusiveMinimum": 0}}},
            ]
        }
    }
    clauses = properties["clauses"]
    clauses["allOf"] = [*clauses.get("allOf", []), weighed]
    branches = []
    for metric in known.metrics:
        usable = [r.name for r in known.representations if metric in known.metrics_of(r.name)]
        clause: dict[str, Any] = {"representation": {"enum": usable}}
        branch: dict[str, Any] = {}
        if metric is Metric.COSINE:
            clause["vector"] = DIRECTED
            branch["properties"] = {"metric": {"enum": [metric.value, None]}}
        else:
            branch["required"] = ["metric"]
            branch["properties"] = {"metric": {"const": metric.value}}
        branch["properties"]["clauses"] = {"items": {"properties": clause}}
        branches.append(branch)
    query["anyOf"] = branches
    return query
