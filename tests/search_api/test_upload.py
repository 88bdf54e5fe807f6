"""Search by an uploaded image end to end: a real vectorizer worker ingests the test paintings
from Kafka (topics of its own) and answers the search API's uploads on its embedding endpoint;
the real API searches the real Elasticsearch, on an index of those paintings' vector records."""

import json
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from elasticsearch import Elasticsearch
from elasticsearch.helpers import bulk
from imgsim_cli import child_argv
from imgsim_common import mapping
from imgsim_common.model_card import ModelCard
from imgsim_common.painting_records import VectorRecord, decode_painting
from imgsim_common.representations import METRICS
from imgsim_stack.settings import StackSettings

from tests.search_api.fixtures import ApiServer, start_api
from tests.support import ONNX_CACHE, eventually, free_port, read_topic

pytestmark = pytest.mark.integration


@dataclass
class VectorizerWorker:
    env: dict[str, str]
    url: str
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                child_argv("worker"),
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def answers() -> bool:
            assert self.process is not None and self.process.poll() is None, self.log.read_text()
            try:
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        eventually(answers, 240, f"the worker's embedding endpoint at {self.url}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@dataclass
class Collection:
    worker: VectorizerWorker
    api: ApiServer
    records: dict[str, VectorRecord]  # what the worker wrote for each painting, by id
    index: str


def _topics(tag: str) -> dict[str, str]:
    return {
        "input": f"test-upload-paths-{tag}",
        "output": f"test-upload-paintings-{tag}",
        "dead_letters": f"test-upload-dlq-{tag}",
    }


@pytest.fixture(scope="module")
def collection(
    stack: StackSettings,
    es: Elasticsearch,
    image_root: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Collection]:
    tag = uuid.uuid4().hex[:8]
    topics = _topics(tag)
    admin = AdminClient({"bootstrap.servers": stack.bootstrap_servers})
    for future in admin.create_topics([NewTopic(t, 1, 1) for t in topics.values()]).values():
        future.result()
    scratch = tmp_path_factory.mktemp("upload-worker")
    port = free_port()
    worker = VectorizerWorker(
        {
            **os.environ,
            "VECTORIZER_KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap_servers,
            "VECTORIZER_INPUT_TOPIC": topics["input"],
            "VECTORIZER_OUTPUT_TOPIC": topics["output"],
            "VECTORIZER_DEAD_LETTER_TOPIC": topics["dead_letters"],
            "VECTORIZER_CONSUMER_GROUP": f"test-upload-{tag}",
            "VECTORIZER_DATA_DIR": str(scratch / "faust"),
            "VECTORIZER_IMAGE_ROOT": str(image_root),
            "VECTORIZER_WEIGHTS": "random",
            "VECTORIZER_BACKEND": "onnx",
            "VECTORIZER_ONNX_CACHE_DIR": str(ONNX_CACHE),
            "VECTORIZER_BATCH_TIMEOUT_S": "0.5",
            "VECTORIZER_METRICS_PORT": "0",
            "VECTORIZER_EMBEDDING_PORT": str(port),
        },
        f"http://127.0.0.1:{port}",
        scratch / "worker.log",
    )
    index = f"test-upload-{tag}"
    api: ApiServer | None = None
    try:
        worker.start()
        # The collection goes through the worker's ingestion, as any collection does.
        producer = Producer({"bootstrap.servers": stack.bootstrap_servers, "acks": "all"})
        paths = sorted(
            p.relative_to(image_root).as_posix() for p in image_root.glob("collection/*.jpg")
        )
        for path in paths:
            producer.produce(topics["input"], key=path.encode(), value=path.encode())
        assert producer.flush(10) == 0
        messages = read_topic(
            stack.bootstrap_servers, topics["output"], lambda m: len(m) >= len(paths), 120
        )
        records = {}
        for message in messages:
            value = message.value()
            assert value is not None, "a tombstone where a vector record was expected"
            record = decode_painting(value, message.headers())
            records[record.id] = record
        card = ModelCard.model_validate(httpx.get(f"{worker.url}/model", timeout=10).json()["card"])
        es.indices.create(index=index, **mapping.model_index(card, index_options="flat"))
        bulk(es, (_document(index, record) for record in records.values()), refresh=True)
        api = start_api(stack.elasticsearch, index, image_root, embedding_url=worker.url)
        yield Collection(worker, api, records, index)
    finally:
        if api is not None:
            api.stop()
        worker.stop()
        es.options(ignore_status=404).indices.delete(index=index)
        for future in admin.delete_topics(list(topics.values())).values():
            future.result()


def _document(index: str, record: VectorRecord) -> dict[str, Any]:
    return {
        "_index": index,
        "_id": record.id,
        "_source": {
            **{k: v for k, v in record.fields.items() if k in ("id", "path", "sha1", "model")},
            "metadata": {"title": record.id},
            "vectors": {
                name: {metric.value: vector.tolist() for metric in METRICS}
                for name, vector in record.vectors.items()
            },
        },
    }


def _upload(api: ApiServer, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{api.url}/similar/upload", timeout=60, **kwargs)


def test_an_uploaded_painting_finds_itself_first(collection: Collection, image_root: Path) -> None:
    image = (image_root / "collection" / "painting-003.jpg").read_bytes()

    response = _upload(
        collection.api,
        content=image,
        params={"representation": "all", "k": 3},
        headers={"Content-Type": "image/jpeg"},
    )

    assert response.status_code == 200, response.text
    blocks = response.json()["results"]
    assert {b["representation"] for b in blocks} == {"global", "mid", "style"}
    for block in blocks:
        assert block["hits"][0]["id"] == "collection/painting-003.jpg", block["representation"]
        assert block["hits"][0]["score"] > 0.999
        assert len(block["hits"]) == 3
    assert (
        response.json()["model"]
        == collection.records["collection/painting-003.jpg"].model.model_dump()
    )


def test_an_upload_is_vectorized_as_the_worker_ingested_the_same_file(
    collection: Collection, image_root: Path
) -> None:
    image = (image_root / "collection" / "painting-001.jpg").read_bytes()

    answer = httpx.post(f"{collection.worker.url}/embeddings", content=image, timeout=60).json()

    record = collection.records["collection/painting-001.jpg"]
    assert answer["image"]["sha1"] == record.sha1
    for name, ingested in record.vectors.items():
        uploaded = np.asarray(answer["vectors"][name], np.float32)
        # One image alone and one in a batch of five: the network's arithmetic may round the
        # last bits differently (measured: at most 2.4e-7 of the largest value, ONNX).
        scale = float(np.abs(ingested).max())
        assert float(np.abs(uploaded - ingested).max()) <= 1e-5 * scale, name


def test_a_form_upload_works_too(collection: Collection, image_root: Path) -> None:
    image = (image_root / "collection" / "painting-001.jpg").read_bytes()

    response = _upload(
        collection.api,
        files={"image": ("p.jpg", image, "image/jpeg")},
        params={"representation": "mid"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["hits"][0]["id"] == "collection/painting-001.jpg"


def test_an_upload_that_is_not_an_image_gets_the_vectorizer_s_reason(
    collection: Collection, image_root: Path
) -> None:
    whole = (image_root / "collection" / "painting-002.jpg").read_bytes()

    text = _upload(
        collection.api, content=b"just some text", headers={"Content-Type": "image/jpeg"}
    )
    cut = _upload(
        collection.api, content=whole[: len(whole) // 3], headers={"Content-Type": "image/jpeg"}
    )

    assert text.status_code == 422 and text.json()["reason"] == "not_an_image"
    assert "not an image" in text.json()["error"]
    assert cut.status_code == 422 and cut.json()["reason"] == "corrupt"


def test_an_oversized_upload_is_refused(collection: Collection) -> None:
    response = _upload(collection.api, content=b"\0" * (21 * 2**20))

    assert response.status_code == 413


@pytest.mark.slow
def test_while_no_vectorizer_answers_uploads_are_503_and_everything_else_works(
    collection: Collection, image_root: Path
) -> None:
    image = (image_root / "collection" / "painting-004.jpg").read_bytes()
    collection.worker.stop()
    try:
        down = _upload(collection.api, content=image, headers={"Content-Type": "image/jpeg"})
        similar = httpx.get(f"{collection.api.url}/similar/collection/painting-004.jpg", timeout=30)
        ready = httpx.get(f"{collection.api.url}/readyz", timeout=30)
    finally:
        collection.worker.start()  # the other tests' worker, back on the same address
    back = _upload(collection.api, content=image, headers={"Content-Type": "image/jpeg"})

    assert down.status_code == 503
    assert down.headers["retry-after"] == "5"
    assert f"no vectorizer answers at {collection.worker.url}" in down.json()["error"]
    assert similar.status_code == 200 and ready.status_code == 200
    assert similar.json()["results"][0]["hits"]
    assert back.status_code == 200, back.text  # found again, without restarting the API
    assert back.json()["results"][0]["hits"][0]["id"] == "collection/painting-004.jpg"


def _blend(api: ApiServer, query: dict[str, Any], image: bytes | None) -> httpx.Response:
    if image is None:
        return httpx.post(f"{api.url}/similar/blend", json=query, timeout=60)
    return httpx.post(
        f"{api.url}/similar/blend",
        data={"query": json.dumps(query)},
        files={"image": ("p.jpg", image, "image/jpeg")},
        timeout=60,
    )


def _unit(vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    unit: npt.NDArray[np.float32] = vector / np.linalg.norm(vector)
    return unit


def test_a_blend_mixes_the_style_of_an_upload_with_the_subject_of_a_painting(
    collection: Collection, image_root: Path
) -> None:
    image = (image_root / "collection" / "painting-003.jpg").read_bytes()
    query = {
        "clauses": [
            {"upload": True, "representation": "style", "weight": 0.7},
            {"painting": "collection/painting-001.jpg", "representation": "global", "weight": 0.3},
        ],
        "k": 3,
    }

    response = _blend(collection.api, query, image)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["blend"][0] == {"upload": True, "representation": "style", "weight": 0.7}
    assert (
        body["upload_model"] == collection.records["collection/painting-003.jpg"].model.model_dump()
    )
    # Brute force over the worker's own records: the weighted sum of the two clauses' cosine
    # scores ((1 + cos) / 2), the painting searched by left out.
    records = collection.records
    style = _unit(records["collection/painting-003.jpg"].vectors["style"])
    subject = _unit(records["collection/painting-001.jpg"].vectors["global"])
    expected = sorted(
        (
            (
                -(
                    0.7 * (1 + float(_unit(r.vectors["style"]) @ style)) / 2
                    + 0.3 * (1 + float(_unit(r.vectors["global"]) @ subject)) / 2
                ),
                painting_id,
            )
            for painting_id, r in records.items()
            if painting_id != "collection/painting-001.jpg"
        )
    )[:3]
    (block,) = body["results"]
    assert [h["id"] for h in block["hits"]] == [painting_id for _, painting_id in expected]
    for hit, (score, _) in zip(block["hits"], expected, strict=True):
        assert hit["score"] == pytest.approx(-score, abs=1e-4)


def test_an_upload_clause_needs_the_image_and_an_image_needs_an_upload_clause(
    collection: Collection, image_root: Path
) -> None:
    image = (image_root / "collection" / "painting-002.jpg").read_bytes()
    by_upload = {"clauses": [{"upload": True, "representation": "mid"}]}
    by_painting = {
        "clauses": [{"painting": "collection/painting-000.jpg", "representation": "mid"}]
    }

    no_image = _blend(collection.api, by_upload, None)
    unused_image = _blend(collection.api, by_painting, image)
    not_an_image = _blend(collection.api, by_upload, b"just some text")

    assert no_image.status_code == 400 and "multipart/form-data" in no_image.json()["error"]
    assert unused_image.status_code == 400
    assert "no clause searches by it" in unused_image.json()["error"]
    assert not_an_image.status_code == 422 and not_an_image.json()["reason"] == "not_an_image"


def test_an_exact_upload_search_is_brute_force(collection: Collection, image_root: Path) -> None:
    image = (image_root / "collection" / "painting-000.jpg").read_bytes()

    exact = _upload(
        collection.api,
        content=image,
        params={"representation": "mid", "k": 5, "exact": "true"},
        headers={"Content-Type": "image/jpeg"},
    )
    wrong = _upload(
        collection.api,
        content=image,
        params={"exact": "perhaps"},
        headers={"Content-Type": "image/jpeg"},
    )

    assert exact.status_code == 200, exact.text
    uploaded = _unit(collection.records["collection/painting-000.jpg"].vectors["mid"])
    scores = {i: float(_unit(r.vectors["mid"]) @ uploaded) for i, r in collection.records.items()}
    hits = exact.json()["results"][0]["hits"]
    assert [h["id"] for h in hits] == sorted(scores, key=lambda i: (-scores[i], i))
    for hit in hits:
        assert hit["score"] == pytest.approx((1 + scores[hit["id"]]) / 2, abs=1e-5)
    assert wrong.status_code == 400 and "exact" in wrong.json()["error"]
