"""The hostile-input corpus (tests/faults/hostile.py) through the real publisher's topic and a
real worker: every case gets its outcome (indexed, or a dead letter with its reason), the worker
survives all of them, and reconciliation finds nothing lost."""

import json
import time

import pytest
from confluent_kafka import KafkaError, Message, Producer
from elasticsearch import Elasticsearch

from tests.faults.hostile import BROKER_REFUSES, FILES, INDEXED, RECORDS
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
    assert producer.flush(30) == 0
    # The records through a producer that lets the broker decide what is too large (by default
    # the client refuses more than 1 MB itself), compressing as the publisher does.
    unlimited = Producer(
        {
            "bootstrap.servers": fault_rig.check.stack.bootstrap_servers,
            "acks": "all",
            "compression.type": "lz4",
            "message.max.bytes": 32 * 2**20,
        }
    )
    refused: dict[str, int] = {}

    def delivered(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            refused[(message.key() or b"").decode()] = error.code()

    for record in RECORDS:
        unlimited.produce(
            topic,
            key=record.key,
            value=record.value,
            headers=list(record.headers),
            on_delivery=delivered,
        )
    assert unlimited.flush(60) == 0
    at_broker = {r.key.decode() for r in RECORDS if r.key and r.expected == BROKER_REFUSES}
    assert refused == dict.fromkeys(at_broker, KafkaError.MSG_SIZE_TOO_LARGE), refused
    on_topic = {k: r.expected for r in RECORDS if r.key and (k := r.key.decode()) not in at_broker}

    expected = {i: c.expected for i, c in cases.items() if c.expected != INDEXED}
    expected |= on_topic
    letters = fault_rig.dead_letters(len(expected))
    wrong = {
        painting_id: (case.name[:60], case.expected, letters.get(painting_id, INDEXED))
        for painting_id, case in cases.items()
        if letters.get(painting_id, INDEXED) != case.expected
    }
    wrong |= {
        key: ("record", reason, letters.get(key, "none"))
        for key, reason in on_topic.items()
        if letters.get(key) != reason
    }
    fault_report.hostile += [
        HostileOutcome(f"file {c.name[:60]!r}", c.expected, letters.get(i, INDEXED))
        for i, c in cases.items()
    ] + [
        HostileOutcome(
            f"record {k} ({len(r.value or b''):,} bytes: {(r.value or b'<none>')[:24]!r})",
            r.expected,
            BROKER_REFUSES if k in refused else letters.get(k, "none"),
        )
        for r in RECORDS
        if r.key and (k := r.key.decode())
    ]
    assert wrong == {}, wrong
    fault_rig.judge([*cases, *on_topic], es, 240, expected)
    assert worker.poll() is None, "the worker survived every case"
    assert time.monotonic() - started < 240, "no case held the worker up"
