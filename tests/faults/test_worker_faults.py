"""Vectorizer workers killed while images keep coming: nothing is lost, nothing is doubled.

Each scenario ends with the checker's judgement (tests/faults/rig.py): reconciliation with
nothing in flight finds no id unresolved, missing, extra or stale, and the index holds exactly
the distinct ids published less the dead-lettered ones. Each is written in the suite's report
(tests/faults/report.py) with what the checker saw meanwhile.
"""

import time

import pytest
from elasticsearch import Elasticsearch
from imgsim_indexer_check.reconcile import indexed_documents

from tests.faults.kills import committed, consumed_again, in_flight, members_holding_partitions
from tests.faults.report import Recorder, Scenario
from tests.faults.rig import BAD_FILES, FaultRig, Publisher
from tests.faults.scenario import WATCH, brief_reason, first_report, healthy, unhealthy
from tests.indexer_check.fixtures import Watcher
from tests.support import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]


def scenario(
    name: str,
    injected: str,
    rig: FaultRig,
    es: Elasticsearch,
    watcher: Watcher,
    publisher: Publisher,
    first_kill_wall: float,
    last_kill: float,
    down_s: float,
    note: str,
) -> Scenario:
    """The judged scenario's figures; `last_kill` is time.monotonic() at the last kill. The
    checker's reports are those of the whole run: detect from the first kill to its first
    unhealthy report; recover from the last kill to its first healthy report after its last
    unhealthy one (None when it never reported one)."""
    caught_up_s = time.monotonic() - last_kill
    last_kill_wall = time.time() - caught_up_s
    seen = first_report(watcher, first_kill_wall, unhealthy, 0.5)
    bad = [r for r in watcher.reports if r.checked_at.timestamp() >= first_kill_wall]
    bad = [r for r in bad if unhealthy(r)]
    back = first_report(watcher, bad[-1].checked_at.timestamp(), healthy, 0.5) if bad else None
    return Scenario(
        name=name,
        injected=injected,
        down_s=down_s,
        detect_s=None if seen is None else seen.checked_at.timestamp() - first_kill_wall,
        detected_as="-" if seen is None else brief_reason(seen),
        recover_s=None if back is None else back.checked_at.timestamp() - last_kill_wall,
        caught_up_s=caught_up_s,
        published=len(set(publisher.published)),
        indexed=len(set(indexed_documents(es, rig.check.alias))),
        dead_lettered=len(BAD_FILES),
        note=note,
    )


def test_a_worker_killed_during_a_batch_three_times_in_a_row_loses_nothing(
    fault_rig: FaultRig, es: Elasticsearch, fault_report: Recorder
) -> None:
    ids = fault_rig.paint(480)
    watcher = fault_rig.check.watch(**WATCH)
    worker = fault_rig.start_worker()
    publisher = Publisher(
        fault_rig.check.producer, fault_rig.check.image_paths_topic, ids, per_step=8, step_s=0.4
    ).start()
    flying: list[int] = []
    downs: list[float] = []
    first_kill_wall = 0.0
    for kill in range(3):
        # Killed while it writes: some records of the batch out, the offsets not yet committed.
        fault_rig.advance(20, timeout_s=180, what=f"vectors coming out before kill {kill + 1}")
        first_kill_wall = first_kill_wall or time.time()
        fault_rig.kill(worker)
        killed = time.monotonic()
        assert not publisher.done, "images must still be coming when the worker dies"
        # Read before any worker runs again: nothing can commit or produce meanwhile.
        at_kill = committed(fault_rig)
        flying.append(len(in_flight(fault_rig, at_kill)))
        worker = fault_rig.start_worker()
        downs.append(consumed_again(fault_rig, at_kill, killed, timeout_s=180))
    publisher.join(timeout_s=120)

    fault_rig.judge(publisher.published, es)
    assert worker.poll() is None, "the last worker is still running"
    # The kill caught a batch whose vectors were out and whose offsets were not committed.
    assert any(flying), f"no kill landed while a batch was in flight: {flying}"
    fault_report.scenarios.append(
        scenario(
            "Vectorizer SIGKILLed mid-batch, 3 times",
            "SIGKILL to the worker, restarted at once, 3 times while publishing",
            fault_rig,
            es,
            watcher,
            publisher,
            first_kill_wall,
            killed,
            max(downs),
            f"images vectorized but not committed at each kill (done again): {flying}; down "
            f"(kill until every partition is committed past it again): "
            f"{', '.join(f'{d:.1f} s' for d in downs)}; caught up from the last kill.",
        )
    )


def test_two_workers_in_a_group_one_killed_the_other_takes_its_partitions(
    fault_rig: FaultRig, es: Elasticsearch, fault_report: Recorder
) -> None:
    ids = fault_rig.paint(360)
    watcher = fault_rig.check.watch(**WATCH)
    first, second = fault_rig.start_worker(), fault_rig.start_worker()
    publisher = Publisher(
        fault_rig.check.producer, fault_rig.check.image_paths_topic, ids, per_step=8, step_s=0.4
    ).start()
    fault_rig.advance(40, timeout_s=180, what="both workers vectorizing")
    # Whichever is killed then holds partitions that must move to the other.
    eventually(
        lambda: members_holding_partitions(fault_rig) == 2, 120, "both workers hold partitions"
    )
    killed_wall = time.time()
    fault_rig.kill(first)
    killed = time.monotonic()
    assert not publisher.done, "images must still be coming when the worker dies"
    taken_over_s = consumed_again(fault_rig, committed(fault_rig), killed, timeout_s=180)
    publisher.join(timeout_s=120)

    fault_rig.judge(publisher.published, es)
    assert second.poll() is None, "the surviving worker is still running"
    fault_report.scenarios.append(
        scenario(
            "One of two workers SIGKILLed",
            "SIGKILL to one of two workers in a group, not restarted",
            fault_rig,
            es,
            watcher,
            publisher,
            killed_wall,
            killed,
            taken_over_s,
            "down: from the kill until every partition is committed past it again (the "
            "survivor took the dead worker's partitions after the group's session timeout).",
        )
    )
