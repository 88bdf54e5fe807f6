"""A whole pipeline of the test's own, with real vectorizer workers, for faults to be injected in.

The check rig (tests/indexer_check/fixtures.py) gives the topics, the index behind its alias and
the sink connector; this adds a folder of images, real `imgsim worker` processes in one consumer
group, a publisher that keeps publishing while faults happen, and the judge every scenario ends
with: the checker's reconciliation with nothing in flight, and the index holding exactly the
distinct ids published less those dead-lettered.
"""

import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from confluent_kafka import Consumer, Producer, TopicPartition
from elasticsearch import Elasticsearch
from imgsim_cli import child_argv
from imgsim_indexer_check.reconcile import Reconciliation, indexed_documents
from imgsim_indexer_check.reconciler import Reconciler
from PIL import Image

from tests.faults.hostile import MAX_PIXELS
from tests.indexer_check.fixtures import CheckRig
from tests.support import ONNX_CACHE, eventually, read_topic

# Files that must become dead letters, with the reason each must carry.
BAD_FILES = {"bad/empty.jpg": "empty", "bad/truncated.jpg": "corrupt", "bad/gone.jpg": "missing"}


@dataclass
class Publisher:
    """Publishes image-path records (key = id, the contract's shape) a few at a time, and
    keeps the last `held_back` until `release()`: images are still coming whenever a fault is
    injected before that, however slowly the machine runs."""

    producer: Producer
    topic: str
    ids: list[str]
    per_step: int
    step_s: float
    held_back: int = 40
    # How long a step may wait for its records to be acknowledged: longer than any outage of
    # Kafka a scenario injects (the producer retries meanwhile; its own timeout is 5 min).
    flush_timeout_s: float = 30
    published: list[str] = field(default_factory=list)
    failure: BaseException | None = None
    _released: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> "Publisher":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def release(self) -> None:
        self._released.set()

    def _run(self) -> None:
        try:
            for start in range(0, len(self.ids), self.per_step):
                if start >= len(self.ids) - self.held_back:
                    self._released.wait()
                self._step(self.ids[start : start + self.per_step])
                time.sleep(self.step_s)
        except BaseException as e:  # noqa: BLE001 - handed to `join`, which fails the test
            self.failure = e

    def _step(self, ids: list[str]) -> None:
        """Publishes `ids`, waits until Kafka acknowledged each: only those count as published."""
        refused: list[str] = []

        def delivered(error: object, message: object) -> None:
            if error is not None:
                refused.append(f"{error}")

        for painting_id in ids:
            value = {"id": painting_id, "path": painting_id, "metadata": {}}
            self.producer.produce(
                self.topic,
                key=painting_id.encode(),
                value=json.dumps(value).encode(),
                on_delivery=delivered,
            )
        assert self.producer.flush(self.flush_timeout_s) == 0, "records not acknowledged"
        assert refused == [], f"Kafka refused records: {refused[:3]}"
        self.published.extend(ids)

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def join(self, timeout_s: float) -> None:
        assert self._thread is not None
        self.release()
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the publisher did not finish"
        if self.failure is not None:
            raise AssertionError(f"the publisher failed: {self.failure!r}") from self.failure


@dataclass
class FaultRig:
    check: CheckRig
    image_root: Path
    dead_letter_topic: str
    reconciler: Reconciler
    logs: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def paint(self, count: int) -> list[str]:
        """`count` good images and the bad files; the ids of the good ones, in publishing
        order, with the bad ones among them."""
        rng = np.random.default_rng(7)
        folder = self.image_root / "good"
        folder.mkdir(parents=True)
        ids = []
        for i in range(count):
            pixels = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
            image = Image.fromarray(pixels).resize((192, 144), Image.Resampling.BILINEAR)
            image.save(folder / f"{i:05d}.jpg", quality=85)
            ids.append(f"good/{i:05d}.jpg")
        (self.image_root / "bad").mkdir()
        (self.image_root / "bad/empty.jpg").write_bytes(b"")
        whole = (folder / "00000.jpg").read_bytes()
        (self.image_root / "bad/truncated.jpg").write_bytes(whole[: len(whole) // 3])
        for n, bad in enumerate(BAD_FILES):
            ids.insert((n + 1) * len(ids) // (len(BAD_FILES) + 1), bad)
        return ids

    @property
    def env(self) -> dict[str, str]:
        stack = self.check.stack
        return {
            **os.environ,
            "VECTORIZER_KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap_servers,
            "VECTORIZER_INPUT_TOPIC": self.check.image_paths_topic,
            "VECTORIZER_OUTPUT_TOPIC": self.check.paintings_topic,
            "VECTORIZER_DEAD_LETTER_TOPIC": self.dead_letter_topic,
            "VECTORIZER_CONSUMER_GROUP": self.check.vectorizer_group,
            "VECTORIZER_DATA_DIR": str(self.logs / "faust"),
            "VECTORIZER_IMAGE_ROOT": str(self.image_root),
            "VECTORIZER_WEIGHTS": "random",
            "VECTORIZER_BACKEND": "onnx",
            "VECTORIZER_ONNX_CACHE_DIR": str(ONNX_CACHE),
            "VECTORIZER_BATCH_SIZE": "16",
            "VECTORIZER_BATCH_TIMEOUT_S": "0.5",
            "VECTORIZER_METRICS_PORT": "0",
            # No embedding endpoint: it would compete for its port with other workers.
            "VECTORIZER_EMBEDDING_PORT": "0",
            "VECTORIZER_MAX_PIXELS": str(MAX_PIXELS),
        }

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = self.logs / f"worker-{len(self.workers) + 1}.log"
        with log.open("ab") as out:
            worker = subprocess.Popen(
                child_argv("worker"),
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers.append(worker)
        return worker

    def kill(self, worker: subprocess.Popen[bytes]) -> None:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(30)

    def produced(self) -> int:
        """Records on the test's paintings topic so far (its end offsets)."""
        consumer = Consumer(
            {"bootstrap.servers": self.check.stack.bootstrap_servers, "group.id": "unused"}
        )
        try:
            topic = self.check.paintings_topic
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            return sum(
                consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in partitions
            )
        finally:
            consumer.close()

    def advance(self, records: int, timeout_s: float, what: str) -> None:
        """Waits until `records` more vector records came out than there are now."""
        start = self.produced()
        eventually(lambda: self.produced() >= start + records, timeout_s, what)

    def settled(self, timeout_s: float) -> Reconciliation:
        """The first reconciliation with nothing in flight on either leg."""

        def check() -> Reconciliation | None:
            found = self.reconciler.reconcile()
            return found if not (found.pending_vectorizing or found.pending_indexing) else None

        return eventually(check, timeout_s, "nothing in flight on either leg")

    def dead_letters(self, expected: int) -> dict[str, str]:
        """Id -> reason of the image-path dead letters, once `expected` of them are there."""
        messages = read_topic(
            self.check.stack.bootstrap_servers,
            self.dead_letter_topic,
            lambda found: len(found) >= expected,
        )
        return {
            (m.key() or b"").decode(): json.loads(m.value() or b"{}").get("reason", "")
            for m in messages
        }

    def judge(
        self,
        published: list[str],
        es: Elasticsearch,
        timeout_s: float = 240,
        dead_lettered: dict[str, str] = BAD_FILES,
    ) -> None:
        """Nothing lost: reconciliation clean, the dead letters those expected (id -> reason),
        and the index exactly the ids published less the dead-lettered ones."""
        found = self.settled(timeout_s)
        faults = {
            kind: getattr(found, f"{kind}_ids")
            for kind in ("unresolved", "missing", "extra", "stale")
            if getattr(found, kind)
        }
        assert faults == {}, faults
        assert found.consistent
        letters = self.dead_letters(len(dead_lettered))
        assert letters == dead_lettered
        assert found.dead_lettered == len(dead_lettered)
        indexed = set(indexed_documents(es, self.check.alias))
        assert indexed == set(published) - set(letters)
        assert found.published == len(set(published))
