"""The fault suite's pipeline: the check rig's topics, index and connector, real workers; on the
plain stack (`fault_rig`, for faults that leave the stack alone) or on the faults stack of its own
(`stack_fault_rig`, for scenarios that stop Kafka, Connect or Elasticsearch). The report of the
session's scenarios is written at its end (tests/faults/report.py)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from elasticsearch import Elasticsearch
from imgsim_indexer_check.reconciler import Reconciler
from imgsim_stack.settings import StackSettings

from tests.faults.report import REPORT_PATH, Recorder
from tests.faults.rig import FaultRig
from tests.faults.stack_fixtures import faults_es, faults_stack  # noqa: F401 - fixtures
from tests.indexer_check.fixtures import CheckRig, open_check_rig


@contextmanager
def open_fault_rig(check_rig: CheckRig, tmp_path: Path) -> Iterator[FaultRig]:
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


@pytest.fixture
def fault_rig(check_rig: CheckRig, tmp_path: Path) -> Iterator[FaultRig]:
    with open_fault_rig(check_rig, tmp_path) as rig:
        yield rig


@pytest.fixture
def stack_fault_rig(
    faults_stack: StackSettings,  # noqa: F811 - the fixture imported above
    faults_es: Elasticsearch,  # noqa: F811
    tmp_path: Path,
) -> Iterator[FaultRig]:
    """A fault rig on the faults stack: its components may be stopped."""
    with open_check_rig(faults_stack, faults_es) as check, open_fault_rig(check, tmp_path) as rig:
        yield rig


@pytest.fixture(scope="session")
def fault_report() -> Iterator[Recorder]:
    """Each scenario's figures; the Markdown report is written when the session ends."""
    recorder = Recorder()
    yield recorder
    if recorder.scenarios or recorder.hostile:
        recorder.write(REPORT_PATH)
