"""The hostile-input corpus (tests/faults/hostile.py) through the real publisher's topic and a
real worker: every case gets its outcome (indexed, or a dead letter with its reason), the worker
survives all of them, and reconciliation finds nothing lost."""

import json
import time

import pytest
from elasticsearch import Elasticsearch

from tests.faults.hostile import FILES, INDEXED, RECORDS
from tests.faults.report import HostileOutcome, Recorder
from tests.faults.rig import FaultRig

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]


def test_every_hostile_file_and_record_gets_its_outcome_and_the_worker_survives(
    fault_rig: FaultRig, es: Elasticsearch, fault_report: Recorder
) -> None:
    cases = {f"hostile/{n:02d}": case for n, case in enumerate(FILES)}
    for case in FILES:
        case.make(fault_rig.image_root, fault_rig.image_root / case.name)
    producer, topic = fault_rig.check.producer, fault_rig.check.image_paths_topic
    worker = fault_rig.start_worker()
    started = time.monotonic()
    for painting_id, case in cases.items():
        value = {"id": painting_id, "path": case.name, "metadata": {"case": case.name[:200]}}
        producer.produce(topic, key=painting_id.encode(), value=json.dumps(value).encode())
    for record in RECORDS:
        producer.produce(topic, key=record.key, value=record.value, headers=list(record.headers))
    assert producer.flush(30) == 0

    expected = {i: c.expected for i, c in cases.items() if c.expected != INDEXED}
    expected |= {r.key.decode(): r.expected for r in RECORDS if r.key}
    letters = fault_rig.dead_letters(len(expected))
    wrong = {
        painting_id: (case.name[:60], case.expected, letters.get(painting_id, INDEXED))
        for painting_id, case in cases.items()
        if letters.get(painting_id, INDEXED) != case.expected
    }
    wrong |= {
        record.key.decode(): ("record", record.expected, letters.get(record.key.decode(), "none"))
        for record in RECORDS
        if record.key and letters.get(record.key.decode()) != record.expected
    }
    fault_report.hostile += [
        HostileOutcome(f"file {c.name[:60]!r}", c.expected, letters.get(i, INDEXED))
        for i, c in cases.items()
    ] + [
        HostileOutcome(
            f"record {(r.value or b'<none>')[:40]!r}", r.expected, letters.get(k, "none")
        )
        for r in RECORDS
        if r.key and (k := r.key.decode())
    ]
    assert wrong == {}, wrong
    fault_rig.judge([*cases, *(r.key.decode() for r in RECORDS if r.key)], es, 240, expected)
    assert worker.poll() is None, "the worker survived every case"
    assert time.monotonic() - started < 240, "no case held the worker up"
