"""Upload search runs the model that vectorized the index, or says it does not: an index of
another model version is a 409 naming both, and once the alias points at an index of the upload's
own model, uploads are served again, without a restart. The real Elasticsearch; the vectorizer's
embedding endpoint is the session's stand-in (tests/search_api/embedding_fake.py)."""

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from elasticsearch import Elasticsearch
from imgsim_stack.settings import StackSettings

from tests.search_api.fixtures import ApiServer, card, fill_model_index, start_api
from tests.support import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def indexes(es: Elasticsearch) -> Iterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:8]
    alias = f"test-upload-{tag}"
    names = {"alias": alias, "other": f"{alias}-other", "own": f"{alias}-own"}
    try:
        fill_model_index(es, names["other"], card(f"other{tag}", name="another-model"), 3)
        es.indices.put_alias(index=names["other"], name=names["alias"])
        yield names
    finally:
        es.options(ignore_status=404).indices.delete(index=f"{names['other']},{names['own']}")


@pytest.fixture(scope="module")
def upload_api(stack: StackSettings, indexes: dict[str, str]) -> Iterator[ApiServer]:
    settings = {"SEARCH_API_INDEX_MODEL_TTL_S": "1"}
    server = start_api(stack.elasticsearch, indexes["alias"], environment=settings)
    yield server
    server.stop()


def upload(api: ApiServer, image: bytes) -> httpx.Response:
    return httpx.post(
        f"{api.url}/similar/upload",
        content=image,
        params={"representation": "global", "k": 3},
        headers={"Content-Type": "image/jpeg"},
        timeout=60,
    )


def test_an_index_of_another_model_refuses_uploads_until_the_alias_points_at_its_own(
    upload_api: ApiServer, indexes: dict[str, str], es: Elasticsearch, image_root: Path
) -> None:
    image = (image_root / "collection" / "painting-001.jpg").read_bytes()

    refused = upload(upload_api, image)
    body: dict[str, Any] = refused.json()
    mine = body.get("upload_model") or {}
    own = indexes["own"]
    made = card(mine["version"], name=mine["name"])
    fill_model_index(es, own, made, 4)
    es.indices.update_aliases(
        actions=[
            {"remove": {"index": indexes["other"], "alias": indexes["alias"]}},
            {"add": {"index": own, "alias": indexes["alias"]}},
        ]
    )

    def served_upload() -> httpx.Response | None:
        response = upload(upload_api, image)
        return response if response.status_code == 200 else None

    served = eventually(
        served_upload, 15, "uploads served once the alias points at the upload model's index"
    )

    assert refused.status_code == 409, refused.text
    other = f"another-model version other{indexes['alias'].removeprefix('test-upload-')}"
    assert body["error"].startswith(
        f"the index {indexes['other']} holds vectors of model {other}; "
        f"upload search runs {mine['name']} version {mine['version']}: "
        "run the vectorizer that SEARCH_API_EMBEDDING_URL names"
    )
    assert mine["name"] == "MobileNetV3Large" and mine["version"]
    assert body["index_model"]["name"] == "another-model"
    assert served.json()["index"] == own and served.json()["model"] == mine
    assert len(served.json()["results"][0]["hits"]) == 3
