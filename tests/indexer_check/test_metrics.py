"""The metrics a report sets, in Prometheus' text format (checked by promtool when present)."""

import asyncio
import math

from imgsim_indexer_check.evaluator import State
from imgsim_indexer_check.metrics import CheckerMetrics
from imgsim_indexer_check.offsets import LegOffsets
from imgsim_indexer_check.report import Report
from prometheus_client.parser import text_string_to_metric_families

from tests.indexer_check.fakes import Components, checker, leg_offsets
from tests.support import promtool_check


def samples(metrics: CheckerMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def report_of(components: Components, polls: int = 4) -> Report:
    def answer(topic: str, group: str, at: float) -> LegOffsets:
        if topic == "paintings":
            return leg_offsets(topic, group, [(100, 100), (500, 800)], at)  # stuck, 300 waiting
        return leg_offsets(topic, group, [(int(at - 1000) * 10, 100)], at)

    made, _, clock = checker(components, answer, sink_window=3, sink_commit_interval_s=1.0)

    async def run() -> Report:
        for _ in range(polls - 1):
            await made.poll()
            clock.advance(1)
        report = await made.poll()
        await made.aclose()
        return report

    return asyncio.run(run())


def test_a_report_sets_states_lags_rates_and_component_health() -> None:
    metrics = CheckerMetrics()
    report = report_of(Components(documents=1234))
    metrics.observe(report)
    found = samples(metrics)

    assert report.leg(2).state is State.STALL
    assert found[("imgsim_indexer_check_leg_status", (("leg", "2"),))] == 3
    assert found[("imgsim_indexer_check_leg_state", (("leg", "2"), ("state", "STALL")))] == 1
    assert found[("imgsim_indexer_check_leg_state", (("leg", "2"), ("state", "OK")))] == 0
    assert found[("imgsim_indexer_check_status", ())] == 3
    assert found[("imgsim_indexer_check_leg_lag", (("leg", "2"),))] == 300
    key = (("leg", "2"), ("partition", "1"), ("topic", "paintings"))
    assert found[("imgsim_indexer_check_partition_lag", key)] == 300
    assert found[("imgsim_indexer_check_documents", (("alias", "paintings"),))] == 1234
    assert found[("imgsim_indexer_check_ingest_rate_records_per_second", (("leg", "1"),))] == 10
    # Not draining: never at this rate.
    assert found[("imgsim_indexer_check_catch_up_seconds", (("leg", "2"),))] == math.inf
    assert found[("imgsim_indexer_check_seconds_since_progress", (("leg", "2"),))] == 3
    since_poll = (
        "imgsim_indexer_check_last_successful_poll_timestamp_seconds",
        (("component", "connect"),),
    )
    assert found[since_poll] == report.checked_at.timestamp()
    assert found[("imgsim_indexer_check_poll_errors_total", (("component", "connect"),))] == 0


def test_a_component_that_cannot_be_asked_counts_a_poll_error() -> None:
    metrics = CheckerMetrics()
    metrics.observe(report_of(Components(down={"elasticsearch"}), polls=1))
    metrics.observe(report_of(Components(down={"elasticsearch"}), polls=1))
    found = samples(metrics)

    assert found[("imgsim_indexer_check_poll_errors_total", (("component", "elasticsearch"),))] == 2
    assert found[("imgsim_indexer_check_component_status", (("component", "index"),))] == 5
    key = (
        "imgsim_indexer_check_last_successful_poll_timestamp_seconds",
        (("component", "elasticsearch"),),
    )
    assert key not in found


def test_reconciliation_gauges_are_there_for_reconciliation_to_set() -> None:
    metrics = CheckerMetrics()
    metrics.missing.labels("paintings-v1").set(3)
    metrics.dead_letters.labels("image-paths-dlq", "missing").set(4)
    found = samples(metrics)

    assert found[("imgsim_indexer_check_missing", (("index", "paintings-v1"),))] == 3
    key = (("reason", "missing"), ("topic", "image-paths-dlq"))
    assert found[("imgsim_indexer_check_dead_letters", key)] == 4


def test_the_exposition_passes_promtool() -> None:
    metrics = CheckerMetrics()
    metrics.observe(report_of(Components()))
    promtool_check(metrics.exposition())
