"""The embedding endpoint over real HTTP (the server the worker runs, on a free port): a good image
gets the vectors the worker computes for the same file, a bad one the worker's dead-letter
reason with a 4xx, a full queue a 503, and uploads run on the worker's one inference thread."""

import asyncio
import io
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from imgsim_common.model_card import ModelCard, backbone_card
from imgsim_common.painting_records import decode_painting
from imgsim_common.representations import REPRESENTATIONS
from imgsim_vectorizer.embedding import Embedder
from imgsim_vectorizer.embedding_server import EmbeddingServer, EmbeddingSettings
from imgsim_vectorizer.vectorizing import Destination, Message, Outgoing, Vectorizer
from imgsim_vectorizer.worker import serve_embeddings
from imgsim_vision import model
from imgsim_vision.inference import Backend, Pixels, TensorFlowBackend, Vectors
from PIL import Image

from tests.support import eventually
from tests.vision.tiny_models import tiny_spec


@dataclass
class Endpoint:
    url: str
    vectorizer: Vectorizer
    root: Path


def jpeg(size: tuple[int, int] = (120, 90), seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """The worker's vectorizer on a tiny real network, and its endpoint as the worker serves it."""
    root = tmp_path_factory.mktemp("embedding-images")
    loaded = model.load_backbone(tiny_spec(), "random")
    decode_pool, inference_pool = ThreadPoolExecutor(2), ThreadPoolExecutor(1)
    vectorizer = Vectorizer(
        TensorFlowBackend(loaded), loaded.card, loaded.input_size, root, 2**20, 10**6, decode_pool
    )
    settings = EmbeddingSettings(port=0, max_bytes=2**20)
    server = serve_embeddings(vectorizer, inference_pool, settings)
    yield Endpoint(server.url, vectorizer, root)
    server.stop()
    decode_pool.shutdown()
    inference_pool.shutdown()


def worker_vectors(vectorizer: Vectorizer, name: str) -> dict[str, np.ndarray]:
    """What the worker's batch path writes into the vector record for the file `name`."""

    async def batch() -> list[Outgoing]:
        decoded = await vectorizer.decode([Message(name.encode(), name.encode())])
        return vectorizer.infer(decoded)

    (outgoing,) = asyncio.run(batch())
    assert outgoing.destination is Destination.VECTOR_RECORDS, outgoing.value
    record = decode_painting(outgoing.value, list(outgoing.headers))
    return {name: np.asarray(vector, np.float32) for name, vector in record.vectors.items()}


def test_an_image_gets_the_vectors_the_worker_computes_for_the_same_file(
    endpoint: Endpoint,
) -> None:
    image = jpeg((400, 300))
    (endpoint.root / "same.jpg").write_bytes(image)

    response = httpx.post(f"{endpoint.url}/embeddings", content=image, timeout=30)

    assert response.status_code == 200, response.text
    body = response.json()
    card = endpoint.vectorizer.card
    assert body["model"] == card.info.model_dump()
    assert ModelCard.model_validate(body["card"]) == card
    assert body["image"]["width"] == 400 and body["image"]["height"] == 300
    expected = worker_vectors(endpoint.vectorizer, "same.jpg")
    assert set(body["vectors"]) == {r.name for r in card.representations} == set(expected)
    for name, vector in expected.items():
        # Bit for bit: JSON carries each float32 in its shortest form, which reads back exactly.
        assert np.array_equal(np.asarray(body["vectors"][name], np.float32), vector), name


def test_model_and_health_say_which_model_answers(endpoint: Endpoint) -> None:
    model_answer = httpx.get(f"{endpoint.url}/model", timeout=10)
    health = httpx.get(f"{endpoint.url}/healthz", timeout=10)

    card = endpoint.vectorizer.card
    assert model_answer.status_code == health.status_code == 200
    assert model_answer.json()["model"] == health.json()["model"] == card.info.model_dump()
    assert model_answer.json()["backend"] == "tensorflow"
    assert ModelCard.model_validate(model_answer.json()["card"]) == card


@pytest.mark.parametrize(
    ("image", "status", "reason", "said"),
    [
        (b"just some text", 422, "not_an_image", "is not an image in JPEG, PNG"),
        (jpeg()[:300], 422, "corrupt", "upload:"),
        (b"", 422, "empty", "upload is empty"),
        (jpeg((1200, 900)), 413, "too_many_pixels", "1200x900 is more than 1000000 pixels"),
        (b"\xff" * (2**20 + 1), 413, "too_large", "more than 1048576"),
    ],
    ids=["text", "truncated", "empty", "too-many-pixels", "too-many-bytes"],
)
def test_an_image_the_worker_would_dead_letter_gets_its_reason(
    endpoint: Endpoint, image: bytes, status: int, reason: str, said: str
) -> None:
    response = httpx.post(f"{endpoint.url}/embeddings", content=image, timeout=30)

    assert response.status_code == status, response.text
    assert response.json()["reason"] == reason
    assert said in response.json()["error"]


class HeldBackend:
    """Every representation of the backbone card; each call waits until the test releases it and
    notes the thread it ran on."""

    name = "held"

    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()
        self.threads: list[str] = []

    def __call__(self, pixels: Pixels) -> Vectors:
        self.threads.append(threading.current_thread().name)
        self.entered.release()
        assert self.release.wait(30)
        return {r.name: np.ones((len(pixels), r.dims), np.float32) for r in REPRESENTATIONS}


def held_server(backend: Backend, running: int, waiting: int) -> tuple[EmbeddingServer, Embedder]:
    card = backbone_card("held", 32, "random", "1")
    pools = ThreadPoolExecutor(1), ThreadPoolExecutor(1, thread_name_prefix="inference")
    embedder = Embedder(backend, card, 2**20, 10**6, *pools, running=running, waiting=waiting)
    server = EmbeddingServer(embedder, backend.name, "127.0.0.1", 0)
    server.start()
    return server, embedder


def test_beyond_the_running_and_waiting_uploads_it_is_busy_not_queued_for_ever() -> None:
    backend = HeldBackend()
    server, embedder = held_server(backend, running=1, waiting=1)
    answers: list[httpx.Response] = []

    def post() -> None:
        answers.append(httpx.post(f"{server.url}/embeddings", content=jpeg(), timeout=30))

    first, second = threading.Thread(target=post), threading.Thread(target=post)
    try:
        first.start()
        assert backend.entered.acquire(timeout=30)  # one runs the network
        second.start()  # one waits for its turn
        eventually(lambda: embedder.full, 30, "the second upload admitted to wait")
        busy = httpx.post(f"{server.url}/embeddings", content=jpeg(), timeout=30)
        backend.release.set()
        first.join(30)
        second.join(30)
        after = httpx.post(f"{server.url}/embeddings", content=jpeg(), timeout=30)
    finally:
        backend.release.set()
        server.stop()

    assert busy.status_code == 503
    assert busy.json()["reason"] == "busy" and busy.headers["retry-after"] == "1"
    assert [a.status_code for a in answers] == [200, 200]
    assert after.status_code == 200
    # The network ran on the inference thread it was given (the worker's), never elsewhere.
    assert {name.startswith("inference") for name in backend.threads} == {True}


def test_a_vector_the_worker_would_refuse_is_refused_with_its_reason() -> None:
    class ZeroBackend:
        name = "zero"

        def __call__(self, pixels: Pixels) -> Vectors:
            return {r.name: np.zeros((len(pixels), r.dims), np.float32) for r in REPRESENTATIONS}

    server, _ = held_server(ZeroBackend(), running=1, waiting=0)
    try:
        response = httpx.post(f"{server.url}/embeddings", content=jpeg(), timeout=30)
    finally:
        server.stop()

    assert response.status_code == 422
    assert response.json() == {
        "error": "the 'global' vector is not finite or all zeros",
        "reason": "bad_vector",
    }


def test_a_port_in_use_is_an_error_at_start(endpoint: Endpoint) -> None:
    port = int(endpoint.url.rsplit(":", 1)[1])
    server = EmbeddingServer(
        Embedder(
            HeldBackend(),
            backbone_card("held", 32, "random", "1"),
            1,
            1,
            ThreadPoolExecutor(1),
            ThreadPoolExecutor(1),
        ),
        "held",
        "127.0.0.1",
        port,
    )

    with pytest.raises(OSError):
        server.start()


def test_only_the_card_s_representations_are_answered() -> None:
    class ExtraBackend:
        """The card's representations and a head's output the card does not list."""

        name = "extra"

        def __call__(self, pixels: Pixels) -> Vectors:
            vectors = {r.name: np.ones((len(pixels), r.dims), np.float32) for r in REPRESENTATIONS}
            return vectors | {"style_probabilities": np.ones((len(pixels), 8), np.float32)}

    server, _ = held_server(ExtraBackend(), running=1, waiting=0)
    try:
        response = httpx.post(f"{server.url}/embeddings", content=jpeg(), timeout=30)
    finally:
        server.stop()

    assert response.status_code == 200, response.text
    assert set(response.json()["vectors"]) == {r.name for r in REPRESENTATIONS}


def test_a_model_that_fails_is_a_500_that_says_so_and_the_endpoint_serves_on() -> None:
    class FailingOnceBackend:
        name = "failing-once"
        calls = 0

        def __call__(self, pixels: Pixels) -> Vectors:
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("out of memory")
            return {r.name: np.ones((len(pixels), r.dims), np.float32) for r in REPRESENTATIONS}

    server, _ = held_server(FailingOnceBackend(), running=1, waiting=0)
    try:
        failed = httpx.post(f"{server.url}/embeddings", content=jpeg(), timeout=30)
        then = httpx.post(f"{server.url}/embeddings", content=jpeg(), timeout=30)
    finally:
        server.stop()

    assert failed.status_code == 500
    assert failed.json() == {
        "error": "the model failed on the image: RuntimeError: out of memory",
        "reason": "inference_failed",
    }
    assert then.status_code == 200
