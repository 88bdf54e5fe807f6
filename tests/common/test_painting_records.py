"""Both versions of a `paintings` value decode to the same painting; bad values say why."""

import dataclasses
import json

import cbor2
import numpy as np
import pytest
from imgsim_common import contract
from imgsim_common.painting_records import (
    decode_painting,
    describe,
    encode_painting,
    painting_headers,
    vector_problem,
)
from imgsim_common.records import ModelInfo
from imgsim_common.representations import REPRESENTATIONS

MODEL = ModelInfo(name="MobileNetV3Large", version="abc123")
FIELDS = {
    "id": "a/b.jpg",
    "path": "a/b.jpg",
    "sha1": "0" * 40,
    "width": 40,
    "height": 30,
    "model": MODEL.model_dump(),
    "metadata": {"artist": "Monet", "year": 1890},
}


def vectors(seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {r.name: rng.standard_normal(r.dims).astype(np.float32) for r in REPRESENTATIONS}


def test_version_2_round_trips_exactly_and_is_compact() -> None:
    original = vectors()
    value = encode_painting(FIELDS, original)
    record = decode_painting(value, painting_headers("a/b.jpg", "0" * 40, MODEL))
    assert record.version == 2
    assert record.fields == FIELDS
    assert record.id == "a/b.jpg" and record.sha1 == "0" * 40 and record.model == MODEL
    for name, vector in original.items():
        assert record.vectors[name].dtype == np.float32
        assert np.array_equal(record.vectors[name], vector)
    dims = sum(r.dims for r in REPRESENTATIONS)
    # 4 bytes a dimension, plus the fields: the contract's bound is 6 KB for 1,328 dimensions.
    assert dims * 4 < len(value) < dims * 4 + 400
    assert dims != 1328 or len(value) <= 6 * 1024


def test_version_2_vectors_are_rfc_8746_float32_little_endian_typed_arrays() -> None:
    value = encode_painting(FIELDS, {"global": np.array([1.0, -2.5], dtype=np.float32)})
    document = cbor2.loads(value)
    tag = document["vectors"]["global"]
    assert isinstance(tag, cbor2.CBORTag) and tag.tag == 85
    assert tag.value == bytes.fromhex("0000803f000020c0")


def test_version_1_json_reads_to_the_same_painting() -> None:
    original = vectors()
    v1 = json.dumps({**FIELDS, "vectors": {k: v.tolist() for k, v in original.items()}}).encode()
    old = decode_painting(v1, [])
    new = decode_painting(encode_painting(FIELDS, original))
    assert old.version == 1 and new.version == 2
    assert old.fields == new.fields
    for name in original:
        assert np.array_equal(old.vectors[name], new.vectors[name])


def test_version_1_json_may_start_with_blanks_as_the_sink_reads_it() -> None:
    v1 = json.dumps({**FIELDS, "vectors": {"mid": [1.0, 2.0]}}).encode()
    assert decode_painting(b" \n" + v1).version == 1


def test_a_version_2_value_without_headers_is_still_read() -> None:
    assert decode_painting(encode_painting(FIELDS, vectors())).version == 2


def test_headers_carry_what_a_check_needs() -> None:
    headers = dict(painting_headers("a/b.jpg", "f" * 40, MODEL))
    assert headers == {
        contract.CONTRACT_HEADER: b"2",
        contract.ID_HEADER: b"a/b.jpg",
        contract.SHA1_HEADER: b"f" * 40,
        contract.MODEL_NAME_HEADER: b"MobileNetV3Large",
        contract.MODEL_VERSION_HEADER: b"abc123",
    }


@pytest.mark.parametrize(
    ("value", "headers", "says"),
    [
        (b"{not json", [], "JSON"),
        (b"\xa1", [(contract.CONTRACT_HEADER, b"2")], "CBOR"),
        (cbor2.dumps([1, 2]), [], "map"),
        (cbor2.dumps({**FIELDS}), [], "vectors"),
        (cbor2.dumps({**FIELDS, "vectors": {"global": [1.0]}}), [], "typed array"),
        (cbor2.dumps({**FIELDS, "vectors": {"g": cbor2.CBORTag(81, b"\0" * 4)}}), [], "tag 85"),
        (cbor2.dumps({**FIELDS, "vectors": {"g": cbor2.CBORTag(86, b"\0" * 4)}}), [], "tag 85"),
        (cbor2.dumps({**FIELDS, "vectors": {"g": cbor2.CBORTag(85, b"\0" * 6)}}), [], "4 bytes"),
        (cbor2.dumps({"vectors": {}}), [], "'id'"),
        (encode_painting(FIELDS, vectors()) + b"\x00", [], "nothing after"),
        (encode_painting(FIELDS, vectors()), [(contract.CONTRACT_HEADER, b"3")], "newer"),
        (encode_painting(FIELDS, vectors()), [(contract.CONTRACT_HEADER, b"0")], "version number"),
        (b'{"vectors": {}}', [(contract.CONTRACT_HEADER, b"-1")], "version number"),
    ],
)
def test_bad_values_say_what_is_wrong(
    value: bytes, headers: list[tuple[str, bytes]], says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        decode_painting(value, headers)


def test_describe_summarises_vectors() -> None:
    summary = describe(decode_painting(encode_painting(FIELDS, {"mid": np.full(3, 2.0)})))
    assert summary["vectors"] == {
        "mid": {"dims": 3, "norm": pytest.approx(3.464102, abs=1e-6), "first": [2.0, 2.0, 2.0]}
    }
    assert summary["contract_version"] == 2 and summary["id"] == "a/b.jpg"


def test_a_decoded_record_is_read_only_and_its_vectors_are_views_of_the_value() -> None:
    record = decode_painting(encode_painting(FIELDS, vectors()))

    with pytest.raises(dataclasses.FrozenInstanceError):
        record.version = 1  # type: ignore[misc]
    # No copy per vector: reconciliation decodes every record of a topic.
    assert not any(vector.flags.writeable for vector in record.vectors.values())


def test_describe_rounds_to_six_places_and_shows_the_first_four_values() -> None:
    third = np.full(6, 1 / 3, dtype=np.float32)

    summary = describe(decode_painting(encode_painting(FIELDS, {"mid": third})))

    assert summary["vectors"]["mid"] == {"dims": 6, "norm": 0.816497, "first": [0.333333] * 4}


@pytest.mark.parametrize(
    ("vector", "problem"),
    [
        (None, "the model gave no 4-dim 'g' vector"),
        (np.ones(3), "the model gave no 4-dim 'g' vector"),
        (np.ones(5), "the model gave no 4-dim 'g' vector"),
        (np.ones((1, 4)), "the model gave no 4-dim 'g' vector"),
        (np.array([1.0, np.nan, 1.0, 1.0]), "the 'g' vector is not finite or all zeros"),
        (np.array([1.0, 1.0, np.inf, 1.0]), "the 'g' vector is not finite or all zeros"),
        (np.zeros(4), "the 'g' vector is not finite or all zeros"),
        (np.array([0.0, 0.0, 0.0, -0.5]), None),
        (np.ones(4), None),
    ],
)
def test_a_vector_the_index_would_refuse_is_named_with_its_problem(
    vector: np.ndarray | None, problem: str | None
) -> None:
    # A vector of other dimensions would pass the worker and be refused at the sink: the
    # painting would never be searchable, and nothing would say why.
    assert vector_problem("g", 4, vector) == problem
