"""Id-level reconciliation: proves that nothing was lost between a published image and the index.

Two steps, each over whole topics:
1. every id published on `image-paths` has an outcome: a live record on `paintings`, a dead
   letter on `image-paths-dlq` written after its latest publication, or a tombstone that
   removed it;
2. the live keys of the compacted `paintings` topic (latest record per key, tombstones removed)
   against the ids in the index: missing, extra, and stale (sha1 or model version differs).

What is still in flight is not a fault: the consumer groups' committed offsets are read first,
and a record at or past its leg's committed offset is *pending*, not missing. The order of the
reads is what makes that sound, so keep it: committed offsets, then the index (refreshed, one
point in time), then the topics up to their ends. A record the index holds was on its topic
before it was indexed, so every record the point in time reflects is below the ends read later.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch
from imgsim_common.access import KafkaClientConfig
from pydantic import BaseModel, Field

from imgsim_indexer_check import topic_scan
from imgsim_indexer_check.outcomes import (
    DeadLetters,
    ImagePathsTopic,
    LatestRecord,
    PaintingsTopic,
    Publication,
    SinkDeadLetters,
)

# Ids listed per category in a report; counts are always whole.
LISTED = 100


@dataclass(frozen=True)
class IndexedDocument:
    sha1: str | None
    model_version: str | None


def indexed_documents(es: Elasticsearch, alias: str, page: int = 10_000) -> dict[str, Any]:
    """Every document id in the index with its sha1 and model version: one point in time read
    with `search_after` (a count alone proves nothing)."""
    es.indices.refresh(index=alias)
    pit = es.open_point_in_time(index=alias, keep_alive="2m")["id"]
    documents: dict[str, IndexedDocument] = {}
    try:
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "size": page,
                "_source": False,
                "docvalue_fields": ["sha1", "model.version"],
                "sort": ["_shard_doc"],
                "pit": {"id": pit, "keep_alive": "2m"},
                "track_total_hits": False,
            }
            if after is not None:
                body["search_after"] = after
            response = es.search(body=body)
            pit = response.get("pit_id", pit)
            hits = response["hits"]["hits"]
            for hit in hits:
                fields = hit.get("fields", {})
                documents[hit["_id"]] = IndexedDocument(
                    (fields.get("sha1") or [None])[0], (fields.get("model.version") or [None])[0]
                )
            if len(hits) < page:
                return documents
            after = hits[-1]["sort"]
    finally:
        es.close_point_in_time(body={"id": pit})


class Reconciliation(BaseModel):
    """What a reconciliation found; ids are listed up to LISTED per category."""

    finished_at: float
    seconds: float
    published: int
    vectorized: int  # live records on paintings
    indexed: int
    dead_lettered: int  # ids whose outcome is a dead letter and nothing newer
    removed: int  # ids whose latest paintings record is a tombstone
    # Live records the sink could not index (in the sink's dead-letter topic, with the reason).
    rejected_by_sink: int = 0
    pending_vectorizing: int
    pending_indexing: int
    unresolved: int
    missing: int
    extra: int
    stale: int
    dead_letters_by_reason: dict[str, int]
    unresolved_ids: list[str] = Field(default_factory=list)
    missing_ids: list[str] = Field(default_factory=list)
    extra_ids: list[str] = Field(default_factory=list)
    stale_ids: list[str] = Field(default_factory=list)
    # Where the time went, and how much was read: seconds per step, records of `paintings`
    # read, and how many of them had to be decoded (no headers: contract version 1).
    timings: dict[str, float] = Field(default_factory=dict)
    paintings_records_read: int = 0
    values_decoded: int = 0

    @property
    def consistent(self) -> bool:
        return not (self.unresolved or self.missing or self.extra or self.stale)


@dataclass
class Findings:
    """The whole sets, for repair; `Reconciliation` is their summary."""

    unresolved: dict[str, Publication]
    missing: dict[str, LatestRecord]
    extra: list[str]
    stale: dict[str, LatestRecord]
    live_ids: set[str]
    report: Reconciliation


@dataclass(frozen=True)
class Sources:
    kafka: KafkaClientConfig
    image_paths_topic: str
    paintings_topic: str
    dead_letter_topic: str
    alias: str
    sink_dead_letter_topic: str | None = None


def reconcile(
    sources: Sources,
    es: Elasticsearch,
    committed: Callable[[], tuple[Mapping[int, int | None], Mapping[int, int | None]]],
    scan_timeout_s: float = 300,
) -> Findings:
    """`committed` gives the vectorizer's and the sink's committed offsets per partition."""
    started = time.monotonic()
    timings: dict[str, float] = {}

    def lap(what: str) -> None:
        timings[what] = round(time.monotonic() - started - sum(timings.values()), 3)

    vectorizer_committed, sink_committed = committed()  # first: see the module's docstring
    lap("committed offsets")
    documents = indexed_documents(es, sources.alias)
    lap("index ids")
    paintings = PaintingsTopic()
    topic_scan.scan(sources.kafka, sources.paintings_topic, paintings.visit, scan_timeout_s)
    lap(f"{sources.paintings_topic} keys and headers")
    published = ImagePathsTopic()
    topic_scan.scan(sources.kafka, sources.image_paths_topic, published.visit, scan_timeout_s)
    lap(f"{sources.image_paths_topic} ids")
    letters = DeadLetters()
    topic_scan.scan(sources.kafka, sources.dead_letter_topic, letters.visit, scan_timeout_s)
    lap(f"{sources.dead_letter_topic}")
    sink_letters = SinkDeadLetters(sources.paintings_topic)
    if sources.sink_dead_letter_topic:
        topic_scan.scan(
            sources.kafka,
            sources.sink_dead_letter_topic,
            sink_letters.visit,
            scan_timeout_s,
        )
        lap(sources.sink_dead_letter_topic)

    def sunk(record: LatestRecord) -> bool:
        position = sink_committed.get(record.partition)
        return position is not None and record.offset < position

    live = paintings.live()
    missing: dict[str, LatestRecord] = {}
    stale: dict[str, LatestRecord] = {}
    pending_indexing = rejected_by_sink = 0
    for painting_id, record in paintings.latest.items():
        if not sunk(record):
            pending_indexing += 1
            continue
        if (record.partition, record.offset) in sink_letters.rejected:
            rejected_by_sink += 1  # the sink's dead letter says why; not lost
            continue
        document = documents.get(painting_id)
        if record.sha1 is None:
            continue  # a tombstone the sink has applied; a document left is `extra` below
        if document is None:
            missing[painting_id] = record
        elif (document.sha1, document.model_version) != (record.sha1, record.model_version):
            stale[painting_id] = record
    extra = sorted(
        painting_id
        for painting_id in documents
        if painting_id not in live
        and not (painting_id in paintings.latest and not sunk(paintings.latest[painting_id]))
    )

    unresolved: dict[str, Publication] = {}
    pending_vectorizing = dead_lettered = removed = 0
    for painting_id, publication in published.latest.items():
        if painting_id in live:
            continue
        if painting_id in paintings.latest:
            removed += 1
        elif letters.answers(painting_id, publication):
            dead_lettered += 1
        elif (position := vectorizer_committed.get(publication.partition)) is None or (
            publication.offset >= position
        ):
            pending_vectorizing += 1
        else:
            unresolved[painting_id] = publication

    lap("comparison")
    report = Reconciliation(
        finished_at=time.time(),
        seconds=round(time.monotonic() - started, 3),
        published=len(published.latest),
        vectorized=len(live),
        indexed=len(documents),
        dead_lettered=dead_lettered,
        removed=removed,
        rejected_by_sink=rejected_by_sink,
        pending_vectorizing=pending_vectorizing,
        pending_indexing=pending_indexing,
        unresolved=len(unresolved),
        missing=len(missing),
        extra=len(extra),
        stale=len(stale),
        dead_letters_by_reason=dict(sorted(letters.reasons.items())),
        unresolved_ids=sorted(unresolved)[:LISTED],
        missing_ids=sorted(missing)[:LISTED],
        extra_ids=extra[:LISTED],
        stale_ids=sorted(stale)[:LISTED],
        timings=timings,
        paintings_records_read=paintings.records,
        values_decoded=paintings.decoded_values,
    )
    return Findings(unresolved, missing, extra, stale, set(live), report)
