"""Following one ingestion: which of its paintings are vectorized, indexed or dead-lettered.

Outcomes are read from where the pipeline writes them: from the ends of `paintings` and the
dead-letter topic as they were before publishing, keys and headers only. A vector record counts
as indexed once the sink's committed offset has passed it: the sink commits an offset only after
Elasticsearch took every record before it (or dead-lettered it).
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson
from confluent_kafka import Consumer, Message, TopicPartition
from imgsim_common import contract
from imgsim_common.access import KafkaClientConfig, librdkafka

from imgsim_indexer_check.offsets import OffsetReader


@dataclass
class DeadLetterSeen:
    reason: str
    message: str


@dataclass
class Outcomes:
    vectorized: dict[str, tuple[int, int]] = field(
        default_factory=dict
    )  # id -> (partition, offset)
    dead_lettered: dict[str, DeadLetterSeen] = field(default_factory=dict)
    indexed: set[str] = field(default_factory=set)

    def reasons(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for letter in self.dead_lettered.values():
            counts[letter.reason] = counts.get(letter.reason, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: -item[1]))


class IngestionWatch:
    """Start it before publishing; `poll()` then brings the outcomes of the watched ids."""

    def __init__(
        self,
        kafka: KafkaClientConfig,
        paintings_topic: str,
        dead_letter_topic: str,
        sink_group: str,
        timeout_s: float = 10,
    ) -> None:
        self.paintings_topic = paintings_topic
        self.dead_letter_topic = dead_letter_topic
        self.sink_group = sink_group
        self.offsets = OffsetReader(kafka, timeout_s)
        self.watched: set[str] = set()
        self.outcomes = Outcomes()
        self._consumer = Consumer(
            librdkafka(
                kafka,
                {
                    "group.id": f"imgsim-ingest-{uuid.uuid4().hex[:8]}",
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                },
            )
        )
        assignment: list[TopicPartition] = []
        for topic in (paintings_topic, dead_letter_topic):
            for partition in self.offsets.partitions(topic):
                _, end = self._consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=timeout_s
                )
                assignment.append(TopicPartition(topic, partition, end))
        self._consumer.assign(assignment)

    def watch(self, ids: Iterable[str]) -> None:
        self.watched.update(ids)

    def poll(self, timeout_s: float = 0.5) -> Outcomes:
        for message in self._consumer.consume(num_messages=10_000, timeout=timeout_s):
            if message.error() is None:
                self._record(message)
        self._update_indexed()
        return self.outcomes

    def _record(self, message: Message) -> None:
        key = message.key()
        if not key:
            return
        painting_id = key.decode("utf-8", "replace")
        if painting_id not in self.watched:
            return
        if message.topic() == self.paintings_topic:
            if message.value() is not None:
                self.outcomes.vectorized[painting_id] = (
                    message.partition() or 0,
                    message.offset() or 0,
                )
                self.outcomes.dead_lettered.pop(painting_id, None)
            return
        try:
            letter = orjson.loads(message.value() or b"{}")
        except orjson.JSONDecodeError:
            letter = {}
        reason = contract.header(message.headers(), contract.REASON_HEADER)
        self.outcomes.dead_lettered[painting_id] = DeadLetterSeen(
            reason or str(letter.get("reason", "unknown")), str(letter.get("message", ""))
        )

    def _update_indexed(self) -> None:
        pending = {
            i: p for i, p in self.outcomes.vectorized.items() if i not in self.outcomes.indexed
        }
        if not pending:
            return
        leg = self.offsets.read(self.paintings_topic, self.sink_group)
        committed = {p.partition: p.committed for p in leg.partitions}
        for painting_id, (partition, offset) in pending.items():
            position = committed.get(partition)
            if position is not None and offset < position:
                self.outcomes.indexed.add(painting_id)

    def close(self) -> None:
        self._consumer.close()

    @property
    def settled(self) -> bool:
        """Every watched painting is indexed or dead-lettered."""
        return len(self.outcomes.indexed) + len(self.outcomes.dead_lettered) >= len(self.watched)
