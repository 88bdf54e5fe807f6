"""Freshness: from publishing one image on an idle pipeline to the search API returning it.

Run with `make bench-freshness` against a running stack (`make up`). A pipeline of its own (an
image-paths topic, a worker, a paintings topic, a sink connector, an index and a search API on
it) is built and removed again. Each sample publishes one new image, then times the moments its
vector record reaches the paintings topic and the API's search (`GET /paintings?artist=...`, a
search, so only what a refresh made visible counts) first lists it; the pipeline is left idle
between samples. What adds up: the worker's batch timeout, decoding and inference, the sink's
fetch and bulk request, and the index's refresh interval.
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import orjson
from api_process import api_argv
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from imgsim_cli import child_argv
from imgsim_stack import provision
from imgsim_stack.settings import StackSettings
from PIL import Image
from sink_bench import sink_instance, wait_for

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def painting(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(small).resize((640, 480), Image.Resampling.BICUBIC).save(path, quality=90)


class Arrivals:
    """When each id's vector record reached the paintings topic (a consumer in a thread)."""

    def __init__(self, settings: StackSettings, topic: str) -> None:
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._consumer = Consumer(
            {
                "bootstrap.servers": settings.bootstrap_servers,
                "group.id": f"bench-freshness-reader-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 10,
            }
        )
        self._consumer.subscribe([topic])
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for message in self._consumer.consume(100, timeout=0.05):
                if message.error() is None and message.key():
                    self.seen.setdefault(message.key().decode(), time.monotonic())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()


def start_api(index: str, settings: StackSettings, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SEARCH_API_ELASTICSEARCH_URL": settings.elasticsearch,
        "SEARCH_API_INDEX": index,
        "SEARCH_API_UPLOAD_ENABLED": "false",
    }
    server = subprocess.Popen(
        api_argv(port),
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _ready(url), 60, "the search API ready")
    return server


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--idle-s", type=float, default=3.0, help="idle time between samples")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument(
        "--batch-timeout-s",
        type=float,
        default=None,
        help="the worker's VECTORIZER_BATCH_TIMEOUT_S (default: the worker's own default)",
    )
    args = parser.parse_args()
    settings = StackSettings()
    tag = uuid.uuid4().hex[:8]
    name = f"bench-freshness-{tag}"
    image_paths, dead_letters = f"{name}-image-paths", f"{name}-image-paths-dlq"
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers, "log_level": 3})
    for future in admin.create_topics(
        [NewTopic(image_paths, settings.image_paths_partitions, 1), NewTopic(dead_letters, 1, 1)]
    ).values():
        future.result()
    folder = Path(tempfile.mkdtemp(prefix="imgsim-freshness-"))
    env = {
        **os.environ,
        "VECTORIZER_KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "VECTORIZER_INPUT_TOPIC": image_paths,
        "VECTORIZER_OUTPUT_TOPIC": name,
        "VECTORIZER_DEAD_LETTER_TOPIC": dead_letters,
        "VECTORIZER_CONSUMER_GROUP": name,
        "VECTORIZER_IMAGE_ROOT": str(folder),
        "VECTORIZER_WEIGHTS": "random",
        "VECTORIZER_METRICS_PORT": "0",
        # No embedding endpoint: it would compete for its port with other workers.
        "VECTORIZER_EMBEDDING_PORT": "0",
    }
    if args.batch_timeout_s is not None:
        env["VECTORIZER_BATCH_TIMEOUT_S"] = str(args.batch_timeout_s)
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 0})
    worker = api = None
    try:
        with sink_instance(settings, name, provision.PAINTING_CONVERTER):
            arrivals = Arrivals(settings, name)
            api = start_api(name, settings, args.port)
            worker = subprocess.Popen(
                child_argv("worker"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            http = httpx.Client(base_url=f"http://127.0.0.1:{args.port}", timeout=5)
            # A first image warms the worker up (the model's loading and first batch are not
            # freshness); it is not counted.
            to_topic, to_search = [], []
            for sample in range(args.samples + 1):
                painting_id = f"fresh-{sample:03d}.jpg"
                painting(folder / painting_id, sample)
                artist = f"{name}-{sample}"
                value = {"id": painting_id, "path": painting_id, "metadata": {"artist": artist}}
                started = time.monotonic()
                producer.produce(image_paths, orjson.dumps(value), painting_id.encode())
                producer.flush(10)
                wait_for(
                    lambda artist=artist: bool(
                        http.get("/paintings", params={"artist": artist}).json()["paintings"]
                    ),
                    300 if sample == 0 else 60,
                    f"{painting_id} searchable",
                )
                found = time.monotonic()
                if sample > 0:
                    to_search.append(found - started)
                    to_topic.append(arrivals.seen.get(painting_id, found) - started)
                    time.sleep(args.idle_s)
            arrivals.close()
            http.close()
        p50, p95 = percentiles(to_search)
        topic50, topic95 = percentiles(to_topic)
        print(
            f"freshness over {args.samples} images published one at a time on an idle pipeline "
            f"(batch timeout {args.batch_timeout_s or 'default'}):"
        )
        print(
            f"  publish -> vector on the paintings topic: p50 {topic50:.2f} s, p95 {topic95:.2f} s"
        )
        print(f"  publish -> listed by the search API:      p50 {p50:.2f} s, p95 {p95:.2f} s")
        print(f"  of which the sink, the bulk request and the refresh: p50 {p50 - topic50:.2f} s")
    finally:
        for process in (worker, api):
            if process is not None:
                process.terminate()
                process.wait(20)
        for future in admin.delete_topics([image_paths, dead_letters]).values():
            future.exception()
        admin.delete_consumer_groups([name])


if __name__ == "__main__":
    main()
