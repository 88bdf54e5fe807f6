"""Every version of the `paintings` record contract on the real sink: JSON (1) and CBOR with
float32 vectors (2) index alike, bad version-2 records are dead letters with their reason."""

import hashlib
import json
from collections.abc import Sequence
from functools import partial
from typing import Any

import cbor2
import httpx
import numpy as np
import pytest
from confluent_kafka import Message, Producer
from elasticsearch import Elasticsearch, NotFoundError
from imgsim_common import contract, names
from imgsim_common.painting_records import (
    FLOAT32_LE_TAG,
    Vector,
    encode_painting,
    painting_headers,
)
from imgsim_common.records import ModelInfo
from imgsim_common.representations import METRICS, REPRESENTATIONS, vector_field
from imgsim_stack.settings import StackSettings

from tests.support import eventually, read_topic, stored_vectors

pytestmark = pytest.mark.integration

MODEL = ModelInfo(name="test-model", version="1")
rng = np.random.default_rng(11)


def unit_vectors() -> dict[str, Vector]:
    vectors = {}
    for r in REPRESENTATIONS:
        vector = rng.standard_normal(r.dims)
        vectors[r.name] = (vector / np.linalg.norm(vector)).astype(np.float32)
    return vectors


def fields(painting_id: str, tag: str, title: str = "Untitled") -> dict[str, Any]:
    return {
        "id": painting_id,
        "path": f"{painting_id}.jpg",
        "sha1": hashlib.sha1(painting_id.encode()).hexdigest(),
        "width": 640,
        "height": 480,
        "model": MODEL.model_dump(),
        "metadata": {"artist": "Tester", "title": title, "source": tag},
    }


def kafka_headers(headers: Sequence[tuple[str, bytes]]) -> list[tuple[str, str | bytes | None]]:
    return list(headers)


def send(
    producer: Producer,
    key: str,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] = (),
) -> None:
    producer.produce(
        names.PAINTINGS_TOPIC, key=key.encode(), value=value, headers=kafka_headers(headers)
    )
    assert producer.flush(10) == 0, "the record was not acknowledged by Kafka"


def version_1(document: dict[str, Any], vectors: dict[str, Vector]) -> bytes:
    """What producers wrote before versions: JSON, vectors as lists of numbers, no header."""
    return json.dumps({**document, "vectors": {n: v.tolist() for n, v in vectors.items()}}).encode()


def send_version_2(
    producer: Producer, document: dict[str, Any], vectors: dict[str, Vector]
) -> None:
    headers = painting_headers(document["id"], document["sha1"], MODEL)
    send(producer, document["id"], encode_painting(document, vectors), headers)


def titled(es: Elasticsearch, painting_id: str, title: str) -> dict[str, Any] | None:
    try:
        doc = dict(es.get(index=names.BASE_PIPELINE.index, id=painting_id))
    except NotFoundError:
        return None
    return doc if doc["_source"]["metadata"]["title"] == title else None


def exists(es: Elasticsearch, painting_id: str) -> bool:
    return bool(es.exists(index=names.BASE_PIPELINE.index, id=painting_id))


def assert_vectors_exact(es: Elasticsearch, painting_id: str, vectors: dict[str, Vector]) -> None:
    stored = stored_vectors(es, painting_id)
    for r in REPRESENTATIONS:
        for metric in METRICS:
            field = vector_field(r.name, metric)
            # Doc values hold the float32 values Elasticsearch indexed: bit for bit what was sent.
            np.testing.assert_array_equal(
                np.asarray(stored[field], dtype=np.float32), vectors[r.name], err_msg=field
            )


def test_version_1_then_version_2_of_one_painting_index_the_exact_float32_vectors(
    es: Elasticsearch, producer: Producer, run_tag: str
) -> None:
    key = f"{run_tag}/sunflowers.jpg"
    old_vectors, new_vectors = unit_vectors(), unit_vectors()

    send(producer, key, version_1(fields(key, run_tag, title="as JSON"), old_vectors))
    eventually(partial(titled, es, key, "as JSON"), what="the version-1 record indexed")
    assert_vectors_exact(es, key, old_vectors)

    send_version_2(producer, fields(key, run_tag, title="as CBOR"), new_vectors)
    doc = eventually(partial(titled, es, key, "as CBOR"), what="the version-2 record indexed")
    assert_vectors_exact(es, key, new_vectors)

    source = doc["_source"]
    assert source["width"] == 640
    assert source["model"] == MODEL.model_dump()
    assert source["metadata"]["source"] == run_tag
    assert "vectors" not in source


def test_a_topic_of_old_and_new_records_indexes_every_one(
    es: Elasticsearch, producer: Producer, run_tag: str
) -> None:
    sent: dict[str, dict[str, Vector]] = {}
    for i in range(12):
        key = f"{run_tag}/mixed-{i:02d}.jpg"
        vectors = sent[key] = unit_vectors()
        document = fields(key, run_tag, title=f"mixed {i}")
        if i % 3 == 0:
            producer.produce(names.PAINTINGS_TOPIC, key=key, value=version_1(document, vectors))
        elif i % 3 == 1:
            headers = kafka_headers(painting_headers(key, document["sha1"], MODEL))
            value = encode_painting(document, vectors)
            producer.produce(names.PAINTINGS_TOPIC, key=key, value=value, headers=headers)
        else:
            # A version-2 value whose headers were lost (copied by a tool) is still version 2.
            producer.produce(
                names.PAINTINGS_TOPIC, key=key, value=encode_painting(document, vectors)
            )
    assert producer.flush(10) == 0

    def indexed() -> bool:
        es.indices.refresh(index=names.BASE_PIPELINE.index)
        query = {"term": {"metadata.source": run_tag}}
        return bool(es.count(index=names.BASE_PIPELINE.index, query=query)["count"] == len(sent))

    eventually(indexed, what="every old and new record indexed")
    for key, vectors in sent.items():
        assert_vectors_exact(es, key, vectors)


def _dead_letters(stack: StackSettings, keys: set[str]) -> dict[str, dict[str, str]]:
    def key(message: Message) -> str:
        raw = message.key()
        return raw.decode() if isinstance(raw, bytes) else ""

    def headers(message: Message) -> dict[str, str]:
        found = message.headers() or []
        assert isinstance(found, list)
        return {
            str(name): value.decode(errors="replace") if isinstance(value, bytes) else ""
            for name, value in found
        }

    messages = read_topic(
        stack.bootstrap_servers,
        names.PAINTINGS_DLQ_TOPIC,
        lambda read: keys <= {key(m) for m in read},
        timeout_s=30,
    )
    return {key(m): headers(m) for m in messages if key(m) in keys}


def _with_vector(document: dict[str, Any], name: str, vector: object) -> bytes:
    good = {
        r.name: cbor2.CBORTag(FLOAT32_LE_TAG, np.ones(r.dims, "<f4").tobytes())
        for r in REPRESENTATIONS
    }
    return cbor2.dumps({**document, "vectors": {**good, name: vector}})


def test_bad_version_2_records_are_dead_letters_with_the_reason_and_the_task_keeps_running(
    stack: StackSettings, es: Elasticsearch, producer: Producer, run_tag: str
) -> None:
    odd_length = f"{run_tag}/odd-length.jpg"
    wrong_tag = f"{run_tag}/wrong-tag.jpg"
    newer = f"{run_tag}/contract-3.jpg"
    # 959 dimensions and 3 bytes: a vector cut off mid-float.
    cut = cbor2.CBORTag(FLOAT32_LE_TAG, np.ones(959, "<f4").tobytes() + b"\x00\x00\x80")
    send(producer, odd_length, _with_vector(fields(odd_length, run_tag), "global", cut))
    # Tag 81 is float32 big-endian: the right length, the wrong byte order.
    big_endian = cbor2.CBORTag(81, np.ones(112, ">f4").tobytes())
    send(producer, wrong_tag, _with_vector(fields(wrong_tag, run_tag), "mid", big_endian))
    headers = [contract.version_header(3)]
    send(producer, newer, encode_painting(fields(newer, run_tag), unit_vectors()), headers)
    good = f"{run_tag}/good-after-bad.jpg"
    send_version_2(producer, fields(good, run_tag, title="good"), unit_vectors())

    letters = _dead_letters(stack, {odd_length, wrong_tag, newer})

    for letter in letters.values():
        assert letter["__connect.errors.stage"] == "VALUE_CONVERTER"
        assert letter["__connect.errors.exception.class.name"].endswith("DataException")
    odd_reason = letters[odd_length]["__connect.errors.exception.message"]
    assert "'global'" in odd_reason and "3839 bytes" in odd_reason
    tag_reason = letters[wrong_tag]["__connect.errors.exception.message"]
    assert "'mid'" in tag_reason and "tag 85" in tag_reason and "tag 81" in tag_reason
    assert "version 3" in letters[newer]["__connect.errors.exception.message"]
    eventually(partial(titled, es, good, "good"), what="the good record after the bad ones")
    for key in (odd_length, wrong_tag, newer):
        assert not exists(es, key)
    status = httpx.get(
        f"{stack.connect}/connectors/{names.SINK_CONNECTOR}/status", timeout=10
    ).json()
    assert [task["state"] for task in status["tasks"]] == ["RUNNING"] * len(status["tasks"])


def test_tombstone_after_a_version_2_record_deletes_the_document(
    es: Elasticsearch, producer: Producer, run_tag: str
) -> None:
    key = f"{run_tag}/deleted.jpg"
    send_version_2(producer, fields(key, run_tag, title="to delete"), unit_vectors())
    eventually(partial(titled, es, key, "to delete"), what="the version-2 record indexed")

    send(producer, key, None)

    eventually(lambda: not exists(es, key), what="the document deleted")
