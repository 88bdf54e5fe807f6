"""JSON Schema files for the key and value of every topic, generated from the record models.

The files live in `imgsim_common/schemas/` so that users and their tools can read the contract
without reading Python; a test fails when a model changes and its file does not. Regenerate with
`python -m imgsim_common.schemas`.

`paintings` version 2 is CBOR, whose data model is JSON's plus byte strings and tags: its schema
describes the decoded document, and each vector's encoding is given in `x-cbor-tag` and
`contentEncoding`. Record headers are listed under `x-kafka-headers`.
"""

import json
import sys
from pathlib import Path
from typing import Any, Final

from imgsim_common import contract, names
from imgsim_common.records import DeadLetter, ImagePathRecord, PaintingRecord
from imgsim_common.representations import NAME_PATTERN, REPRESENTATIONS

SCHEMA_DIR: Final = Path(__file__).parent / "schemas"
DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"

_CONTRACT = {
    contract.CONTRACT_HEADER: "the contract version as ASCII digits; absent means 1",
}
_CHECK_HEADERS = {
    contract.ID_HEADER: "the painting id (the key)",
    contract.SHA1_HEADER: "sha1 of the image file, hex",
    contract.MODEL_NAME_HEADER: "the model's name",
    contract.MODEL_VERSION_HEADER: "the model's version (a hash of its weights)",
}


def _key(topic: str, description: str) -> dict[str, Any]:
    return {
        "$schema": DIALECT,
        "title": f"{topic} key",
        "description": description,
        "type": "string",
        "maxLength": contract.MAX_ID_LENGTH,
    }


def _model_schema(model: type[Any], topic: str, version: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"$schema": DIALECT, **model.model_json_schema()}
    schema["title"] = f"{topic} value, contract version {version}"
    return schema


def _vector_schemas(encoded: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for r in REPRESENTATIONS:
        if encoded:
            properties[r.name] = {
                "description": f"{r.description}: {r.dims} float32 values, little-endian, as one "
                f"byte string of {r.dims * 4} bytes inside CBOR tag 85 (RFC 8746)",
                "x-cbor-tag": 85,
                "contentEncoding": "float32le",
                "x-dims": r.dims,
            }
        else:
            properties[r.name] = {
                "description": r.description,
                "type": "array",
                "items": {"type": "number"},
                "minItems": r.dims,
                "maxItems": r.dims,
            }
    # The backbone's three are listed; a trained model adds its own (its card names them).
    any_name = dict(properties[REPRESENTATIONS[0].name])
    for key in ("minItems", "maxItems", "x-dims"):
        any_name.pop(key, None)
    any_name["description"] = "a representation the model card names, with the card's dims"
    return {
        "type": "object",
        "description": "One vector per representation of the model's card (its `card.json`); "
        "the backbone alone has exactly global, mid and style.",
        "properties": properties,
        "patternProperties": {NAME_PATTERN: any_name},
        "minProperties": 1,
        "additionalProperties": False,
    }


def image_paths_value() -> dict[str, Any]:
    schema = _model_schema(ImagePathRecord, names.IMAGE_PATHS_TOPIC, contract.IMAGE_PATHS_VERSION)
    # On the topic, `id` may be left out: the key, else the path, names the painting.
    schema["required"] = [name for name in schema["required"] if name != "id"]
    schema["description"] = (
        "One image to vectorize: this JSON object, or simply the path as plain UTF-8 text or as "
        "a JSON string (other JSON, such as an array or a number, is refused). The id is `id`, "
        "else the record key when it is not empty, else the path normalised (./a//b.jpg -> "
        "a/b.jpg). A key that differs from an explicit id is refused, and so is a record whose "
        "imgsim-contract header names a newer version than the reader's."
    )
    schema["x-kafka-headers"] = _CONTRACT
    return schema


def dead_letter_value() -> dict[str, Any]:
    schema = _model_schema(DeadLetter, names.IMAGE_PATHS_DLQ_TOPIC, contract.DEAD_LETTER_VERSION)
    schema["x-kafka-headers"] = {
        **_CONTRACT,
        contract.REASON_HEADER: "the same as `reason`",
        contract.ID_HEADER: "the painting id, when the input named one",
    }
    return schema


def paintings_value(version: int) -> dict[str, Any]:
    schema = _model_schema(PaintingRecord, names.PAINTINGS_TOPIC, version)
    schema["properties"]["vectors"] = _vector_schemas(encoded=version == 2)
    if version == 1:
        schema["description"] = "A vector record as JSON (written before contract version 2)."
        schema["x-kafka-headers"] = {}
    else:
        schema["description"] = (
            "A vector record as a CBOR map (application/cbor, RFC 8949); null (a tombstone) "
            "deletes the painting's document."
        )
        schema["x-kafka-headers"] = {**_CONTRACT, **_CHECK_HEADERS}
    return schema


def paintings_dead_letter_value() -> dict[str, Any]:
    return {
        "$schema": DIALECT,
        "title": f"{names.PAINTINGS_DLQ_TOPIC} value",
        "description": "The paintings record the sink could not index, key, value and headers "
        "unchanged (a value of any paintings contract version, or bytes that are not one); "
        "Kafka Connect adds why in its headers.",
        "x-kafka-headers": {
            "__connect.errors.exception.class.name": "the error's class",
            "__connect.errors.exception.message": "why the record was not indexed",
            "__connect.errors.topic": "where it came from; also .partition and .offset",
        },
    }


def schema_files() -> dict[str, dict[str, Any]]:
    id_key = "the painting id; the Elasticsearch document _id"
    return {
        "image-paths.key.json": _key(
            names.IMAGE_PATHS_TOPIC, "the painting id; optional (see the value's id rule)"
        ),
        "image-paths.value.json": image_paths_value(),
        "image-paths-dlq.key.json": _key(names.IMAGE_PATHS_DLQ_TOPIC, "the input's key, if any"),
        "image-paths-dlq.value.json": dead_letter_value(),
        "paintings.key.json": _key(names.PAINTINGS_TOPIC, id_key),
        "paintings.value.v1.json": paintings_value(1),
        "paintings.value.v2.json": paintings_value(2),
        "paintings-dlq.key.json": _key(names.PAINTINGS_DLQ_TOPIC, id_key),
        "paintings-dlq.value.json": paintings_dead_letter_value(),
    }


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name, schema in schema_files().items():
        (SCHEMA_DIR / name).write_text(render(schema), encoding="utf-8")
        print(SCHEMA_DIR / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
