"""A model swap on the real stack: search answers throughout, and the new index ends up whole.

The searched alias starts on an index of other vectors; a model is trained here (the tiny
texture backbone), and `model_swap.swap` provisions its pipeline (topic, connector, index mapped
from its card), runs a real vectorizer worker with it over every published image, waits for the
checker's reconciliation and moves the alias, while a client queries the search API without
pause. Then `rollback` moves the alias back.
"""

import asyncio
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from elasticsearch import Elasticsearch, helpers
from imgsim_cli import model_swap
from imgsim_common import mapping, names
from imgsim_common.model_card import ModelCard
from imgsim_common.representations import METRICS, REPRESENTATIONS
from imgsim_indexer_check import searched
from imgsim_indexer_check.checker import Checker
from imgsim_indexer_check.reconciler import Reconciler
from imgsim_indexer_check.report import Report
from imgsim_indexer_check.settings import IndexerCheckSettings
from imgsim_search_api.app import create_app
from imgsim_search_api.settings import SearchApiSettings
from imgsim_stack.settings import StackSettings
from imgsim_vectorizer.training import train
from imgsim_vectorizer.training.features import Limits

from tests.support import ONNX_CACHE, eventually, serving
from tests.vectorizer.training.paintings import paint_set
from tests.vision.tiny_models import tiny_spec

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ES = "http://127.0.0.1:9200"


@dataclass
class Queries:
    """A client that asks for similar paintings without pause; every answer is kept."""

    url: str
    painting: str
    statuses: list[int] = field(default_factory=list)
    indexes: set[str] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as http:
            while not self.stop.is_set():
                answer = http.get(f"/similar/{self.painting}", params={"k": 3})
                self.statuses.append(answer.status_code)
                served = http.get("/representations")
                if served.status_code == 200:
                    self.indexes.add(served.json()["index"])
                self.stop.wait(0.05)


def _cleanup(es: Elasticsearch, admin: AdminClient, pipeline: names.ModelPipeline) -> None:
    httpx.delete(f"http://127.0.0.1:8083/connectors/{pipeline.connector}", timeout=30)
    es.indices.delete(index=pipeline.index, ignore_unavailable=True)
    for future in admin.delete_topics([pipeline.topic, pipeline.sink_dead_letter_topic]).values():
        try:
            future.result(30)
        except Exception:  # noqa: BLE001 - a topic the test never made
            pass


@pytest.fixture
def trained(tmp_path: Path) -> Iterator[tuple[Path, list[str], ModelCard]]:
    metadata = paint_set(tmp_path, per_class=3)
    run = train.train(
        tmp_path / "images",
        metadata,
        tmp_path / "models",
        tiny_spec(),
        train.StartingWeights("random", "random"),
        # A seed of its own: the version (a hash of the weights) names the pipeline, so no two
        # runs of this test share a topic, a connector or an index.
        train.TrainingOptions(
            limits=Limits(10**7, 10**7), progress=False, seed=uuid.uuid4().int % 10**6, epochs=5
        ),
    )
    ids = sorted(p.name for p in (tmp_path / "images").iterdir())
    yield run.saved.folder, ids, run.saved.card


def test_a_swap_keeps_search_answering_and_ends_with_every_painting_in_the_new_index(
    stack: StackSettings,
    trained: tuple[Path, list[str], ModelCard],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model_dir, ids, card = trained
    tag = uuid.uuid4().hex[:8]
    paths_topic, dead_letters = f"test-swap-{tag}-paths", f"test-swap-{tag}-dlq"
    alias, old_index = f"test-swap-{tag}", f"test-swap-{tag}-old"
    pipeline = names.model_pipeline(card.pipeline_version)
    es = Elasticsearch(ES, request_timeout=60)
    admin = AdminClient({"bootstrap.servers": "127.0.0.1:9092"})
    for future in admin.create_topics(
        [NewTopic(paths_topic, 2, 1), NewTopic(dead_letters, 1, 1)]
    ).values():
        future.result(30)
    # The index searched before the swap: the same paintings, vectors of another model.
    es.indices.create(index=old_index, mappings=mapping.mappings(), aliases={alias: {}})
    rng = np.random.default_rng(0)
    helpers.bulk(
        es,
        (
            {
                "_index": old_index,
                "_id": painting,
                "id": painting,
                "path": painting,
                "model": {"name": "old", "version": "0"},
                "vectors": {
                    r.name: {m.value: rng.standard_normal(r.dims).tolist() for m in METRICS}
                    for r in REPRESENTATIONS
                },
            }
            for painting in ids
        ),
        refresh=True,
    )
    producer = Producer({"bootstrap.servers": "127.0.0.1:9092", "acks": "all"})
    for painting in ids:  # plain paths: the record contract's simplest form
        producer.produce(paths_topic, value=painting.encode())
    assert producer.flush(30) == 0
    for name, value in {
        "VECTORIZER_INPUT_TOPIC": paths_topic,
        "VECTORIZER_DEAD_LETTER_TOPIC": dead_letters,
        "VECTORIZER_IMAGE_ROOT": str(tmp_path / "images"),
        "VECTORIZER_ONNX_CACHE_DIR": str(ONNX_CACHE),
        "VECTORIZER_DATA_DIR": str(tmp_path / "faust"),
        "VECTORIZER_BATCH_TIMEOUT_S": "0.2",
    }.items():
        monkeypatch.setenv(name, value)
    check = IndexerCheckSettings(image_paths_topic=paths_topic, dead_letter_topic=dead_letters)
    api = create_app(
        SearchApiSettings(index=alias, upload_enabled=False, index_model_ttl_s=0.5, checker_url="")
    )
    reports: list[str] = []
    try:
        with serving(api) as url:
            queries = Queries(url, ids[0])
            client = threading.Thread(target=queries.run, daemon=True)
            client.start()
            before, after = model_swap.swap(
                model_dir,
                stack,
                check,
                alias,
                reports.append,
                timeout_s=300,
                worker_log=tmp_path / "worker.log",
            )
            # The API follows the alias within its refresh interval.
            eventually(lambda: pipeline.index in queries.indexes or None, 10, "the new index")
            queries.stop.set()
            client.join(15)

            assert (before, after) == (old_index, pipeline.index)
            assert queries.statuses and set(queries.statuses) == {200}, reports
            assert queries.indexes == {old_index, pipeline.index}
            es.indices.refresh(index=pipeline.index)
            assert es.count(index=pipeline.index)["count"] == len(ids)
            trained_names = {r.name for r in card.representations if r.source == "trained"}
            offered = httpx.get(f"{url}/representations").json()
            assert trained_names <= {r["name"] for r in offered["representations"]}

            # A checker told nothing of model versions follows the alias to the new pipeline
            # and finds nothing lost there; after the rollback, it checks the named one again.
            following = IndexerCheckSettings(
                alias=alias, image_paths_topic=paths_topic, dead_letter_topic=dead_letters
            )
            report = asyncio.run(_poll(following))
            assert [(leg.topic, leg.group, leg.lag) for leg in report.legs] == [
                (paths_topic, pipeline.consumer_group, 0),
                (pipeline.topic, f"connect-{pipeline.connector}", 0),
            ]
            reconciler = Reconciler(searched.follow(following))
            try:
                found = reconciler.reconcile()
            finally:
                reconciler.close()
            assert (found.indexed, found.missing, found.extra, found.stale) == (len(ids), 0, 0, 0)
            assert found.unresolved == 0

            assert model_swap.rollback(es, alias) == (pipeline.index, old_index)
            assert model_swap.alias_indexes(es, alias) == [old_index]
            assert searched.follow(following).paintings_topic == names.PAINTINGS_TOPIC
    finally:
        _cleanup(es, admin, pipeline)
        es.indices.delete(index=old_index, ignore_unavailable=True)
        for future in admin.delete_topics([paths_topic, dead_letters]).values():
            future.result(30)
        es.close()


async def _poll(settings: IndexerCheckSettings) -> Report:
    checker = Checker(settings)
    try:
        return await checker.poll()
    finally:
        await checker.aclose()
