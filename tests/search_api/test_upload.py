"""Search by an uploaded image, vectorized by the service with the vectorizer's model."""

import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from elasticsearch import Elasticsearch
from imgsim_common.representations import METRICS

from tests.search_api.fixtures import ApiServer, SearchIndex

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def model_documents(es: Elasticsearch, search_index: SearchIndex, image_root: Path) -> list[str]:
    """The test images, vectorized here as the vectorizer would, indexed as `model/...`."""
    from imgsim_vision import inference, model
    from imgsim_vision.images import decode_image

    loaded = model.load("MobileNetV3Large", "random")
    backend = inference.TensorFlowBackend(loaded)
    ids = []
    for path in sorted((image_root / "collection").glob("*.jpg")):
        decoded = decode_image(path, loaded.input_size, 2**26, 10**8)
        vectors = backend(decoded.pixels[np.newaxis])
        painting_id = f"model/{path.name}"
        document: dict[str, Any] = {
            "id": painting_id,
            "metadata": {"title": path.stem, "source": "upload-test"},
            "vectors": {
                name: {metric.value: values[0].tolist() for metric in METRICS}
                for name, values in vectors.items()
            },
        }
        es.index(index=search_index.name, id=painting_id, document=document)
        ids.append(painting_id)
    es.indices.refresh(index=search_index.name)
    return ids


def _upload(api: ApiServer, **kwargs: Any) -> httpx.Response:
    deadline = time.monotonic() + 180
    while True:
        response = httpx.post(f"{api.url}/similar/upload", timeout=60, **kwargs)
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        time.sleep(1)  # the model is still loading


def test_an_uploaded_painting_finds_itself_first(
    api: ApiServer, image_root: Path, model_documents: list[str]
) -> None:
    image = (image_root / "collection" / "painting-003.jpg").read_bytes()

    response = _upload(
        api,
        content=image,
        params={"representation": "all", "source": "upload-test"},
        headers={"Content-Type": "image/jpeg"},
    )

    assert response.status_code == 200, response.text
    for block in response.json()["results"]:
        assert block["hits"][0]["id"] == "model/painting-003.jpg", block["representation"]
        assert block["hits"][0]["score"] > 0.99


def test_a_form_upload_works_too(
    api: ApiServer, image_root: Path, model_documents: list[str]
) -> None:
    image = (image_root / "collection" / "painting-001.jpg").read_bytes()

    response = _upload(
        api, files={"image": ("p.jpg", image, "image/jpeg")}, params={"representation": "mid"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["hits"][0]["id"] == "model/painting-001.jpg"


def test_an_upload_that_is_not_an_image_is_unprocessable(api: ApiServer, image_root: Path) -> None:
    whole = (image_root / "collection" / "painting-002.jpg").read_bytes()

    text = _upload(api, content=b"just some text", headers={"Content-Type": "image/jpeg"})
    cut = _upload(api, content=whole[: len(whole) // 3], headers={"Content-Type": "image/jpeg"})

    assert text.status_code == 422 and "not an image" in text.json()["error"]
    assert cut.status_code == 422


def test_an_oversized_upload_is_refused(api: ApiServer) -> None:
    response = httpx.post(f"{api.url}/similar/upload", content=b"\0" * (21 * 2**20), timeout=60)

    assert response.status_code == 413
