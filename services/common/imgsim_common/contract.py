"""The record contract of the topics: versions, headers, and the id rule for image paths.

The topics are the product's public interface: users publish image paths from their own
producers and read `paintings` downstream. Every record the product writes carries the version
of the contract it follows in the `imgsim-contract` header; a record without it is version 1
(what users' producers and the first releases wrote).

Compatibility rule: a version number changes only when a reader of the previous version could
not read the new records. Every reader reads every version that may still be on a topic: the
compacted `paintings` topic keeps its records for ever, so version 1 is read for ever too.
"""

import json
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Final

from pydantic import ValidationError

from imgsim_common.records import ImagePathRecord

# As Kafka clients give them: pairs (confluent_kafka, faust) or, from some, a mapping.
HeaderValue = str | bytes | None
Headers = Iterable[tuple[str, HeaderValue]] | Mapping[str, HeaderValue] | None

CONTRACT_HEADER: Final = "imgsim-contract"
# What an id-level check needs without decoding a value.
ID_HEADER: Final = "imgsim-id"
SHA1_HEADER: Final = "imgsim-sha1"
MODEL_NAME_HEADER: Final = "imgsim-model-name"
MODEL_VERSION_HEADER: Final = "imgsim-model-version"
REASON_HEADER: Final = "imgsim-reason"

# The newest version of each topic's records; see the README's "Record contract".
IMAGE_PATHS_VERSION: Final = 1
# 1: JSON with vectors as lists of numbers. 2: CBOR with vectors as float32 typed arrays.
PAINTINGS_VERSION: Final = 2
DEAD_LETTER_VERSION: Final = 1

MAX_ID_LENGTH: Final = 512
# An image-path record is an id, a path and a row of metadata: a few KB. A larger value is
# refused unread, so that nothing the worker writes for it (a vector record, a dead letter that
# quotes it) can outgrow what Kafka takes (1 MiB a record by default): a 1 MB value once made
# a 2 MB dead letter that Kafka refused, which stopped the worker on every restart.
MAX_IMAGE_PATH_BYTES: Final = 64 * 1024


class RecordRejected(ValueError):
    """An input that is not an image-path record; `reason` names the dead letter's kind."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def header(headers: Headers, name: str) -> str | None:
    """The last value of header `name` as text, or None."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    found: str | None = None
    for key, value in pairs:
        if key == name and value is not None:
            found = value if isinstance(value, str) else value.decode("utf-8", "replace")
    return found


def _json_text(value: str) -> str:
    """The path a plain value names: the value itself, or the string it is as JSON. JSON that
    is not a string (an array, a number, true, false, null) names no file: refused."""
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return value  # plain text: the path as it is
    if isinstance(parsed, str):
        return parsed
    kind = {list: "array", bool: "boolean", int: "number", float: "number"}.get(
        type(parsed), "null"
    )
    raise RecordRejected(
        "malformed_record",
        f"a JSON {kind} is not an image-path record: send the path as text, as a JSON string, "
        'or as an object {"path": ...}',
    )


def contract_version(headers: Headers) -> int:
    text = header(headers, CONTRACT_HEADER)
    if text is None:
        return 1
    try:
        version = int(text)
    except ValueError:
        version = 0
    # Versions start at 1: a reader told "0 is newer than me" would ask to be upgraded.
    if version < 1:
        raise RecordRejected(
            "unknown_contract", f"{CONTRACT_HEADER} must be a version number, got {text!r}"
        )
    return version


def version_header(version: int) -> tuple[str, bytes]:
    return (CONTRACT_HEADER, str(version).encode())


def path_id(path: str) -> str:
    """The id a path gives when no key or `id` names the painting: the normalised posix path.

    `./a//b.jpg` and `a/b.jpg` are one painting; case, and every other character, matters.
    """
    normalised = PurePosixPath(path).as_posix()
    return normalised if normalised != "." else path


def image_path_record(
    key: bytes | None, value: bytes | None, headers: Headers = None
) -> ImagePathRecord:
    """Reads an `image-paths` record in any of its accepted shapes, or says why not.

    Accepted: a JSON object `{id?, path, metadata?}`, a JSON string (the path, as a JSON
    serializer writes it), or the path as plain UTF-8 text. Other JSON (an array, a number,
    true, false, null) is refused rather than taken for a file name. The id is the object's
    `id`; else the key, when there is one (an empty key counts as none); else the path
    (`path_id`). A key that disagrees with an explicit `id` is refused, and so is a record of a
    contract version newer than this reader's (`imgsim-contract` header).
    """
    version = contract_version(headers)
    if version > IMAGE_PATHS_VERSION:
        raise RecordRejected(
            "unknown_contract",
            f"image-paths contract version {version} is newer than this reader's "
            f"({IMAGE_PATHS_VERSION}): upgrade the vectorizer",
        )
    if value is None:
        raise RecordRejected("malformed_record", "the record has no value (a tombstone?)")
    if len(value) > MAX_IMAGE_PATH_BYTES:
        raise RecordRejected(
            "malformed_record",
            f"the value has {len(value):,} bytes, more than the {MAX_IMAGE_PATH_BYTES:,} an "
            "image-path record may have",
        )
    try:
        key_text = key.decode("utf-8") if key else None
        text = value.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RecordRejected("malformed_record", f"not UTF-8 text: {e}") from None
    stripped = text.strip()
    if not stripped:
        raise RecordRejected("malformed_record", "the value is empty: expected a path or an object")
    if stripped.startswith("{"):
        try:
            fields = json.loads(stripped)
        except json.JSONDecodeError as e:
            raise RecordRejected("malformed_record", f"not a JSON object: {e}") from None
        if not isinstance(fields, dict):
            raise RecordRejected("malformed_record", "not a JSON object")
        explicit = fields.get("id")
        if explicit is None and isinstance(fields.get("path"), str):
            fields["id"] = key_text or path_id(fields["path"])
    else:
        explicit = None
        path = _json_text(stripped)
        fields = {"id": key_text or path_id(path), "path": path}
    try:
        record = ImagePathRecord.model_validate(fields)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
        raise RecordRejected("malformed_record", f"not an image-path record: {problems}") from None
    if explicit is not None and key_text is not None and key_text != record.id:
        raise RecordRejected(
            "key_mismatch", f"the key {key_text!r} must be the painting id {record.id!r}"
        )
    return record
