"""The checker's judgement of leg 1 with a real `imgsim worker` (the legs' own tests use a
stand-in consumer): a stopped worker with images still published is STOP with exactly their
lag and a reason to act on, and a restarted one brings it back to OK with nothing lost."""

import json

import pytest
from elasticsearch import Elasticsearch
from imgsim_indexer_check.evaluator import State
from imgsim_indexer_check.report import Report

from tests.faults.rig import FaultRig

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]


def _publish(rig: FaultRig, ids: list[str]) -> None:
    producer = rig.check.producer
    for painting_id in ids:
        record = {"id": painting_id, "path": painting_id, "metadata": {}}
        producer.produce(
            rig.check.image_paths_topic, key=painting_id.encode(), value=json.dumps(record).encode()
        )
    assert producer.flush(30) == 0


def _caught_up(report: Report) -> bool:
    leg = report.leg(1)
    return leg.state is State.OK and leg.lag == 0 and not leg.warming_up


def test_a_stopped_worker_stops_leg_1_with_the_right_lag_and_a_restarted_one_recovers(
    fault_rig: FaultRig, es: Elasticsearch
) -> None:
    ids = fault_rig.paint(40)
    watcher = fault_rig.check.watch()
    worker = fault_rig.start_worker()
    _publish(fault_rig, ids[:10])
    watcher.until(_caught_up, 180, "the worker took the first 10")

    worker.terminate()  # a clean stop: the worker leaves its group
    assert worker.wait(60) == 0
    _publish(fault_rig, ids[10:])
    stopped = watcher.until(
        lambda r: r.leg(1).state in (State.STOP, State.STALL) and r.leg(1).lag == len(ids) - 10,
        30,
        "leg 1 STOP or STALL with the images published since",
    )

    leg = stopped.leg(1)
    assert leg.state is State.STOP, leg.reason
    assert f"no member in consumer group {fault_rig.check.vectorizer_group}" in leg.reason
    assert "is a vectorizer worker running" in leg.reason
    assert stopped.http_status == 503

    fault_rig.start_worker()
    watcher.until(_caught_up, 180, "leg 1 back to OK")
    fault_rig.judge(ids, es)
