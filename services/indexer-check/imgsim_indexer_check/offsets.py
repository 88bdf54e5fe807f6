"""End offsets of a topic and a consumer group's committed offsets, read with the admin API.

The admin API reads a group's offsets without joining it (a Consumer's `committed()` needs the
group's id and could disturb it), one request per group for all partitions; the end and start
offsets of all partitions come from one ListOffsets request each.
"""

import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]
from imgsim_common.access import KafkaClientConfig, bootstrap_of, librdkafka

# confluent_kafka leaves these two untyped.
LATEST: OffsetSpec = OffsetSpec.latest()  # type: ignore[no-untyped-call]
EARLIEST: OffsetSpec = OffsetSpec.earliest()  # type: ignore[no-untyped-call]
# What librdkafka reports for a partition the group never committed.
NO_OFFSET = -1001


# librdkafka's codes for a broker that cannot be reached or does not answer.
UNREACHABLE = frozenset(
    {KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN}
)


class OffsetsError(Exception):
    """Kafka could not be asked (`unreachable`), or did not know the topic."""

    def __init__(self, message: str, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


@dataclass(frozen=True)
class PartitionOffsets:
    partition: int
    committed: int | None  # None: the group never committed here
    start: int  # the log start offset (low watermark)
    end: int  # the end offset (high watermark)

    @property
    def position(self) -> int:
        # Records under the log start are gone (retention): they can no longer be waiting, and a
        # group without a commit starts from the log start (auto.offset.reset=earliest).
        return self.start if self.committed is None else max(self.committed, self.start)

    @property
    def lag(self) -> int:
        """Offsets between the position and the end: records on `image-paths`; on the compacted
        `paintings` an upper bound, since compaction leaves gaps."""
        return max(0, self.end - self.position)


@dataclass(frozen=True)
class LegOffsets:
    topic: str
    group: str
    partitions: tuple[PartitionOffsets, ...]
    # Partitions a live member of the group holds, and how many members it has.
    owned: frozenset[int]
    members: int
    read_at: float

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def committed_total(self) -> int:
        return sum(p.position for p in self.partitions)


def owned_partitions(
    topic: str, members: Sequence[Any], partitions: Sequence[int]
) -> frozenset[int]:
    """The topic's partitions assigned to a live member. All of them when the group has members
    but none shows an assignment: an assignor whose assignment the admin API cannot parse."""
    assignments = [
        member.assignment.topic_partitions
        for member in members
        if member.assignment is not None and member.assignment.topic_partitions
    ]
    if members and not assignments:
        return frozenset(partitions)
    return frozenset(tp.partition for tps in assignments for tp in tps if tp.topic == topic)


class OffsetSource(Protocol):
    def read(self, topic: str, group: str) -> LegOffsets: ...


class OffsetReader:
    def __init__(self, kafka: KafkaClientConfig, timeout_s: float, admin: Any = None) -> None:
        self.timeout_s = timeout_s
        self.bootstrap_servers = bootstrap_of(kafka)
        # log_level 0: an unreachable broker is reported once per poll, in the report, rather
        # than by librdkafka on stderr at every reconnection.
        self._config = librdkafka(kafka, {"log_level": 0})
        self.admin = admin or AdminClient(self._config)
        # A stand-in admin client (the unit tests) answers the committed offsets itself.
        self._admin_commits = admin is not None
        self._consumers: dict[str, Consumer] = {}
        self._lock = threading.Lock()
        self._replaced_at = float("-inf")
        # Admin clients replaced (when, client), kept until none of their requests can still be
        # in flight: librdkafka must not free a client whose requests are pending.
        self._retired: list[tuple[float, Any]] = []

    def _reconnect(self, failed: Any) -> None:
        """A new admin client in place of one that could not reach Kafka: after the broker
        restarts, librdkafka's admin client may never find the group coordinator again (its
        DescribeGroups requests time out for minutes while a new client answers at once)."""
        with self._lock:
            now = time.monotonic()
            # At most one new client every few timeouts, however long Kafka stays away.
            if self.admin is not failed or now - self._replaced_at < max(5.0, 3 * self.timeout_s):
                return
            self._retired = [(t, c) for t, c in self._retired if now - t < 10 * self.timeout_s]
            self._retired.append((now, self.admin))
            self.admin = AdminClient(self._config)
            self._replaced_at = now

    def _committed(self, group: str, wanted: list[TopicPartition]) -> list[TopicPartition]:
        """The group's committed offsets, read by a consumer that carries the group's id but
        never joins it (no subscription, no commit). Not the admin API's ListConsumerGroupOffsets:
        librdkafka's admin client crashes the process (SIGSEGV in rd_kafka_handle_OffsetFetch,
        librdkafka issue 5040) when the answer is NOT_COORDINATOR, as while a restarted broker
        loads its groups, and its requests can time out for good after such a restart; the
        fault suite's Kafka restart hit both (the checker stuck in ERR, then dead)."""
        if self._admin_commits:
            request = ConsumerGroupTopicPartitions(group, wanted)
            future = self.admin.list_consumer_group_offsets(
                [request], request_timeout=self.timeout_s
            )[group]
            answer = self._wait(future, f"cannot read group {group!r}'s offsets")
            return list(answer.topic_partitions)
        with self._lock:
            consumer = self._consumers.get(group)
            if consumer is None:
                consumer = Consumer(
                    {**self._config, "group.id": group, "enable.auto.commit": False}
                )
                self._consumers[group] = consumer
        try:
            return list(consumer.committed(wanted, timeout=self.timeout_s))
        except KafkaException as e:
            raise self._error(e, f"cannot read group {group!r}'s offsets") from e

    @staticmethod
    def _error(e: KafkaException, what: str) -> "OffsetsError":
        error = e.args[0]
        if isinstance(error, KafkaError) and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return OffsetsError(f"{what}: the topic does not exist (`make provision`)")
        unreachable = isinstance(error, KafkaError) and error.code() in UNREACHABLE
        message = error.str() if isinstance(error, KafkaError) else str(error)
        return OffsetsError(f"{what}: {message}", unreachable)

    def _wait(self, future: "Future[Any]", what: str) -> Any:
        try:
            return future.result(timeout=self.timeout_s + 1)
        except KafkaException as e:
            raise self._error(e, what) from e
        except TimeoutError as e:
            raise OffsetsError(
                f"{what}: no answer from {self.bootstrap_servers} within {self.timeout_s:.0f} s",
                unreachable=True,
            ) from e

    def partitions(self, topic: str) -> list[int]:
        futures = self.admin.describe_topics(
            TopicCollection([topic]), request_timeout=self.timeout_s
        )
        description = self._wait(futures[topic], f"cannot describe topic {topic!r}")
        return sorted(p.id for p in description.partitions)

    def read(self, topic: str, group: str) -> LegOffsets:
        admin = self.admin
        try:
            return self._read(topic, group)
        except OffsetsError as e:
            if e.unreachable and not self._admin_commits:
                self._reconnect(admin)
            raise

    def _read(self, topic: str, group: str) -> LegOffsets:
        partitions = self.partitions(topic)
        wanted = [TopicPartition(topic, p) for p in partitions]
        members_future = self.admin.describe_consumer_groups(
            [group], request_timeout=self.timeout_s
        )[group]
        # Committed offsets first, end offsets after: the end only grows, so a lag is never
        # computed from an end read before the commit it is compared with.
        answer = self._committed(group, wanted)
        read_at = time.time()
        committed = {tp.partition: (None if tp.offset == NO_OFFSET else tp.offset) for tp in answer}
        ends = self._list(topic, partitions, LATEST)
        starts = self._list(topic, partitions, EARLIEST)
        end = {p: self._wait(f, f"cannot read {topic!r}'s end offsets") for p, f in ends.items()}
        start = {
            p: self._wait(f, f"cannot read {topic!r}'s start offsets") for p, f in starts.items()
        }
        group_description = self._wait(members_future, f"cannot describe group {group!r}")
        members = list(group_description.members)
        return LegOffsets(
            topic=topic,
            group=group,
            partitions=tuple(
                PartitionOffsets(p, committed.get(p), start[p].offset, end[p].offset)
                for p in partitions
            ),
            owned=owned_partitions(topic, members, partitions),
            members=len(members),
            read_at=read_at,
        )

    def _list(
        self, topic: str, partitions: Sequence[int], spec: OffsetSpec
    ) -> Mapping[int, "Future[Any]"]:
        futures = self.admin.list_offsets(
            {TopicPartition(topic, p): spec for p in partitions}, request_timeout=self.timeout_s
        )
        return {tp.partition: future for tp, future in futures.items()}
