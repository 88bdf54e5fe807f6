"""Helpers every area's tests share: waiting, ports, reading topics, sample records, serving an
app in a thread. Fixtures live in each area's `fixtures.py` (registered from tests/conftest.py);
no test module imports another.
"""

import contextlib
import hashlib
import json
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
import uvicorn
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from elasticsearch import Elasticsearch, NotFoundError
from imgsim_common import names
from imgsim_common.doc_values import hit_vectors, vector_lookup
from imgsim_common.records import ModelInfo, PaintingRecord
from imgsim_common.representations import METRICS, REPRESENTATIONS, vector_field
from imgsim_stack.settings import REPO_ROOT
from starlette.applications import Starlette

T = TypeVar("T")

# Screenshots of the browser tests.
ARTIFACTS = REPO_ROOT / "test-artifacts"
# The ONNX exports of the tests' tiny models, shared by their worker processes.
ONNX_CACHE = REPO_ROOT / ".stack" / "test-onnx-cache"


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
    es.indices.refresh(index=names.BASE_PIPELINE.index)
    fields = [vector_field(r.name, m) for r in REPRESENTATIONS for m in METRICS]
    hits = es.search(index=names.BASE_PIPELINE.index, body=vector_lookup(painting_id, fields))
    found = hits["hits"]["hits"]
    return hit_vectors(found[0]) if found else {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_rng = np.random.default_rng(7)


def painting(
    painting_id: str,
    tag: str,
    title: str = "Untitled",
    vectors: dict[str, list[float]] | None = None,
) -> dict[str, Any]:
    return PaintingRecord(
        id=painting_id,
        path=f"{painting_id}.jpg",
        sha1=hashlib.sha1(painting_id.encode()).hexdigest(),
        width=640,
        height=480,
        model=ModelInfo(name="test-model", version="1"),
        metadata={"artist": "Tester", "title": title, "style": "Test", "source": tag},
        vectors=vectors
        or {
            r.name: _rng.standard_normal(r.dims).astype(np.float32).tolist()
            for r in REPRESENTATIONS
        },
    ).to_json()


def document(es: Elasticsearch, painting_id: str) -> dict[str, Any] | None:
    try:
        return dict(es.get(index=names.BASE_PIPELINE.index, id=painting_id))
    except NotFoundError:
        return None


@contextlib.contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """Runs the app under a real uvicorn server in a thread; yields its base URL."""
    port = free_port()
    # log_config=None: uvicorn's own logging setup would close absl's handler once TensorFlow is
    # imported, and with it pytest's capture stream for every later test of the session.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start under uvicorn")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def promtool_check(exposition: bytes) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    result = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=30
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def commit_at_end(bootstrap: str, topic: str, group: str) -> None:
    """Commits `group`'s offsets at the topic's end: a consumer of that group starts from there,
    or records up to now count as handled (a lossy consumer)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = [
            TopicPartition(topic, p, consumer.get_watermark_offsets(TopicPartition(topic, p))[1])
            for p in partitions
        ]
        consumer.commit(offsets=ends, asynchronous=False)
    finally:
        consumer.close()


def make_ca_file(folder: Path) -> Path:
    """A self-signed CA certificate (PEM) for tests of TLS settings; made with openssl."""
    ca = folder / "test-ca.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        + ["-nodes", "-keyout", str(folder / "test-ca.key"), "-out", str(ca)]
        + ["-days", "1", "-subj", "/CN=imgsim test CA"],
        check=True,
        capture_output=True,
    )
    return ca
