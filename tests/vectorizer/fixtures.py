"""A real vectorizer worker against the real stack, on topics of its own."""

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from imgsim_cli import child_argv
from imgsim_common import names
from imgsim_stack.settings import StackSettings

from tests.support import ONNX_CACHE


@dataclass
class WorkerRig:
    """Topics and settings of one test's vectorizer; `start()` runs a worker process."""

    stack: StackSettings
    image_root: Path
    tag: str
    input_topic: str
    dead_letter_topic: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "VECTORIZER_KAFKA_BOOTSTRAP_SERVERS": self.stack.bootstrap_servers,
            "VECTORIZER_INPUT_TOPIC": self.input_topic,
            "VECTORIZER_OUTPUT_TOPIC": names.PAINTINGS_TOPIC,
            "VECTORIZER_DEAD_LETTER_TOPIC": self.dead_letter_topic,
            "VECTORIZER_CONSUMER_GROUP": f"test-vectorizer-{self.tag}",
            "VECTORIZER_DATA_DIR": str(self.image_root.parent / "faust"),
            "VECTORIZER_IMAGE_ROOT": str(self.image_root),
            "VECTORIZER_WEIGHTS": "random",
            "VECTORIZER_BACKEND": "onnx",
            "VECTORIZER_ONNX_CACHE_DIR": str(ONNX_CACHE),
            "VECTORIZER_BATCH_SIZE": "16",
            "VECTORIZER_BATCH_TIMEOUT_S": "0.5",
            "VECTORIZER_METRICS_PORT": "0",
            # No embedding endpoint: it would compete for its port with other workers.
            "VECTORIZER_EMBEDDING_PORT": "0",
            "VECTORIZER_MAX_PIXELS": "50000000",
        }

    def start(self, log: Path, metrics_port: int = 0) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            worker = subprocess.Popen(
                child_argv("worker"),
                env={**self.env, "VECTORIZER_METRICS_PORT": str(metrics_port)},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers.append(worker)
        return worker

    def publish(self, folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            child_argv(
                "publish",
                str(folder),
                "--topic",
                self.input_topic,
                "--bootstrap-servers",
                self.stack.bootstrap_servers,
                "--no-progress",
                *extra,
            ),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )


@pytest.fixture
def worker_rig(stack: StackSettings, tmp_path: Path) -> Iterator[WorkerRig]:
    tag = uuid.uuid4().hex[:10]
    rig = WorkerRig(
        stack=stack,
        image_root=tmp_path / "images",
        tag=tag,
        input_topic=f"test-image-paths-{tag}",
        dead_letter_topic=f"test-image-paths-dlq-{tag}",
    )
    rig.image_root.mkdir()
    admin = AdminClient({"bootstrap.servers": stack.bootstrap_servers})
    created = admin.create_topics(
        [NewTopic(rig.input_topic, 3, 1), NewTopic(rig.dead_letter_topic, 1, 1)]
    )
    for future in created.values():
        future.result()
    yield rig
    for worker in rig.workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    for future in admin.delete_topics([rig.input_topic, rig.dead_letter_topic]).values():
        future.result()
