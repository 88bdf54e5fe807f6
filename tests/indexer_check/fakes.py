"""Stand-ins for Kafka's admin answers and the components' HTTP APIs, for tests without I/O.

The HTTP stand-in is httpx's own MockTransport answering as Connect and Elasticsearch document
their APIs; the checker's code above it runs unchanged.
"""

import json
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from imgsim_indexer_check.checker import Checker
from imgsim_indexer_check.offsets import (
    EARLIEST,
    NO_OFFSET,
    LegOffsets,
    OffsetsError,
    PartitionOffsets,
)
from imgsim_indexer_check.settings import IndexerCheckSettings

CONNECT = "http://connect.test:8083"
ELASTICSEARCH = "http://es.test:9200"


def settings(**overrides: Any) -> IndexerCheckSettings:
    values: dict[str, Any] = {
        "connect_url": CONNECT,
        "elasticsearch_url": ELASTICSEARCH,
        "poll_interval_s": 1.0,
        "vectorizer_window": 3,
        "sink_window": 6,
        **overrides,
    }
    return IndexerCheckSettings(**values)


def leg_offsets(
    topic: str, group: str, positions: list[tuple[int | None, int]], at: float, owned: bool = True
) -> LegOffsets:
    partitions = tuple(
        PartitionOffsets(p, committed, 0, end) for p, (committed, end) in enumerate(positions)
    )
    return LegOffsets(
        topic,
        group,
        partitions,
        frozenset(range(len(positions))) if owned else frozenset(),
        1 if owned else 0,
        at,
    )


Answer = Callable[[str, str, float], LegOffsets]


@dataclass
class ScriptedReader:
    """Answers `read` from a function of (topic, group, time), or raises `error` when set."""

    answer: Answer
    clock: Callable[[], float]
    error: OffsetsError | None = None
    reads: list[str] = field(default_factory=list)

    def read(self, topic: str, group: str) -> LegOffsets:
        self.reads.append(topic)
        if self.error:
            raise self.error
        return self.answer(topic, group, self.clock())


def caught_up(topic: str, group: str, at: float) -> LegOffsets:
    return leg_offsets(topic, group, [(10, 10), (20, 20)], at)


@dataclass
class Components:
    """What Connect and Elasticsearch answer; `down` names those that refuse connections."""

    connector_state: str = "RUNNING"
    task_states: list[str] = field(default_factory=lambda: ["RUNNING"])
    trace: str = ""
    registered: bool = True
    # The alias's index, and another index beside it.
    index_status: str = "green"
    other_index_status: str = "green"
    alias_exists: bool = True
    # The index the alias points at (a model swap moves it).
    alias_index: str = "paintings-v1"
    documents: int = 42
    down: set[str] = field(default_factory=set)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
        if host == CONNECT:
            if "connect" in self.down:
                raise httpx.ConnectError("Connection refused", request=request)
            return self._connect(request.url.path)
        if "elasticsearch" in self.down:
            raise httpx.ConnectError("Connection refused", request=request)
        return self._elasticsearch(request.url.path)

    def _connect(self, path: str) -> httpx.Response:
        if path == "/":
            return httpx.Response(200, json={"version": "4.1.1", "commit": "x"})
        if not self.registered:
            return httpx.Response(404, json={"error_code": 404, "message": "not found"})
        tasks = [
            {
                "id": i,
                "state": state,
                "worker_id": "w:8083",
                **({"trace": self.trace} if state == "FAILED" else {}),
            }
            for i, state in enumerate(self.task_states)
        ]
        body = {
            "name": "sink",
            "connector": {"state": self.connector_state, "worker_id": "w:8083"},
            "tasks": tasks,
        }
        return httpx.Response(200, json=body)

    def _elasticsearch(self, path: str) -> httpx.Response:
        if path == "/_cluster/health":
            statuses = (self.index_status, self.other_index_status)
            body = {
                "cluster_name": "test",
                "status": max(statuses, key=("green", "yellow", "red").index),
                "number_of_nodes": 1,
                "indices": {
                    "paintings-v1": {"status": self.index_status},
                    "other": {"status": self.other_index_status},
                },
            }
            return httpx.Response(200, json=body)
        if path.startswith("/_alias/"):
            alias = path.rsplit("/", 1)[1]
            if not self.alias_exists:
                return httpx.Response(
                    404, json={"error": f"alias [{alias}] missing", "status": 404}
                )
            return httpx.Response(
                200, json={self.alias_index: {"aliases": {alias: {"is_write_index": True}}}}
            )
        if path.endswith("/_count"):
            return httpx.Response(200, content=json.dumps({"count": self.documents}))
        return httpx.Response(404, json={})


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def checker(
    components: Components, answer: Answer = caught_up, **overrides: Any
) -> tuple[Checker, ScriptedReader, Clock]:
    """A real Checker on the stand-ins, with a clock the test moves."""
    clock = Clock()
    reader = ScriptedReader(answer, clock)
    http = httpx.AsyncClient(transport=httpx.MockTransport(components))
    return Checker(settings(**overrides), reader=reader, http=http, clock=clock), reader, clock


# Kafka's admin client, answering as librdkafka does (futures per topic, group or partition).


def done(value: Any) -> "Future[Any]":
    future: Future[Any] = Future()
    future.set_result(value)
    return future


def failed(error: Exception) -> "Future[Any]":
    future: Future[Any] = Future()
    future.set_exception(error)
    return future


def member(*assigned: tuple[str, int]) -> SimpleNamespace:
    topic_partitions = [TopicPartition(topic, p) for topic, p in assigned]
    return SimpleNamespace(assignment=SimpleNamespace(topic_partitions=topic_partitions))


class StandInAdmin:
    """Answers for one topic: start/end offsets per partition, a group's commits and members."""

    def __init__(
        self,
        starts: list[int],
        ends: list[int],
        committed: dict[int, int],
        members: list[SimpleNamespace],
        error: KafkaError | None = None,
    ) -> None:
        self.starts, self.ends, self.committed, self.members = starts, ends, committed, members
        self.error = error
        self.calls: list[str] = []

    def _answer(self, value: Any) -> "Future[Any]":
        return failed(KafkaException(self.error)) if self.error else done(value)

    def describe_topics(self, topics: Any, request_timeout: float) -> dict[str, "Future[Any]"]:
        self.calls.append("describe_topics")
        (name,) = topics.topic_names
        partitions = [SimpleNamespace(id=p) for p in range(len(self.ends))]
        return {name: self._answer(SimpleNamespace(partitions=partitions))}

    def list_consumer_group_offsets(
        self, requests: list[Any], request_timeout: float
    ) -> dict[str, "Future[Any]"]:
        self.calls.append("list_consumer_group_offsets")
        (request,) = requests
        answered = [
            TopicPartition(tp.topic, tp.partition, self.committed.get(tp.partition, NO_OFFSET))
            for tp in request.topic_partitions
        ]
        return {request.group_id: done(SimpleNamespace(topic_partitions=answered))}

    def list_offsets(
        self, specs: dict[TopicPartition, Any], request_timeout: float
    ) -> dict[TopicPartition, "Future[Any]"]:
        self.calls.append("list_offsets")
        earliest = next(iter(specs.values())) is EARLIEST
        table = self.starts if earliest else self.ends
        return {tp: done(SimpleNamespace(offset=table[tp.partition])) for tp in specs}

    def describe_consumer_groups(
        self, groups: list[str], request_timeout: float
    ) -> dict[str, "Future[Any]"]:
        self.calls.append("describe_consumer_groups")
        return {groups[0]: done(SimpleNamespace(members=self.members))}
