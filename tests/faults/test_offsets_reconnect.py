"""The checker reads a group's committed offsets with a consumer that never joins the group, not
with the admin API's ListConsumerGroupOffsets: the Kafka restart scenario (test_stack_faults.py)
found librdkafka's admin client stuck after the restart, and then crashing the checker."""

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from imgsim_indexer_check import offsets
from imgsim_indexer_check.offsets import OffsetReader, OffsetsError

from tests.indexer_check.fakes import StandInAdmin


class NoGroupOffsetsAdmin(StandInAdmin):
    def list_consumer_group_offsets(self, requests: list[Any], request_timeout: float) -> Any:
        raise AssertionError("the admin API's ListConsumerGroupOffsets must not be used")


class StandInConsumer:
    made: list["StandInConsumer"] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self.config, self.asked = config, 0
        self.error: KafkaError | None = None
        StandInConsumer.made.append(self)

    def subscribe(self, topics: list[str]) -> None:
        raise AssertionError("the reader must never join the group")

    def committed(self, wanted: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        self.asked += 1
        if self.error is not None:
            raise KafkaException(self.error)
        return [
            TopicPartition(tp.topic, tp.partition, 7 if tp.partition == 0 else -1001)
            for tp in wanted
        ]


@pytest.fixture
def reader(monkeypatch: pytest.MonkeyPatch) -> OffsetReader:
    StandInConsumer.made = []
    admin = NoGroupOffsetsAdmin(starts=[0, 0], ends=[9, 4], committed={}, members=[])
    monkeypatch.setattr(offsets, "AdminClient", lambda config: admin)
    monkeypatch.setattr(offsets, "Consumer", StandInConsumer)
    return OffsetReader("kafka:9092", 1)


def test_committed_offsets_come_from_a_consumer_that_carries_the_group_id(
    reader: OffsetReader,
) -> None:
    leg = reader.read("image-paths", "the-group")
    again = reader.read("image-paths", "the-group")

    (consumer,) = StandInConsumer.made  # one per group, kept
    assert consumer.config["group.id"] == "the-group"
    assert consumer.config["enable.auto.commit"] is False
    assert consumer.asked == 2
    assert (
        [p.committed for p in leg.partitions]
        == [7, None]
        == [p.committed for p in again.partitions]
    )
    assert leg.lag == 2 + 4


def test_a_timed_out_committed_read_says_kafka_could_not_be_reached(
    reader: OffsetReader,
) -> None:
    reader.read("image-paths", "g")
    StandInConsumer.made[0].error = KafkaError(KafkaError._TIMED_OUT, "timed out")

    with pytest.raises(OffsetsError, match="cannot read group 'g''s offsets") as raised:
        reader.read("image-paths", "g")

    assert raised.value.unreachable


def test_an_admin_client_that_could_not_reach_kafka_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers: dict[str, Any] = {"starts": [0], "ends": [5], "committed": {}, "members": []}
    stuck = NoGroupOffsetsAdmin(**answers, error=KafkaError(KafkaError._TIMED_OUT, "timed out"))
    made = iter([stuck, NoGroupOffsetsAdmin(**answers)])
    monkeypatch.setattr(offsets, "AdminClient", lambda config: next(made))
    monkeypatch.setattr(offsets, "Consumer", StandInConsumer)
    reader = OffsetReader("kafka:9092", 1)

    with pytest.raises(OffsetsError):
        reader.read("image-paths", "g")
    again = reader.read("image-paths", "g")

    assert reader.admin is not stuck
    assert again.partitions[0].end == 5
