"""The fault suite's pipeline: the check rig's topics, index and connector, real workers."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from imgsim_indexer_check.reconciler import Reconciler

from tests.faults.rig import FaultRig
from tests.indexer_check.fixtures import CheckRig


@pytest.fixture
def fault_rig(check_rig: CheckRig, tmp_path: Path) -> Iterator[FaultRig]:
    admin = AdminClient({"bootstrap.servers": check_rig.stack.bootstrap_servers})
    dead_letters = f"test-{check_rig.tag}-image-paths-dlq"
    admin.create_topics([NewTopic(dead_letters, 1, 1)])[dead_letters].result(30)
    reconciler = Reconciler(
        check_rig.settings(
            dead_letter_topic=dead_letters, sink_dead_letter_topic=check_rig.dead_letter_topic
        )
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    rig = FaultRig(check_rig, tmp_path / "images", dead_letters, reconciler, logs)
    rig.image_root.mkdir()
    try:
        yield rig
    finally:
        for worker in rig.workers:
            if worker.poll() is None:
                rig.kill(worker)
        reconciler.close()
        admin.delete_topics([dead_letters])[dead_letters].result(30)
