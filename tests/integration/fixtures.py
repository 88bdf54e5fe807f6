"""The real stack for the integration tier: reused when it runs, started (and stopped) when not."""

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from confluent_kafka import Consumer, Message, Producer
from elasticsearch import Elasticsearch
from imgsim_common import names
from imgsim_common.doc_values import hit_vectors, vector_lookup
from imgsim_common.representations import METRICS, REPRESENTATIONS, vector_field
from imgsim_stack import cli, provision
from imgsim_stack.settings import StackSettings

T = TypeVar("T")


def _stack_ready(settings: StackSettings) -> bool:
    if not all(component.healthy() for component in cli.components(settings)):
        return False
    try:
        with httpx.Client(timeout=5) as http:
            url = f"{settings.connect}/connectors/{names.SINK_CONNECTOR}"
            provision.wait_connector_running(http, url, timeout_s=1)
    except Exception:  # noqa: BLE001 - anything short of RUNNING means "provision again"
        return False
    return True


@pytest.fixture(scope="session")
def stack() -> Iterator[StackSettings]:
    settings = StackSettings()
    started_here = False
    if not _stack_ready(settings):
        started_here = not any(c.healthy() for c in cli.components(settings))
        cli.up(settings)
    yield settings
    if started_here and not os.environ.get("IMGSIM_TEST_KEEP_STACK"):
        cli.down(settings)


@pytest.fixture(scope="session")
def es(stack: StackSettings) -> Iterator[Elasticsearch]:
    client = Elasticsearch(stack.elasticsearch, request_timeout=30)
    yield client
    client.close()


@pytest.fixture(scope="session")
def producer(stack: StackSettings) -> Iterator[Producer]:
    producer = Producer({"bootstrap.servers": stack.bootstrap_servers, "acks": "all"})
    yield producer
    producer.flush(10)


@pytest.fixture
def run_tag() -> str:
    """Unique per test: ids and the `metadata.source` of its documents carry it."""
    return f"test-{uuid.uuid4().hex[:12]}"


def produce(producer: Producer, key: str, value: dict[str, Any] | bytes | None) -> None:
    payload = json.dumps(value).encode() if isinstance(value, dict) else value
    producer.produce(names.PAINTINGS_TOPIC, key=key.encode(), value=payload)
    assert producer.flush(10) == 0, "the record was not acknowledged by Kafka"


def eventually(check: Callable[[], T | None], timeout_s: float = 20, what: str = "") -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.2)


def read_topic(
    bootstrap_servers: str,
    topic: str,
    enough: Callable[[list[Message]], bool],
    timeout_s: float = 60,
) -> list[Message]:
    """Reads the topic from its beginning until `enough` says so (or fails after the timeout)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"test-reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    messages: list[Message] = []
    try:

        def poll() -> bool:
            for message in consumer.consume(num_messages=500, timeout=0.5):
                assert message.error() is None, message.error()
                messages.append(message)
            return enough(messages)

        eventually(poll, timeout_s, what=f"the records wanted from {topic}")
    finally:
        consumer.close()
    return messages


def stored_vectors(es: Elasticsearch, painting_id: str) -> dict[str, list[float]]:
    """Every vector field the painting has in the index, read back from doc values."""
    es.indices.refresh(index=names.PAINTINGS_ALIAS)
    fields = [vector_field(r.name, m) for r in REPRESENTATIONS for m in METRICS]
    hits = es.search(index=names.PAINTINGS_ALIAS, body=vector_lookup(painting_id, fields))
    found = hits["hits"]["hits"]
    return hit_vectors(found[0]) if found else {}
