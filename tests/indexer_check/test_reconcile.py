"""Reconciliation's classification without Kafka or Elasticsearch: stand-in records and index ids
through the real `reconcile()`, and what each kind of record tells it."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_NOT_AVAILABLE
from imgsim_common import contract
from imgsim_common.painting_records import encode_painting, painting_headers
from imgsim_common.records import ModelInfo
from imgsim_indexer_check import reconcile as reconcile_module
from imgsim_indexer_check import repair, topic_scan
from imgsim_indexer_check.evaluator import State
from imgsim_indexer_check.outcomes import DeadLetters, ImagePathsTopic, PaintingsTopic
from imgsim_indexer_check.reconcile import IndexedDocument, Sources, reconcile
from imgsim_indexer_check.reconciler import judge

MODEL = ModelInfo(name="m", version="1")
SOURCES = Sources("kafka:9092", "image-paths", "paintings", "image-paths-dlq", "alias", "p-dlq")


@dataclass
class Record:
    """Stands in for confluent_kafka.Message: what the scans call."""

    key_: bytes | None
    value_: bytes | None
    headers_: list[tuple[str, bytes]] = field(default_factory=list)
    partition_: int = 0
    offset_: int = 0
    topic_: str = "paintings"
    timestamp_: int = -1  # ms; -1: none, as confluent_kafka gives TIMESTAMP_NOT_AVAILABLE

    def key(self) -> bytes | None:
        return self.key_

    def value(self) -> bytes | None:
        return self.value_

    def headers(self) -> list[tuple[str, bytes]]:
        return self.headers_

    def partition(self) -> int:
        return self.partition_

    def offset(self) -> int:
        return self.offset_

    def topic(self) -> str:
        return self.topic_

    def timestamp(self) -> tuple[int, int]:
        return (
            TIMESTAMP_CREATE_TIME if self.timestamp_ >= 0 else TIMESTAMP_NOT_AVAILABLE,
            self.timestamp_,
        )


def fields(painting_id: str, sha1: str) -> dict[str, Any]:
    return {
        "id": painting_id,
        "path": painting_id,
        "sha1": sha1,
        "width": 1,
        "height": 1,
        "model": MODEL.model_dump(),
        "metadata": {},
    }


def v2(painting_id: str, sha1: str, offset: int, headers: bool = True) -> Record:
    value = encode_painting(fields(painting_id, sha1), {"mid": np.ones(3)})
    found = painting_headers(painting_id, sha1, MODEL) if headers else []
    return Record(painting_id.encode(), value, found, 0, offset)


def v1(painting_id: str, sha1: str, offset: int) -> Record:
    value = json.dumps({**fields(painting_id, sha1), "vectors": {"mid": [1.0]}}).encode()
    return Record(painting_id.encode(), value, [], 0, offset)


def test_the_latest_record_per_key_from_headers_or_any_version_of_value() -> None:
    topic = PaintingsTopic()
    for record in (
        v1("a", "1" * 40, 0),
        v2("a", "2" * 40, 1),  # newer: wins
        v2("b", "3" * 40, 2, headers=False),  # no headers: the CBOR value is read
        v1("c", "4" * 40, 3),
        Record(b"c", None, [], 0, 4),  # tombstone
        Record(None, b"{}", [], 0, 5),  # no key: never a document
    ):
        topic.visit(record)  # type: ignore[arg-type]
    assert {k: (r.offset, r.sha1) for k, r in topic.latest.items()} == {
        "a": (1, "2" * 40),
        "b": (2, "3" * 40),
        "c": (4, None),
    }
    assert set(topic.live()) == {"a", "b"}
    assert topic.decoded_values == 3  # both v1 records and the v2 record without headers
    assert topic.records == 6


def test_published_ids_follow_the_contract_id_rule() -> None:
    topic = ImagePathsTopic()
    for i, (key, value) in enumerate(
        [
            (b"k1", b'{"id": "k1", "path": "x.jpg"}'),
            (None, b"./dir//plain.jpg"),
            (None, b'{"path": "obj.jpg"}'),
            (None, b'{"path": '),  # no id can be named: counted, not listed
        ]
    ):
        topic.visit(Record(key, value, [], 0, i, "image-paths"))  # type: ignore[arg-type]
    assert set(topic.latest) == {"k1", "dir/plain.jpg", "obj.jpg"}
    assert topic.without_id == 1


def test_dead_letter_reasons_from_headers_or_values() -> None:
    letters = DeadLetters()
    letters.visit(Record(b"a", b"{}", [(contract.REASON_HEADER, b"missing")]))  # type: ignore[arg-type]
    letters.visit(Record(b"b", b'{"reason": "too_large"}'))  # type: ignore[arg-type]
    letters.visit(Record(b"", b"not json"))  # type: ignore[arg-type]
    assert {i: letter.reason for i, letter in letters.by_id.items()} == {
        "a": "missing",
        "b": "too_large",
    }
    assert letters.reasons == {"missing": 1, "too_large": 1, "unknown": 1}


def run(
    monkeypatch: pytest.MonkeyPatch,
    topics: dict[str, list[Record]],
    documents: dict[str, IndexedDocument],
    vectorizer: dict[int, int | None],
    sink: dict[int, int | None],
) -> reconcile_module.Findings:
    def scan(servers: str, topic: str, visit: Callable[[Any], None], timeout_s: float) -> None:
        for record in topics.get(topic, []):
            visit(record)

    monkeypatch.setattr(topic_scan, "scan", scan)
    monkeypatch.setattr(reconcile_module, "indexed_documents", lambda es, alias: documents)
    return reconcile(SOURCES, None, lambda: (vectorizer, sink))  # type: ignore[arg-type]


def doc(sha1: str, version: str = "1") -> IndexedDocument:
    return IndexedDocument(sha1, version)


def published(*ids: str) -> list[Record]:
    return [Record(i.encode(), b"x.jpg", [], 0, n, "image-paths") for n, i in enumerate(ids)]


def test_faults_are_told_from_what_is_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    s = "a" * 40
    paintings = [
        v2("ok", s, 0),
        v2("missing", s, 1),
        v2("stale", s, 2),
        v2("rejected", s, 3),
        v2("tombstoned", s, 4),
        Record(b"tombstoned", None, [], 0, 5),
        v2("pending", s, 6),  # at the sink's committed offset: not taken yet
        Record(b"pending-delete", None, [], 0, 7),  # a tombstone the sink has not applied
    ]
    findings = run(
        monkeypatch,
        {
            "image-paths": published("ok", "missing", "lost", "dead", "late", "tombstoned"),
            "paintings": paintings,
            "image-paths-dlq": [Record(b"dead", b"{}", [(contract.REASON_HEADER, b"missing")])],
            "p-dlq": [
                Record(
                    b"rejected",
                    b"",
                    [
                        ("__connect.errors.topic", b"paintings"),
                        ("__connect.errors.partition", b"0"),
                        ("__connect.errors.offset", b"3"),
                    ],
                )
            ],
        },
        {
            "ok": doc(s),
            "stale": doc(s, version="0"),
            "extra": doc(s),
            "pending-delete": doc(s),
            "tombstoned": doc(s),
        },
        vectorizer={0: 4},  # "late" (offset 4) and later are still in flight on leg 1
        sink={0: 6},
    )
    report = findings.report
    assert (report.missing_ids, report.stale_ids, report.unresolved_ids) == (
        ["missing"],
        ["stale"],
        ["lost"],
    )
    assert report.extra_ids == ["extra", "tombstoned"]
    assert report.rejected_by_sink == 1
    assert report.pending_indexing == 2 and report.pending_vectorizing == 1
    assert (report.dead_lettered, report.removed) == (1, 1)
    assert report.dead_letters_by_reason == {"missing": 1}
    assert not report.consistent

    state, reason = judge(report)
    assert state is State.ERR and "1 missing from the index" in reason and "--repair" in reason

    actions = repair.plan(findings, SOURCES)
    assert [(a.kind, a.painting_id, a.offset) for a in actions] == [
        ("republish", "lost", 2),
        ("reproduce", "missing", 1),
        ("reproduce", "stale", 2),
    ]
    assert [a.kind for a in repair.plan(findings, SOURCES, delete_extra=True)][-2:] == [
        "delete",
        "delete",
    ]


def test_a_dead_letter_older_than_the_latest_publication_does_not_answer_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same id published again (the file was missing, or another worker with another image
    root dead-lettered it) is owed an outcome of its own: pending while the worker has not passed
    it, unresolved when it has and nothing answered; a newer letter does answer it."""
    letter = [(contract.REASON_HEADER, b"missing")]

    def at(painting_id: str, offset: int, ms: int) -> Record:
        return Record(painting_id.encode(), b"x.jpg", [], 0, offset, "image-paths", ms)

    findings = run(
        monkeypatch,
        {
            "image-paths": [
                at("again", 0, 1_000),
                at("waiting", 1, 1_000),
                at("answered", 2, 1_000),
            ],
            "image-paths-dlq": [
                Record(b"again", b"{}", letter, 0, 0, "image-paths-dlq", 500),
                Record(b"waiting", b"{}", letter, 0, 1, "image-paths-dlq", 500),
                Record(b"answered", b"{}", letter, 0, 2, "image-paths-dlq", 1_500),
            ],
        },
        {},
        vectorizer={0: 1},  # "again" was passed; "waiting" and "answered" not yet
        sink={0: 0},
    )

    report = findings.report
    assert report.dead_lettered == 1  # "answered"
    assert report.pending_vectorizing == 1  # "waiting", not yet passed
    assert report.unresolved_ids == ["again"]
    assert not report.consistent


def test_nothing_published_nothing_indexed_is_consistent(monkeypatch: pytest.MonkeyPatch) -> None:
    report = run(monkeypatch, {}, {}, {}, {}).report
    assert report.consistent and judge(report)[0] is State.OK
