"""Both legs on the real stack, each test on a pipeline of its own (fixtures.py): the states the
checker reaches, with the lag and the reason it gives, and its way back to OK."""

import threading
import time

import pytest
from imgsim_indexer_check.evaluator import State
from imgsim_indexer_check.reconciler import Reconciler
from imgsim_indexer_check.report import Report

from tests.indexer_check.fixtures import CheckRig

pytestmark = pytest.mark.integration

# Connect commits every 5 s; the rig's sink window spans 12 s.
WITHIN_THE_WINDOW_S = 30


def documents(report: Report) -> int | None:
    return report.component("index").documents


def caught_up(report: Report, indexed: int) -> bool:
    return (
        report.state is State.OK
        and all(leg.lag == 0 and not leg.warming_up for leg in report.legs)
        and documents(report) == indexed
    )


def test_steady_ingestion_catches_up_ok_with_lag_zero(check_rig: CheckRig) -> None:
    watcher = check_rig.watch()
    check_rig.vectorizer()

    for batch in range(8):  # a steady flow: 5 images every half second
        check_rig.publish(5, start=5 * batch)
        time.sleep(0.5)

    report = watcher.until(lambda r: caught_up(r, 40), 60, "both legs caught up, 40 indexed")
    assert [leg.lag for leg in report.legs] == [0, 0]
    assert report.http_status == 200
    # Keeping pace is never a warning, nor a stall while Connect waits between commits.
    seen = {leg.state for r in watcher.reports for leg in r.legs}
    assert seen == {State.OK}, [r.reason for r in watcher.reports if r.state is not State.OK]
    assert max(r.leg(1).ingest_rate or 0 for r in watcher.reports) > 0


@pytest.mark.slow
def test_a_paused_connector_stalls_within_the_window_and_recovers_when_resumed(
    check_rig: CheckRig,
) -> None:
    watcher = check_rig.watch()
    check_rig.produce_paintings(10)
    watcher.until(lambda r: caught_up(r, 10), 60, "10 indexed, leg 2 caught up")

    check_rig.pause()
    paused_at = time.monotonic()
    produced, arriving = [0], threading.Event()

    def keep_producing() -> None:  # records keep arriving while the sink is paused
        while not arriving.is_set():
            check_rig.produce_paintings(3, start=10 + produced[0])
            produced[0] += 3
            time.sleep(1)

    producer = threading.Thread(target=keep_producing)
    producer.start()
    try:
        stuck = watcher.until(
            lambda r: r.leg(2).state in (State.STALL, State.STOP),
            WITHIN_THE_WINDOW_S,
            "leg 2 STALL or STOP",
        )
    finally:
        arriving.set()
        producer.join()
    assert time.monotonic() - paused_at < WITHIN_THE_WINDOW_S
    # The paused task stays in its group: alive but not moving.
    sink = stuck.leg(2)
    assert sink.state is State.STALL, sink.reason
    assert "the committed offset has not moved for" in sink.reason
    assert "is the connector paused or failing?" in sink.reason
    assert stuck.component("connector").state is State.ERR
    assert "the connector is PAUSED" in stuck.component("connector").reason
    assert stuck.http_status == 503
    # Every record produced since the pause is waiting, no more, no less.
    settled = watcher.until(lambda r: True, 5, "a report after the last record")
    assert settled.leg(2).lag == produced[0]

    check_rig.resume()
    total = 10 + produced[0]
    report = watcher.until(lambda r: caught_up(r, total), 60, f"{total} indexed after resume")
    assert report.leg(2).state is State.OK
    # Nothing lost while paused: every key on the topic is a document, none stale or extra.
    reconciler = Reconciler(check_rig.settings())
    try:
        found = reconciler.reconcile()
    finally:
        reconciler.close()
    assert (found.vectorized, found.indexed) == (total, total)
    assert found.consistent and found.pending_indexing == 0


@pytest.mark.slow
def test_a_stopped_vectorizer_stops_leg_1_with_the_right_lag_and_recovers(
    check_rig: CheckRig,
) -> None:
    watcher = check_rig.watch()
    vectorizer = check_rig.vectorizer()
    check_rig.publish(10)
    watcher.until(lambda r: caught_up(r, 10), 60, "10 vectorized and indexed")

    vectorizer.stop()
    check_rig.publish(25, start=10)

    stopped = watcher.until(
        lambda r: r.leg(1).state in (State.STOP, State.STALL), 20, "leg 1 STOP or STALL"
    )
    leg = stopped.leg(1)
    assert leg.state is State.STOP, leg.reason  # the group has no member left
    assert leg.lag == 25
    assert f"no member in consumer group {check_rig.vectorizer_group}" in leg.reason
    assert "is a vectorizer worker running" in leg.reason
    assert stopped.leg(2).state is State.OK
    assert stopped.http_status == 503

    check_rig.vectorizer()
    watcher.until(lambda r: caught_up(r, 35), 60, "leg 1 back to OK, 35 indexed")
    reconciler = Reconciler(check_rig.settings())
    try:
        found = reconciler.reconcile()
    finally:
        reconciler.close()
    assert (found.published, found.indexed) == (35, 35) and found.consistent
