"""Polls through a real Checker over stand-ins: states per leg, reasons, recovery."""

import asyncio
from typing import Any

from imgsim_indexer_check.evaluator import State
from imgsim_indexer_check.offsets import LegOffsets, OffsetsError
from imgsim_indexer_check.report import Report

from tests.indexer_check.fakes import Components, checker, leg_offsets


def polls(made: Any, clock: Any, count: int, step: float = 1.0) -> list[Report]:
    async def run() -> list[Report]:
        reports = []
        for _ in range(count):
            reports.append(await made.poll())
            clock.advance(step)
        await made.aclose()
        return reports

    result: list[Report] = asyncio.run(run())
    return result


def test_caught_up_legs_and_healthy_components_are_ok() -> None:
    made, reader, clock = checker(Components())

    (report,) = polls(made, clock, 1)

    assert report.state is State.OK
    assert report.http_status == 200
    assert [leg.lag for leg in report.legs] == [0, 0]
    assert [leg.reason for leg in report.legs] == ["caught up: nothing waiting"] * 2
    assert sorted(reader.reads) == ["image-paths", "paintings"]


def test_a_sink_that_stops_moving_while_its_group_holds_it_stalls_with_an_actionable_reason() -> (
    None
):
    def answer(topic: str, group: str, at: float) -> LegOffsets:
        if topic == "paintings":
            # Partition 1 stuck at 500 while records keep arriving, 10 a second.
            waiting = int(at - 1000) * 10 + 300
            return leg_offsets(topic, group, [(100, 100), (500, 500 + waiting)], at)
        return leg_offsets(topic, group, [(5, 5)], at)

    made, _, clock = checker(Components(connector_state="PAUSED", task_states=["PAUSED"]), answer)

    reports = polls(made, clock, 8)

    assert [r.leg(2).state for r in reports[:5]] == [State.OK] * 5  # warming up (6 samples)
    assert "warming up: 1 of 6 samples" in reports[0].leg(2).reason
    last = reports[-1]
    sink = last.leg(2)
    assert sink.state is State.STALL
    assert sink.lag == 370
    assert sink.partitions[1].state is State.STALL and sink.partitions[0].state is State.OK
    assert sink.reason.startswith(
        "partition 1: the committed offset has not moved for at least 7 s (all the time it was "
        "watched) with 370 records waiting"
    )
    assert "370 records waiting" in sink.reason
    assert "is the connector paused or failing?" in sink.reason
    assert last.leg(1).state is State.OK
    # The overall state is the worst: the paused connector (ERR) beside the stalled leg.
    assert last.state is State.ERR
    assert last.http_status == 503
    assert "leg 2 (paintings -> index) STALL" in last.reason
    assert "connector ERR: the connector is PAUSED" in last.reason


def test_a_vectorizer_group_with_no_member_stops() -> None:
    def answer(topic: str, group: str, at: float) -> LegOffsets:
        if topic == "image-paths":
            return leg_offsets(topic, group, [(40, 100), (50, 50)], at, owned=False)
        return leg_offsets(topic, group, [(5, 5)], at)

    made, _, clock = checker(Components(), answer)

    reports = polls(made, clock, 4)

    vectorizer = reports[-1].leg(1)
    assert vectorizer.state is State.STOP
    assert vectorizer.lag == 60
    assert "no member in consumer group imgsim-vectorizer" in vectorizer.reason
    assert "is a vectorizer worker running" in vectorizer.reason
    assert reports[-1].http_status == 503


def test_kafka_unreachable_is_err_and_the_checker_recovers_by_itself() -> None:
    made, reader, clock = checker(Components())

    async def run() -> list[Report]:
        reports = [await made.poll()]
        reader.error = OffsetsError("cannot describe topic: Connection refused", unreachable=True)
        clock.advance(1)
        reports.append(await made.poll())
        reader.error = None
        clock.advance(1)
        reports.append(await made.poll())
        await made.aclose()
        return reports

    before, during, after = asyncio.run(run())

    assert before.state is State.OK
    assert during.state is State.ERR
    assert during.component("kafka").state is State.ERR
    assert "127.0.0.1:9092 cannot be reached" in during.component("kafka").reason
    assert all(leg.state is State.ERR for leg in during.legs)
    assert "its offsets cannot be read" in during.leg(1).reason
    assert during.leg(1).lag == 0  # the last known figure, said to be so
    assert after.state is State.OK


def test_a_missing_topic_is_the_legs_error_not_kafkas() -> None:
    made, reader, clock = checker(Components())
    reader.error = OffsetsError("cannot describe topic 'image-paths': the topic does not exist")

    (report,) = polls(made, clock, 1)

    assert report.component("kafka").state is State.OK
    assert report.leg(1).state is State.ERR
    assert "the topic does not exist" in report.leg(1).reason


def test_rate_and_time_to_catch_up_while_draining() -> None:
    def answer(topic: str, group: str, at: float) -> LegOffsets:
        t = at - 1000
        # 1000 waiting at first; 100/s consumed while 50/s arrive: drains at 50/s.
        return leg_offsets(topic, group, [(int(100 * t), 1000 + int(50 * t))], at)

    made, _, clock = checker(Components(), answer)

    reports = polls(made, clock, 5)

    leg = reports[-1].leg(1)
    assert leg.ingest_rate == 100.0
    assert leg.lag == 800
    assert leg.catch_up_s == 16.0
    assert leg.state is State.OK
    assert "about 16 s to catch up" in leg.reason
