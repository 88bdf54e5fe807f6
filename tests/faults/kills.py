"""What a worker's SIGKILL left behind, read from Kafka at the moment of the kill: the images
vectorized whose input offsets were not committed yet (the batch in flight, which a worker must
do again), and how long the group took to consume every partition again."""

import time

from confluent_kafka import Consumer, ConsumerGroupState, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.faults.rig import FaultRig
from tests.support import eventually, read_topic

Offsets = dict[int, int]  # partition -> offset


def _consumer(rig: FaultRig, group: str) -> Consumer:
    # Never subscribes: reading a group's committed offsets must not join (and rebalance) it.
    return Consumer({"bootstrap.servers": rig.check.stack.bootstrap_servers, "group.id": group})


def committed(rig: FaultRig) -> Offsets:
    """The vectorizer group's committed offsets on the image-path topic (0 where none)."""
    topic = rig.check.image_paths_topic
    consumer = _consumer(rig, rig.check.vectorizer_group)
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        found = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return {tp.partition: max(tp.offset, 0) for tp in found}
    finally:
        consumer.close()


def ends(rig: FaultRig, topic: str | None = None) -> Offsets:
    """A topic's end offsets (the image-path topic's by default)."""
    topic = topic or rig.check.image_paths_topic
    consumer = _consumer(rig, "unused")
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), 10)[1] for p in partitions
        }
    finally:
        consumer.close()


def _keys(rig: FaultRig, topic: str) -> list[tuple[int, int, str]]:
    """(partition, offset, key) of every record on `topic` now."""
    count = sum(ends(rig, topic).values())
    if count == 0:
        return []
    messages = read_topic(
        rig.check.stack.bootstrap_servers, topic, lambda found: len(found) >= count, 30
    )
    return [(m.partition() or 0, m.offset() or 0, (m.key() or b"").decode()) for m in messages]


def in_flight(rig: FaultRig, at_kill: Offsets) -> set[str]:
    """Ids with a vector record or dead letter out whose input offset was not committed when
    the only worker died (`at_kill`, the group's committed offsets read right after the kill,
    before any worker runs again): the batch in flight. Every output is on Kafka before any
    offset of its batch is committed, so each such id will be vectorized again."""
    inputs = _keys(rig, rig.check.image_paths_topic)
    done = {key for partition, offset, key in inputs if offset < at_kill.get(partition, 0)}
    outputs = {key for _, _, key in _keys(rig, rig.check.paintings_topic)}
    outputs |= {key for _, _, key in _keys(rig, rig.dead_letter_topic)}
    return outputs - done


def consumed_again(rig: FaultRig, at_kill: Offsets, since: float, timeout_s: float) -> float:
    """Seconds from `since` (time.monotonic()) until the group committed past `at_kill` on
    every partition with records waiting: the dead worker's partitions are consumed again."""

    def moved() -> bool:
        now, end = committed(rig), ends(rig)
        return all(now[p] > offset for p, offset in at_kill.items() if end[p] > offset)

    eventually(moved, timeout_s, "every partition consumed again after the kill")
    return time.monotonic() - since


def members_holding_partitions(rig: FaultRig) -> int:
    """How many members of the vectorizer group hold at least one partition, the group stable."""
    admin = AdminClient({"bootstrap.servers": rig.check.stack.bootstrap_servers})
    group = rig.check.vectorizer_group
    described = admin.describe_consumer_groups([group], request_timeout=10)[group].result(15)
    if described.state != ConsumerGroupState.STABLE:
        return 0
    return sum(bool(m.assignment.topic_partitions) for m in described.members)
