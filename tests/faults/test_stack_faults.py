"""Kafka, the Connect worker and Elasticsearch stopped and started again while images keep being
published and a real worker vectorizes them, on the faults stack of the suite's own (never the
shared one). Each scenario ends with the checker's judgement (tests/faults/rig.py), the checker
having seen the fault and seen the recovery, every component and the worker still running."""

from collections.abc import Callable, Iterator

import pytest
from elasticsearch import Elasticsearch
from imgsim_stack.settings import StackSettings

from tests.faults.report import Recorder
from tests.faults.rig import FaultRig
from tests.faults.scenario import Run
from tests.faults.stack_fixtures import Outage

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]

IMAGES = 200


@pytest.fixture
def outages(faults_stack: StackSettings) -> Iterator[list[Outage]]:
    """Outages a test begins; whatever a failed test left stopped is started again."""
    started: list[Outage] = []
    yield started
    for outage in started:
        outage.ensure_running()


@pytest.fixture
def stopped(
    stack_fault_rig: FaultRig,
    faults_es: Elasticsearch,
    faults_stack: StackSettings,
    outages: list[Outage],
    fault_report: Recorder,
) -> Callable[..., None]:
    """Runs a scenario: `component` stopped and started again while images keep coming, judged,
    and written in the report under `title`."""

    def scenario(component: str, title: str, injected: str, flush_timeout_s: float = 30) -> None:
        outage = Outage(faults_stack, component)
        outages.append(outage)
        run = Run(stack_fault_rig, faults_es, IMAGES, flush_timeout_s=flush_timeout_s).start()
        found = run.fault(title, injected, outage.begin, outage.end)
        found.restart_s = outage.restart_s
        fault_report.scenarios.append(found)

    return scenario


def test_kafka_stopped_and_started_during_ingestion_loses_nothing(
    stopped: Callable[..., None],
) -> None:
    # The publisher's producer holds its records while the broker is away, as a user's would.
    stopped("kafka", "Kafka stopped", "the broker stopped (SIGTERM)", flush_timeout_s=180)


def test_connect_stopped_and_started_during_ingestion_loses_nothing(
    stopped: Callable[..., None],
) -> None:
    stopped("connect", "Connect stopped", "the Connect worker stopped (SIGTERM)")


def test_elasticsearch_stopped_and_started_while_the_sink_writes_loses_nothing(
    stopped: Callable[..., None],
) -> None:
    stopped("elasticsearch", "Elasticsearch stopped (sink writing)", "the node stopped (SIGTERM)")
