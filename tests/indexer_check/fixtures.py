"""Both legs of a pipeline of the test's own on the real stack, for the checker to watch.

Topics, a consumer group, an index behind an alias and an instance of the sink connector, all
named after the test and deleted after it. Leg 1's consumer is a plain confluent_kafka consumer
standing in for the vectorizer: it commits its offsets as a consumer group does, which is all
the checker reads, and turns each image path into a vector record on the test's paintings topic.
"""

import asyncio
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from elasticsearch import Elasticsearch
from imgsim_common import mapping
from imgsim_indexer_check.checker import Checker
from imgsim_indexer_check.report import Report
from imgsim_indexer_check.settings import IndexerCheckSettings
from imgsim_stack import provision
from imgsim_stack.settings import StackSettings

from tests.support import eventually, painting


@dataclass
class SimulatedVectorizer:
    """Consumes image paths in a group, produces a vector record for each, commits every
    `commit_interval_s`, after the records it produced are acknowledged (the vectorizer's
    order). `stop()` closes the consumer, which leaves the group."""

    bootstrap_servers: str
    image_paths_topic: str
    paintings_topic: str
    group: str
    tag: str
    commit_interval_s: float = 0.5
    vectorized: int = 0
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> "SimulatedVectorizer":
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap_servers,
                "group.id": self.group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": 6000,
            }
        )
        producer = Producer({"bootstrap.servers": self.bootstrap_servers, "acks": "all"})
        consumer.subscribe([self.image_paths_topic])
        try:
            while not self._stopping.is_set():
                messages = consumer.consume(num_messages=100, timeout=self.commit_interval_s)
                for message in messages:
                    if message.error() is not None:
                        continue
                    key = (message.key() or b"").decode()
                    value = json.dumps(painting(key, self.tag)).encode()
                    producer.produce(self.paintings_topic, key=key.encode(), value=value)
                if messages:
                    assert producer.flush(30) == 0
                    self.vectorized += len(messages)
                    try:
                        consumer.commit(asynchronous=False)
                    except KafkaException:
                        pass  # nothing to commit yet (a rebalance): the next batch commits
        finally:
            consumer.close()


class Watcher:
    """A Checker polling in a thread of its own, on its interval, keeping every report."""

    def __init__(self, settings: IndexerCheckSettings) -> None:
        self.settings = settings
        self.reports: list[Report] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    async def _run(self) -> None:
        checker = Checker(self.settings)
        try:
            while not self._stopping.is_set():
                self.reports.append(await checker.poll())
                await asyncio.sleep(self.settings.poll_interval_s)
        finally:
            await checker.aclose()

    def until(self, wanted: Callable[[Report], bool], timeout_s: float, what: str) -> Report:
        """The first report from now on that is `wanted`."""
        seen = len(self.reports)

        def found() -> Report | None:
            return next((r for r in self.reports[seen:] if wanted(r)), None)

        try:
            return eventually(found, timeout_s, what)
        except AssertionError as e:
            last = self.reports[-1] if self.reports else None
            described = last.model_dump_json(indent=1) if last else "no report"
            raise AssertionError(f"{e}; the last report: {described}") from None

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(30)


@dataclass
class CheckRig:
    stack: StackSettings
    tag: str
    image_paths_topic: str
    paintings_topic: str
    dead_letter_topic: str
    vectorizer_group: str
    connector: str
    index: str
    alias: str
    producer: Producer
    vectorizers: list[SimulatedVectorizer] = field(default_factory=list)
    watchers: list[Watcher] = field(default_factory=list)

    @property
    def connector_url(self) -> str:
        return f"{self.stack.connect}/connectors/{self.connector}"

    def settings(self, **overrides: Any) -> IndexerCheckSettings:
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": self.stack.bootstrap_servers,
            "connect_url": self.stack.connect,
            "elasticsearch_url": self.stack.elasticsearch,
            "image_paths_topic": self.image_paths_topic,
            "paintings_topic": self.paintings_topic,
            "alias": self.alias,
            "vectorizer_group": self.vectorizer_group,
            "connector": self.connector,
            "sink_dead_letter_topic": self.dead_letter_topic,
            "poll_interval_s": 0.5,
            # The stand-in commits every 0.5 s; Connect every 5 s: 12 s of samples.
            "vectorizer_window": 6,
            "sink_window": 25,
            "request_timeout_s": 2.0,
            **overrides,
        }
        return IndexerCheckSettings(**values)

    def environment(self, settings: IndexerCheckSettings) -> dict[str, str]:
        """The INDEXER_CHECK_* variables that give a child process these settings."""
        return {
            f"INDEXER_CHECK_{name.upper()}": str(value)
            for name, value in settings.model_dump().items()
            if value is not None
        }

    def watch(self, **overrides: Any) -> Watcher:
        watcher = Watcher(self.settings(**overrides))
        self.watchers.append(watcher)
        return watcher

    def vectorizer(self) -> SimulatedVectorizer:
        started = SimulatedVectorizer(
            self.stack.bootstrap_servers,
            self.image_paths_topic,
            self.paintings_topic,
            self.vectorizer_group,
            self.tag,
        ).start()
        self.vectorizers.append(started)
        return started

    def publish(self, count: int, start: int = 0) -> list[str]:
        """Image-path records, as the publisher writes them (key = id)."""
        ids = [f"{self.tag}/painting-{i:05d}.jpg" for i in range(start, start + count)]
        for painting_id in ids:
            record = {"id": painting_id, "path": painting_id, "metadata": {}}
            self.producer.produce(
                self.image_paths_topic, key=painting_id.encode(), value=json.dumps(record).encode()
            )
        assert self.producer.flush(30) == 0
        return ids

    def produce_paintings(self, count: int, start: int = 0) -> None:
        """Vector records straight onto the paintings topic (leg 2 alone)."""
        for i in range(start, start + count):
            painting_id = f"{self.tag}/direct-{i:05d}.jpg"
            value = json.dumps(painting(painting_id, self.tag)).encode()
            self.producer.produce(self.paintings_topic, key=painting_id.encode(), value=value)
        assert self.producer.flush(30) == 0

    def connector_states(self) -> list[str]:
        status = httpx.get(f"{self.connector_url}/status", timeout=10).json()
        return [status["connector"]["state"], *(t["state"] for t in status["tasks"])]

    def pause(self) -> None:
        assert httpx.put(f"{self.connector_url}/pause", timeout=10).status_code == 202
        eventually(lambda: set(self.connector_states()) == {"PAUSED"}, 30, "connector PAUSED")

    def resume(self) -> None:
        assert httpx.put(f"{self.connector_url}/resume", timeout=10).status_code == 202
        eventually(lambda: set(self.connector_states()) == {"RUNNING"}, 30, "connector RUNNING")


def _create_topics(admin: AdminClient, topics: list[NewTopic]) -> None:
    for future in admin.create_topics(topics).values():
        future.result(30)


@pytest.fixture
def check_rig(stack: StackSettings, es: Elasticsearch) -> Iterator[CheckRig]:
    with open_check_rig(stack, es) as rig:
        yield rig


@contextmanager
def open_check_rig(stack: StackSettings, es: Elasticsearch) -> Iterator[CheckRig]:
    """A check rig on any stack (the fault suite's has a stack of its own)."""
    tag = f"check-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": stack.bootstrap_servers})
    rig = CheckRig(
        stack=stack,
        tag=tag,
        image_paths_topic=f"test-{tag}-image-paths",
        paintings_topic=f"test-{tag}-paintings",
        dead_letter_topic=f"test-{tag}-paintings-dlq",
        vectorizer_group=f"test-{tag}-vectorizer",
        connector=f"test-{tag}-sink",
        index=f"test-{tag}-v1",
        alias=f"test-{tag}",
        producer=Producer({"bootstrap.servers": stack.bootstrap_servers, "acks": "all"}),
    )
    _create_topics(
        admin,
        [
            NewTopic(rig.image_paths_topic, 3, 1),
            NewTopic(rig.paintings_topic, 2, 1, config={"cleanup.policy": "compact"}),
            NewTopic(rig.dead_letter_topic, 1, 1),
        ],
    )
    es.indices.create(
        index=rig.index,
        mappings=mapping.mappings(),
        settings={"number_of_shards": 1, "number_of_replicas": 0},
        aliases={rig.alias: {"is_write_index": True}},
    )
    config = {
        **provision.connector_config(stack),
        "topics": rig.paintings_topic,
        "index": rig.alias,
        "errors.deadletterqueue.topic.name": rig.dead_letter_topic,
    }
    with httpx.Client(timeout=30) as http:
        response = http.put(f"{rig.connector_url}/config", json=config)
        assert response.status_code == 201, response.text
        provision.wait_connector_running(http, rig.connector_url, timeout_s=60)
    try:
        yield rig
    finally:
        for watcher in rig.watchers:
            watcher.stop()
        for vectorizer in rig.vectorizers:
            vectorizer.stop()
        httpx.delete(rig.connector_url, timeout=30)
        es.indices.delete(index=rig.index, ignore_unavailable=True)
        topics = [rig.image_paths_topic, rig.paintings_topic, rig.dead_letter_topic]
        for future in admin.delete_topics(topics).values():
            future.result(30)
        groups = [rig.vectorizer_group, f"connect-{rig.connector}"]
        eventually(lambda: _delete_groups(admin, groups), 30, "the test's groups deleted")


def _delete_groups(admin: AdminClient, groups: list[str]) -> bool:
    """True once none of the groups is left (members take a moment to leave)."""
    left = []
    for group, future in admin.delete_consumer_groups(groups).items():
        try:
            future.result(30)
        except KafkaException as e:
            if e.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:
                left.append(group)
    return not left
