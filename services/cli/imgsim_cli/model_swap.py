"""A new model version indexed beside the old one, then searched in its place: the swap.

A trained model's vectors travel on a pipeline of their own (`names.model_pipeline`: topic,
connector, index), so its records never reach the old index and the old version's never reach
the new one. The swap provisions that pipeline, re-drives the whole collection through it (a
vectorizer worker with the new model reads `image-paths` from the start under a consumer group of
its own; images published meanwhile are vectorized by both versions), waits until the consistency
checker's reconciliation says the new index holds every painting, and only then moves the alias,
in one atomic `_aliases` call. Search answers from the old index until that moment. The old index
stays: `rollback` moves the alias back.
"""

import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch
from imgsim_common import mapping, names
from imgsim_common.model_card import ModelCard
from imgsim_indexer_check.evaluator import State
from imgsim_indexer_check.reconcile import Reconciliation
from imgsim_indexer_check.reconciler import Reconciler, judge
from imgsim_indexer_check.settings import IndexerCheckSettings
from imgsim_stack.provision import provision_model
from imgsim_stack.settings import StackSettings

from imgsim_cli import child_argv

Report = Callable[[str], None]


class SwapError(RuntimeError):
    pass


@dataclass(frozen=True)
class ModelIndex:
    index: str
    model: str  # name@version, or what the documents say for an index without a card
    documents: int
    searched: bool
    replaced: str | None  # the index the alias pointed at before it came to this one


def _meta(es: Elasticsearch, index: str) -> dict[str, Any]:
    found = es.indices.get_mapping(index=index)[index]["mappings"].get("_meta", {})
    meta: dict[str, Any] = found.get(mapping.META_KEY, {})
    return meta


def alias_indexes(es: Elasticsearch, alias: str) -> list[str]:
    if not es.indices.exists_alias(name=alias):
        return []
    return sorted(es.indices.get_alias(name=alias))


def model_indexes(es: Elasticsearch, alias: str) -> list[ModelIndex]:
    """Every paintings index (the base one and each model version's), and which is searched."""
    searched = set(alias_indexes(es, alias))
    response = es.cat.indices(index="paintings-*", format="json", h="index,docs.count")
    found: list[dict[str, Any]] = response.body if isinstance(response.body, list) else []
    listed: list[ModelIndex] = []
    for row in sorted(found, key=lambda r: str(r["index"])):
        index = str(row["index"])
        meta = _meta(es, index)
        card = meta.get("model_card")
        model = f"{card['name']}@{card['version']}" if card else "backbone (no card)"
        listed.append(
            ModelIndex(
                index, model, int(row["docs.count"] or 0), index in searched, meta.get("replaced")
            )
        )
    return listed


def move_alias(es: Elasticsearch, alias: str, to_index: str) -> str | None:
    """Points `alias` at `to_index` alone, atomically; returns the index it pointed at."""
    current = alias_indexes(es, alias)
    if current == [to_index]:
        return None
    actions: list[Mapping[str, Any]] = [
        {"remove": {"index": index, "alias": alias}} for index in current
    ]
    actions.append({"add": {"index": to_index, "alias": alias, "is_write_index": True}})
    es.indices.update_aliases(actions=actions)
    previous = current[0] if len(current) == 1 else None
    if previous is not None:
        # Remembered on the new index, so that `rollback` knows where to go back to.
        meta = _meta(es, to_index) | {"replaced": previous}
        es.indices.put_mapping(index=to_index, meta={mapping.META_KEY: meta})
    return previous


def rollback(es: Elasticsearch, alias: str, to_index: str | None = None) -> tuple[str, str]:
    """Moves the alias back to the index it replaced (or to `to_index`); returns (from, to)."""
    current = alias_indexes(es, alias)
    if len(current) != 1:
        raise SwapError(f"alias {alias} points at {current or 'nothing'}, not one index")
    target = to_index or _meta(es, current[0]).get("replaced")
    if not target:
        raise SwapError(f"{current[0]} replaced no other index; name one to roll back to")
    if not es.indices.exists(index=target):
        raise SwapError(f"index {target} does not exist")
    es.indices.update_aliases(
        actions=[
            {"remove": {"index": current[0], "alias": alias}},
            {"add": {"index": target, "alias": alias, "is_write_index": True}},
        ]
    )
    return current[0], target


def complete(reconciliation: Reconciliation) -> bool:
    """The new index holds every painting: nothing pending, lost, extra or stale."""
    state, _ = judge(reconciliation)
    return (
        state is State.OK
        and reconciliation.pending_vectorizing == 0
        and reconciliation.pending_indexing == 0
    )


def wait_complete(
    check: IndexerCheckSettings,
    timeout_s: float,
    report: Report,
    poll_s: float = 3.0,
    worker: "subprocess.Popen[bytes] | None" = None,
) -> Reconciliation:
    reconciler = Reconciler(check)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            reconciliation = reconciler.reconcile()
            report(
                f"{check.alias}: {reconciliation.indexed} of {reconciliation.published} "
                f"published indexed, {reconciliation.dead_lettered} dead-lettered, "
                f"{reconciliation.pending_vectorizing} to vectorize, "
                f"{reconciliation.pending_indexing} to index"
            )
            if complete(reconciliation):
                return reconciliation
            if worker is not None and worker.poll() is not None:
                raise SwapError(f"the worker stopped (exit {worker.returncode})")
            if time.monotonic() > deadline:
                _, why = judge(reconciliation)
                raise SwapError(f"{check.alias} was not complete after {timeout_s:.0f} s: {why}")
            time.sleep(poll_s)
    finally:
        reconciler.close()


def start_worker(
    model_dir: Path, pipeline: names.ModelPipeline, log: Path
) -> subprocess.Popen[bytes]:
    """A vectorizer worker with the new model on its own pipeline, reading the collection whole."""
    env = {
        **os.environ,
        "VECTORIZER_MODEL_PATH": str(model_dir),
        "VECTORIZER_OUTPUT_TOPIC": pipeline.topic,
        "VECTORIZER_CONSUMER_GROUP": pipeline.consumer_group,
        # Beside a running worker of the old version: no second metrics server on its port.
        "VECTORIZER_METRICS_PORT": "0",
        # No embedding endpoint: it would compete for its port with other workers.
        "VECTORIZER_EMBEDDING_PORT": "0",
    }
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(child_argv("worker"), env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    try:
        worker.wait(30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def swap(
    model_dir: Path,
    stack: StackSettings,
    check: IndexerCheckSettings,
    alias: str,
    report: Report,
    timeout_s: float = 3600,
    run_worker: bool = True,
    worker_log: Path = Path(".stack/logs/model-swap-worker.log"),
) -> tuple[str | None, str]:
    """Indexes the model in `model_dir` beside the searched one, then moves the alias to it.

    Returns (the index searched before, the index searched now)."""
    card = ModelCard.load(model_dir)
    if card.pipeline_version is None:
        raise SwapError(f"{model_dir} holds {card.name}, which has no trained representations")
    pipeline = names.model_pipeline(card.pipeline_version)
    provision_model(stack, card, report)
    worker = start_worker(model_dir.resolve(), pipeline, worker_log) if run_worker else None
    if worker is not None:
        report(f"vectorizer worker with {card.name} {card.version} started (log {worker_log})")
    try:
        wait_complete(check.for_pipeline(pipeline), timeout_s, report, worker=worker)
    except SwapError as e:
        raise SwapError(f"{e}; the alias was not moved (worker log: {worker_log})") from e
    finally:
        if worker is not None:
            stop(worker)
    es = Elasticsearch(**check.elasticsearch_options(), request_timeout=30)
    try:
        previous = move_alias(es, alias, pipeline.index)
    finally:
        es.close()
    report(f"alias {alias} now points at {pipeline.index} (was {previous or 'nothing'})")
    return previous, pipeline.index
