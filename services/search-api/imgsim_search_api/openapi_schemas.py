"""The schemas the OpenAPI document (`openapi.py`) refers to: a painting, a page, the result
blocks, POST /similar's body and GET /representations' answer."""

from typing import Any

from imgsim_common.representations import METRICS, NAME_PATTERN

from imgsim_search_api import blend, parameters

# Not an enum: the names follow the index's model (see `openapi.py`).
REPRESENTATION_NAME = {"type": "string", "pattern": NAME_PATTERN}
# Where the names are listed, in every description that takes one.
LISTED = "the names GET /representations lists (those of the index's model)"


def schemas() -> dict[str, Any]:
    painting = {
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "string"},
            "path": {"type": "string"},
            "sha1": {"type": "string"},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "metadata": {"type": "object", "additionalProperties": True},
            "model": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
            },
            "vectors": {
                "type": "object",
                "description": "only with `?vectors=`: representation name -> vector",
                "additionalProperties": {"type": "array", "items": {"type": "number"}},
            },
        },
    }
    model = {
        "type": ["object", "null"],
        "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
    }
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string"}, "valid": {"type": "array"}},
        },
        "Painting": painting,
        "Page": {
            "type": "object",
            "properties": {
                "paintings": {"type": "array", "items": {"$ref": "#/components/schemas/Painting"}},
                "next": {"type": ["string", "null"]},
                "total": {
                    "type": "integer",
                    "description": "how many paintings match the filters (a listing only)",
                },
                "facets": {
                    "type": "object",
                    "description": "per filter field, its most frequent values among the "
                    "paintings that match, with their counts (a listing only)",
                    "additionalProperties": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "value": {"type": "string"},
                                "count": {"type": "integer"},
                            },
                        },
                    },
                },
            },
        },
        "Hit": {"allOf": [painting, {"properties": {"score": {"type": "number"}}}]},
        "Block": {
            "type": "object",
            "properties": {
                "representation": REPRESENTATION_NAME,
                "metric": {"enum": [m.value for m in METRICS]},
                "took_ms": {"type": "number"},
                "hits": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
            },
        },
        "Representations": {
            "type": "object",
            "required": ["representations", "metrics"],
            "properties": {
                "representations": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "dims", "description"],
                        "properties": {
                            "name": REPRESENTATION_NAME,
                            "dims": {"type": "integer", "minimum": 1},
                            "description": {"type": "string"},
                            "metrics": {
                                "type": "array",
                                "items": {"enum": [m.value for m in METRICS]},
                                "description": "the metrics the index maps it for",
                            },
                            "source": {
                                "enum": ["backbone", "trained", "pixels", None],
                                "description": "a tap of the backbone, a trained embedding, or "
                                "computed from the pixels without weights (the colour layout)",
                            },
                        },
                    },
                },
                "metrics": {"type": "array", "items": {"enum": [m.value for m in METRICS]}},
                "default": {
                    "type": "string",
                    "description": "the one to show first: the model's first trained one, or "
                    "global",
                },
                "alias": {"type": "string", "description": "the index or alias searched"},
                "upload_search": {
                    "type": "boolean",
                    "description": "whether POST /similar/upload is offered here (an embedding "
                    "endpoint configured); it may still be unavailable for a while (503)",
                },
                "index": {"type": "string", "description": "the concrete index behind it"},
                "indexes": {"type": "array", "items": {"type": "string"}},
                "model": model | {"description": "the model whose vectors the index holds"},
                "model_from": {
                    "enum": ["card", "paintings", None],
                    "description": "its card in the index mapping's _meta, or what every "
                    "painting names",
                },
                "models": {
                    "type": "array",
                    "description": "the model versions the paintings name, with their counts "
                    "(empty when the card says)",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "version": {"type": "string"},
                            "paintings": {"type": "integer"},
                        },
                    },
                },
                "model_note": {
                    "type": ["string", "null"],
                    "description": "why the model is not known, or what is odd about it",
                },
            },
        },
        "SimilarResults": {
            "type": "object",
            "properties": {
                "results": {"type": "array", "items": {"$ref": "#/components/schemas/Block"}}
            },
        },
        **blend_schemas(),
        "VectorQuery": {
            "type": "object",
            "required": ["representation", "vector"],
            "additionalProperties": False,
            "properties": {
                "representation": REPRESENTATION_NAME | {"description": f"one of {LISTED}"},
                "metric": {"enum": [m.value for m in METRICS]},
                "vector": {
                    "type": "array",
                    "items": {"type": "number"},
                    "description": "as many numbers as the representation's `dims`",
                },
                "k": {"type": "integer", "minimum": 1},
                "filters": {
                    "type": ["object", "null"],
                    "additionalProperties": False,
                    "properties": {
                        n: {"type": ["string", "null"]} for n in parameters.FILTER_FIELDS
                    },
                },
                "exact": {
                    "type": ["boolean", "null"],
                    "description": "brute force over the float vectors; ties by id",
                },
            },
        },
    }


def blend_schemas() -> dict[str, Any]:
    """POST /similar/blend's body and its clauses."""
    flag = {"type": ["boolean", "null"]}
    return {
        "BlendClause": {
            "type": "object",
            "required": ["representation"],
            "additionalProperties": False,
            "description": "a painting's stored vector, a given one, or the uploaded image's: "
            "one of the three",
            "properties": {
                "painting": {"type": "string", "description": "a painting's id"},
                "vector": {
                    "type": "array",
                    "items": {"type": "number"},
                    "description": "as many numbers as the representation's `dims`",
                },
                "upload": {
                    "const": True,
                    "description": "the image in the form's `image` field (the blend sent as "
                    "multipart/form-data, its JSON in the `query` field)",
                },
                "representation": REPRESENTATION_NAME | {"description": f"one of {LISTED}"},
                "weight": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": blend.MAX_WEIGHT,
                    "default": 1,
                    "description": "relative to the other clauses' (the shares add up to 1)",
                },
            },
        },
        "BlendQuery": {
            "type": "object",
            "required": ["clauses"],
            "additionalProperties": False,
            "properties": {
                "clauses": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": blend.MAX_CLAUSES,
                    "items": {"$ref": "#/components/schemas/BlendClause"},
                    "description": "at least one with a weight above 0",
                },
                "metric": {"enum": [m.value for m in METRICS]},
                "k": {"type": "integer", "minimum": 1},
                "filters": {
                    "type": ["object", "null"],
                    "additionalProperties": False,
                    "properties": {
                        n: {"type": ["string", "null"]} for n in parameters.FILTER_FIELDS
                    },
                },
                "exact": flag
                | {"description": "each clause brute force over the float vectors; ties by id"},
                "per_artist": {
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "description": "at most this many results by one artist",
                },
                "same_style": flag
                | {"description": "only the styles of the paintings searched by"},
                "exclude_artist": flag
                | {"description": "leave out the artists of the paintings searched by"},
            },
        },
    }
