"""The pipeline's last leg on the real stack: `paintings` topic -> Connect sink -> index."""

import json
from functools import partial
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from confluent_kafka import Message, Producer
from elasticsearch import Elasticsearch
from imgsim_common import names
from imgsim_common.representations import METRICS, REPRESENTATIONS, Metric, vector_field
from imgsim_stack.settings import StackSettings

from tests.support import document, eventually, painting, produce, read_topic, stored_vectors

pytestmark = pytest.mark.integration

rng = np.random.default_rng(7)


def test_record_becomes_a_document_with_key_as_id(
    es: Elasticsearch, producer: Producer, run_tag: str
) -> None:
    record = painting(f"{run_tag}/starry-night.jpg", run_tag, title="The Starry Night")
    produce(producer, record["id"], record)

    doc = eventually(lambda: document(es, record["id"]), what="document indexed")

    assert doc["_id"] == record["id"]
    source = doc["_source"]
    assert source["metadata"]["title"] == "The Starry Night"
    # Indexed but not kept in _source: they come back from doc values, as sent.
    assert "vectors" not in source
    vectors = stored_vectors(es, record["id"])
    for representation in REPRESENTATIONS:
        for metric in METRICS:
            stored = vectors[vector_field(representation.name, metric)]
            assert len(stored) == representation.dims
            assert stored == pytest.approx(record["vectors"][representation.name], rel=1e-6)
    mapping = es.indices.get_mapping(index=names.BASE_PIPELINE.index)
    properties = next(iter(mapping.values()))["mappings"]["properties"]
    for representation in REPRESENTATIONS:
        field = properties["vectors"]["properties"][representation.name]["properties"]
        assert field["cosine"]["dims"] == representation.dims
        assert field["l2"]["similarity"] == "l2_norm"


def documents_tagged(es: Elasticsearch, tag: str) -> int:
    es.indices.refresh(index=names.BASE_PIPELINE.index)
    count = es.count(index=names.BASE_PIPELINE.index, query={"term": {"metadata.source": tag}})
    return int(count["count"])


def with_title(es: Elasticsearch, key: str, title: str) -> dict[str, Any] | None:
    doc = document(es, key)
    return doc if doc and doc["_source"]["metadata"]["title"] == title else None


def test_same_key_twice_leaves_one_document_with_newer_content(
    es: Elasticsearch, producer: Producer, run_tag: str
) -> None:
    key = f"{run_tag}/twice.jpg"
    produce(producer, key, painting(key, run_tag, title="first"))
    eventually(lambda: document(es, key), what="first version indexed")
    produce(producer, key, painting(key, run_tag, title="second"))

    doc = eventually(partial(with_title, es, key, "second"), what="second version indexed")

    assert doc["_version"] >= 2
    assert documents_tagged(es, run_tag) == 1


def test_replayed_batch_keeps_the_last_record_of_each_key(
    es: Elasticsearch, producer: Producer, run_tag: str
) -> None:
    key = f"{run_tag}/replayed.jpg"
    for version in range(5):
        record = json.dumps(painting(key, run_tag, title=f"v{version}")).encode()
        producer.produce(names.PAINTINGS_TOPIC, key=key.encode(), value=record)
    assert producer.flush(10) == 0

    eventually(partial(with_title, es, key, "v4"), what="last version indexed")
    assert documents_tagged(es, run_tag) == 1


def test_tombstone_deletes_the_document(
    es: Elasticsearch, producer: Producer, run_tag: str
) -> None:
    key = f"{run_tag}/deleted.jpg"
    produce(producer, key, painting(key, run_tag))
    eventually(lambda: document(es, key), what="document indexed")

    produce(producer, key, None)

    eventually(lambda: document(es, key) is None, what="document deleted")


def _headers(message: Message) -> dict[str, str]:
    headers = message.headers() or []
    assert isinstance(headers, list)
    return {
        str(name): value.decode(errors="replace") if isinstance(value, bytes) else ""
        for name, value in headers
    }


def _dead_letters(stack: StackSettings, keys: set[str]) -> dict[str, dict[str, str]]:
    def key(message: Message) -> str:
        raw = message.key()
        return raw.decode() if isinstance(raw, bytes) else ""

    messages = read_topic(
        stack.bootstrap_servers,
        names.PAINTINGS_DLQ_TOPIC,
        lambda read: keys <= {key(m) for m in read},
        timeout_s=30,
    )
    return {key(m): _headers(m) for m in messages if key(m) in keys}


def test_malformed_records_go_to_the_dead_letter_topic_and_the_task_keeps_running(
    stack: StackSettings, es: Elasticsearch, producer: Producer, run_tag: str
) -> None:
    not_json = f"{run_tag}/not-json.jpg"
    wrong_dims = f"{run_tag}/wrong-dims.jpg"
    unknown_representation = f"{run_tag}/unknown-representation.jpg"
    bad_dims = painting(wrong_dims, run_tag)
    bad_dims["vectors"]["global"] = bad_dims["vectors"]["global"][:10]
    unknown = painting(unknown_representation, run_tag)
    unknown["vectors"]["colour"] = [1.0, 2.0, 3.0]
    produce(producer, not_json, b"{this is not json")
    produce(producer, wrong_dims, bad_dims)
    produce(producer, unknown_representation, unknown)
    good = f"{run_tag}/good-after-bad.jpg"
    produce(producer, good, painting(good, run_tag))

    letters = _dead_letters(stack, {not_json, wrong_dims, unknown_representation})

    assert letters[not_json]["__connect.errors.stage"] == "VALUE_CONVERTER"
    assert "serialization error" in letters[not_json]["__connect.errors.exception.message"]
    assert "dims" in letters[wrong_dims]["__connect.errors.exception.message"]
    assert "colour" in letters[unknown_representation]["__connect.errors.exception.message"]
    eventually(lambda: document(es, good), what="the good record after the bad ones indexed")
    for key in (not_json, wrong_dims, unknown_representation):
        assert document(es, key) is None
    status = httpx.get(
        f"{stack.connect}/connectors/{names.SINK_CONNECTOR}/status", timeout=10
    ).json()
    assert status["connector"]["state"] == "RUNNING"
    assert [task["state"] for task in status["tasks"]] == ["RUNNING"] * len(status["tasks"])


def _unit(vector: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    unit: npt.NDArray[np.float64] = vector / np.linalg.norm(vector)
    return unit


@pytest.mark.parametrize("representation", [r.name for r in REPRESENTATIONS])
def test_knn_finds_the_nearest_document_by_cosine_and_by_l2(
    es: Elasticsearch, producer: Producer, run_tag: str, representation: str
) -> None:
    # `same_direction` points where the query points but is far away; `nearby` is close to the
    # query but at an angle. Cosine must prefer the first, L2 the second.
    dims = next(r.dims for r in REPRESENTATIONS if r.name == representation)
    query = _unit(rng.standard_normal(dims))
    other = rng.standard_normal(dims)
    sideways = _unit(other - query * query.dot(other))  # orthogonal to the query
    candidates = {
        "same-direction": query * 10,
        "nearby": query + 0.6 * sideways,
        "opposite": -query,
    }
    for name, vector in candidates.items():
        key = f"{run_tag}/{name}.jpg"
        vectors = {r.name: rng.standard_normal(r.dims).tolist() for r in REPRESENTATIONS}
        vectors[representation] = vector.astype(np.float32).tolist()
        produce(producer, key, painting(key, run_tag, vectors=vectors))
    for name in candidates:
        eventually(partial(document, es, f"{run_tag}/{name}.jpg"), what=f"{name} indexed")
    es.indices.refresh(index=names.BASE_PIPELINE.index)

    def nearest(metric: Metric) -> list[str]:
        response = es.search(
            index=names.BASE_PIPELINE.index,
            knn={
                "field": vector_field(representation, metric),
                "query_vector": query.astype(np.float32).tolist(),
                "k": 3,
                "num_candidates": 100,
                "filter": {"term": {"metadata.source": run_tag}},
            },
            source=False,
        )
        return [hit["_id"].removeprefix(f"{run_tag}/") for hit in response["hits"]["hits"]]

    assert nearest(Metric.COSINE) == ["same-direction.jpg", "nearby.jpg", "opposite.jpg"]
    assert nearest(Metric.L2)[0] == "nearby.jpg"
    assert nearest(Metric.L2)[-1] == "same-direction.jpg"
