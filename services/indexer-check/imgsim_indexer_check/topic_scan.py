"""Reading a whole topic, up to the end it had when the scan began, as fast as Kafka serves it.

Kafka cannot fetch a record's headers without its value, so what a scan costs is the bytes on the
topic; what it must not add is Python work per byte: callers look at keys and headers only, and
decode a value only for records written before headers carried what they need.
"""

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from imgsim_common.access import KafkaClientConfig, librdkafka


class ScanError(RuntimeError):
    pass


@dataclass(frozen=True)
class Ends:
    """Per partition: the first offset still on the topic and the end the scan reads to."""

    low: dict[int, int]
    high: dict[int, int]


def scan_consumer(kafka: KafkaClientConfig) -> Consumer:
    """A consumer that reads partitions it assigns itself, never joining or committing."""
    config: dict[str, Any] = {
        # Never joins or commits for a group: the scan assigns partitions itself.
        "group.id": f"imgsim-check-scan-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        # Large fetches: the scan is bound by bytes, and small ones cost a round trip each.
        "fetch.max.bytes": 64 * 2**20,
        "max.partition.fetch.bytes": 16 * 2**20,
        "queued.max.messages.kbytes": 512 * 1024,
        "fetch.wait.max.ms": 10,
    }
    return Consumer(librdkafka(kafka, config))


def topic_ends(consumer: Consumer, topic: str, timeout_s: float) -> Ends:
    metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if metadata is None or metadata.error is not None:
        reason = metadata.error if metadata is not None else "unknown"
        raise ScanError(f"topic {topic!r} cannot be read: {reason}")
    low: dict[int, int] = {}
    high: dict[int, int] = {}
    for partition in sorted(metadata.partitions):
        low[partition], high[partition] = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=timeout_s, cached=False
        )
    return Ends(low, high)


def scan(
    kafka: KafkaClientConfig,
    topic: str,
    visit: Callable[[Message], None],
    timeout_s: float = 120,
) -> Ends:
    """Hands every record from the start of each partition up to its end offset at the time the
    scan began to `visit`, in offset order per partition. Records produced meanwhile are left."""
    consumer = scan_consumer(kafka)
    try:
        ends = topic_ends(consumer, topic, timeout_s=min(timeout_s, 30))
        remaining = {p for p in ends.high if ends.high[p] > ends.low[p]}
        if not remaining:
            return ends
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(remaining)])
        for batch in _batches(consumer, timeout_s, topic):
            for message in batch:
                partition = message.partition()
                if partition not in remaining:
                    continue
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        remaining.discard(partition)
                        continue
                    raise ScanError(f"reading {topic}: {error}")
                offset = message.offset()
                if offset is None or offset >= ends.high[partition]:
                    remaining.discard(partition)
                    continue
                visit(message)
                if offset >= ends.high[partition] - 1:
                    remaining.discard(partition)
            if not remaining:
                break
        return ends
    finally:
        consumer.close()


def _batches(consumer: Consumer, timeout_s: float, topic: str) -> Iterator[list[Message]]:
    deadline = time.monotonic() + timeout_s
    while True:
        if time.monotonic() > deadline:
            raise ScanError(f"reading {topic} took longer than {timeout_s:.0f} s")
        yield consumer.consume(num_messages=10_000, timeout=0.05)
