"""Sink benchmark: `paintings` records of contract version 1 (JSON) and version 2 (CBOR, float32
vectors) side by side through the Elasticsearch sink, and the time to read every key and header
of a 75,000-record version-2 topic, in one run.

Needs the stack (`make up`). Each case gets its own topic, dead-letter topic, index, alias and
connector instance (the provisioned configuration, renamed), all deleted at the end, so the bench
runs beside other users of the stack; the Connect worker is shared, so their load shows up here.
"""

import argparse
import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from elasticsearch import Elasticsearch
from imgsim_common import mapping
from imgsim_common.painting_records import encode_painting, painting_headers
from imgsim_common.records import ModelInfo
from imgsim_common.representations import REPRESENTATIONS
from imgsim_stack import cli, provision
from imgsim_stack.settings import StackSettings

MODEL = ModelInfo(name="bench-model", version="1")
JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"
Record = tuple[str, bytes, list[tuple[str, str | bytes | None]]]
# label -> (contract version, the connector's value.converter)
CASES = {
    "v1 JSON, JsonConverter (before)": (1, JSON_CONVERTER),
    "v1 JSON, PaintingConverter": (1, provision.PAINTING_CONVERTER),
    "v2 CBOR, PaintingConverter": (2, provision.PAINTING_CONVERTER),
}


def paintings(version: int, count: int, prefix: str, seed: int) -> Iterator[Record]:
    """Random unit vectors of every representation, encoded as `version` writes them."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        key = f"{prefix}/{i:06d}.jpg"
        sha1 = hashlib.sha1(key.encode()).hexdigest()
        fields = {"id": key, "path": key, "sha1": sha1, "width": 640, "height": 480}
        fields |= {"model": MODEL.model_dump(), "metadata": {"artist": f"artist {i % 500}"}}
        vectors = {}
        for r in REPRESENTATIONS:
            vector = rng.standard_normal(r.dims)
            vectors[r.name] = (vector / np.linalg.norm(vector)).astype(np.float32)
        if version == 1:
            as_lists = {n: v.tolist() for n, v in vectors.items()}
            yield key, json.dumps({**fields, "vectors": as_lists}).encode(), []
        else:
            yield key, encode_painting(fields, vectors), list(painting_headers(key, sha1, MODEL))


def produce(settings: StackSettings, topic: str, records: Iterable[Record]) -> None:
    config = {"bootstrap.servers": settings.bootstrap_servers, "acks": "all", "linger.ms": 10}
    producer = Producer(config | {"batch.size": 1_000_000})
    for key, value, headers in records:
        while True:
            try:
                producer.produce(topic, key=key, value=value, headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(120) == 0, "records not acknowledged"


def cpu_s(settings: StackSettings, component: str) -> float:
    """User + system CPU time so far of a component's processes (its process group)."""
    pgid = next(c for c in cli.components(settings) if c.name == component).process.pid()
    assert pgid is not None, f"{component} is not the launcher's"
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout_s:.0f} s: {what}")
        time.sleep(0.05)


@contextmanager
def sink_instance(
    settings: StackSettings, name: str, converter: str
) -> Iterator[Callable[[], int]]:
    """Topic `name`, its own index behind alias `name` and connector `name`; yields the count
    of documents indexed so far (no refresh needed), and deletes all of it afterwards."""
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers, "log_level": 3})
    es = Elasticsearch(settings.elasticsearch, request_timeout=60)
    http = httpx.Client(base_url=settings.connect, timeout=30)
    compacted = {"cleanup.policy": "compact"}
    topics = [NewTopic(name, settings.paintings_partitions, 1, config=compacted)]
    topics.append(NewTopic(f"{name}-dlq", 1, 1))
    try:
        for future in admin.create_topics(topics).values():
            future.result()
        es.indices.create(
            index=f"{name}-index",
            mappings=mapping.mappings(index_options=settings.vector_index_options),
            settings={"number_of_shards": settings.index_shards, "number_of_replicas": 0},
            aliases={name: {"is_write_index": True}},
        )
        config = provision.connector_config(settings) | {"topics": name, "index": name}
        config |= {"value.converter": converter, "errors.deadletterqueue.topic.name": f"{name}-dlq"}
        http.put(f"/connectors/{name}/config", json=config).raise_for_status()
        provision.wait_connector_running(http, f"{settings.connect}/connectors/{name}", 60)

        def indexed() -> int:
            stats = es.indices.stats(index=f"{name}-index", metric="indexing")
            return int(stats["_all"]["primaries"]["indexing"]["index_total"])

        yield indexed
    finally:
        http.delete(f"/connectors/{name}")
        wait_for(lambda: http.get(f"/connectors/{name}").status_code == 404, 60, "connector gone")
        for future in admin.delete_topics([t.topic for t in topics]).values():
            future.exception()
        group = f"connect-{name}"
        for _ in range(20):  # the group empties a moment after the connector stops
            if admin.delete_consumer_groups([group])[group].exception() is None:
                break
            time.sleep(0.5)
        es.options(ignore_status=404).indices.delete(index=f"{name}-index")
        es.close()
        http.close()


def sink(settings: StackSettings, version: int, converter: str, count: int) -> dict[str, float]:
    name = f"bench-sink-{uuid.uuid4().hex[:8]}"
    warm_up, *timed = paintings(version, count + 1, name, seed=version)
    with sink_instance(settings, name, converter) as indexed:
        # One record first: the connector's consumer has joined before the clock runs.
        produce(settings, name, [warm_up])
        wait_for(lambda: indexed() >= 1, 120, "the warm-up record indexed")
        cpu0, t0 = cpu_s(settings, "connect"), time.monotonic()
        time.sleep(3)
        idle_cpu_per_s = (cpu_s(settings, "connect") - cpu0) / (time.monotonic() - t0)
        cpu0, es0 = cpu_s(settings, "connect"), cpu_s(settings, "elasticsearch")
        t0 = time.monotonic()
        produce(settings, name, timed)
        wait_for(lambda: indexed() >= count + 1, 900, f"{count:,} records indexed")
        elapsed = time.monotonic() - t0
        cpu, es_cpu = cpu_s(settings, "connect") - cpu0, cpu_s(settings, "elasticsearch") - es0
    headers = [sum(len(k) + len(v or b"") for k, v in h) for _, _, h in timed]
    return {
        "value bytes/record": float(np.mean([len(v) for _, v, _ in timed])),
        "header bytes/record": float(np.mean(headers)),
        "records/s, first produce to indexed": count / elapsed,
        "Connect CPU s per 10,000 records": cpu * 10_000 / count,
        "  idle CPU s in the same time": idle_cpu_per_s * elapsed * 10_000 / count,
        "Elasticsearch CPU s per 10,000": es_cpu * 10_000 / count,
    }


def read_keys_and_headers(settings: StackSettings, count: int, values: bool) -> dict[str, float]:
    """Reads every key and header of a `count`-record version-2 topic, touching no value.

    Kafka fetches whole records, so the values travel anyway; `values=False` writes the same
    keys and headers with empty values, which shows what the values cost the read.
    """
    topic = f"bench-keys-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers, "log_level": 3})
    admin.create_topics([NewTopic(topic, settings.paintings_partitions, 1)])[topic].result()
    try:
        written = [(k, v if values else b"", h) for k, v, h in paintings(2, count, topic, 3)]
        produce(settings, topic, written)
        consumer = Consumer(
            {
                "bootstrap.servers": settings.bootstrap_servers,
                "group.id": topic,
                "fetch.max.bytes": 64 * 2**20,
                "max.partition.fetch.bytes": 32 * 2**20,
                "queued.max.messages.kbytes": 1_000_000,
            }
        )
        ids: set[bytes] = set()
        header_count, touching = 0, 0.0
        t0 = time.monotonic()
        partitions = range(settings.paintings_partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        while len(ids) < count:
            batch = consumer.consume(num_messages=min(10_000, count - len(ids)), timeout=1.0)
            t1 = time.monotonic()
            for message in batch:
                key, headers = message.key(), message.headers()
                assert isinstance(key, bytes) and isinstance(headers, list)
                ids.add(key)
                header_count += len(headers)
            touching += time.monotonic() - t1
        elapsed = time.monotonic() - t0
        consumer.close()
        assert header_count == len(written[0][2]) * count
        return {
            "seconds": elapsed,
            "records/s": count / elapsed,
            "MB of values fetched": sum(len(v) for _, v, _ in written) / 1e6,
            "s of it touching keys and headers": touching,
        }
    finally:
        admin.delete_topics([topic])[topic].exception()


def table(title: str, results: dict[str, dict[str, float]], width: int) -> None:
    print(f"\n{title}\n{'':38}" + "".join(f"{label:>{width}}" for label in results))
    for row in next(iter(results.values())):
        print(f"{row:38}" + "".join(f"{r[row]:>{width},.1f}" for r in results.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000, help="per sink case")
    parser.add_argument("--topic-records", type=int, default=75_000, help="for the header read")
    parser.add_argument("--skip-sink", action="store_true")
    parser.add_argument("--skip-read", action="store_true")
    args = parser.parse_args()
    settings = StackSettings()
    if not args.skip_sink:
        dims = sum(r.dims for r in REPRESENTATIONS)
        table(
            f"sink: {args.records:,} records per case, {dims:,} dimensions, random unit vectors",
            {label: sink(settings, *case, args.records) for label, case in CASES.items()},
            34,
        )
    if not args.skip_read:
        table(
            f"reading every key and header of {args.topic_records:,} records",
            {
                "version-2 records": read_keys_and_headers(settings, args.topic_records, True),
                "same keys+headers, empty values": read_keys_and_headers(
                    settings, args.topic_records, False
                ),
            },
            34,
        )


if __name__ == "__main__":
    main()
