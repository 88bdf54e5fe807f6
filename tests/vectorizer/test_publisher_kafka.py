"""The publisher and `imgsim publish` against the real broker, each test on a topic of its own."""

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from imgsim_cli import main as cli
from imgsim_stack.settings import StackSettings
from imgsim_vectorizer import publisher

from tests.support import eventually, read_topic

pytestmark = pytest.mark.integration

PAINTINGS = ["test/3.png", "train/1.jpg", "train/2.JPEG", "train/sub/4.webp"]


@pytest.fixture
def admin(stack: StackSettings) -> AdminClient:
    return AdminClient({"bootstrap.servers": stack.bootstrap_servers})


@pytest.fixture
def topic(admin: AdminClient) -> Iterator[str]:
    name = f"test-image-paths-{uuid.uuid4().hex}"
    admin.create_topics([NewTopic(name, 3, 1)])[name].result(30)
    eventually(lambda: name in admin.list_topics(timeout=10).topics, what=f"topic {name}")
    yield name
    admin.delete_topics([name])[name].result(30)


@pytest.fixture
def image_root(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    for name in [*PAINTINGS, "train/notes.txt", ".hidden/5.jpg"]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        # The publisher never opens an image, so any bytes will do.
        (root / name).write_bytes(b"not really an image")
    return root


@pytest.fixture
def metadata_csv(tmp_path: Path) -> Path:
    path = tmp_path / "all_data_info.csv"
    path.write_text(
        "artist,date,title,new_filename\n"
        'Vincent van Gogh,c.1889,"Irises, with a border",1.jpg\n'
        "Unknown,,Lost,999.jpg\n",
        encoding="utf-8",
    )
    return path


def consume(bootstrap_servers: str, topic: str, count: int) -> list[tuple[int, str, Any]]:
    """The first `count` records of the topic as (partition, key, value)."""
    messages = read_topic(bootstrap_servers, topic, lambda read: len(read) >= count)
    records = []
    for message in messages:
        key, value = message.key(), message.value()
        assert key is not None and value is not None
        records.append((message.partition() or 0, key.decode(), json.loads(value)))
    return records


def test_a_folder_published_twice_gives_the_same_keys_in_the_same_partitions(
    stack: StackSettings, topic: str, image_root: Path, metadata_csv: Path
) -> None:
    producer = Producer({"bootstrap.servers": stack.bootstrap_servers, "acks": "all"})
    found = publisher.scan(image_root)
    metadata = publisher.load_metadata(metadata_csv)

    summary = publisher.publish(producer, topic, found, metadata)

    assert (summary.published, summary.failed, summary.unknown_files) == (4, 0, 1)
    assert (summary.without_metadata, summary.csv_rows_without_image) == (3, 1)
    first = consume(stack.bootstrap_servers, topic, len(PAINTINGS))
    assert sorted(key for _, key, _ in first) == PAINTINGS
    values = {key: value for _, key, value in first}
    assert values["train/1.jpg"] == {
        "id": "train/1.jpg",
        "path": "train/1.jpg",
        "metadata": {
            "artist": "Vincent van Gogh",
            "date": "c.1889",
            "year": 1889,
            "title": "Irises, with a border",
        },
    }
    assert values["test/3.png"] == {"id": "test/3.png", "path": "test/3.png", "metadata": {}}

    argv = ["publish", str(image_root), "--metadata", str(metadata_csv), "--no-progress"]
    argv += ["--bootstrap-servers", stack.bootstrap_servers, "--topic", topic]
    assert cli.main(argv) == 0

    both = consume(stack.bootstrap_servers, topic, 2 * len(PAINTINGS))
    assert len(both) == 2 * len(PAINTINGS)
    partitions: dict[str, set[int]] = {}
    for partition, key, value in both:
        partitions.setdefault(key, set()).add(partition)
        assert value == values[key]
    # One partition per key: a newer record for a painting always follows the older one.
    assert sorted(partitions) == PAINTINGS
    assert all(len(p) == 1 for p in partitions.values())


def test_publish_refuses_a_topic_that_does_not_exist_and_does_not_create_it(
    stack: StackSettings, admin: AdminClient, image_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = f"test-image-paths-missing-{uuid.uuid4().hex}"
    argv = ["publish", str(image_root), "--no-progress"]
    argv += ["--bootstrap-servers", stack.bootstrap_servers, "--topic", missing]

    assert cli.main(argv) == 2

    assert "does not exist" in capsys.readouterr().err
    assert missing not in admin.list_topics(timeout=10).topics
