"""`imgsim records TOPIC` prints records readably: vectors summarised, any contract version."""

import json
import subprocess
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from imgsim_cli import child_argv
from imgsim_common.painting_records import encode_painting, painting_headers
from imgsim_common.records import ModelInfo
from imgsim_stack.settings import StackSettings

pytestmark = pytest.mark.integration

MODEL = ModelInfo(name="m", version="7")


@pytest.fixture
def topic(stack: StackSettings) -> Iterator[str]:
    name = f"test-records-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": stack.bootstrap_servers})
    admin.create_topics([NewTopic(name, 2, 1)])[name].result(30)
    yield name
    admin.delete_topics([name])[name].result(30)


def records(stack: StackSettings, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        child_argv("records", *argv, "--bootstrap-servers", stack.bootstrap_servers),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_records_are_printed_with_vectors_summarised(stack: StackSettings, topic: str) -> None:
    producer = Producer({"bootstrap.servers": stack.bootstrap_servers})
    fields = {
        "id": "a.jpg",
        "path": "a.jpg",
        "sha1": "0" * 40,
        "width": 2,
        "height": 2,
        "model": MODEL.model_dump(),
        "metadata": {"artist": "A"},
    }
    v1 = json.dumps({**fields, "vectors": {"mid": [3.0, 4.0]}})
    producer.produce(topic, key=b"a.jpg", value=v1)
    v2 = encode_painting(fields, {"mid": np.array([3.0, 4.0, 0.0])})
    # confluent-kafka's list type for headers is invariant: a list[tuple[str, bytes]] is refused.
    headers: list[tuple[str, str | bytes | None]] = [*painting_headers("a.jpg", "0" * 40, MODEL)]
    producer.produce(topic, key=b"a.jpg", value=v2, headers=headers)
    producer.produce(topic, key=b"b.jpg", value=b"b.jpg")
    assert producer.flush(10) == 0

    found = records(stack, topic, "--key", "a.jpg")
    assert found.returncode == 0, found.stderr
    old, new = (json.loads(line) for line in found.stdout.splitlines())
    assert old["value"]["contract_version"] == 1 and new["value"]["contract_version"] == 2
    assert old["value"]["vectors"]["mid"] == {"dims": 2, "norm": 5.0, "first": [3.0, 4.0]}
    assert new["value"]["vectors"]["mid"] == {"dims": 3, "norm": 5.0, "first": [3.0, 4.0, 0.0]}
    assert new["headers"]["imgsim-model-version"] == "7"
    assert new["value"]["metadata"] == {"artist": "A"}

    last = records(stack, topic, "--last", "1")
    assert last.returncode == 0
    assert [json.loads(line)["key"] for line in last.stdout.splitlines()] == ["b.jpg"]

    assert records(stack, topic, "--key", "nobody").returncode == 1
    assert records(stack, f"{topic}-absent").returncode == 2
