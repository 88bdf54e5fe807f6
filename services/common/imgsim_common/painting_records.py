"""Encoding and decoding `paintings` values, every contract version; the one place that does it.

Version 2 (written today) is a CBOR map (RFC 8949: JSON's data model in binary) whose vectors are
RFC 8746 typed arrays, tag 85: little-endian float32, 4 bytes per dimension, so a record of
1,328 dimensions is ~5.6 KB where version 1's JSON text of numbers was ~18.6 KB. Version 1 is
the same document as JSON with vectors as lists of numbers; the compacted topic keeps such
records for ever, so they are read for ever too. Keys, headers and the fields beside `vectors`
are the same in both.
"""

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import cbor2
import numpy as np
import numpy.typing as npt

from imgsim_common import contract
from imgsim_common.records import ModelInfo

# RFC 8746: "IEEE 754 binary32, little endian, Typed Array".
FLOAT32_LE_TAG: Final = 85

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class VectorRecord:
    """A decoded `paintings` value: the document's fields and its vectors as float32 arrays."""

    fields: dict[str, Any]
    vectors: dict[str, Vector]
    version: int

    @property
    def id(self) -> str:
        return str(self.fields["id"])

    @property
    def sha1(self) -> str:
        return str(self.fields["sha1"])

    @property
    def model(self) -> ModelInfo:
        return ModelInfo.model_validate(self.fields["model"])


def painting_headers(painting_id: str, sha1: str, model: ModelInfo) -> list[tuple[str, bytes]]:
    """What an id-level check reads instead of the value (Kafka cannot fetch one without the
    other, but headers need no decoding)."""
    return [
        contract.version_header(contract.PAINTINGS_VERSION),
        (contract.ID_HEADER, painting_id.encode()),
        (contract.SHA1_HEADER, sha1.encode()),
        (contract.MODEL_NAME_HEADER, model.name.encode()),
        (contract.MODEL_VERSION_HEADER, model.version.encode()),
    ]


def vector_problem(name: str, dims: int, vector: npt.NDArray[Any] | None) -> str | None:
    """Why `vector` cannot be a vector record's `name` vector of `dims` dimensions, or None: it
    is missing, of other dimensions, not finite, or all zeros (whose cosine means nothing). The
    worker dead-letters such an image and the embedding endpoint refuses it, for one reason."""
    if vector is None or vector.shape != (dims,):
        return f"the model gave no {dims}-dim {name!r} vector"
    if not np.isfinite(vector).all() or not vector.any():
        return f"the {name!r} vector is not finite or all zeros"
    return None


def encode_painting(fields: Mapping[str, Any], vectors: Mapping[str, npt.ArrayLike]) -> bytes:
    """The version-2 value: `fields` (id, path, sha1, width, height, model, metadata) and the
    vectors by representation name."""
    document = dict(fields)
    document["vectors"] = {
        name: cbor2.CBORTag(FLOAT32_LE_TAG, np.asarray(vector, dtype="<f4").tobytes())
        for name, vector in vectors.items()
    }
    return cbor2.dumps(document)


def decode_painting(value: bytes, headers: contract.Headers = None) -> VectorRecord:
    """Reads a `paintings` value of any version; ValueError says what is wrong with it."""
    version = contract.contract_version(headers)
    if version == 1 and value.lstrip(b" \t\r\n")[:1] != b"{":
        # A version-2 value whose headers were lost on the way (e.g. copied by a tool).
        version = 2
    if version == 1:
        try:
            document = json.loads(value)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"a version-1 paintings value must be JSON: {e}") from None
        raw_vectors = _vectors_field(document)
        vectors = {name: np.asarray(v, dtype=np.float32) for name, v in raw_vectors.items()}
    elif version == 2:
        stream = io.BytesIO(value)
        try:
            document = cbor2.CBORDecoder(stream).decode()
        except (cbor2.CBORDecodeError, EOFError) as e:
            raise ValueError(f"a version-2 paintings value must be CBOR: {e}") from None
        if stream.tell() != len(value):
            # The sink refuses these too: every reader reads a record the same way.
            raise ValueError("a version-2 paintings value must be one CBOR map, nothing after it")
        vectors = {name: _typed_array(name, v) for name, v in _vectors_field(document).items()}
    else:
        raise ValueError(
            f"paintings contract version {version} is newer than this reader "
            f"(it reads 1..{contract.PAINTINGS_VERSION}): upgrade it"
        )
    fields = {name: field for name, field in document.items() if name != "vectors"}
    for required in ("id", "sha1", "model"):
        if required not in fields:
            raise ValueError(f"the paintings value has no {required!r}")
    return VectorRecord(fields, vectors, version)


def _vectors_field(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise ValueError("a paintings value must be a map")
    vectors = document.get("vectors")
    if not isinstance(vectors, dict):
        raise ValueError("a paintings value must hold `vectors`, a map of name -> vector")
    return vectors


def _typed_array(name: str, value: Any) -> Vector:
    if not isinstance(value, cbor2.CBORTag) or value.tag != FLOAT32_LE_TAG:
        raise ValueError(f"vector {name!r} must be a float32 little-endian typed array (tag 85)")
    data = value.value
    if not isinstance(data, bytes) or len(data) % 4:
        raise ValueError(f"vector {name!r} must be a byte string of 4 bytes per dimension")
    return np.frombuffer(data, dtype="<f4").astype(np.float32, copy=False)


def describe(record: VectorRecord) -> dict[str, Any]:
    """The record as a person reads it: every field, and each vector summarised."""
    summary = dict(record.fields)
    summary["contract_version"] = record.version
    summary["vectors"] = {
        name: {
            "dims": int(vector.size),
            "norm": round(float(np.linalg.norm(vector)), 6),
            "first": [round(float(x), 6) for x in vector[:4]],
        }
        for name, vector in record.vectors.items()
    }
    return summary
