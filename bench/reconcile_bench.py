"""Reconciliation benchmark: the checker's id-level reconciliation over 75,000 paintings.

Needs the stack (`make up`). Builds once, and keeps, its own topics and index (`bench-reconcile-*`):
an `image-paths` topic of 75,000 published ids, a compacted `paintings` topic of their version-2
vector records (with headers), a dead-letter topic, and an index holding their documents. Known
faults are planted so the run also shows the reconciliation finds exactly them: ids dead-lettered,
published without an outcome, documents missing, extra and stale. Prints the time of each step.
"""

import argparse
import time
from typing import Any

import numpy as np
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from elasticsearch import Elasticsearch
from elasticsearch.helpers import parallel_bulk
from imgsim_common import contract, mapping
from imgsim_common.painting_records import encode_painting, painting_headers
from imgsim_common.records import DeadLetter, ImagePathRecord, ModelInfo
from imgsim_common.representations import REPRESENTATIONS
from imgsim_indexer_check.offsets import OffsetReader
from imgsim_indexer_check.reconcile import Sources, reconcile

PREFIX = "bench-reconcile"
MODEL = ModelInfo(name="MobileNetV3Large", version="bench")
# Planted faults, by kind: how many ids of each.
DEAD, UNRESOLVED, MISSING, EXTRA, STALE = 500, 40, 30, 20, 10


def sha1_of(i: int) -> str:
    return f"{i:040x}"


def painting_id(i: int) -> str:
    return f"bench/{i:06d}.jpg"


def topic_size(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-size"})
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        if metadata.error is not None:
            return -1
        total = 0
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
            total += high - low
        return total
    finally:
        consumer.close()


def build(bootstrap: str, es: Elasticsearch, count: int, sources: Sources) -> None:
    if topic_size(bootstrap, sources.paintings_topic) == count - DEAD - UNRESOLVED:
        print("reusing the bench topics and index")
        return
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [sources.image_paths_topic, sources.paintings_topic, sources.dead_letter_topic]
    for future in admin.delete_topics(topics).values():
        try:
            future.result()
        except Exception:  # noqa: BLE001 - absent is fine
            pass
    time.sleep(2)
    compacted = {"cleanup.policy": "compact"}
    for future in admin.create_topics(
        [
            NewTopic(sources.image_paths_topic, 6, 1),
            NewTopic(sources.paintings_topic, 3, 1, config=compacted),
            NewTopic(sources.dead_letter_topic, 1, 1),
        ]
    ).values():
        future.result()
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 50, "compression.type": "none"}
    )
    rng = np.random.default_rng(0)
    vectors = {r.name: rng.standard_normal(r.dims).astype(np.float32) for r in REPRESENTATIONS}
    started = time.perf_counter()
    header = [contract.version_header(contract.IMAGE_PATHS_VERSION)]
    for i in range(count):
        key = painting_id(i)
        record = ImagePathRecord(id=key, path=key).model_dump_json().encode()
        _produce(producer, sources.image_paths_topic, key.encode(), record, header)
        if i < DEAD:
            letter = DeadLetter(reason="missing", message="no such file", record={"id": key})
            letter_headers = [
                (contract.REASON_HEADER, b"missing"),
                (contract.ID_HEADER, key.encode()),
            ]
            _produce(
                producer,
                sources.dead_letter_topic,
                key.encode(),
                letter.model_dump_json().encode(),
                letter_headers,
            )
        elif i >= DEAD + UNRESOLVED:
            fields = {
                "id": key,
                "path": key,
                "sha1": sha1_of(i),
                "width": 640,
                "height": 480,
                "model": MODEL.model_dump(),
                "metadata": {"artist": f"artist {i % 500}"},
            }
            _produce(
                producer,
                sources.paintings_topic,
                key.encode(),
                encode_painting(fields, vectors),
                painting_headers(key, sha1_of(i), MODEL),
            )
        if i % 10_000 == 0:
            print(f"  produced {i}/{count} ({i / (time.perf_counter() - started + 1e-9):.0f}/s)")
    assert producer.flush(120) == 0

    es.options(ignore_status=404).indices.delete(index=f"{PREFIX}-v1")
    es.indices.create(
        index=f"{PREFIX}-v1",
        mappings=mapping.mappings(),
        aliases={sources.alias: {"is_write_index": True}},
        settings={"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "-1"},
    )
    indexed = range(DEAD + UNRESOLVED + MISSING, count + EXTRA)

    def documents() -> Any:
        for i in indexed:
            stale = DEAD + UNRESOLVED + MISSING <= i < DEAD + UNRESOLVED + MISSING + STALE
            yield {
                "_index": f"{PREFIX}-v1",
                "_id": painting_id(i),
                "_source": {
                    "id": painting_id(i),
                    "sha1": sha1_of(i + 1 if stale else i),
                    "model": MODEL.model_dump(),
                },
            }

    for ok, item in parallel_bulk(es, documents(), thread_count=2, chunk_size=2000):
        if not ok:
            raise RuntimeError(item)
    es.indices.put_settings(index=f"{PREFIX}-v1", settings={"refresh_interval": "1s"})
    es.indices.refresh(index=f"{PREFIX}-v1")


def _produce(
    producer: Producer, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
) -> None:
    while True:
        try:
            producer.produce(topic, key=key, value=value, headers=headers)
            return
        except BufferError:
            producer.poll(0.5)


def commit_ends(bootstrap: str, topic: str, group: str) -> None:
    """Both legs caught up: each group's committed offsets at the topic's end."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        ends = []
        for partition in metadata.partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
            ends.append(TopicPartition(topic, partition, high))
        consumer.commit(offsets=ends, asynchronous=False)
    finally:
        consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=75_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    parser.add_argument("--elasticsearch", default="http://127.0.0.1:9200")
    args = parser.parse_args()
    sources = Sources(
        args.bootstrap_servers,
        f"{PREFIX}-image-paths",
        f"{PREFIX}-paintings",
        f"{PREFIX}-dlq",
        PREFIX,
    )
    es = Elasticsearch(args.elasticsearch, request_timeout=120)
    build(args.bootstrap_servers, es, args.count, sources)
    commit_ends(args.bootstrap_servers, sources.image_paths_topic, f"{PREFIX}-vectorizer")
    commit_ends(args.bootstrap_servers, sources.paintings_topic, f"{PREFIX}-sink")
    reader = OffsetReader(args.bootstrap_servers, 10)

    def committed() -> tuple[dict[int, int | None], dict[int, int | None]]:
        legs = (
            reader.read(sources.image_paths_topic, f"{PREFIX}-vectorizer"),
            reader.read(sources.paintings_topic, f"{PREFIX}-sink"),
        )
        return tuple({p.partition: p.committed for p in leg.partitions} for leg in legs)  # type: ignore[return-value]

    expected = {
        "dead_lettered": DEAD,
        "unresolved": UNRESOLVED,
        "missing": MISSING,
        "extra": EXTRA,
        "stale": STALE,
    }
    print(f"\nreconciling {args.count:,} published ids, {args.runs} runs")
    for run in range(1, args.runs + 1):
        report = reconcile(sources, es, committed).report
        found = {kind: getattr(report, kind) for kind in expected}
        steps = ", ".join(f"{step} {seconds:.2f}" for step, seconds in report.timings.items())
        print(f"run {run}: {report.seconds:.2f} s  ({steps})")
        print(
            f"  read {report.paintings_records_read:,} paintings records "
            f"({report.values_decoded} decoded), {report.indexed:,} index ids; "
            f"found {found}, planted {expected}: {'equal' if found == expected else 'DIFFERENT'}"
        )


if __name__ == "__main__":
    main()
