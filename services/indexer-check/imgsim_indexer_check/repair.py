"""Repair: re-drives what reconciliation found through the leg that dropped it.

- an unresolved id (published, no outcome): its image-path record is published again;
- a missing or stale document: its latest `paintings` record is produced again, unchanged, and
  the sink overwrites the document;
- an extra document: deleted, only when asked;
- dead letters of a reason, once their cause is fixed: their input is published again.

Every record goes back to the partition it came from (or, for retried inputs, where the
publisher's partitioner puts its key), so a newer record for a key is never overtaken by an
older one on another partition. Repeating a repair only overwrites what the first one wrote.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from confluent_kafka import KafkaError, Message, Producer, TopicPartition
from elasticsearch import AuthorizationException, Elasticsearch
from elasticsearch.helpers import bulk
from imgsim_common.access import KafkaClientConfig, librdkafka
from imgsim_common.records import DeadLetter
from pydantic import ValidationError

from imgsim_indexer_check import topic_scan
from imgsim_indexer_check.reconcile import Findings, Sources

Kind = Literal["republish", "reproduce", "delete", "retry"]


@dataclass(frozen=True)
class Action:
    kind: Kind
    painting_id: str
    why: str
    topic: str
    partition: int | None = None
    offset: int | None = None

    def describe(self) -> str:
        where = f"{self.topic}[{self.partition}]@{self.offset}" if self.offset is not None else ""
        verbs = {
            "republish": f"publish the image path again from {where}",
            "reproduce": f"produce the vector record again from {where}",
            "delete": "delete the document from the index",
            "retry": f"publish the dead-lettered input again to {self.topic}",
        }
        return f"{self.painting_id}: {verbs[self.kind]} ({self.why})"


def plan(findings: Findings, sources: Sources, delete_extra: bool = False) -> list[Action]:
    actions = [
        Action("republish", i, "no outcome", sources.image_paths_topic, p.partition, p.offset)
        for i, p in sorted(findings.unresolved.items())
    ]
    for why, records in (("missing", findings.missing), ("stale", findings.stale)):
        actions += [
            Action("reproduce", i, why, sources.paintings_topic, r.partition, r.offset)
            for i, r in sorted(records.items())
        ]
    if delete_extra:
        actions += [Action("delete", i, "extra", sources.alias) for i in findings.extra]
    return actions


def fetch(
    kafka: KafkaClientConfig, topic: str, wanted: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], Message]:
    """The records at the given (partition, offset)s; each partition is read once, in order."""
    by_partition: dict[int, set[int]] = {}
    for partition, offset in wanted:
        by_partition.setdefault(partition, set()).add(offset)
    found: dict[tuple[int, int], Message] = {}
    consumer = topic_scan.scan_consumer(kafka)
    try:
        for partition, offsets in sorted(by_partition.items()):
            consumer.assign([TopicPartition(topic, partition, min(offsets))])
            last = max(offsets)
            done = False
            while not done:
                messages = consumer.consume(num_messages=1000, timeout=5)
                if not messages:
                    raise topic_scan.ScanError(f"{topic}[{partition}] stopped before {last}")
                for message in messages:
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            done = True
                            break
                        raise topic_scan.ScanError(f"reading {topic}: {error}")
                    offset = message.offset() or 0
                    if offset in offsets:
                        found[(partition, offset)] = message
                    if offset >= last:
                        done = True
                        break
    finally:
        consumer.close()
    return found


def _producer(kafka: KafkaClientConfig) -> Producer:
    return Producer(librdkafka(kafka, {"acks": "all", "enable.idempotence": True}))


def execute(actions: list[Action], sources: Sources, es: Elasticsearch) -> dict[Kind, int]:
    """Carries out a plan; returns how many actions of each kind were done."""
    done: dict[Kind, int] = {}
    producer = _producer(sources.kafka)
    for topic in (sources.image_paths_topic, sources.paintings_topic):
        copies = [a for a in actions if a.topic == topic and a.kind in ("republish", "reproduce")]
        if not copies:
            continue
        records = fetch(
            sources.kafka,
            topic,
            [(a.partition or 0, a.offset or 0) for a in copies],
        )
        for action in copies:
            message = records.get((action.partition or 0, action.offset or 0))
            if message is None:
                continue  # compacted away since: a newer record for the key exists
            producer.produce(
                topic,
                key=message.key(),
                value=message.value(),
                headers=message.headers() or [],
                partition=action.partition or 0,
            )
            done[action.kind] = done.get(action.kind, 0) + 1
    if producer.flush(30):
        raise RuntimeError("Kafka did not acknowledge every repaired record within 30 s")
    deletions = [a.painting_id for a in actions if a.kind == "delete"]
    if deletions:
        try:
            deleted, outcome = bulk(
                es,
                ({"_op_type": "delete", "_index": sources.alias, "_id": i} for i in deletions),
                raise_on_error=False,
                refresh=True,
            )
        except AuthorizationException as e:
            # A login that may write nowhere (the checker's own) has the whole request refused,
            # not each deletion: said below as each deletion's refusal.
            cause = e.body.get("error", e.message) if isinstance(e.body, dict) else e.message
            outcome = [{"delete": {"status": e.status_code, "error": cause}}] * len(deletions)
            deleted = 0
        # Already gone (404) is what was asked; anything else, a 403 of a read-only key first,
        # is said rather than counted as done.
        errors: list[dict[str, Any]] = outcome if isinstance(outcome, list) else []
        refused = [e for e in errors if _status(e) != 404]
        if refused:
            raise RepairRefused(
                f"Elasticsearch refused {len(refused)} deletion(s), e.g. {_reason(refused[0])}; "
                "deleting needs the administration login on a secured cluster "
                "(INDEXER_CHECK_ELASTICSEARCH_ADMIN_API_KEY_FILE, or _ADMIN_USERNAME with "
                "_ADMIN_PASSWORD_FILE)"
            )
        done["delete"] = int(deleted) + len(errors)
    return done


class RepairRefused(RuntimeError):
    pass


def _status(error: dict[str, Any]) -> int:
    item: Any = next(iter(error.values()), {})
    return int(item.get("status", 0)) if isinstance(item, dict) else 0


def _reason(error: dict[str, Any]) -> str:
    item: Any = next(iter(error.values()), {})
    cause = item.get("error", {}) if isinstance(item, dict) else {}
    if isinstance(cause, dict):
        return f"{_status(error)} {cause.get('type', '')}: {cause.get('reason', '')}"[:300]
    return f"{_status(error)} {cause}"[:300]


def dead_letters_to_retry(
    sources: Sources, reason: str | None, live: set[str]
) -> list[tuple[Action, bytes | None, bytes]]:
    """Inputs dead-lettered for `reason` (any, when None) whose painting has no live vector
    record: each with the key and value to publish again."""
    latest: dict[str, tuple[Action, bytes | None, bytes]] = {}

    def visit(message: Message) -> None:
        try:
            letter = DeadLetter.model_validate_json(message.value() or b"")
        except ValidationError:
            return
        if reason is not None and letter.reason != reason:
            return
        key = message.key() or None
        if letter.record is not None:
            painting_id = str(letter.record.get("id", ""))
            payload = json.dumps(letter.record, ensure_ascii=False).encode()
        elif letter.raw is not None:
            painting_id = key.decode("utf-8", "replace") if key else letter.raw
            payload = letter.raw.encode()
        else:
            return
        if painting_id in live:
            return
        action = Action("retry", painting_id, letter.reason, sources.image_paths_topic)
        latest[painting_id] = (action, key, payload)

    topic_scan.scan(sources.kafka, sources.dead_letter_topic, visit)
    return [latest[i] for i in sorted(latest)]


def retry(inputs: list[tuple[Action, bytes | None, bytes]], sources: Sources) -> int:
    producer = _producer(sources.kafka)
    for action, key, value in inputs:
        producer.produce(action.topic, key=key, value=value)
    if producer.flush(30):
        raise RuntimeError("Kafka did not acknowledge every retried input within 30 s")
    return len(inputs)
