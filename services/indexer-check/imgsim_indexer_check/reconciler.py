"""Reconciliation, repair and dead-letter retries wired to the checker's settings.

The service's loop, its HTTP actions and `imgsim check` all go through a `Reconciler`; the
domain is in `reconcile` and `repair`, which take their clients as arguments.
"""

from collections.abc import Mapping

from elasticsearch import Elasticsearch
from pydantic import BaseModel

from imgsim_indexer_check import repair
from imgsim_indexer_check.evaluator import State
from imgsim_indexer_check.offsets import OffsetReader
from imgsim_indexer_check.reconcile import Findings, Reconciliation, Sources, reconcile
from imgsim_indexer_check.settings import IndexerCheckSettings


class RepairResult(BaseModel):
    dry_run: bool
    actions: list[str]
    done: dict[str, int]
    reconciliation: Reconciliation


def judge(reconciliation: Reconciliation) -> tuple[State, str]:
    """Reconciliation's part of the overall state: anything lost or wrong is an error to repair;
    what is still in flight is not."""
    faults = {
        "unresolved (published, no outcome)": reconciliation.unresolved,
        "missing from the index": reconciliation.missing,
        "extra in the index": reconciliation.extra,
        "stale in the index": reconciliation.stale,
    }
    found = [f"{count} {what}" for what, count in faults.items() if count]
    if not found:
        return State.OK, "reconciliation: every published id has its outcome"
    examples = (
        reconciliation.unresolved_ids
        + reconciliation.missing_ids
        + reconciliation.extra_ids
        + reconciliation.stale_ids
    )[:3]
    return State.ERR, (
        f"reconciliation: {', '.join(found)} (e.g. {', '.join(examples)}); "
        "`imgsim check --repair` re-drives them (add --delete-extra to delete extra documents)"
    )


class Reconciler:
    def __init__(self, settings: IndexerCheckSettings) -> None:
        self.settings = settings
        self.sources = Sources(
            settings.kafka_config(),
            settings.image_paths_topic,
            settings.paintings_topic,
            settings.dead_letter_topic,
            settings.alias,
            settings.sink_dead_letter_topic,
        )
        self.es = Elasticsearch(**settings.elasticsearch_options(), request_timeout=120)
        self.offsets = OffsetReader(settings.kafka_config(), settings.request_timeout_s)

    def _committed(self) -> tuple[Mapping[int, int | None], Mapping[int, int | None]]:
        vectorizer = self.offsets.read(
            self.settings.image_paths_topic, self.settings.vectorizer_group
        )
        sink = self.offsets.read(self.settings.paintings_topic, self.settings.sink_group)
        return (
            {p.partition: p.committed for p in vectorizer.partitions},
            {p.partition: p.committed for p in sink.partitions},
        )

    def findings(self) -> Findings:
        return reconcile(self.sources, self.es, self._committed, self.settings.scan_timeout_s)

    def reconcile(self) -> Reconciliation:
        return self.findings().report

    def repair(self, delete_extra: bool = False, dry_run: bool = False) -> RepairResult:
        findings = self.findings()
        actions = repair.plan(findings, self.sources, delete_extra)
        if dry_run:
            done = {}
        elif delete_extra and self.settings.elasticsearch_admin:
            with Elasticsearch(
                **self.settings.elasticsearch_admin_options(), request_timeout=120
            ) as admin:
                done = repair.execute(actions, self.sources, admin)
        else:
            done = repair.execute(actions, self.sources, self.es)
        return RepairResult(
            dry_run=dry_run,
            actions=[a.describe() for a in actions],
            done=dict(done),
            reconciliation=findings.report,
        )

    def retry_dead_letters(self, reason: str | None, dry_run: bool = False) -> RepairResult:
        findings = self.findings()
        live = set(findings.live_ids)
        inputs = repair.dead_letters_to_retry(self.sources, reason, live)
        done = {} if dry_run else {"retry": repair.retry(inputs, self.sources)}
        return RepairResult(
            dry_run=dry_run,
            actions=[action.describe() for action, _, _ in inputs],
            done=done,
            reconciliation=findings.report,
        )

    def close(self) -> None:
        self.es.close()
