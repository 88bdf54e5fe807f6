"""Elasticsearch stopped and started again while the search API serves a bounded concurrent load
on loopback and ingestion runs, on the faults stack: during the outage the API answers 200 or
503 and nothing else (no other 5xx, no dropped connection), it serves again without a restart,
and the pipeline loses nothing. Answers, errors and latency per phase go into the report."""

import time

import httpx
import pytest
from elasticsearch import Elasticsearch
from imgsim_indexer_check.reconcile import indexed_documents
from imgsim_stack.settings import StackSettings

from tests.faults.load import Answer, Load, phase
from tests.faults.report import Recorder
from tests.faults.rig import FaultRig
from tests.faults.scenario import Run
from tests.faults.stack_fixtures import Outage
from tests.search_api.fixtures import start_api
from tests.support import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]


def failed(answers: list[Answer], since: float) -> list[tuple[float, str, str, str]]:
    """The answers that are not 200: when (seconds after `since`), what, and why."""
    return [
        (round(a.at - since, 1), a.path, a.status, a.detail) for a in answers if a.status != "200"
    ]


def test_the_api_answers_503_during_an_elasticsearch_outage_and_recovers_without_a_restart(
    stack_fault_rig: FaultRig,
    faults_es: Elasticsearch,
    faults_stack: StackSettings,
    fault_report: Recorder,
) -> None:
    outage = Outage(faults_stack, "elasticsearch")
    alias = stack_fault_rig.check.alias
    run = Run(stack_fault_rig, faults_es, 150).start()

    def indexed() -> list[str] | None:
        faults_es.indices.refresh(index=alias)
        found = sorted(indexed_documents(faults_es, alias))
        return found if len(found) >= 3 else None

    some = eventually(indexed, 120, "a few paintings indexed to search by")
    server = start_api(
        faults_stack.elasticsearch, alias, stack_fault_rig.image_root, request_timeout_s=3
    )
    paths = [f"/similar/{some[0]}?k=5", "/paintings?size=12", f"/paintings/{some[1]}"]
    load = Load(server.url, paths).start()
    try:
        started = time.monotonic()
        time.sleep(4)
        scenario = run.fault(
            "Elasticsearch stopped (API serving)",
            "the node stopped (SIGTERM) under 4 concurrent API clients",
            outage.begin,
            outage.end,
        )
        api_back = load.first_ok_after(outage.healthy_at or 0)
        time.sleep(4)
        load.stop()
        assert server.process.poll() is None, "the API process kept running"
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    finally:
        load.stop()
        server.stop()
        outage.ensure_running()

    assert outage.began_at and outage.healthy_at
    before = load.between(started, outage.began_at)
    during = load.between(outage.began_at, outage.healthy_at)
    after = load.between(outage.healthy_at, time.monotonic())
    assert before and during and after
    assert not failed(before, started), failed(before, started)[:4]
    # Away: 503 (with Retry-After), never another 5xx, never a dropped connection.
    assert {a.status for a in during} <= {"200", "503"}, phase("during", during).statuses
    assert any(a.status == "503" for a in during), "the outage was felt"
    # Back without a restart: every request sent a moment after the node answers is served.
    settled = [a for a in after if a.at >= outage.healthy_at + 2]
    assert settled and not failed(settled, outage.healthy_at), failed(settled, outage.healthy_at)
    assert api_back is not None
    scenario.restart_s = outage.restart_s
    scenario.api = [phase("before", before), phase("during", during), phase("after", after)]
    scenario.note = (
        f"the API served 200 again {api_back - outage.healthy_at:.1f} s after Elasticsearch "
        f"answered ({api_back - (outage.ended_at or 0):.1f} s after its restart began), "
        "without being restarted"
    )
    fault_report.scenarios.append(scenario)
