"""One stack fault from start to judgement: ingestion running, the fault injected, the checker's
detection awaited, the fault lifted, the checker's recovery awaited, then the judge; the times on
the way measured for the report."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from elasticsearch import Elasticsearch
from imgsim_indexer_check.reconcile import indexed_documents
from imgsim_indexer_check.report import Report
from imgsim_stack import cli

from tests.faults.report import Scenario
from tests.faults.rig import BAD_FILES, FaultRig, Publisher
from tests.indexer_check.fixtures import Watcher
from tests.support import eventually

# The real worker commits every few seconds, Connect every 5 s: windows long enough that an
# ordinary pause between commits is not taken for a stall.
WATCH = {"vectorizer_window": 20, "sink_window": 25, "poll_interval_s": 0.5}


def unhealthy(report: Report) -> bool:
    return report.http_status == 503


def healthy(report: Report) -> bool:
    return report.http_status == 200


def first_report(
    watcher: Watcher, since_wall: float, wanted: Callable[[Report], bool], timeout_s: float
) -> Report | None:
    """The first report checked at or after `since_wall` (time.time()) that is `wanted`; None
    when none came within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for report in list(watcher.reports):
            if report.checked_at.timestamp() >= since_wall and wanted(report):
                return report
        time.sleep(0.2)
    return None


def brief_reason(report: Report) -> str:
    """The report's state and its first unhealthy item, short enough for a table cell."""
    first = report.reason.split(";")[0].strip().replace("|", "/")
    return f"{report.state}: {first[:90]}"


@dataclass
class Run:
    """Ingestion of `count` images through one real worker while a fault comes and goes."""

    rig: FaultRig
    es: Elasticsearch
    count: int
    flush_timeout_s: float = 30
    publisher: Publisher = field(init=False)
    watcher: Watcher = field(init=False)

    def start(self) -> "Run":
        ids = self.rig.paint(self.count)
        self.watcher = self.rig.check.watch(**WATCH)
        self.rig.start_worker()
        self.publisher = Publisher(
            self.rig.check.producer,
            self.rig.check.image_paths_topic,
            ids,
            per_step=6,
            step_s=0.3,
            # Held back until the fault hits: images keep coming during it, however quickly
            # or slowly the worker started.
            held_back=self.count // 3,
            flush_timeout_s=self.flush_timeout_s,
        ).start()
        return self

    def fault(
        self,
        name: str,
        injected: str,
        begin: Callable[[], None],
        end: Callable[[], None],
        min_down_s: float = 6,
        detect_timeout_s: float = 60,
    ) -> Scenario:
        """Injects the fault once vectors are flowing, keeps it until the checker saw it (and at
        least `min_down_s`), lifts it, then waits for recovery and judges."""
        # Vectors flowing (the held-back third of the images still to come when it hits).
        eventually(lambda: self.rig.produced() >= 20, 120, "vectors coming out before the fault")
        self.rig.check.producer.flush(10)
        began_wall, began = time.time(), time.monotonic()
        begin()
        assert not self.publisher.done, "images must still be coming when the fault hits"
        self.publisher.release()
        seen = first_report(self.watcher, began_wall, unhealthy, detect_timeout_s)
        during = self.watcher.reports[-1].model_dump_json()[:3000] if seen is None else ""
        time.sleep(max(0.0, began + min_down_s - time.monotonic()))
        ended_wall, ended = time.time(), time.monotonic()
        down_s = ended - began
        end()
        back = first_report(self.watcher, ended_wall, healthy, 120)
        self.publisher.join(timeout_s=180)
        self.rig.judge(self.publisher.published, self.es)
        caught_up_s = time.monotonic() - ended
        last = self.watcher.reports[-1].reason if self.watcher.reports else "no report"
        assert seen is not None, f"the checker never reported {name} as unhealthy: {during}"
        assert back is not None, f"the checker never reported healthy again after {name}: {last}"
        assert all(c.healthy() for c in cli.components(self.rig.check.stack)), "stack answers"
        assert all(w.poll() is None for w in self.rig.workers), "the worker kept running"
        return Scenario(
            name=name,
            injected=injected,
            down_s=down_s,
            detect_s=seen.checked_at.timestamp() - began_wall,
            detected_as=brief_reason(seen),
            recover_s=back.checked_at.timestamp() - ended_wall,
            caught_up_s=caught_up_s,
            published=len(set(self.publisher.published)),
            indexed=len(set(indexed_documents(self.es, self.rig.check.alias))),
            dead_lettered=len(BAD_FILES),
        )
