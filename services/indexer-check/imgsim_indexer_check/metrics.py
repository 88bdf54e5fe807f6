"""The checker's Prometheus metrics, set from each report, served at /metrics.

Each service instance has a registry of its own (a test may run several in one process).
State codes follow `evaluator.SEVERITY`: 0 OK, 1 WARN, 2 REWIND, 3 STALL, 4 STOP, 5 ERR.
Time to catch up is +Inf while the lag does not fall and NaN while it is not known yet.
"""

import math

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from imgsim_indexer_check.evaluator import SEVERITY, State
from imgsim_indexer_check.reconcile import Reconciliation
from imgsim_indexer_check.report import Report

PREFIX = "imgsim_indexer_check"
# What the poll asks; each can fail on its own.
POLLED = ("kafka", "connect", "elasticsearch")


class CheckerMetrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()

        def gauge(name: str, help: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(f"{PREFIX}_{name}", help, labels, registry=registry)

        self.status = gauge("status", "Overall state code (0 OK ... 5 ERR).")
        self.leg_status = gauge("leg_status", "A leg's state code (0 OK ... 5 ERR).", ("leg",))
        self.leg_state = gauge("leg_state", "1 for a leg's current state.", ("leg", "state"))
        self.component_status = gauge(
            "component_status", "A component's state code (0 OK ... 5 ERR).", ("component",)
        )
        self.lag = gauge("leg_lag", "Records waiting on a leg.", ("leg",))
        self.partition_lag = gauge(
            "partition_lag", "Records waiting per partition.", ("leg", "topic", "partition")
        )
        self.end_offset = gauge(
            "end_offset", "The topic's end offset.", ("leg", "topic", "partition")
        )
        self.committed_offset = gauge(
            "committed_offset", "The group's position.", ("leg", "group", "partition")
        )
        self.ingest_rate = gauge(
            "ingest_rate_records_per_second", "Records/s committed over the window.", ("leg",)
        )
        self.catch_up = gauge("catch_up_seconds", "Lag / net drain rate.", ("leg",))
        self.since_progress = gauge(
            "seconds_since_progress",
            "The longest any partition of the leg has had records waiting without progress.",
            ("leg",),
        )
        self.documents = gauge("documents", "Documents behind the alias.", ("alias",))
        self.last_success = gauge(
            "last_successful_poll_timestamp_seconds",
            "When the component last answered a poll.",
            ("component",),
        )
        self.poll_errors = Counter(
            f"{PREFIX}_poll_errors",
            "Polls in which a component could not be asked (checker: the poll itself failed).",
            ("component",),
            registry=registry,
        )
        self.poll_seconds = Histogram(
            f"{PREFIX}_poll_seconds",
            "Time one poll of every component takes.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        # Set by id-level reconciliation (published -> outcome, topic -> index).
        self.missing = gauge("missing", "Live keys on the topic not in the index.", ("index",))
        self.extra = gauge("extra", "Documents in the index without a live key.", ("index",))
        self.stale = gauge("stale", "Documents whose sha1 or model differs.", ("index",))
        self.unresolved = gauge(
            "unresolved", "Published ids with no vector record and no dead letter.", ("topic",)
        )
        self.dead_letters = gauge("dead_letters", "Dead letters by reason.", ("topic", "reason"))
        self.reconciled_at = gauge(
            "reconciliation_timestamp_seconds", "When reconciliation last finished.", ()
        )
        for component in (*POLLED, "checker"):
            self.poll_errors.labels(component)

    def observe(self, report: Report) -> None:
        self.status.set(SEVERITY[report.state])
        self.poll_seconds.observe(report.poll_seconds)
        checked_at = report.checked_at.timestamp()
        for leg in report.legs:
            name = str(leg.leg)
            self.leg_status.labels(name).set(SEVERITY[leg.state])
            for state in State:
                self.leg_state.labels(name, state.value).set(1 if state is leg.state else 0)
            if leg.lag is not None:
                self.lag.labels(name).set(leg.lag)
            for p in leg.partitions:
                self.partition_lag.labels(name, leg.topic, str(p.partition)).set(p.lag)
                self.end_offset.labels(name, leg.topic, str(p.partition)).set(p.end)
                position = p.start if p.committed is None else max(p.committed, p.start)
                self.committed_offset.labels(name, leg.group, str(p.partition)).set(position)
            rate = math.nan if leg.ingest_rate is None else leg.ingest_rate
            self.ingest_rate.labels(name).set(rate)
            if leg.catch_up_s is not None:
                catch_up = leg.catch_up_s
            else:
                catch_up = math.nan if leg.warming_up or leg.lag is None else math.inf
            self.catch_up.labels(name).set(catch_up)
            if leg.seconds_since_progress is not None:
                self.since_progress.labels(name).set(leg.seconds_since_progress)
        by_name = {c.name: c for c in report.components}
        for component in report.components:
            self.component_status.labels(component.name).set(SEVERITY[component.state])
            if component.documents is not None and component.alias is not None:
                self.documents.labels(component.alias).set(component.documents)
        for polled in POLLED:
            if polled not in by_name:
                continue
            if by_name[polled].reachable:
                self.last_success.labels(polled).set(checked_at)
            else:
                self.poll_errors.labels(polled).inc()

    def observe_reconciliation(
        self, reconciliation: Reconciliation, alias: str, image_paths_topic: str, dlq_topic: str
    ) -> None:
        self.missing.labels(alias).set(reconciliation.missing)
        self.extra.labels(alias).set(reconciliation.extra)
        self.stale.labels(alias).set(reconciliation.stale)
        self.unresolved.labels(image_paths_topic).set(reconciliation.unresolved)
        for reason, count in reconciliation.dead_letters_by_reason.items():
            self.dead_letters.labels(dlq_topic, reason).set(count)
        self.reconciled_at.set(reconciliation.finished_at)

    def failed_poll(self) -> None:
        self.poll_errors.labels("checker").inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


CONTENT_TYPE = CONTENT_TYPE_LATEST
