"""Upload search's model is the vectorizer's: uploads are sent to its embedding endpoint (a
stand-in over real HTTP here), and the answer is checked against the index's model. Elasticsearch
is a stand-in too; the API runs in-process."""

import asyncio
import io
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from imgsim_common import mapping
from imgsim_search_api.app import create_app
from imgsim_search_api.embedding_client import client_for
from imgsim_search_api.settings import SearchApiSettings
from PIL import Image

from tests.search_api.embedding_fake import FAKE_CARD, FakeEmbeddingService, fake_vectors, running
from tests.search_api.fixtures import IndexStandIn, card, watching
from tests.support import free_port


def png(size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buffer, "PNG")
    return buffer.getvalue()


class OneHitElasticsearch:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(body)
        return {"hits": {"hits": [{"_id": "a.jpg", "_score": 0.9, "_source": {}}]}}


@pytest.fixture
def service() -> Iterator[tuple[FakeEmbeddingService, str]]:
    fake = FakeEmbeddingService()
    with running(fake) as url:
        yield fake, url


def upload(
    embedding_url: str,
    index: IndexStandIn | None = None,
    es: OneHitElasticsearch | None = None,
    representation: str = "all",
    image: bytes | None = None,
    form: bool = False,
    **settings: Any,
) -> httpx.Response:
    configured = SearchApiSettings(embedding_url=embedding_url, checker_url="", **settings)
    app = create_app(configured)

    async def post() -> httpx.Response:
        app.state.es, app.state.settings = es or OneHitElasticsearch(), configured
        app.state.index_watch = watching(index)
        app.state.embeddings = client_for(configured)
        # An exception the app lets out is the 500 a client would get.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                params = {"representation": representation}
                body = png() if image is None else image
                if form:
                    files = {"image": ("p.png", body, "image/png")}
                    return await client.post("/similar/upload", files=files, params=params)
                headers = {"Content-Type": "image/png"}
                return await client.post(
                    "/similar/upload", content=body, headers=headers, params=params
                )
        finally:
            if app.state.embeddings is not None:
                await app.state.embeddings.aclose()

    return asyncio.run(post())


def test_an_upload_is_searched_with_the_vectors_the_vectorizer_answered(
    service: tuple[FakeEmbeddingService, str],
) -> None:
    fake, url = service
    es = OneHitElasticsearch()

    raw = upload(url, es=es, representation="global,style")
    form = upload(url, representation="mid", form=True)

    assert raw.status_code == 200, raw.text
    assert form.status_code == 200, form.text
    assert fake.received == [png(), png()]  # the image's bytes, from a body or a form alike
    sent = fake_vectors(png(), FAKE_CARD)
    assert sorted(b["knn"]["field"] for b in es.bodies) == [
        "vectors.global.cosine",
        "vectors.style.cosine",
    ]
    for body in es.bodies:
        name = body["knn"]["field"].split(".")[1]
        assert body["knn"]["query_vector"] == sent[name]
    assert raw.json()["model"] == FAKE_CARD.info.model_dump()
    assert raw.json()["results"][0]["hits"][0]["id"] == "a.jpg"


def test_no_vectorizer_answering_is_a_503_with_retry_after_and_then_it_is_found() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    down = upload(url)
    # The same address once a vectorizer listens there: no restart of the API needed.
    with running(FakeEmbeddingService()) as elsewhere:
        up = upload(elsewhere)

    assert down.status_code == 503
    assert down.headers["retry-after"] == str(SearchApiSettings().retry_after_s)
    assert down.json()["error"].startswith(
        f"upload search is unavailable: no vectorizer answers at {url} (ConnectError)"
    )
    assert up.status_code == 200, up.text


@pytest.mark.parametrize(
    ("status", "reason", "message"),
    [
        (422, "not_an_image", "upload is not an image in JPEG, PNG"),
        (422, "corrupt", "upload: OSError: image file is truncated"),
        (413, "too_many_pixels", "upload: 9000x9000 is more than 50000000 pixels"),
    ],
)
def test_an_image_the_vectorizer_refuses_keeps_its_status_and_reason(
    service: tuple[FakeEmbeddingService, str], status: int, reason: str, message: str
) -> None:
    fake, url = service
    fake.refusal = (status, {"error": message, "reason": reason})

    response = upload(url)

    assert response.status_code == status
    assert response.json() == {
        "error": f"the upload is not a usable image: {message}",
        "reason": reason,
    }


def test_a_busy_vectorizer_is_a_503_with_retry_after(
    service: tuple[FakeEmbeddingService, str],
) -> None:
    fake, url = service
    fake.refusal = (503, {"error": "34 images are being vectorized", "reason": "busy"})

    response = upload(url)

    assert response.status_code == 503
    assert "retry-after" in response.headers
    assert response.json()["reason"] == "busy"
    assert "34 images are being vectorized" in response.json()["error"]


@pytest.mark.parametrize(
    ("refusal", "left_out", "said"),
    [
        ((404, "<html>Not Found</html>"), frozenset(), "it answered 404: <html>Not Found</html>"),
        (
            (200, {"status": "fine"}),
            frozenset(),
            "its answer is not an embedding (wrong or missing: card, model, vectors)",
        ),
        (None, frozenset({"style"}), "its answer lacks the card's style vectors"),
    ],
    ids=["another-service", "not-an-embedding", "a-vector-missing"],
)
def test_something_else_than_an_embedding_endpoint_is_a_502(
    service: tuple[FakeEmbeddingService, str],
    refusal: tuple[int, Any] | None,
    left_out: frozenset[str],
    said: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, url = service
    fake.refusal, fake.left_out = refusal, left_out
    es = OneHitElasticsearch()

    with caplog.at_level(logging.ERROR, logger="imgsim_search_api.embedding_client"):
        response = upload(url, es=es)

    assert response.status_code == 502
    assert response.json()["error"] == (
        f"upload search failed: the vectorizer's endpoint at {url} is not usable: {said}"
    )
    assert said in caplog.text
    assert es.bodies == []


def test_limits_are_checked_before_the_upload_is_sent(
    service: tuple[FakeEmbeddingService, str],
) -> None:
    fake, url = service

    too_many_bytes = upload(url, image=b"\0" * 2001, max_upload_bytes=2000)
    too_many_pixels = upload(url, image=png((300, 200)), max_upload_pixels=50_000)
    just_enough = upload(url, image=png((250, 200)), max_upload_pixels=50_000)

    assert too_many_bytes.status_code == 413
    assert too_many_bytes.json()["error"] == "the upload is larger than 2000 bytes"
    assert too_many_pixels.status_code == 413
    assert too_many_pixels.json() == {
        "error": "the upload is 300x200, more than 50000 pixels",
        "reason": "too_many_pixels",
    }
    assert just_enough.status_code == 200, just_enough.text
    assert fake.received == [png((250, 200))]  # the refused ones never left the API


def test_upload_search_is_off_without_an_embedding_url_and_says_how_to_switch_it_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="imgsim_search_api.embedding_client"):
        response = upload("")
    switched_off = upload("http://127.0.0.1:1", upload_enabled=False)

    assert response.status_code == 404
    assert response.json()["error"].startswith(
        "upload search is switched off: set SEARCH_API_EMBEDDING_URL"
    )
    assert "upload search is switched off: set SEARCH_API_EMBEDDING_URL" in caplog.text
    assert switched_off.status_code == 404
    assert "SEARCH_API_UPLOAD_ENABLED" in switched_off.json()["error"]


def test_the_model_settings_upload_search_once_read_are_named_as_no_longer_read(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SEARCH_API_MODEL_PATH", "/models/demo-123")
    monkeypatch.setenv("SEARCH_API_ONNX_CACHE_DIR", "/cache")

    with caplog.at_level(logging.WARNING, logger="imgsim_search_api.embedding_client"):
        client = client_for(SearchApiSettings(embedding_url="http://127.0.0.1:9466"))
    assert client is not None
    asyncio.run(client.aclose())

    assert "SEARCH_API_MODEL_PATH, SEARCH_API_ONNX_CACHE_DIR: no longer read" in caplog.text


# --- The upload's model against the index's.


def carded(version: str, *trained: tuple[str, int]) -> IndexStandIn:
    """The index of a model version, whose card names the version."""
    made = card(version, *trained, name="indexed")
    return IndexStandIn(f"paintings-model-{version}", mapping.model_index(made)["mappings"])


MINE = FAKE_CARD.version


def test_an_index_of_the_upload_s_own_model_version_is_searched(
    service: tuple[FakeEmbeddingService, str],
) -> None:
    es = OneHitElasticsearch()

    response = upload(service[1], carded(MINE), es)

    assert response.status_code == 200, response.text
    assert response.json()["index"] == f"paintings-model-{MINE}"
    assert response.json()["only_model_version"] is None
    assert len(es.bodies) == 3 and all("filter" not in body["knn"] for body in es.bodies)


def test_an_index_of_another_model_version_is_a_409_that_names_both(
    service: tuple[FakeEmbeddingService, str],
) -> None:
    es = OneHitElasticsearch()

    response = upload(service[1], carded("2"), es)

    assert response.status_code == 409
    body = response.json()
    assert body["error"].startswith(
        "the index paintings-model-2 holds vectors of model indexed version 2; upload search "
        f"runs MobileNetV3Large version {MINE}: run the vectorizer that SEARCH_API_EMBEDDING_URL "
        "names with the model that vectorized the index"
    )
    assert body["index_model"] == {"name": "indexed", "version": "2"}
    assert body["upload_model"] == {"name": "MobileNetV3Large", "version": MINE}
    assert es.bodies == []  # nothing searched, no results that mean nothing


def test_an_index_that_mixes_versions_is_searched_among_the_upload_s_own_paintings_only(
    service: tuple[FakeEmbeddingService, str],
) -> None:
    es = OneHitElasticsearch()
    mixed = IndexStandIn(versions={MINE: ("MobileNetV3Large", 3), "0": ("older", 5)})

    response = upload(service[1], mixed, es, representation="mid")

    assert response.status_code == 200, response.text
    assert response.json()["only_model_version"] == MINE
    (body,) = es.bodies
    assert body["knn"]["filter"]["bool"]["filter"] == [{"term": {"model.version": MINE}}]


def test_an_index_that_mixes_other_versions_only_is_a_409(
    service: tuple[FakeEmbeddingService, str],
) -> None:
    mixed = IndexStandIn(versions={"2": ("newer", 3), "0": ("older", 5)})

    response = upload(service[1], mixed)

    assert response.status_code == 409
    assert "holds vectors of models newer version 2, older version 0" in response.json()["error"]


def test_a_representation_the_upload_s_model_does_not_produce_is_a_409(
    service: tuple[FakeEmbeddingService, str],
) -> None:
    # Nothing says the index's model (no painting yet), but its vectors say it is another one.
    unknown = IndexStandIn(mappings=carded("9", ("trained_style", 8)).mappings)
    del unknown.mappings["_meta"]

    response = upload(service[1], unknown, representation="style,trained_style")
    all_of_them = upload(service[1], unknown)
    style = upload(service[1], unknown, representation="style")

    assert response.status_code == all_of_them.status_code == 409
    assert (
        f"upload search runs MobileNetV3Large version {MINE}, which produces no 'trained_style' "
        "vector" in response.json()["error"]
    )
    assert style.status_code == 200, style.text
