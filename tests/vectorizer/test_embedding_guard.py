"""The embedding endpoint spends the worker's CPU on whoever asks: it listens on 127.0.0.1 by
default, and with VECTORIZER_EMBEDDING_TOKEN set it answers /embeddings and /model only to a
caller with that Bearer token (the search API, which sends SEARCH_API_EMBEDDING_TOKEN); /healthz
stays open. The token is in no log, answer or settings error. Over real HTTP."""

import asyncio
import io
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from imgsim_common.model_card import backbone_card
from imgsim_common.representations import REPRESENTATIONS
from imgsim_search_api import embedding_client
from imgsim_search_api.app import create_app
from imgsim_search_api.errors import RequestError
from imgsim_search_api.settings import SearchApiSettings
from imgsim_vectorizer import embedding_server
from imgsim_vectorizer.embedding import Embedder
from imgsim_vectorizer.embedding_server import EmbeddingServer, EmbeddingSettings
from imgsim_vision.inference import Pixels, Vectors
from PIL import Image
from pydantic import SecretStr, ValidationError

TOKEN = "emb-5d2c9a71e0f4-s3cret"


class CountingBackend:
    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, pixels: Pixels) -> Vectors:
        self.calls += 1
        return {r.name: np.ones((len(pixels), r.dims), np.float32) for r in REPRESENTATIONS}


def _jpeg() -> bytes:
    pixels = np.random.default_rng(2).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def backend() -> CountingBackend:
    return CountingBackend()


@pytest.fixture
def guarded(backend: CountingBackend) -> Iterator[EmbeddingServer]:
    card = backbone_card("guarded", 32, "random", "1")
    pools = ThreadPoolExecutor(1), ThreadPoolExecutor(1)
    embedder = Embedder(backend, card, 2**20, 10**6, *pools)
    server = EmbeddingServer(embedder, backend.name, "127.0.0.1", 0, SecretStr(TOKEN))
    server.start()
    yield server
    server.stop()
    for pool in pools:
        pool.shutdown()


def test_by_default_it_listens_on_loopback_and_asks_no_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("VECTORIZER_EMBEDDING_HOST", "VECTORIZER_EMBEDDING_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    settings = EmbeddingSettings()
    assert settings.host == "127.0.0.1" and settings.token is None
    assert embedding_server._loopback("127.0.0.1") and embedding_server._loopback("::1")
    assert not embedding_server._loopback("0.0.0.0") and not embedding_server._loopback("vec")


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN[:-1]}", "Bearer"]
)
def test_without_the_token_it_answers_401_and_runs_nothing(
    guarded: EmbeddingServer, backend: CountingBackend, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in (("POST", "/embeddings"), ("GET", "/model")):
        refused = httpx.request(
            method, f"{guarded.url}{path}", content=_jpeg(), headers=headers, timeout=30
        )
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "SEARCH_API_EMBEDDING_TOKEN" in refused.json()["error"]
    assert backend.calls == 0


def test_with_the_token_it_vectorizes_and_the_health_check_needs_none(
    guarded: EmbeddingServer, backend: CountingBackend
) -> None:
    answered = httpx.post(
        f"{guarded.url}/embeddings",
        content=_jpeg(),
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert answered.status_code == 200, answered.text
    assert set(answered.json()["vectors"]) == {r.name for r in REPRESENTATIONS}
    assert backend.calls == 1
    assert httpx.get(f"{guarded.url}/healthz", timeout=10).status_code == 200


def test_the_search_api_sends_its_token_and_says_which_setting_when_refused(
    guarded: EmbeddingServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def ask(settings: SearchApiSettings) -> str:
        client = embedding_client.client_for(settings)
        assert client is not None
        try:
            vectors = await client.embed(_jpeg())
            return vectors.model.name
        except RequestError as e:
            return f"{e.status} {e.message}"
        finally:
            await client.aclose()

    right = SearchApiSettings(embedding_url=guarded.url, embedding_token=TOKEN)
    assert asyncio.run(ask(right)) == "guarded"
    wrong = SearchApiSettings(embedding_url=guarded.url, embedding_token="not-it")
    refused = asyncio.run(ask(wrong))
    assert refused.startswith("502 ") and "SEARCH_API_EMBEDDING_TOKEN" in refused
    none = asyncio.run(ask(SearchApiSettings(embedding_url=guarded.url)))
    assert none.startswith("502 ")
    assert TOKEN not in refused and "not-it" not in refused
    assert "refused POST /embeddings" in caplog.text
    assert TOKEN not in caplog.text and "not-it" not in caplog.text


def test_the_tokens_are_read_from_files_and_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "embedding-token"
    secret.write_text(f"{TOKEN}\n")
    monkeypatch.setenv("VECTORIZER_EMBEDDING_TOKEN_FILE", str(secret))
    monkeypatch.setenv("SEARCH_API_EMBEDDING_TOKEN_FILE", str(secret))
    endpoint, api = EmbeddingSettings(), SearchApiSettings()
    assert endpoint.token is not None and endpoint.token.get_secret_value() == TOKEN
    assert api.embedding_token is not None and api.embedding_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(endpoint) and TOKEN not in repr(api)

    monkeypatch.setenv("SEARCH_API_EMBEDDING_TOKEN", TOKEN)
    with pytest.raises(ValidationError, match="not both") as both:
        SearchApiSettings()
    assert TOKEN not in str(both.value) and "input_value" not in str(both.value)
    monkeypatch.setenv("VECTORIZER_EMBEDDING_TOKEN", TOKEN)
    with pytest.raises(ValidationError, match="not both") as both_here:
        EmbeddingSettings()
    assert TOKEN not in str(both_here.value) and "input_value" not in str(both_here.value)

    # Any other error at start-up prints what was wrong, not every value read.
    monkeypatch.delenv("SEARCH_API_EMBEDDING_TOKEN_FILE")
    monkeypatch.setenv("SEARCH_API_DEFAULT_K", "500")
    with pytest.raises(ValidationError, match="default_k") as bad_k:
        SearchApiSettings()
    assert TOKEN not in str(bad_k.value) and "input_value" not in str(bad_k.value)


def test_the_search_api_s_token_is_in_none_of_its_documents_or_metrics() -> None:
    settings = SearchApiSettings(embedding_url="http://127.0.0.1:9", embedding_token=TOKEN)
    app = create_app(settings)

    async def read() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return [await client.get(path) for path in ("/openapi.json", "/metrics", "/healthz")]

    for answer in asyncio.run(read()):
        assert answer.status_code == 200
        assert TOKEN not in answer.text
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())
