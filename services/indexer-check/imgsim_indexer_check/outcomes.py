"""What each topic says about each painting, read from keys and headers as a scan goes by.

`paintings`: the latest vector record per key (a tombstone removes it); `image-paths`: the latest
publication of every id, by the contract's id rule; the dead-letter topics: which inputs and
which vector records could not go on, and why.
"""

from dataclasses import dataclass, field

import orjson
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message
from imgsim_common import contract
from imgsim_common.painting_records import decode_painting
from pydantic import ValidationError


@dataclass(frozen=True)
class LatestRecord:
    partition: int
    offset: int
    sha1: str | None  # None: a tombstone
    model_version: str | None


@dataclass
class PaintingsTopic:
    """The latest record per key of `paintings`, from keys and headers."""

    latest: dict[str, LatestRecord] = field(default_factory=dict)
    records: int = 0
    decoded_values: int = 0  # records without headers (contract version 1)

    def visit(self, message: Message) -> None:
        self.records += 1
        key = message.key()
        if key is None:
            return  # the sink refuses such records; they cannot be documents
        painting_id = key.decode("utf-8", "replace")
        value = message.value()
        partition, offset = message.partition() or 0, message.offset() or 0
        if value is None:
            self.latest[painting_id] = LatestRecord(partition, offset, None, None)
            return
        headers = message.headers()
        sha1 = contract.header(headers, contract.SHA1_HEADER)
        model_version = contract.header(headers, contract.MODEL_VERSION_HEADER)
        if sha1 is None:
            sha1, model_version = self._from_value(value)
        self.latest[painting_id] = LatestRecord(partition, offset, sha1, model_version)

    def _from_value(self, value: bytes) -> tuple[str, str | None]:
        """sha1 and model version of a record without headers (written before they existed, or
        by a producer of the user's that left them out)."""
        self.decoded_values += 1
        try:
            if value.lstrip()[:1] == b"{":
                # Version 1: the fields only; decoding its ~19 KB of vectors would be waste.
                document = orjson.loads(value)
                return str(document.get("sha1", "")), str(document.get("model", {}).get("version"))
            record = decode_painting(value)
            return record.sha1, record.model.version
        except (ValueError, AttributeError, ValidationError):
            return "", None  # not a record the sink can index: see SinkDeadLetters

    def live(self) -> dict[str, LatestRecord]:
        return {key: r for key, r in self.latest.items() if r.sha1 is not None}


@dataclass(frozen=True)
class Publication:
    partition: int
    offset: int
    timestamp_ms: int | None = None  # the record's timestamp, when it has one


def timestamp_ms(message: Message) -> int | None:
    kind, value = message.timestamp()
    return None if kind == TIMESTAMP_NOT_AVAILABLE or value < 0 else int(value)


@dataclass
class ImagePathsTopic:
    """The latest publication of every id on `image-paths`, by the contract's id rule."""

    latest: dict[str, Publication] = field(default_factory=dict)
    records: int = 0
    without_id: int = 0  # unkeyed records whose value names no path: dead letters, no id

    def visit(self, message: Message) -> None:
        self.records += 1
        key = message.key()
        if key:
            # The key is the id whenever there is one (an `id` that disagrees is a dead letter,
            # keyed by the same key).
            painting_id = key.decode("utf-8", "replace")
        else:
            try:
                painting_id = contract.image_path_record(
                    None, message.value(), message.headers()
                ).id
            except contract.RecordRejected:
                self.without_id += 1
                return
        self.latest[painting_id] = Publication(
            message.partition() or 0, message.offset() or 0, timestamp_ms(message)
        )


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    timestamp_ms: int | None


@dataclass
class DeadLetters:
    by_id: dict[str, DeadLetter] = field(default_factory=dict)  # id -> its latest letter
    reasons: dict[str, int] = field(default_factory=dict)  # every letter, by reason

    def answers(self, painting_id: str, publication: Publication) -> bool:
        """Whether the id's latest letter answers its latest publication. A letter written
        before that publication answered an earlier one (the file was missing then, or another
        worker with another image root read it): the new publication is still owed an outcome.
        The letter is written by the worker after it read the record, so it is never older than
        the record it answers (while the clocks of publishers and workers agree to within the
        time between two publications of one id)."""
        letter = self.by_id.get(painting_id)
        if letter is None:
            return False
        if letter.timestamp_ms is None or publication.timestamp_ms is None:
            return True  # no times to compare: the letter is taken as the answer
        return letter.timestamp_ms >= publication.timestamp_ms

    def visit(self, message: Message) -> None:
        reason = contract.header(message.headers(), contract.REASON_HEADER)
        if reason is None:  # written before dead letters carried headers
            try:
                reason = str(orjson.loads(message.value() or b"{}").get("reason", "unknown"))
            except (orjson.JSONDecodeError, AttributeError):
                reason = "unknown"
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        key = message.key()
        if key:
            self.by_id[key.decode("utf-8", "replace")] = DeadLetter(reason, timestamp_ms(message))


@dataclass
class SinkDeadLetters:
    """Records of `paintings` the sink could not index, by the (partition, offset) Connect
    names in the `__connect.errors.*` headers of each dead letter."""

    topic: str
    rejected: set[tuple[int, int]] = field(default_factory=set)

    def visit(self, message: Message) -> None:
        headers = message.headers()
        if contract.header(headers, "__connect.errors.topic") != self.topic:
            return
        partition = contract.header(headers, "__connect.errors.partition")
        offset = contract.header(headers, "__connect.errors.offset")
        if partition is not None and offset is not None:
            self.rejected.add((int(partition), int(offset)))
