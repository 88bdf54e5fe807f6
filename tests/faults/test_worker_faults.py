"""Vectorizer workers killed while images keep coming: nothing is lost, nothing is doubled.

Each scenario ends with the checker's judgement (tests/faults/rig.py): reconciliation with
nothing in flight finds no id unresolved, missing, extra or stale, and the index holds exactly
the distinct ids published less the dead-lettered ones.
"""

import pytest
from elasticsearch import Elasticsearch

from tests.faults.rig import FaultRig, Publisher

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]


def test_a_worker_killed_during_a_batch_three_times_in_a_row_loses_nothing(
    fault_rig: FaultRig, es: Elasticsearch
) -> None:
    ids = fault_rig.paint(480)
    worker = fault_rig.start_worker()
    publisher = Publisher(
        fault_rig.check.producer, fault_rig.check.image_paths_topic, ids, per_step=8, step_s=0.4
    ).start()
    for kill in range(3):
        # Killed while it writes: some records of the batch out, the offsets not yet committed.
        fault_rig.advance(20, timeout_s=180, what=f"vectors coming out before kill {kill + 1}")
        fault_rig.kill(worker)
        assert not publisher.done, "images must still be coming when the worker dies"
        worker = fault_rig.start_worker()
    publisher.join(timeout_s=120)

    fault_rig.judge(publisher.published, es)
    assert worker.poll() is None, "the last worker is still running"


def test_two_workers_in_a_group_one_killed_the_other_takes_its_partitions(
    fault_rig: FaultRig, es: Elasticsearch
) -> None:
    ids = fault_rig.paint(360)
    first, second = fault_rig.start_worker(), fault_rig.start_worker()
    publisher = Publisher(
        fault_rig.check.producer, fault_rig.check.image_paths_topic, ids, per_step=8, step_s=0.4
    ).start()
    fault_rig.advance(40, timeout_s=180, what="both workers vectorizing")
    fault_rig.kill(first)
    assert not publisher.done, "images must still be coming when the worker dies"
    publisher.join(timeout_s=120)

    fault_rig.judge(publisher.published, es)
    assert second.poll() is None, "the surviving worker is still running"
