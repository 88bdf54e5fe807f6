"""Elasticsearch's disk filling up, simulated with the disk watermarks on the faults stack: set
absurdly high (a node must keep 1000 TB free), the node's own disk monitor puts the flood-stage
block on every index, the sink's bulk requests are refused (429 cluster_block_exception) and it
retries; nothing is dropped or dead-lettered, and ingestion resumes once the watermarks are back
and the monitor lifts the block. The settings are reset whatever happens."""

from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from tests.faults.report import Recorder
from tests.faults.rig import FaultRig
from tests.faults.scenario import Run
from tests.support import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]

BLOCK = "index.blocks.read_only_allow_delete"
# The launcher switches the disk threshold off in elasticsearch.yml; cluster settings win.
FULL: dict[str, Any] = {
    "cluster.routing.allocation.disk.threshold_enabled": True,
    "cluster.routing.allocation.disk.watermark.low": "1000tb",
    "cluster.routing.allocation.disk.watermark.high": "1000tb",
    "cluster.routing.allocation.disk.watermark.flood_stage": "1000tb",
    "cluster.info.update.interval": "10s",
}
WATERMARKS = [k for k in FULL if ".watermark." in k]


def blocked(es: Elasticsearch, index: str) -> bool:
    found = es.indices.get_settings(index=index, name=BLOCK, flat_settings=True)
    return bool(found.get(index, {}).get("settings", {}).get(BLOCK) == "true")


@pytest.fixture
def disk(faults_es: Elasticsearch) -> Iterator[None]:
    """Whatever the test did, the watermarks and any block are gone afterwards."""
    yield
    faults_es.cluster.put_settings(persistent={key: None for key in FULL})
    faults_es.indices.put_settings(index="_all", settings={BLOCK: None})


def test_a_full_disk_blocks_the_sink_which_retries_and_drops_nothing(
    stack_fault_rig: FaultRig, faults_es: Elasticsearch, disk: None, fault_report: Recorder
) -> None:
    index = stack_fault_rig.check.index
    frozen: dict[str, int] = {}

    def fill() -> None:
        faults_es.cluster.put_settings(persistent=FULL)
        eventually(lambda: blocked(faults_es, index), 60, "the flood-stage block on the index")
        faults_es.indices.refresh(index=index)
        frozen["documents"] = faults_es.count(index=index)["count"]
        frozen["produced"] = stack_fault_rig.produced()

    def free() -> None:
        # Space comes back: the watermarks return to their defaults and the node's own monitor
        # lifts the block (nobody removes it by hand), then the threshold goes back off.
        # Before that: vectors kept coming out during the block, and not one went in.
        eventually(
            lambda: stack_fault_rig.produced() >= frozen["produced"] + 20,
            60,
            "vectors coming out while the index is blocked",
        )
        faults_es.indices.refresh(index=index)
        frozen["documents_at_end"] = faults_es.count(index=index)["count"]
        frozen["produced_at_end"] = stack_fault_rig.produced()
        faults_es.cluster.put_settings(persistent={key: None for key in WATERMARKS})
        eventually(lambda: not blocked(faults_es, index), 60, "the monitor lifting the block")
        faults_es.cluster.put_settings(persistent={key: None for key in FULL})

    run = Run(stack_fault_rig, faults_es, 200).start()
    # The sink leg counts as stalled once its window (sink_window polls) saw no progress.
    scenario = run.fault(
        "Disk full (flood stage)",
        "watermarks set to 1000 TB free: read-only-allow-delete block",
        fill,
        free,
        min_down_s=15,
        detect_timeout_s=40,
    )
    # While blocked, vectors kept coming out but not one document went in.
    assert frozen["produced_at_end"] > frozen["produced"]
    assert frozen["documents_at_end"] == frozen["documents"]
    scenario.note = (
        f"while blocked the index stayed at {frozen['documents']} documents; the sink retried "
        "and dead-lettered nothing"
    )
    fault_report.scenarios.append(scenario)
