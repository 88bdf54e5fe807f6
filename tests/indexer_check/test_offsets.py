"""Lag from the admin API's answers, with a stand-in admin client answering as librdkafka does."""

from types import SimpleNamespace

import pytest
from confluent_kafka import KafkaError
from imgsim_indexer_check.offsets import (
    OffsetReader,
    OffsetsError,
    PartitionOffsets,
    owned_partitions,
)

from tests.indexer_check.fakes import StandInAdmin, member


def test_lag_per_partition_and_in_total() -> None:
    admin = StandInAdmin(
        starts=[0, 0, 400], ends=[100, 50, 1000], committed={0: 100, 1: 20}, members=[]
    )

    leg = OffsetReader("kafka:9092", 1, admin=admin).read("image-paths", "imgsim-vectorizer")

    assert [(p.committed, p.lag) for p in leg.partitions] == [(100, 0), (20, 30), (None, 600)]
    assert leg.lag == 630
    assert leg.committed_total == 100 + 20 + 400
    # Each kind of request once for the whole topic, never one per partition.
    assert sorted(admin.calls) == [
        "describe_consumer_groups",
        "describe_topics",
        "list_consumer_group_offsets",
        "list_offsets",
        "list_offsets",
    ]


def test_a_partition_without_a_commit_counts_from_the_log_start_not_zero() -> None:
    assert PartitionOffsets(0, None, start=700, end=1000).lag == 300
    assert PartitionOffsets(0, None, start=0, end=1000).lag == 1000


def test_a_commit_under_the_log_start_counts_from_the_log_start() -> None:
    # Records under the log start were deleted by retention: they cannot be waiting any more.
    assert PartitionOffsets(0, 100, start=700, end=1000).lag == 300


def test_an_end_read_before_the_commit_is_no_negative_lag() -> None:
    assert PartitionOffsets(0, 120, start=0, end=100).lag == 0


def test_owned_partitions_come_from_the_members_assignments() -> None:
    members = [member(("image-paths", 0), ("image-paths", 2), ("other", 1)), member()]
    assert owned_partitions("image-paths", members, [0, 1, 2]) == {0, 2}
    assert owned_partitions("image-paths", [], [0, 1, 2]) == frozenset()


def test_members_whose_assignment_cannot_be_read_hold_every_partition() -> None:
    opaque = [SimpleNamespace(assignment=None), member()]
    assert owned_partitions("image-paths", opaque, [0, 1]) == {0, 1}


def test_the_reader_reports_members_and_what_they_hold() -> None:
    admin = StandInAdmin([0, 0], [10, 10], {0: 10, 1: 10}, [member(("paintings", 1))])

    leg = OffsetReader("kafka:9092", 1, admin=admin).read("paintings", "connect-sink")

    assert leg.members == 1
    assert leg.owned == {1}


@pytest.mark.parametrize(
    ("code", "unreachable"),
    [
        (KafkaError._TRANSPORT, True),
        (KafkaError._TIMED_OUT, True),
        (KafkaError._INVALID_ARG, False),
    ],
)
def test_errors_say_whether_kafka_could_be_reached(code: int, unreachable: bool) -> None:
    admin = StandInAdmin([0], [1], {}, [], error=KafkaError(code, "broker said no"))

    with pytest.raises(OffsetsError, match="cannot describe topic 'image-paths'") as raised:
        OffsetReader("kafka:9092", 1, admin=admin).read("image-paths", "g")

    assert raised.value.unreachable is unreachable


def test_a_missing_topic_is_named() -> None:
    admin = StandInAdmin([0], [1], {}, [], error=KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))

    with pytest.raises(OffsetsError, match="does not exist") as raised:
        OffsetReader("kafka:9092", 1, admin=admin).read("no-such-topic", "g")

    assert not raised.value.unreachable
